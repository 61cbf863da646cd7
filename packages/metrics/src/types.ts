/** A numeric vector: plain array or any typed array. */
export type Vector = ArrayLike<number>;

/** A row-major matrix given flat with its column count (e.g. `tensor.dataSync()` of shape [rows, cols]). */
export interface FlatMatrix {
  readonly data: ArrayLike<number>;
  readonly cols: number;
}

/** A matrix: an array of rows, or a flat row-major buffer with its column count. */
export type MatrixInput = ReadonlyArray<ArrayLike<number>> | FlatMatrix;

/**
 * A scalar metric that may be undefined for the given input (e.g. AUROC when only one class is present).
 * When `defined` is false, `value` is NaN and `reason` says why; it is never silently 0.5 or 0.
 */
export type MetricResult =
  | { readonly value: number; readonly defined: true }
  | { readonly value: number; readonly defined: false; readonly reason: string };

export function definedResult(value: number): MetricResult {
  return { value, defined: true };
}

export function undefinedResult(reason: string): MetricResult {
  return { value: Number.NaN, defined: false, reason };
}
