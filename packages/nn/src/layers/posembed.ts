import { tf } from '@meddl/tensor';

/**
 * Fixed sine-cosine embeddings of positions along one axis, in the MAE / V-JEPA layout: for
 * dim d, ωᵢ = 10000^(−i/(d/2)), i < d/2, and the row for position p is [sin(pωᵢ)…, cos(pωᵢ)…].
 */
function sincosRows(dim: number, positions: Float64Array): Float32Array {
  if (dim % 2 !== 0) throw new RangeError(`sin-cos embedding dim must be even, got ${dim}`);
  const half = dim / 2;
  const out = new Float32Array(positions.length * dim);
  for (let n = 0; n < positions.length; n++) {
    for (let i = 0; i < half; i++) {
      const a = positions[n] / 10000 ** (i / half);
      out[n * dim + i] = Math.sin(a);
      out[n * dim + half + i] = Math.cos(a);
    }
  }
  return out;
}

/** [length, dim] sine-cosine position embeddings for positions 0…length-1. */
export function sinusoidalPositionEmbedding1d(length: number, dim: number): tf.Tensor2D {
  const pos = Float64Array.from({ length }, (_, i) => i);
  return tf.tensor2d(sincosRows(dim, pos), [length, dim]);
}

export interface SinCos3dOptions {
  /**
   * Split dim evenly over the three axes (each ⌈dim/6⌉·2, truncated to dim) instead of the
   * default half to time and a quarter each to height and width (V-JEPA's `uniform_power`).
   */
  uniformPower?: boolean;
}

/**
 * [gridT·gridH·gridW, dim] sine-cosine embeddings of a 3-D token grid, rows in (t, h, w)
 * row-major order, columns [time | height | width] (V-JEPA's get_3d_sincos_pos_embed layout).
 */
export function sinusoidalPositionEmbedding3d(
  gridT: number,
  gridH: number,
  gridW: number,
  dim: number,
  options: SinCos3dOptions = {},
): tf.Tensor2D {
  let dims: [number, number, number];
  if (options.uniformPower) {
    const d = Math.ceil(dim / 6) * 2;
    dims = [d, d, d];
  } else {
    if (dim % 8 !== 0) throw new RangeError(`3-D sin-cos embedding dim must be a multiple of 8, got ${dim}`);
    dims = [dim / 2, dim / 4, dim / 4];
  }
  const n = gridT * gridH * gridW;
  const coords = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  for (let t = 0, r = 0; t < gridT; t++)
    for (let h = 0; h < gridH; h++)
      for (let w = 0; w < gridW; w++, r++) {
        coords[0][r] = t;
        coords[1][r] = h;
        coords[2][r] = w;
      }
  const parts = coords.map((c, a) => sincosRows(dims[a], c));
  const out = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    let col = 0;
    for (let a = 0; a < 3 && col < dim; a++) {
      for (let j = 0; j < dims[a] && col < dim; j++, col++) out[r * dim + col] = parts[a][r * dims[a] + j];
    }
  }
  return tf.tensor2d(out, [n, dim]);
}
