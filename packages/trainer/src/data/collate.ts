/** A stacked numeric field: row-major data with a leading batch axis. */
export interface Stacked {
  data: Float32Array | Int32Array | Uint8Array;
  shape: number[];
}

/** One example's field: a number, a typed array, an array with its shape, or anything else (kept as a list). */
type TypedArray = Float32Array | Int32Array | Uint8Array;

function isTyped(v: unknown): v is TypedArray {
  return v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array;
}

function isShaped(v: unknown): v is { data: TypedArray; shape: number[] } {
  return (
    typeof v === 'object' && v !== null && isTyped((v as Stacked).data) && Array.isArray((v as Stacked).shape)
  );
}

/** What defaultCollate makes of one field across the batch. */
export type Collated = Stacked | unknown[];

/**
 * Stacks a batch of examples field by field: numbers → Float32Array [B]; equal-length typed
 * arrays → [B, len]; `{data, shape}` of equal shape → [B, ...shape]; anything else (including
 * variable-size bags) → a plain list of the items.
 */
export function defaultCollate<T extends object>(items: T[]): Record<keyof T & string, Collated> {
  const out = {} as Record<string, Collated>;
  const first = items[0] as Record<string, unknown>;
  for (const key of Object.keys(first)) {
    const vals = items.map((it) => (it as Record<string, unknown>)[key]);
    out[key] = collateField(vals);
  }
  return out as Record<keyof T & string, Collated>;
}

export function collateField(vals: unknown[]): Collated {
  const B = vals.length;
  if (vals.every((v) => typeof v === 'number'))
    return { data: Float32Array.from(vals as number[]), shape: [B] };
  const asShaped = vals.map((v) => (isShaped(v) ? v : isTyped(v) ? { data: v, shape: [v.length] } : null));
  if (asShaped.every((v) => v !== null)) {
    const s0 = (asShaped[0] as Stacked).shape;
    const ctor = (asShaped[0] as Stacked).data.constructor as new (n: number) => TypedArray;
    const sameShape = asShaped.every(
      (v) =>
        (v as Stacked).data.constructor === ctor &&
        (v as Stacked).shape.length === s0.length &&
        (v as Stacked).shape.every((d, i) => d === s0[i]),
    );
    if (sameShape) {
      const per = (asShaped[0] as Stacked).data.length;
      const data = new ctor(per * B);
      asShaped.forEach((v, i) => {
        data.set((v as Stacked).data, i * per);
      });
      return { data, shape: [B, ...s0] };
    }
  }
  return vals;
}
