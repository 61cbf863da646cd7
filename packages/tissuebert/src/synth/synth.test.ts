import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { mixtureMle } from '../deconv/mixture';
import { nnlsDeconvolve } from '../deconv/nnls';
import { readBlocksBed, readCpgIndex } from '../formats/bed';
import { readBeta } from '../formats/beta';
import { bgzfBlocks } from '../formats/bgzf';
import { IndexedFasta } from '../formats/fasta';
import { type PatRecord, patToBeta, readPat } from '../formats/pat';
import { detectionLimit, dirichletMixture, mixPat, pearsonPerTissue, rmse, spikeInMixture } from '../mix';
import { cpgDropout, TissueBalancedSampler } from '../sampling';
import { getExample, type PreparedSample, prepareSample } from '../store';
import {
  bayesExamplePosterior,
  bayesReadPosterior,
  generateSyntheticDataset,
  type SynthDataset,
} from './generator';
import { SYNTH_MAJOR_TISSUE, SYNTH_TISSUES } from './tissues';

let ds: SynthDataset;
let pats: PatRecord[][];
let prepared: PreparedSample[];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'tissuebert-synth-'));
  ds = generateSyntheticDataset(dir, { seed: 3, samples: 60, regions: 40, meanCoverage: 20 });
  pats = ds.samples.map((s) => readPat(join(dir, s.file)));
  const fasta = new IndexedFasta(ds.genome);
  const cpg = readCpgIndex(ds.cpgIndex);
  const regions = readBlocksBed(ds.regionsBed);
  prepared = ds.samples.map((s, i) => prepareSample(s, pats[i], regions, cpg, fasta));
  fasta.close();
});

/** Region index of a pat record (synthetic reads never leave their region). */
function regionOf(rec: PatRecord): number {
  return ds.groundTruth.regions.findIndex(
    (r) => r.chrom === rec.chrom && rec.startCpg >= r.startCpg && rec.startCpg < r.endCpg,
  );
}

/** Bayes read posterior of a pat record under the generator's model (uniform prior). */
function bayesOf(rec: PatRecord): Float64Array {
  const g = regionOf(rec);
  return bayesReadPosterior(
    ds.groundTruth,
    g,
    rec.pattern,
    rec.startCpg - ds.groundTruth.regions[g].startCpg,
  );
}

