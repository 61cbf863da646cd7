// Input validation shared by every metric: each check names the argument it rejects.
import { MetricsError } from './errors.js';
import type { MatrixInput, Vector } from './types.js';

/** A validated dense row-major float64 matrix. */
export interface Matrix {
  readonly data: Float64Array;
  readonly rows: number;
  readonly cols: number;
}

function isFlat(m: MatrixInput): m is { data: ArrayLike<number>; cols: number } {
  return !Array.isArray(m) && typeof (m as { cols?: unknown }).cols === 'number';
}

/** Copies a vector to float64, rejecting empty input and NaN / infinite entries. */
export function finiteVector(name: string, v: Vector, allowEmpty = false): Float64Array {
  if (v === null || v === undefined || typeof v.length !== 'number') {
    throw new MetricsError(name, 'expected an array of numbers');
  }
  if (v.length === 0 && !allowEmpty) throw new MetricsError(name, 'expected a non-empty array, got length 0');
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new MetricsError(name, `expected finite numbers, got ${String(x)} at index ${i}`);
    }
    out[i] = x;
  }
  return out;
}

/** Validates binary labels (0 or 1, booleans allowed via numbers) and returns them as Uint8Array. */
export function binaryLabels(name: string, v: Vector): Uint8Array {
  if (v === null || v === undefined || typeof v.length !== 'number') {
    throw new MetricsError(name, 'expected an array of 0/1 labels');
  }
  if (v.length === 0) throw new MetricsError(name, 'expected a non-empty array, got length 0');
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x !== 0 && x !== 1)
      throw new MetricsError(name, `expected labels 0 or 1, got ${String(x)} at index ${i}`);
    out[i] = x;
  }
  return out;
}

/** Validates integer class labels in [0, numClasses). */
export function classLabels(name: string, v: Vector, numClasses: number): Int32Array {
  positiveInt('numClasses', numClasses);
  if (v === null || v === undefined || typeof v.length !== 'number') {
    throw new MetricsError(name, 'expected an array of integer class labels');
  }
  if (v.length === 0) throw new MetricsError(name, 'expected a non-empty array, got length 0');
  const out = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!Number.isInteger(x) || x < 0 || x >= numClasses) {
      throw new MetricsError(
        name,
        `expected integer class labels in [0, ${numClasses}), got ${String(x)} at index ${i}`,
      );
    }
    out[i] = x;
  }
  return out;
}

export function positiveInt(name: string, x: number): void {
  if (!Number.isInteger(x) || x < 1)
    throw new MetricsError(name, `expected a positive integer, got ${String(x)}`);
}

export function sameLength(nameA: string, a: { length: number }, nameB: string, b: { length: number }): void {
  if (a.length !== b.length) {
    throw new MetricsError(nameB, `expected the same length as ${nameA} (${a.length}), got ${b.length}`);
  }
}

/** Copies a matrix input to a dense float64 matrix, rejecting ragged rows, empty input and non-finite values. */
export function finiteMatrix(name: string, m: MatrixInput, expectedCols?: number): Matrix {
  let rows: number;
  let cols: number;
  let data: Float64Array;
  if (isFlat(m)) {
    cols = m.cols;
    positiveInt(`${name}.cols`, cols);
    if (m.data.length % cols !== 0) {
      throw new MetricsError(name, `flat data length ${m.data.length} is not a multiple of cols ${cols}`);
    }
    rows = m.data.length / cols;
    data = finiteVector(name, m.data, true);
  } else {
    if (!Array.isArray(m)) throw new MetricsError(name, 'expected an array of rows or { data, cols }');
    rows = m.length;
    cols = rows > 0 ? m[0].length : 0;
    data = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const row = m[r];
      if (!row || row.length !== cols) {
        throw new MetricsError(name, `row ${r} has length ${row?.length}, expected ${cols} like row 0`);
      }
      for (let c = 0; c < cols; c++) {
        const x = row[c];
        if (typeof x !== 'number' || !Number.isFinite(x)) {
          throw new MetricsError(name, `expected finite numbers, got ${String(x)} at [${r}][${c}]`);
        }
        data[r * cols + c] = x;
      }
    }
  }
  if (rows === 0 || cols === 0) throw new MetricsError(name, 'expected a non-empty matrix');
  if (expectedCols !== undefined && cols !== expectedCols) {
    throw new MetricsError(name, `expected ${expectedCols} columns, got ${cols}`);
  }
  return { data, rows, cols };
}

/** Validates a matrix of 0/1 indicators (multi-label targets). */
export function binaryMatrix(name: string, m: MatrixInput): Matrix {
  const mat = finiteMatrix(name, m);
  for (let i = 0; i < mat.data.length; i++) {
    const x = mat.data[i];
    if (x !== 0 && x !== 1) {
      throw new MetricsError(
        name,
        `expected 0/1 indicators, got ${x} at [${Math.floor(i / mat.cols)}][${i % mat.cols}]`,
      );
    }
  }
  return mat;
}

export function probabilityVector(name: string, v: Vector): Float64Array {
  const out = finiteVector(name, v);
  for (let i = 0; i < out.length; i++) {
    if (out[i] < 0 || out[i] > 1)
      throw new MetricsError(name, `expected probabilities in [0, 1], got ${out[i]} at index ${i}`);
  }
  return out;
}

export function column(m: Matrix, c: number): Float64Array {
  const out = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) out[r] = m.data[r * m.cols + c];
  return out;
}

export function unitInterval(name: string, x: number, open = true): void {
  const ok = Number.isFinite(x) && (open ? x > 0 && x < 1 : x >= 0 && x <= 1);
  if (!ok)
    throw new MetricsError(name, `expected a number in ${open ? '(0, 1)' : '[0, 1]'}, got ${String(x)}`);
}
