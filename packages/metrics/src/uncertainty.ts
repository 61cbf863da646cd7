// Predictive uncertainty: entropy, mutual information (BALD) from stochastic samples, evidential (Dirichlet).
import { MetricsError } from './errors.js';
import type { MatrixInput } from './types.js';
import { finiteMatrix, type Matrix } from './validate.js';

function entropyRow(p: Float64Array, base: number, k: number): number {
  let h = 0;
  for (let c = 0; c < k; c++) {
    const x = p[base + c];
    if (x > 0) h -= x * Math.log(x);
  }
  return h;
}

function probabilities(name: string, m: MatrixInput, cols?: number): Matrix {
  const mat = finiteMatrix(name, m, cols);
  for (let i = 0; i < mat.data.length; i++) {
    if (mat.data[i] < 0)
      throw new MetricsError(name, `expected non-negative probabilities, got ${mat.data[i]}`);
  }
  return mat;
}

/** Shannon entropy (nats) of each row of an [n, K] probability matrix, 0·log 0 = 0. O(n K). */
export function predictiveEntropy(probs: MatrixInput): Float64Array {
  const m = probabilities('probs', probs);
  const out = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) out[r] = entropyRow(m.data, r * m.cols, m.cols);
  return out;
}

export interface SampledUncertainty {
  /** Mean probabilities over samples, [n, K] row-major. */
  readonly meanProbabilities: Float64Array;
  /** Entropy of the mean prediction (total uncertainty). */
  readonly predictiveEntropy: Float64Array;
  /** Mean entropy of the individual samples (aleatoric part). */
  readonly expectedEntropy: Float64Array;
  /** predictiveEntropy − expectedEntropy (epistemic part; BALD, Houlsby et al. 2011). */
  readonly mutualInformation: Float64Array;
}

/**
 * Uncertainty from S stochastic predictions (MC dropout, ensembles): `samples[s]` is an [n, K] probability
 * matrix. O(S n K).
 */
export function mutualInformation(samples: ReadonlyArray<MatrixInput>): SampledUncertainty {
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new MetricsError('samples', 'expected a non-empty array of [n, K] probability matrices');
  }
  const mats = samples.map((s, i) => probabilities(`samples[${i}]`, s));
  const { rows, cols } = mats[0];
  mats.forEach((m, i) => {
    if (m.rows !== rows || m.cols !== cols) {
      throw new MetricsError(
        `samples[${i}]`,
        `expected shape [${rows}, ${cols}] like samples[0], got [${m.rows}, ${m.cols}]`,
      );
    }
  });
  const mean = new Float64Array(rows * cols);
  const expectedEntropy = new Float64Array(rows);
  for (const m of mats) {
    for (let i = 0; i < mean.length; i++) mean[i] += m.data[i] / mats.length;
    for (let r = 0; r < rows; r++) expectedEntropy[r] += entropyRow(m.data, r * cols, cols) / mats.length;
  }
  const predictive = new Float64Array(rows);
  const mi = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    predictive[r] = entropyRow(mean, r * cols, cols);
    mi[r] = predictive[r] - expectedEntropy[r];
  }
  return { meanProbabilities: mean, predictiveEntropy: predictive, expectedEntropy, mutualInformation: mi };
}

export interface DirichletUncertainty {
  /** Dirichlet strength S = Σ_k α_k per row. */
  readonly strength: Float64Array;
  /** Vacuity u = K / S per row (Sensoy et al. 2018). */
  readonly uncertainty: Float64Array;
  /** Expected class probabilities α_k / S, [n, K] row-major. */
  readonly expectedProbabilities: Float64Array;
}

/** Evidential (subjective-logic) uncertainty from Dirichlet concentrations α = evidence + 1 > 0. O(n K). */
export function dirichletUncertainty(alpha: MatrixInput): DirichletUncertainty {
  const m = finiteMatrix('alpha', alpha);
  for (let i = 0; i < m.data.length; i++) {
    if (!(m.data[i] > 0))
      throw new MetricsError('alpha', `expected positive concentrations, got ${m.data[i]}`);
  }
  const strength = new Float64Array(m.rows);
  const uncertainty = new Float64Array(m.rows);
  const expected = new Float64Array(m.data.length);
  for (let r = 0; r < m.rows; r++) {
    let s = 0;
    for (let c = 0; c < m.cols; c++) s += m.data[r * m.cols + c];
    strength[r] = s;
    uncertainty[r] = m.cols / s;
    for (let c = 0; c < m.cols; c++) expected[r * m.cols + c] = m.data[r * m.cols + c] / s;
  }
  return { strength, uncertainty, expectedProbabilities: expected };
}
