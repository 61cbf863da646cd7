// Small composable 3D transforms in the manner of MONAI (Resize, NormalizeIntensity, RandSpatialCrop,
// RandFlip, RandScaleIntensity/RandShiftIntensity). Volumes are [D, H, W] float32 (frames, rows,
// columns); randomness comes only from the Generator passed in.
import type { Generator } from '@meddl/tensor';
import type { Volume3d } from './data/read';
import { VJepaArgumentError } from './errors';

export type Shape3 = [number, number, number];
export type Transform3d = (volume: Volume3d, rng: Generator) => Volume3d;

function checkShape(name: string, shape: readonly number[]): void {
  if (shape.length !== 3 || shape.some((n) => !Number.isInteger(n) || n <= 0))
    throw new VJepaArgumentError(name, `expected three positive integers, got [${shape.join(', ')}]`);
}

/**
 * Trilinear resampling to a target shape (torch `interpolate(mode='trilinear', align_corners=False)`:
 * source coordinate = (i + 0.5)·in/out − 0.5, clamped at the borders). Spacing scales accordingly.
 */
export function resample(volume: Volume3d, target: Shape3): Volume3d {
  checkShape('resample target', target);
  const [D, H, W] = volume.shape;
  const [d2, h2, w2] = target;
  const src = volume.data;
  const axis = (n: number, m: number) => {
    const i0 = new Int32Array(m);
    const i1 = new Int32Array(m);
    const f = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      const x = Math.max(0, ((i + 0.5) * n) / m - 0.5);
      const a = Math.min(Math.floor(x), n - 1);
      i0[i] = a;
      i1[i] = Math.min(a + 1, n - 1);
      f[i] = x - a;
    }
    return { i0, i1, f };
  };
  const az = axis(D, d2);
  const ay = axis(H, h2);
  const ax = axis(W, w2);
  const out = new Float32Array(d2 * h2 * w2);
  let o = 0;
  for (let z = 0; z < d2; z++) {
    const z0 = az.i0[z]! * H * W;
    const z1 = az.i1[z]! * H * W;
    const fz = az.f[z]!;
    for (let y = 0; y < h2; y++) {
      const y0 = ay.i0[y]! * W;
      const y1 = ay.i1[y]! * W;
      const fy = ay.f[y]!;
      for (let x = 0; x < w2; x++) {
        const x0 = ax.i0[x]!;
        const x1 = ax.i1[x]!;
        const fx = ax.f[x]!;
        const c00 = src[z0 + y0 + x0]! * (1 - fx) + src[z0 + y0 + x1]! * fx;
        const c01 = src[z0 + y1 + x0]! * (1 - fx) + src[z0 + y1 + x1]! * fx;
        const c10 = src[z1 + y0 + x0]! * (1 - fx) + src[z1 + y0 + x1]! * fx;
        const c11 = src[z1 + y1 + x0]! * (1 - fx) + src[z1 + y1 + x1]! * fx;
        const c0 = c00 * (1 - fy) + c01 * fy;
        const c1 = c10 * (1 - fy) + c11 * fy;
        out[o++] = c0 * (1 - fz) + c1 * fz;
      }
    }
  }
  const spacing: Shape3 = [
    (volume.spacing[0] * D) / d2,
    (volume.spacing[1] * H) / h2,
    (volume.spacing[2] * W) / w2,
  ];
  return { data: out, shape: [d2, h2, w2], spacing };
}

/** Per-volume intensity normalisation: z-score (mean 0, std 1) or percentile clip to [0, 1]. */
export function normalizeIntensity(
  volume: Volume3d,
  options: { mode?: 'zscore' | 'percentile'; percentiles?: [number, number] } = {},
): Volume3d {
  const x = volume.data;
  const out = new Float32Array(x.length);
  if ((options.mode ?? 'zscore') === 'zscore') {
    let mean = 0;
    for (let i = 0; i < x.length; i++) mean += x[i]!;
    mean /= x.length;
    let v = 0;
    for (let i = 0; i < x.length; i++) v += (x[i]! - mean) ** 2;
    const std = Math.sqrt(v / x.length);
    const inv = std > 1e-8 ? 1 / std : 0;
    for (let i = 0; i < x.length; i++) out[i] = (x[i]! - mean) * inv;
  } else {
    const [pl, ph] = options.percentiles ?? [0.5, 99.5];
    const sorted = Float32Array.from(x).sort();
    const q = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))]!;
    const lo = q(pl);
    const hi = q(ph);
    const scale = hi > lo ? 1 / (hi - lo) : 0;
    for (let i = 0; i < x.length; i++) out[i] = Math.min(1, Math.max(0, (x[i]! - lo) * scale));
  }
  return { ...volume, data: out };
}

