import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import type { Volume3d } from './data/read';
import {
  centerCrop,
  compose,
  flip,
  intensityJitter,
  normalizeIntensity,
  randomCrop,
  randomFlip,
  randomResizedCrop,
  resample,
} from './transforms';

const ramp = (shape: [number, number, number]): Volume3d => ({
  data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => i),
  shape,
  spacing: [1, 0.5, 0.25],
});

describe('3D transforms', () => {
  it('resample matches torch trilinear (align_corners=False) on a 1-D ramp', () => {
    // Worked by hand from the align_corners=False rule x = (i + 0.5)·4/8 − 0.5, clamped at 0 and 3
    // (torch's interpolate(mode='trilinear') rule; torch is not installed here to cross-check).
    const v: Volume3d = { data: Float32Array.from([0, 1, 2, 3]), shape: [1, 1, 4], spacing: [1, 1, 1] };
    const r = resample(v, [1, 1, 8]);
    expect(Array.from(r.data)).toEqual([0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]);
    expect(r.spacing).toEqual([1, 1, 0.5]);
    // Same shape is the identity; a linear function stays linear inside.
    const id = resample(ramp([3, 4, 5]), [3, 4, 5]);
    expect(Array.from(id.data)).toEqual(Array.from(ramp([3, 4, 5]).data));
    const down = resample(ramp([4, 4, 4]), [2, 2, 2]);
    // Centre of the first 2×2×2 octant of i = 16z + 4y + x: (0.5, 0.5, 0.5) → 10.5.
    expect(down.data[0]).toBeCloseTo(10.5, 5);
  });

  it('normalises per volume', () => {
    const z = normalizeIntensity(ramp([2, 3, 4]));
    const mean = z.data.reduce((a, b) => a + b, 0) / z.data.length;
    const sd = Math.sqrt(z.data.reduce((a, b) => a + (b - mean) ** 2, 0) / z.data.length);
    expect(mean).toBeCloseTo(0, 5);
    expect(sd).toBeCloseTo(1, 5);
    const p = normalizeIntensity(ramp([2, 3, 4]), { mode: 'percentile', percentiles: [0, 100] });
    expect(p.data[0]).toBe(0);
    expect(p.data[23]).toBe(1);
  });

  it('crops, flips and jitters reproducibly from the generator', () => {
    const v = ramp([4, 5, 6]);
    const c = centerCrop(v, [2, 3, 4]);
    expect(c.shape).toEqual([2, 3, 4]);
    expect(c.data[0]).toBe(1 * 30 + 1 * 6 + 1);
    const f = flip(v, 2);
    expect(f.data[0]).toBe(5);
    expect(Array.from(flip(f, 2).data)).toEqual(Array.from(v.data));
    expect(flip(v, 0).data[0]).toBe(90);
    const t = compose(randomCrop([2, 3, 4]), randomFlip([0, 2]), intensityJitter({ scale: 0.1, shift: 0.1 }));
    const a = t(v, new Generator(3));
    const b = t(v, new Generator(3));
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(a.shape).toEqual([2, 3, 4]);
    const starts = new Set(
      Array.from({ length: 50 }, (_, s) => randomCrop([2, 3, 4])(v, new Generator(s)).data[0]),
    );
    expect(starts.size).toBeGreaterThan(5);
    expect(() => centerCrop(v, [5, 1, 1])).toThrow(/does not fit/);
  });
  it('randomResizedCrop: a box of each axis fraction, resampled to the size, seeded', () => {
    const v = ramp([10, 20, 20]);
    const t = randomResizedCrop([4, 8, 8], [0.5, 1]);
    const a = t(v, new Generator(3));
    expect(a.shape).toEqual([4, 8, 8]);
    expect(Array.from(a.data)).toEqual(Array.from(t(v, new Generator(3)).data));
    // The ramp is linear in each axis, so a resampled box of it is too, with a step that shows the
    // box's extent: at least half the axis (scale ≥ 0.5) and at most all of it.
    const rowStep = a.data[8]! - a.data[0]!; // one output row = extent/8 input rows of 20 values
    expect(rowStep / 20).toBeGreaterThanOrEqual((0.5 * 20) / 8 - 1e-9);
    expect(rowStep / 20).toBeLessThanOrEqual(20 / 8 + 1e-9);
    // Full scale is the plain resample of the whole volume.
    expect(Array.from(randomResizedCrop([4, 8, 8], [1, 1])(v, new Generator(1)).data)).toEqual(
      Array.from(resample(v, [4, 8, 8]).data),
    );
    expect(() => randomResizedCrop([4, 8, 8], [0, 1])).toThrow(/0 < min/);
  });
});
