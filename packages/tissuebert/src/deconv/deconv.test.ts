import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import { runNnlsCommand } from '../commands';
import { alignByRowId, readNumericTable } from '../formats/atlas';
import {
  applyTemperature,
  bootstrapMixtureCi,
  dividePrior,
  fisherMixtureCi,
  fitTemperature,
  impliedPrior,
  meanPosterior,
  mixtureMle,
  type ReadPosteriors,
  tumourFractionMle,
} from './mixture';
import { nnls, nnlsDeconvolve } from './nnls';

const data = resolve(__dirname, '../../../../../shared/data');
const fixture = JSON.parse(readFileSync(resolve(__dirname, '../../fixtures/nnls_scipy.json'), 'utf8')) as {
  cellTypes: string[];
  uniqueIds: number;
  mixtures: Record<string, { sites: number; raw: number[]; rnorm: number; proportions: number[] }>;
  random: { A: number[][]; b: number[]; x: number[]; rnorm: number };
};

describe('NNLS (Lawson–Hanson)', () => {
  it('matches scipy.optimize.nnls on a random problem with active constraints', () => {
    const { A, b, x, rnorm } = fixture.random;
    const m = A.length;
    const n = A[0].length;
    const r = nnls(Float64Array.from(A.flat()), m, n, b);
    expect(x.filter((v) => v === 0).length).toBeGreaterThan(0);
    for (let j = 0; j < n; j++) expect(r.x[j]).toBeCloseTo(x[j], 10);
    expect(r.residualNorm).toBeCloseTo(rnorm, 10);
  });

  it('reproduces the meth_atlas example deconvolution (known mixtures, and scipy) within 1e-3', () => {
    const atlas = readNumericTable(join(data, 'meth_atlas/reference_atlas.csv'));
    const mixes = readNumericTable(join(data, 'meth_atlas/examples.csv'));
    const { atlasRows, mixtureRows, ids } = alignByRowId(atlas, mixes);
    expect(ids).toHaveLength(fixture.uniqueIds); // 6105: duplicates dropped as meth_atlas does
    const known: Record<string, Record<string, number>> = {
      Monocytes90_Breast10: { Monocytes_EPIC: 0.9, Breast: 0.1 },
      Adipo60Kidney30Prost10: { Adipocytes: 0.6, Kidney: 0.3, Prostate: 0.1 },
      Eryth50Lung25GI25: { Erythrocyte_progenitors: 0.5, Lung_cells: 0.25, Upper_GI: 0.25 },
    };
    mixes.columns.forEach((name, j) => {
      const { proportions } = nnlsDeconvolve(
        atlasRows,
        mixtureRows.map((r) => r[j]),
      );
      atlas.columns.forEach((c, t) => {
        expect(Math.abs(proportions[t] - (known[name][c] ?? 0))).toBeLessThan(1e-3);
        expect(Math.abs(proportions[t] - fixture.mixtures[name].proportions[t])).toBeLessThan(1e-6);
      });
    });
  });

  it('the nnls command prints proportions per mixture', () => {
    const out = runNnlsCommand(
      join(data, 'meth_atlas/examples.csv'),
      join(data, 'meth_atlas/reference_atlas.csv'),
    );
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('cell_type,Monocytes90_Breast10,Adipo60Kidney30Prost10,Eryth50Lung25GI25');
    expect(lines).toContain('Monocytes_EPIC,0.9000,0.0000,0.0000');
    expect(lines).toContain('Kidney,0.0000,0.3000,0.0000');
  });
});

/**
 * Synthetic reads with exact posteriors: a read from tissue t has a feature x ~ N(s·e_t, I), so
 * P(x | u) ∝ exp(s·x_u) and the calibrated posterior is P(u | x) ∝ exp(s·x_u) · prior_u.
 * Mixture reads are drawn from the known π.
 */