/** Crops [d, h, w] starting at `start` (no padding: the crop must fit). */
export function crop(volume: Volume3d, start: Shape3, size: Shape3): Volume3d {
  const [D, H, W] = volume.shape;
  if (size.some((s, k) => start[k]! < 0 || start[k]! + s > volume.shape[k]!))
    throw new VJepaArgumentError(
      'crop',
      `crop [${size}] at [${start}] does not fit in volume [${D}, ${H}, ${W}]`,
    );
  const out = new Float32Array(size[0] * size[1] * size[2]);
  let o = 0;
  for (let z = 0; z < size[0]; z++)
    for (let y = 0; y < size[1]; y++) {
      const base = ((start[0] + z) * H + start[1] + y) * W + start[2];
      out.set(volume.data.subarray(base, base + size[2]), o);
      o += size[2];
    }
  return { data: out, shape: [...size], spacing: volume.spacing };
}

/** A random crop of the given size (uniform position). */
export function randomCrop(size: Shape3): Transform3d {
  checkShape('randomCrop size', size);
  return (volume, rng) => {
    const start = volume.shape.map((n, k) => rng.int(n - size[k]! + 1)) as Shape3;
    return crop(volume, start, size);
  };
}

/** The centred crop of the given size. */
export function centerCrop(volume: Volume3d, size: Shape3): Volume3d {
  return crop(volume, volume.shape.map((n, k) => Math.floor((n - size[k]!) / 2)) as Shape3, size);
}

/** Reverses the volume along one axis (0 frames, 1 rows, 2 columns). */
export function flip(volume: Volume3d, axis: 0 | 1 | 2): Volume3d {
  const [D, H, W] = volume.shape;
  const out = new Float32Array(volume.data.length);
  const x = volume.data;
  for (let z = 0; z < D; z++)
    for (let y = 0; y < H; y++)
      for (let w = 0; w < W; w++) {
        const sz = axis === 0 ? D - 1 - z : z;
        const sy = axis === 1 ? H - 1 - y : y;
        const sw = axis === 2 ? W - 1 - w : w;
        out[(z * H + y) * W + w] = x[(sz * H + sy) * W + sw]!;
      }
  return { ...volume, data: out };
}

/** Flips along each listed axis with probability p (OCT: columns = left/right eye mirror; frames). */
export function randomFlip(axes: (0 | 1 | 2)[], p = 0.5): Transform3d {
  return (volume, rng) => {
    let v = volume;
    for (const a of axes) if (rng.random() < p) v = flip(v, a);
    return v;
  };
}

/** x ← x·(1 + U(−scale, scale)) + U(−shift, shift) (MONAI RandScaleIntensity + RandShiftIntensity). */
export function intensityJitter(options: { scale?: number; shift?: number } = {}): Transform3d {
  const s = options.scale ?? 0.1;
  const t = options.shift ?? 0.1;
  return (volume, rng) => {
    const a = 1 + rng.uniform(-s, s);
    const b = rng.uniform(-t, t);
    const out = new Float32Array(volume.data.length);
    for (let i = 0; i < out.length; i++) out[i] = volume.data[i]! * a + b;
    return { ...volume, data: out };
  };
}

/** Applies transforms in order, all drawing from the same generator. */
export function compose(...transforms: Transform3d[]): Transform3d {
  return (volume, rng) => transforms.reduce((v, t) => t(v, rng), volume);
}

/**
 * A random box of the volume, resampled to `size` (V-JEPA's RandomResizedCrop, per axis in 3D):
 * on each axis the box spans a fraction U(scale[0], scale[1]) of the volume at a uniform offset.
 * It moves and rescales the anatomy, so that a masked-prediction model cannot predict a token from
 * its position alone (OCT volumes are stereotyped: without it the retina sits at nearly the same
 * tokens in every volume).
 */
export function randomResizedCrop(size: Shape3, scale: [number, number] = [0.5, 1]): Transform3d {
  checkShape('randomResizedCrop size', size);
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1))
    throw new VJepaArgumentError('randomResizedCrop scale', `expected 0 < min ≤ max ≤ 1, got [${scale}]`);
  return (volume, rng) => {
    const extent = volume.shape.map((n) =>
      Math.max(1, Math.min(n, Math.round(n * rng.uniform(scale[0], scale[1])))),
    ) as Shape3;
    const start = volume.shape.map((n, k) => rng.int(n - extent[k]! + 1)) as Shape3;
    return resample(crop(volume, start, extent), size);
  };
}