describe('synthetic generator', () => {
  it('writes readable wgbstools-style files with consistent CpG indices', () => {
    expect(ds.samples).toHaveLength(60);
    const manifest = readFileSync(ds.manifest, 'utf8').trim().split('\n');
    expect(manifest[0]).toBe('sample,tissue,file');
    expect(manifest).toHaveLength(61);
    const cpg = readCpgIndex(ds.cpgIndex);
    expect(cpg.nSites).toBe(ds.nSites);
    const fasta = new IndexedFasta(ds.genome);
    for (const r of ds.groundTruth.regions) {
      expect(r.endCpg).toBeGreaterThan(r.startCpg);
      const seq = fasta.fetch(r.chrom, r.start, r.end);
      // Every CpG index of the region points at a C followed by G inside the region.
      const p = cpg.positions.get(r.chrom) as Int32Array;
      const first = cpg.firstIndex.get(r.chrom) as number;
      for (let k = r.startCpg; k < r.endCpg; k++)
        expect(seq.slice(p[k - first] - 1 - r.start, p[k - first] + 1 - r.start)).toBe('CG');
    }
    fasta.close();
    for (let i = 0; i < 3; i++) {
      bgzfBlocks(readFileSync(join(ds.dir, ds.samples[i].file)));
      const beta = readBeta(join(ds.dir, ds.samples[i].betaFile), ds.nSites);
      const expected = patToBeta(pats[i], ds.nSites);
      expect(Array.from(beta.covered)).toEqual(Array.from(expected.covered, (v) => Math.min(v, 255)));
    }
  });

  it('has the atlas-like class imbalance and variable coverage', () => {
    const counts = ds.groundTruth.fileTissueCounts;
    expect(counts[SYNTH_MAJOR_TISSUE]).toBe(Math.round(60 * 0.27));
    for (const t of SYNTH_TISSUES) expect(counts[t]).toBeGreaterThanOrEqual(1);
    const reads = ds.samples.map((s) => s.reads);
    expect(Math.max(...reads) / Math.min(...reads)).toBeGreaterThan(1.5);
  });

  it('is seeded: the same seed writes identical files', () => {
    const a = generateSyntheticDataset(mkdtempSync(join(tmpdir(), 'tb-a-')), {
      seed: 9,
      samples: 30,
      regions: 5,
    });
    const b = generateSyntheticDataset(mkdtempSync(join(tmpdir(), 'tb-b-')), {
      seed: 9,
      samples: 30,
      regions: 5,
    });
    expect(readFileSync(a.manifest, 'utf8')).toBe(readFileSync(b.manifest, 'utf8'));
    expect(
      readFileSync(join(a.dir, a.samples[0].file)).equals(readFileSync(join(b.dir, b.samples[0].file))),
    ).toBe(true);
    expect(readFileSync(a.genome).equals(readFileSync(b.genome))).toBe(true);
  });

  it('is learnable: Bayes-optimal read and file classification beat chance', () => {
    let correct = 0;
    let total = 0;
    let filesCorrect = 0;
    ds.samples.forEach((s, i) => {
      const logp = new Float64Array(SYNTH_TISSUES.length);
      for (const rec of pats[i]) {
        const post = bayesOf(rec);
        let best = 0;
        for (let t = 1; t < post.length; t++) if (post[t] > post[best]) best = t;
        if (best === s.label) correct += rec.count;
        total += rec.count;
        for (let t = 0; t < post.length; t++) logp[t] += rec.count * Math.log(post[t]);
      }
      let bestFile = 0;
      for (let t = 1; t < logp.length; t++) if (logp[t] > logp[bestFile]) bestFile = t;
      if (bestFile === s.label) filesCorrect++;
    });
    const readAcc = correct / total;
    // Single reads are weak evidence (chance 1/22 ≈ 0.045); whole files are nearly always right.
    expect(readAcc).toBeGreaterThan(2 / 22);
    expect(readAcc).toBeLessThan(0.6);
    expect(filesCorrect / ds.samples.length).toBeGreaterThan(0.9);
  });
});

