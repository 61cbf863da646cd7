import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import { MetricsError } from './errors.js';
import { expectAllClose } from './test-utils.js';
import { dirichletUncertainty, mutualInformation, predictiveEntropy } from './uncertainty.js';

describe('uncertainty vs scipy.stats.entropy', () => {
  const u = ref.uncertainty;
  it('predictive entropy of one sample', () => {
    expectAllClose(predictiveEntropy(u.samples[0]), u.entropyOfSample0);
  });

  it('mutual information decomposition from samples (0·log 0 = 0)', () => {
    const r = mutualInformation(u.samples);
    expectAllClose(r.predictiveEntropy, u.predictiveEntropy);
    expectAllClose(r.expectedEntropy, u.expectedEntropy);
    expectAllClose(r.mutualInformation, u.mutualInformation, 1e-9, 1e-14);
    for (const v of r.mutualInformation) expect(v).toBeGreaterThanOrEqual(-1e-12);
  });

  it('Dirichlet vacuity K/S and expected probabilities', () => {
    const r = dirichletUncertainty(u.alpha);
    expectAllClose(r.uncertainty, u.dirichletU);
    expectAllClose(r.expectedProbabilities, u.dirichletP.flat());
    expect(() => dirichletUncertainty([[1, 0]])).toThrow(MetricsError);
  });

  it('rejects samples of different shapes', () => {
    expect(() =>
      mutualInformation([
        [[0.5, 0.5]],
        [
          [0.5, 0.5],
          [0.2, 0.8],
        ],
      ]),
    ).toThrow(/samples\[1\]/);
  });
});
