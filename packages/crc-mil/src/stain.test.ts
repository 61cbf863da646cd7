import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  fitMacenko,
  labStats,
  labToRgb,
  normalizeMacenko,
  normalizeReinhard,
  percentile,
  rgbToLab,
  StainError,
  symmetricEigen3,
} from './stain';

interface Case {
  seed: number;
  rgb: number[];
  he: number[];
  maxC: number[];
  tissuePixels: number;
  normalizedFloat: number[];
  normalized: number[];
}
const ref = JSON.parse(
  readFileSync(new URL('../fixtures/stain/macenko_reference.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

describe('Macenko against the numpy reference (torchstain recipe)', () => {
  for (const c of ref.cases) {
    it(`patch seed ${c.seed}: stain matrix, max concentrations, normalized pixels`, () => {
      const rgb = Uint8Array.from(c.rgb);
      const fit = fitMacenko(rgb);
      expect(fit.tissuePixels).toBe(c.tissuePixels);
      for (let k = 0; k < 6; k++) expect(fit.he[k]).toBeCloseTo(c.he[k] as number, 9);
      expect(fit.maxC[0]).toBeCloseTo(c.maxC[0] as number, 9);
      expect(fit.maxC[1]).toBeCloseTo(c.maxC[1] as number, 9);
      const { float, image } = normalizeMacenko(rgb, fit);
      let maxFloat = 0;
      let mismatched = 0;
      for (let i = 0; i < float.length; i++) {
        maxFloat = Math.max(maxFloat, Math.abs((float[i] as number) - (c.normalizedFloat[i] as number)));
        if (image[i] !== c.normalized[i]) mismatched++;
      }
      expect(maxFloat).toBeLessThan(1e-5);
      // Truncation can differ only where numpy's value sits within 1e-9 of an integer.
      expect(mismatched).toBeLessThanOrEqual(1);
    });
  }

  it('refuses a blank patch with a typed error', () => {
    expect(() => fitMacenko(new Uint8Array(300).fill(250))).toThrow(StainError);
  });

  it('percentile and eigen helpers follow numpy', () => {
    expect(percentile(Float64Array.from([3, 1, 2, 4]), 25)).toBeCloseTo(1.75, 12);
    const { values, vectors } = symmetricEigen3([2, 1, 0, 1, 2, 0, 0, 0, 5]);
    expect(values[0]).toBeCloseTo(1, 10);
    expect(values[1]).toBeCloseTo(3, 10);
    expect(values[2]).toBeCloseTo(5, 10);
    expect(Math.abs((vectors[2] as number[])[2] as number)).toBeCloseTo(1, 10);
  });
});

describe('Reinhard in L*a*b* against scikit-image', () => {
  const r = JSON.parse(
    readFileSync(new URL('../fixtures/stain/reinhard_reference.json', import.meta.url), 'utf8'),
  ) as {
    source: number[];
    target: number[];
    labSource: number[];
    targetMean: number[];
    targetStd: number[];
    normalized: number[];
  };

  it('rgb2lab, target statistics and the normalized image match', () => {
    const lab = rgbToLab(Uint8Array.from(r.source));
    let maxLab = 0;
    for (let i = 0; i < lab.length; i++)
      maxLab = Math.max(maxLab, Math.abs((lab[i] as number) - (r.labSource[i] as number)));
    expect(maxLab).toBeLessThan(1e-6);
    const stats = labStats(rgbToLab(Uint8Array.from(r.target)));
    for (let c = 0; c < 3; c++) {
      expect(stats.mean[c]).toBeCloseTo(r.targetMean[c] as number, 8);
      expect(stats.std[c]).toBeCloseTo(r.targetStd[c] as number, 8);
    }
    const out = normalizeReinhard(Uint8Array.from(r.source), stats);
    let maxDiff = 0;
    for (let i = 0; i < out.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((out[i] as number) - (r.normalized[i] as number)));
    // Rounding of values within float error of .5 may differ by one level.
    expect(maxDiff).toBeLessThanOrEqual(1);
  });

  it('lab2rgb inverts rgb2lab', () => {
    const rgb = Uint8Array.from(r.source);
    const back = labToRgb(rgbToLab(rgb));
    for (let i = 0; i < rgb.length; i++) expect(Math.round((back[i] as number) * 255)).toBe(rgb[i]);
  });
});