describe('prepared examples and sampling', () => {
  it('turns every pat line into a 148-token example with the read’s calls mid-token', () => {
    for (let i = 0; i < prepared.length; i++) expect(prepared[i].n).toBe(pats[i].length);
    const store = {
      tokenLength: 148,
      windowLength: 150,
      tissues: SYNTH_TISSUES,
      regions: ds.groundTruth.regions,
      samples: prepared,
    };
    const ex = getExample(store, 0, 0);
    expect(ex.tokenIds).toHaveLength(148);
    expect(ex.label).toBe(ds.samples[0].label);
    const fasta = new IndexedFasta(ds.genome);
    let checked = 0;
    for (let j = 0; j < 50; j++) {
      const rec = pats[0][j];
      const e = getExample(store, 0, j);
      const region = ds.groundTruth.regions[prepared[0].region[j]];
      const seq = fasta.fetch(region.chrom, region.start, region.end);
      const states = Array.from(e.methylation)
        .map((m, k) => [m, k] as const)
        .filter(([m]) => m !== 2);
      for (const [, k] of states) expect(seq.slice(k + 1, k + 3)).toBe('CG'); // the C is the token's middle base
      const calls = [...rec.pattern].filter((c) => c === 'C' || c === 'T');
      expect(states.map(([m]) => (m === 1 ? 'C' : 'T'))).toEqual(calls.slice(calls.length - states.length));
      checked++;
    }
    fasta.close();
    expect(checked).toBe(50);
  });

  it('the Bayes posterior of a prepared example equals that of its pat line', () => {
    const L = 148;
    let compared = 0;
    for (let j = 0; j < 200; j++) {
      const rec = pats[1][j];
      const g = prepared[1].region[j];
      const region = ds.groundTruth.regions[g];
      const states = prepared[1].methylation.subarray(j * L, (j + 1) * L);
      // A CpG whose C is the window's first base has no token (no 3-mer centred on it): skip those reads.
      const calls = [...rec.pattern].filter((c) => c === 'C' || c === 'T').length;
      if (states.filter((m) => m !== 2).length !== calls) continue;
      const fromExample = bayesExamplePosterior(ds.groundTruth, g, states, region.start); // 150-bp regions fill the window
      const fromRead = bayesOf(rec);
      for (let t = 0; t < fromRead.length; t++) expect(fromExample[t]).toBeCloseTo(fromRead[t], 10);
      compared++;
    }
    expect(compared).toBeGreaterThan(150);
  });

  it('tissue-balanced sampler draws tissues uniformly despite the 27% major tissue', () => {
    const sampler = new TissueBalancedSampler(prepared.map((p) => ({ label: p.label, weights: p.count })));
    const rng = new Generator(11);
    const hits = new Float64Array(SYNTH_TISSUES.length);
    const draws = 22_000;
    for (const d of sampler.batch(rng, draws)) {
      hits[prepared[d.file].label]++;
      expect(d.example).toBeLessThan(prepared[d.file].n);
    }
    for (const h of hits) expect(Math.abs(h / draws - 1 / 22)).toBeLessThan(0.012);
  });

  it('CpG dropout hides ~5% of observed CpGs and nothing else', () => {
    const m = new Uint8Array(40_000).map((_, i) => i % 3);
    const out = cpgDropout(m, 0.05, new Generator(5));
    let dropped = 0;
    for (let i = 0; i < m.length; i++) {
      if (m[i] === 2) expect(out[i]).toBe(2);
      else if (out[i] !== m[i]) {
        expect(out[i]).toBe(2);
        dropped++;
      }
    }
    const observed = m.filter((v) => v !== 2).length;
    expect(Math.abs(dropped / observed - 0.05)).toBeLessThan(0.006);
  });
});

describe('synthetic mixtures (mix_pat) and deconvolution', () => {
  it('NNLS on a per-CpG atlas and the read-level MLE recover Dirichlet(0.5) mixtures', () => {
    const T = SYNTH_TISSUES.length;
    const G = ds.nSites; // per-CpG atlas, as MethAtlas (CpG indices are 1-based)
    // One held-out file per tissue (the last one); the rest build the NNLS reference atlas.
    const heldOut = new Map<number, number>();
    ds.samples.forEach((s, i) => {
      heldOut.set(s.label, i);
    });
    const atlasM = new Float64Array((G + 1) * T);
    const atlasC = new Float64Array((G + 1) * T);
    const regionBeta = (
      recs: readonly PatRecord[],
      m: Float64Array,
      c: Float64Array,
      t: number,
      stride: number,
    ) => {
      for (const rec of recs) {
        for (let i = 0; i < rec.pattern.length; i++) {
          const ch = rec.pattern[i];
          const g = rec.startCpg + i;
          if (ch === 'C' || ch === 'T') c[g * stride + t] += rec.count;
          if (ch === 'C') m[g * stride + t] += rec.count;
        }
      }
    };
    ds.samples.forEach((s, i) => {
      if (heldOut.get(s.label) !== i) regionBeta(pats[i], atlasM, atlasC, s.label, T);
    });
    const atlasRows = Array.from({ length: G + 1 }, (_, g) =>
      Float64Array.from({ length: T }, (_, t) =>
        atlasC[g * T + t] > 0 ? atlasM[g * T + t] / atlasC[g * T + t] : Number.NaN,
      ),
    );
    const rng = new Generator(21);
    const sources = SYNTH_TISSUES.map((_, t) => pats[heldOut.get(t) as number]);
    const truth: Float64Array[] = [];
    const viaNnls: Float64Array[] = [];
    const viaMle: Float64Array[] = [];
    for (let k = 0; k < 4; k++) {
      const pi = dirichletMixture(rng, T, 0.5);
      const avail = sources.map((recs) => recs.reduce((a, r) => a + r.count, 0));
      const total = Math.floor(
        Math.min(2000, ...avail.map((a, t) => (pi[t] > 0 ? a / pi[t] : Number.POSITIVE_INFINITY))),
      );
      const mix = mixPat(sources, pi, total, rng);
      truth.push(mix.realized);
      const m = new Float64Array(G + 1);
      const c = new Float64Array(G + 1);
      regionBeta(mix.records, m, c, 0, 1);
      const rows: Float64Array[] = [];
      const b: number[] = [];
      for (let g = 1; g <= G; g++) {
        if (c[g] === 0 || atlasRows[g].some(Number.isNaN)) continue;
        rows.push(atlasRows[g]);
        b.push(m[g] / c[g]);
      }
      viaNnls.push(nnlsDeconvolve(rows, b).proportions);
      const probs = new Float64Array(mix.records.length * T);
      mix.records.forEach((rec, r) => {
        probs.set(bayesOf(rec), r * T);
      });
      const fit = mixtureMle(
        { probs, nReads: mix.records.length, nClasses: T },
        { weights: mix.records.map((r) => r.count), tol: 1e-7 },
      );
      viaMle.push(fit.proportions);
    }
    const rNnls = rmse(truth, viaNnls);
    const rMle = rmse(truth, viaMle);
    // Measured with seed 3/21: see docs/tissuebert.md. Both well below the RMSE of a uniform guess.
    const uniform = rmse(
      truth,
      truth.map(() => new Float64Array(T).fill(1 / T)),
    );
    expect(rNnls).toBeLessThan(uniform);
    expect(rMle).toBeLessThan(uniform / 2);
    // Reads carry coherent multi-CpG patterns that per-CpG averages lose: the exact read likelihood wins.
    expect(rMle).toBeLessThan(rNnls);
    expect(pearsonPerTissue(truth, viaMle).filter((r) => r > 0.8).length).toBeGreaterThan(T / 2);
    console.log(
      `synthetic Dirichlet(0.5) mixtures: RMSE uniform ${uniform.toFixed(4)}, NNLS ${rNnls.toFixed(4)}, Bayes-posterior MLE ${rMle.toFixed(4)}`,
    );
  });
});