function syntheticPosteriors(
  pi: number[],
  priors: number[],
  nReads: number,
  rng: Generator,
  sharpness = 2,
): { post: ReadPosteriors; truthLabels: number[] } {
  const T = pi.length;
  const probs = new Float64Array(nReads * T);
  const truthLabels: number[] = [];
  for (let r = 0; r < nReads; r++) {
    const t = rng.categorical(pi);
    truthLabels.push(t);
    // A read from t: log-likelihoods with the true tissue boosted, others noisy.
    let s = 0;
    for (let u = 0; u < T; u++) {
      const x = (u === t ? sharpness : 0) + rng.normal(0, 1);
      probs[r * T + u] = Math.exp(sharpness * x) * priors[u];
      s += probs[r * T + u];
    }
    for (let u = 0; u < T; u++) probs[r * T + u] /= s;
  }
  return { post: { probs, nReads, nClasses: T }, truthLabels };
}

describe('mixture estimators from read posteriors', () => {
  it('the MLE recovers known proportions where the mean of posteriors is biased', () => {
    const rng = new Generator(1);
    const pi = [0.6, 0.25, 0.1, 0.05, 0];
    const priors = [0.4, 0.3, 0.1, 0.1, 0.1];
    // Reads' likelihoods are drawn so that E over reads of the posterior ≠ π.
    const N = 8000;
    const T = pi.length;
    const probs = new Float64Array(N * T);
    for (let r = 0; r < N; r++) {
      const t = rng.categorical(pi);
      // Exact generative model: P(r|u) = a if u = t's emission class... use a categorical feature.
      const f = rng.random() < 0.7 ? t : rng.int(T); // observed feature
      let s = 0;
      for (let u = 0; u < T; u++) {
        const lik = (u === f ? 0.7 : 0) + 0.3 / T; // P(f | u)
        probs[r * T + u] = lik * priors[u];
        s += probs[r * T + u];
      }
      for (let u = 0; u < T; u++) probs[r * T + u] /= s;
    }
    const post = { probs, nReads: N, nClasses: T };
    const mle = mixtureMle(post, { priors });
    expect(mle.converged).toBe(true);
    for (let t = 0; t < T; t++) expect(Math.abs(mle.proportions[t] - pi[t])).toBeLessThan(0.02);
    const mean = meanPosterior(post);
    const errMle = Math.max(...pi.map((p, t) => Math.abs(mle.proportions[t] - p)));
    const errMean = Math.max(...pi.map((p, t) => Math.abs(mean[t] - p)));
    expect(errMean).toBeGreaterThan(3 * errMle);
    // Weights (pat counts) are equivalent to repeated reads.
    const half = { probs: probs.slice(0, 100 * T), nReads: 100, nClasses: T };
    const doubled = { probs: Float64Array.from([...half.probs, ...half.probs]), nReads: 200, nClasses: T };
    const w = mixtureMle(half, { priors, weights: new Float64Array(100).fill(2), tol: 1e-13 });
    const d = mixtureMle(doubled, { priors, tol: 1e-13 });
    for (let t = 0; t < T; t++) expect(w.proportions[t]).toBeCloseTo(d.proportions[t], 8);
  });

  it('with two classes it equals MethylBERT’s tumour-fraction estimator', () => {
    const rng = new Generator(2);
    const prior = [0.7, 0.3]; // [normal, tumour]
    const { post } = syntheticPosteriors([0.88, 0.12], prior, 3000, rng, 1.5);
    const mle = mixtureMle(post, { priors: prior, tol: 1e-13 });
    const pT = Float64Array.from({ length: post.nReads }, (_, r) => post.probs[r * 2 + 1]);
    const theta = tumourFractionMle(pT, prior[1]);
    expect(mle.proportions[1]).toBeCloseTo(theta, 6);
  });

  it('bootstrap and Fisher intervals cover the truth and agree in width', () => {
    const rng = new Generator(3);
    const pi = [0.5, 0.3, 0.2];
    const priors = [1 / 3, 1 / 3, 1 / 3];
    const { post } = syntheticPosteriors(pi, priors, 4000, rng, 2.5);
    const fit = mixtureMle(post, { priors });
    const boot = bootstrapMixtureCi(post, new Generator(4), { priors, replicates: 60 });
    const fisher = fisherMixtureCi(post, fit.proportions, { priors });
    for (let t = 0; t < 3; t++) {
      expect(boot.lower[t]).toBeLessThanOrEqual(fit.proportions[t]);
      expect(boot.upper[t]).toBeGreaterThanOrEqual(fit.proportions[t]);
      expect(fisher.lower[t]).toBeLessThan(pi[t]);
      expect(fisher.upper[t]).toBeGreaterThan(pi[t]);
      expect(fisher.standardError[t] / boot.standardError[t]).toBeGreaterThan(0.6);
      expect(fisher.standardError[t] / boot.standardError[t]).toBeLessThan(1.6);
    }
    // Same seed, same interval.
    const again = bootstrapMixtureCi(post, new Generator(4), { priors, replicates: 60 });
    expect(Array.from(again.lower)).toEqual(Array.from(boot.lower));
  });

  it('dividing out the prior a leaning classifier implies restores the MLE', () => {
    // Reads carry a class-revealing feature with probability 0.2 and nothing otherwise (most
    // TissueBERT reads); the classifier was trained on balanced classes but leans towards some of
    // them on every read (its posteriors times `lean`, renormalised).
    const T = 5;
    const lean = [2, 1, 1, 0.6, 0.5];
    const draw = (pi: number[], n: number, rng: Generator) => {
      const probs = new Float64Array(n * T);
      const labels = new Int32Array(n);
      for (let r = 0; r < n; r++) {
        const t = rng.categorical(pi);
        labels[r] = t;
        const f = rng.random() < 0.2 ? t : -1; // the feature, or none
        let s = 0;
        for (let u = 0; u < T; u++) {
          const lik = f < 0 ? 1 : u === f ? 0.9 : 0.1 / (T - 1);
          probs[r * T + u] = lik * lean[u];
          s += probs[r * T + u];
        }
        for (let u = 0; u < T; u++) probs[r * T + u] /= s;
      }
      return { post: { probs, nReads: n, nClasses: T }, labels };
    };
    const rng = new Generator(6);
    // Labelled reference reads, unbalanced across classes: the prior weighs classes equally.
    const ref = draw([0.4, 0.3, 0.1, 0.1, 0.1], 6000, rng);
    const prior = impliedPrior(ref.post, ref.labels);
    expect(prior.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // The classifier's posteriors are calibrated ones under the prior ∝ lean: that is recovered.
    const leanNorm = lean.map((l) => l / lean.reduce((x, y) => x + y, 0));
    for (let t = 0; t < T; t++) expect(Math.abs(prior[t] - leanNorm[t])).toBeLessThan(0.015);
    // Its first fixed-point step, the plain class-balanced mean, is further off.
    const mean = impliedPrior(ref.post, ref.labels, { maxIter: 1 });
    expect(Math.abs(mean[0] - leanNorm[0])).toBeGreaterThan(0.02);
    const pi = [0.1, 0.2, 0.3, 0.4, 0];
    const mix = draw(pi, 20000, rng).post;
    const err = (x: ArrayLike<number>) => Math.max(...pi.map((p, t) => Math.abs(x[t] - p)));
    const nominal = mixtureMle(mix).proportions;
    const corrected = mixtureMle(dividePrior(mix, prior)).proportions;
    expect(err(nominal)).toBeGreaterThan(0.15);
    expect(err(corrected)).toBeLessThan(0.04);
    // Calibrated posteriors imply (nearly) the uniform prior; dividing by it changes nothing.
    const uniform = new Float64Array(T).fill(1 / T);
    const same = dividePrior(mix, uniform);
    for (let i = 0; i < 50; i++) expect(same.probs[i]).toBeCloseTo(mix.probs[i], 12);
    expect(() => dividePrior(mix, [0.5, 0.5, 0, 0, 0])).toThrow(/prior.*entry 2/);
    expect(() => impliedPrior(ref.post, new Int32Array(ref.labels.length).fill(T))).toThrow(/labels/);
  });

  it('temperature scaling recovers the temperature that sharpened the posteriors', () => {
    const rng = new Generator(5);
    const { post, truthLabels } = syntheticPosteriors(
      [0.25, 0.25, 0.25, 0.25],
      [0.25, 0.25, 0.25, 0.25],
      4000,
      rng,
      1.5,
    );
    // Over-confident classifier: posteriors raised to the power 3 (T = 1/3).
    const sharp = applyTemperature(post, 1 / 3);
    const T = fitTemperature(sharp, truthLabels);
    expect(T).toBeGreaterThan(2.4);
    expect(T).toBeLessThan(3.6);
  });
});
