import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METH_METHYLATED as M, METH_NONE as N, METH_UNMETHYLATED as U } from '../formats/pat';
import type { PreparedSample, PreparedStore } from '../store';
import { bayesExamplePosterior, generateSyntheticDataset, type SynthDataset } from '../synth/generator';
import { buildStore } from '../train';
import { atlasReadPosterior, buildReadAtlas } from './atlas';
import { applyTemperature, fitTemperature, mixtureMle, temperatureNll } from './mixture';

function sample(label: number, rows: number[][], region: number[], count?: number[]): PreparedSample {
  return {
    sample: `s${label}-${rows.length}`,
    tissue: `t${label}`,
    label,
    n: rows.length,
    tokens: new Uint8Array(rows.length * rows[0].length).fill(5),
    methylation: Uint8Array.from(rows.flat()),
    region: Int32Array.from(region),
    count: Uint32Array.from(count ?? rows.map(() => 1)),
  };
}

describe('read-level atlas', () => {
  it('counts calls per CpG and tissue with a Beta(a, a) prior and multiplies them per read', () => {
    // 2 regions × 3 tokens, 2 tissues. Tissue 0: token 1 of region 0 methylated in 3 of 4 reads
    // (one pat line counts twice); tissue 1: unmethylated in 2 of 2.
    const store: PreparedStore = {
      tokenLength: 3,
      windowLength: 5,
      tissues: ['a', 'b'],
      regions: [],
      samples: [
        sample(
          0,
          [
            [N, M, N],
            [N, U, M],
            [N, M, N],
          ],
          [0, 0, 0],
          [1, 1, 2],
        ),
        sample(
          1,
          [
            [N, U, U],
            [N, U, N],
          ],
          [0, 0],
        ),
        sample(1, [[M, M, M]], [1]),
      ],
    };
    store.regions.length = 2;
    const atlas = buildReadAtlas(store, [0, 1, 2], 0.5);
    const at = (g: number, j: number, t: number) => (g * 3 + j) * 2 + t;
    expect(Math.exp(atlas.logMeth[at(0, 1, 0)])).toBeCloseTo(3.5 / 5, 12);
    expect(Math.exp(atlas.logUnmeth[at(0, 1, 0)])).toBeCloseTo(1.5 / 5, 12);
    expect(Math.exp(atlas.logMeth[at(0, 1, 1)])).toBeCloseTo(0.5 / 3, 12);
    expect(Math.exp(atlas.logMeth[at(0, 0, 0)])).toBeCloseTo(0.5, 12); // never called: the prior
    // Read [N, M, U] in region 0: tissue a → 0.7 · P(U at token 2 | a) = 0.7 · 0.5/2, tissue b → (0.5/3)(1.5/2).
    const la = (3.5 / 5) * (0.5 / 2);
    const lb = (0.5 / 3) * (1.5 / 2);
    const p = atlasReadPosterior(atlas, 0, [N, M, U]);
    expect(p[0]).toBeCloseTo(la / (la + lb), 12);
    expect(p[1]).toBeCloseTo(lb / (la + lb), 12);
    // A read without calls carries no information.
    expect(Array.from(atlasReadPosterior(atlas, 1, [N, N, N]))).toEqual([0.5, 0.5]);
    expect(() => atlasReadPosterior(atlas, 2, [N, N, N])).toThrow(
      /region.*2 is outside the atlas's 2 regions/,
    );
    expect(() => atlasReadPosterior(atlas, 0, [N, N])).toThrow(/has 2 states, the atlas 3/);
    expect(() => buildReadAtlas(store, [3])).toThrow(/no sample 3/);
  });

  describe('on the synthetic generator', () => {
    let root: string;
    let ds: SynthDataset;
    let store: PreparedStore;
    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'tb-atlas-'));
      ds = generateSyntheticDataset(join(root, 'data'), {
        seed: 4,
        samples: 66,
        regions: 30,
        meanCoverage: 20,
      });
      store = await buildStore(join(root, 'data'));
    });
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    it('learns read posteriors from training files that approach the exact ones and recover mixtures', () => {
      const K = store.tissues.length;
      const L = store.tokenLength;
      const files = store.samples.map((_, i) => i);
      const train = files.filter((i) => i % 3 !== 0);
      const held = files.filter((i) => i % 3 === 0);
      const atlas = buildReadAtlas(store, train);
      // Mean log posterior of the true tissue on held-out reads: atlas vs the generator's exact posterior.
      let llBayes = 0;
      let n = 0;
      const atlasProbs: number[] = [];
      const labels: number[] = [];
      const byTissue = new Map<number, Array<{ a: Float64Array }>>();
      for (const f of held) {
        const s = store.samples[f];
        for (let e = 0; e < s.n; e++) {
          const meth = s.methylation.subarray(e * L, (e + 1) * L);
          const a = atlasReadPosterior(atlas, s.region[e], meth);
          const r = ds.groundTruth.regions[s.region[e]];
          const w0 = Math.max(0, Math.round((r.start + r.end) / 2 - store.windowLength / 2));
          const b = bayesExamplePosterior(ds.groundTruth, s.region[e], meth, w0);
          atlasProbs.push(...a);
          labels.push(s.label);
          llBayes += Math.log(b[s.label]);
          n++;
          byTissue.set(s.label, [...(byTissue.get(s.label) ?? []), { a }]);
        }
      }
      const uniform = -Math.log(K);
      // Exact posteriors beat uniform. The counted atlas, over-confident as CpGs of a site move
      // together, beats uniform once tempered: temperature fitted on even reads, scored on odd ones.
      expect(llBayes / n).toBeGreaterThan(uniform + 0.3);
      const half = (parity: number) => {
        const rows = labels.map((_, i) => i).filter((i) => i % 2 === parity);
        const probs = Float64Array.from(rows.flatMap((i) => atlasProbs.slice(i * K, (i + 1) * K)));
        return { p: { probs, nReads: rows.length, nClasses: K }, y: rows.map((i) => labels[i]) };
      };
      const fit = half(0);
      const test = half(1);
      const T = fitTemperature(fit.p, fit.y);
      expect(T).toBeGreaterThan(1);
      const nllAtlas = temperatureNll(test.p, test.y, T);
      expect(-nllAtlas).toBeGreaterThan(uniform + 0.1);
      expect(-nllAtlas).toBeLessThan(llBayes / n + 0.05);
      const tempered = applyTemperature(test.p, T).probs;
      let hits = 0;
      test.y.forEach((y, i) => {
        let best = 0;
        for (let t = 1; t < K; t++) if (tempered[i * K + t] > tempered[i * K + best]) best = t;
        if (best === y) hits++;
      });
      expect(hits / test.y.length).toBeGreaterThan(2 / K);
      // A 70/30 mixture of the reads of two held-out tissues is recovered by the mixture MLE.
      const [t1, t2] = [...byTissue.keys()].sort(
        (x, y) => (byTissue.get(y)?.length ?? 0) - (byTissue.get(x)?.length ?? 0),
      );
      const r1 = byTissue.get(t1) ?? [];
      const r2 = byTissue.get(t2) ?? [];
      const n2 = Math.min(r2.length, Math.floor((r1.length * 3) / 7));
      const n1 = Math.round((n2 * 7) / 3);
      const reads = [...r1.slice(0, n1), ...r2.slice(0, n2)];
      const probs = new Float64Array(reads.length * K);
      reads.forEach((x, i) => {
        probs.set(x.a, i * K);
      });
      const pi = mixtureMle(applyTemperature({ probs, nReads: reads.length, nClasses: K }, T)).proportions;
      expect(n1 + n2).toBeGreaterThan(200);
      expect(pi[t1] + pi[t2]).toBeGreaterThan(0.75);
      expect(Math.abs(pi[t1] / (pi[t1] + pi[t2]) - n1 / (n1 + n2))).toBeLessThan(0.15);
    });
  });
});
