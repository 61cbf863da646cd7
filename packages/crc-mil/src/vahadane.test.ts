// Vahadane against an independent numpy + scikit-learn implementation (fixtures/stain/make_vahadane_fixture.py:
// LARS-lasso sparse coding and scikit-learn's dictionary update, same recipe and constants).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFeatureBag } from '@meddl/data';
import { describe, expect, it } from 'vitest';
import { preprocess } from './preprocess';
import { opticalDensity } from './stain';
import { synthesize } from './synth/generator';
import { fitVahadane, normalizeVahadane, positiveLasso2, vahadane, vahadaneConcentrations } from './vahadane';

interface Case {
  seed: number;
  rgb: number[];
  tissuePixels: number;
  he: number[];
  concentrations: number[];
  maxC: number[];
  float: number[];
  uint8: number[];
}
const ref = JSON.parse(
  readFileSync(new URL('../fixtures/stain/vahadane_reference.json', import.meta.url), 'utf8'),
) as { lambdaC: number; cases: Case[] };

describe('Vahadane against numpy + scikit-learn', () => {
  it('the two-atom non-negative lasso satisfies its KKT conditions', () => {
    const a = [0.55, 0.78, 0.3];
    const b = [0.25, 0.86, 0.44];
    const lambda = 0.1;
    for (const x of [
      [1.2, 1.9, 0.9],
      [0.05, 0.04, 0.02],
      [0.9, 0.6, 0.2],
      [0.1, 0.9, 0.5],
    ]) {
      const [c0, c1] = positiveLasso2(x[0] as number, x[1] as number, x[2] as number, a, b, lambda);
      const r = [0, 1, 2].map((k) => (x[k] as number) - c0 * (a[k] as number) - c1 * (b[k] as number));
      const g0 = r[0] * a[0] + r[1] * a[1] + r[2] * a[2];
      const g1 = r[0] * b[0] + r[1] * b[1] + r[2] * b[2];
      // Active atoms: correlation with the residual equals λ; inactive: at most λ.
      if (c0 > 0) expect(g0).toBeCloseTo(lambda, 10);
      else expect(g0).toBeLessThanOrEqual(lambda + 1e-12);
      if (c1 > 0) expect(g1).toBeCloseTo(lambda, 10);
      else expect(g1).toBeLessThanOrEqual(lambda + 1e-12);
    }
  });

  for (const c of ref.cases) {
    it(`patch seed ${c.seed}: stain matrix, concentrations, max concentrations, normalized pixels`, () => {
      const rgb = Uint8Array.from(c.rgb);
      const fit = fitVahadane(rgb);
      expect(fit.tissuePixels).toBe(c.tissuePixels);
      for (let k = 0; k < 6; k++)
        expect(Math.abs((fit.he[k] as number) - (c.he[k] as number))).toBeLessThan(1e-9);
      // Concentrations under the reference's own stain matrix: the lasso alone, exact on both sides.
      const [cH, cE] = vahadaneConcentrations(opticalDensity(rgb, 240), Float64Array.from(c.he), ref.lambdaC);
      let maxC = 0;
      for (let i = 0; i < cH.length; i++) {
        maxC = Math.max(
          maxC,
          Math.abs((cH[i] as number) - (c.concentrations[2 * i] as number)),
          Math.abs((cE[i] as number) - (c.concentrations[2 * i + 1] as number)),
        );
      }
      expect(maxC).toBeLessThan(1e-8);
      expect(Math.abs(fit.maxC[0] - (c.maxC[0] as number))).toBeLessThan(1e-9);
      expect(Math.abs(fit.maxC[1] - (c.maxC[1] as number))).toBeLessThan(1e-9);
      const { float, image } = normalizeVahadane(rgb, fit);
      let maxFloat = 0;
      let maxByte = 0;
      for (let i = 0; i < float.length; i++) {
        maxFloat = Math.max(maxFloat, Math.abs((float[i] as number) - (c.float[i] as number)));
        maxByte = Math.max(maxByte, Math.abs((image[i] as number) - (c.uint8[i] as number)));
      }
      expect(maxFloat).toBeLessThan(1e-6); // the fixture keeps 6 decimals
      expect(maxByte).toBe(0);
      // The stain vectors are the data's: H (red-heavy) first, both non-negative and unit length.
      expect(fit.he[0] as number).toBeGreaterThan(fit.he[1] as number);
      expect(Math.hypot(fit.he[0] as number, fit.he[2] as number, fit.he[4] as number)).toBeCloseTo(1, 12);
      expect(Array.from(fit.he).every((v) => v >= 0)).toBe(true);
    });
  }

  it('a patch without stain is left alone (null), as Macenko', () => {
    expect(vahadane(new Uint8Array(24 * 24 * 3).fill(245))).toBeNull();
  });

  it("preprocess with stainNorm: 'vahadane' writes bags from normalized patches", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crc-mil-vahadane-'));
    try {
      const synth = await synthesize(join(dir, 'data'), {
        seed: 6,
        patients: 3,
        width: 384,
        height: 256,
        multiSlideFraction: 0,
      });
      const cfg = {
        patchSize: 32,
        magnification: 20,
        tissue: { maxSize: 128, minTissueArea: 5000, minHoleArea: 4000 },
        encoder: { dim: 16 },
      };
      const input = [{ slideId: 'one', path: join(dir, 'data', synth.slides[0]?.slide_file as string) }];
      const v = await preprocess(input, join(dir, 'v'), { ...cfg, stainNorm: 'vahadane' }, () => {});
      const m = await preprocess(input, join(dir, 'm'), { ...cfg, stainNorm: 'macenko' }, () => {});
      expect(v.slides[0]?.status).toBe('done');
      const bv = await readFeatureBag(join(dir, 'v', v.slides[0]?.bag as string));
      const bm = await readFeatureBag(join(dir, 'm', m.slides[0]?.bag as string));
      expect(bv.attributes.stain_norm).toBe('vahadane');
      expect(bv.count).toBe(bm.count); // QC runs before normalization: same patches
      let diff = 0;
      for (let i = 0; i < bv.features.length; i++)
        diff = Math.max(diff, Math.abs((bv.features[i] as number) - (bm.features[i] as number)));
      expect(diff).toBeGreaterThan(1e-3); // a different normalization gives different features
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
