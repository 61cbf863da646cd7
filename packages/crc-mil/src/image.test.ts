import { describe, expect, it } from 'vitest';
import {
  closing,
  connectedComponents,
  laplacianVariance,
  medianBlur,
  otsuThreshold,
  resizeArea,
} from './image';
import { measurePatch, qcReason } from './qc';
import { segmentTissue, targetDownsample, tissueFractionAt } from './tissue';

describe('image operations', () => {
  it('Otsu splits a bimodal image between the modes', () => {
    const data = new Uint8Array(100);
    for (let i = 0; i < 100; i++) data[i] = i < 60 ? 10 + (i % 5) : 200 + (i % 7);
    const t = otsuThreshold({ width: 10, height: 10, data });
    expect(t).toBeGreaterThanOrEqual(14);
    expect(t).toBeLessThan(200);
  });

  it('median blur removes isolated salt pixels and keeps edges', () => {
    const data = new Uint8Array(81);
    data[40] = 255; // one salt pixel
    for (let y = 0; y < 9; y++) for (let x = 6; x < 9; x++) data[y * 9 + x] = 100; // a bar
    const out = medianBlur({ width: 9, height: 9, data }, 3);
    expect(out.data[40]).toBe(0);
    expect(out.data[4 * 9 + 7]).toBe(100);
    expect(out.data[4 * 9 + 3]).toBe(0);
  });

  it('closing bridges a one-pixel gap; components count 8-connected pieces', () => {
    const m = new Uint8Array(5 * 5);
    for (const i of [6, 7, 9, 8 - 0]) m[i] = 1;
    m[8] = 0;
    const closed = closing(m, 5, 5, 1);
    expect(closed[8]).toBe(1);
    const cc = connectedComponents(Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), 3, 3, 1);
    expect(cc.areas).toEqual([3]);
  });

  it('resizeArea averages footprints; Laplacian variance is 0 on a flat image', () => {
    const img = {
      width: 2,
      height: 2,
      data: Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200, 100, 100, 100]),
    };
    expect(Array.from(resizeArea(img, 1, 1).data)).toEqual([100, 100, 100]);
    expect(laplacianVariance(new Float64Array(64).fill(7), 8, 8)).toBe(0);
  });
});

describe('tissue segmentation (CLAM recipe)', () => {
  // 96×96 thumbnail: white glass, a pink disc (r 30) with a big hole (r 9) and a tiny hole (1 px),
  // and a 3×3 pink speck far away.
  const w = 96;
  const rgb = new Uint8Array(w * w * 3).fill(240);
  const paint = (x: number, y: number) => rgb.set([220, 120, 190], 3 * (y * w + x));
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - 40, y - 40);
      const hole = Math.hypot(x - 48, y - 40) < 9 || (x === 28 && y === 40);
      if (d < 30 && !hole) paint(x, y);
    }
  }
  for (let y = 88; y < 91; y++) for (let x = 88; x < 91; x++) paint(x, y);
  const t = segmentTissue({ width: w, height: w, data: rgb }, 4, 4, {
    medianKernel: 1,
    closeRadius: 1,
    minTissueArea: 60 * 16,
    minHoleArea: 100 * 16,
  });

  it('keeps the disc, drops the speck, fills the small hole and keeps the big one', () => {
    expect(t.pieces).toBe(1);
    expect(t.holes).toBe(1);
    expect(t.mask[89 * w + 89]).toBe(0);
    expect(t.mask[40 * w + 28]).toBe(1);
    expect(t.mask[40 * w + 48]).toBe(0);
    expect(t.mask[40 * w + 25]).toBe(1);
    expect(tissueFractionAt(t, 25 * 4, 35 * 4, 16)).toBe(1);
    expect(tissueFractionAt(t, 0, 0, 16)).toBe(0);
  });

  it('resolves magnification and µm/px targets from metadata', () => {
    expect(targetDownsample({ objectivePower: 40, mpp: { x: 0.25, y: 0.25 } }, { magnification: 20 })).toBe(
      2,
    );
    expect(targetDownsample({ objectivePower: 40, mpp: { x: 0.25, y: 0.25 } }, { mpp: 1 })).toBe(4);
    expect(
      targetDownsample({ objectivePower: undefined, mpp: { x: 0.5, y: 0.5 } }, { magnification: 10 }),
    ).toBe(2);
    expect(targetDownsample({ objectivePower: undefined, mpp: undefined }, { magnification: 20 })).toBeNull();
    expect(
      targetDownsample({ objectivePower: undefined, mpp: undefined }, { magnification: 20, assumeMpp: 0.25 }),
    ).toBe(2);
  });
});

describe('patch QC', () => {
  const patch = (fill: (x: number, y: number) => [number, number, number]) => {
    const data = new Uint8Array(32 * 32 * 3);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) data.set(fill(x, y), 3 * (y * 32 + x));
    return { width: 32, height: 32, data };
  };
  it('names background, pen, saturation and blur; passes textured H&E', () => {
    expect(qcReason(measurePatch(patch(() => [242, 240, 241])))).toBe('background');
    expect(qcReason(measurePatch(patch(() => [25, 110, 60])))).toBe('pen');
    expect(qcReason(measurePatch(patch(() => [5, 5, 5])))).toBe('saturation');
    expect(qcReason(measurePatch(patch(() => [200, 120, 180])))).toBe('blur');
    const he = patch((x, y) => (((x >> 2) + (y >> 2)) % 2 ? [110, 80, 160] : [225, 140, 200]));
    expect(qcReason(measurePatch(he))).toBeNull();
  });
});