describe('low-fraction spike-ins and the detection limit', () => {
  it('estimates a Liver-Hep spike into blood and reports the detection limit (Bayes read posteriors)', () => {
    const T = SYNTH_TISSUES.length;
    const liver = SYNTH_TISSUES.indexOf('Liver-Hep');
    const blood = [0, 1, 2, 3, 4, 5];
    const fileOf = new Map<number, number>();
    ds.samples.forEach((s, i) => {
      fileOf.set(s.label, i);
    });
    const sources = SYNTH_TISSUES.map((_, t) => pats[fileOf.get(t) as number]);
    const background = new Float64Array(T);
    for (const b of blood) background[b] = 1 / blood.length;
    const rng = new Generator(31);
    const estimate = (fraction: number) => {
      const pi = spikeInMixture(background, liver, fraction);
      const mix = mixPat(sources, pi, 1200, rng);
      const probs = new Float64Array(mix.records.length * T);
      mix.records.forEach((rec, r) => {
        probs.set(bayesOf(rec), r * T);
      });
      return mixtureMle(
        { probs, nReads: mix.records.length, nClasses: T },
        { weights: mix.records.map((r) => r.count) },
      ).proportions[liver];
    };
    const levels = [0.01, 0.03, 0.1];
    const blanks = [estimate(0), estimate(0), estimate(0)];
    const estimates = levels.map((f) => [estimate(f), estimate(f)]);
    const limit = detectionLimit(levels, estimates, blanks);
    console.log(
      `Liver-Hep spike into blood (1200 reads): blanks ${blanks.map((b) => b.toFixed(4)).join(' ')}; ${levels.map((f, i) => `${f}: ${estimates[i].map((e) => e.toFixed(4)).join(' ')}`).join('; ')}; detection limit ${limit}`,
    );
    // At 10% the liver estimate is within a factor of two of the truth, and the limit is ≤ 10%.
    for (const e of estimates[2]) expect(Math.abs(e - 0.1)).toBeLessThan(0.05);
    expect(limit).toBeLessThanOrEqual(0.1);
  });
});
