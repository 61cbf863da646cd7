import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import {
  accuracy,
  argmaxRows,
  balancedAccuracy,
  brierScore,
  cohenKappa,
  confusionMatrix,
  logLoss,
  macroOverPresent,
  precisionRecallF1,
  topKAccuracy,
} from './classification.js';
import { MetricsError } from './errors.js';
import { expectAllClose, expectClose } from './test-utils.js';

describe('classification vs scikit-learn 1.2', () => {
  ref.classification.forEach((c, i) => {
    it(`case ${i}: confusion, accuracy, balanced accuracy, P/R/F1 averages, kappa`, () => {
      const k = c.numClasses;
      const cm = confusionMatrix(c.yTrue, c.yPred, k);
      expect(Array.from(cm.counts)).toEqual(c.confusion.flat());
      expectClose(accuracy(c.yTrue, c.yPred, k), c.accuracy);
      expectClose(balancedAccuracy(c.yTrue, c.yPred, k), c.balancedAccuracy);
      const s = precisionRecallF1(c.yTrue, c.yPred, k);
      expectAllClose(s.precision, c.precision);
      expectAllClose(s.recall, c.recall);
      expectAllClose(s.f1, c.f1);
      expectAllClose(s.support, c.support);
      for (const avg of ['macro', 'micro', 'weighted'] as const) {
        expectClose(s[avg].precision, c[avg].precision);
        expectClose(s[avg].recall, c[avg].recall);
        expectClose(s[avg].f1, c[avg].f1);
      }
      expectClose(cohenKappa(c.yTrue, c.yPred, k).value, c.kappa);
      expectClose(cohenKappa(c.yTrue, c.yPred, k, 'linear').value, c.kappaLinear);
      expectClose(cohenKappa(c.yTrue, c.yPred, k, 'quadratic').value, c.kappaQuadratic);
    });
  });

  it('top-k accuracy with sklearn tie-breaking', () => {
    const t = ref.topK;
    for (const [k, v] of Object.entries(t.k)) expectClose(topKAccuracy(t.yTrue, t.yScore, Number(k)), v);
  });

  it('log loss (clipped and renormalized) and Brier, multi-class and binary', () => {
    const p = ref.probabilistic;
    expectClose(logLoss(p.yTrue, p.yProb), p.logLoss);
    expectClose(brierScore(p.yTrue, p.yProb), p.brier);
    const flat = { data: p.yProb.flat(), cols: p.yProb[0].length };
    expectClose(logLoss(p.yTrue, flat), p.logLoss);
    const b = ref.binaryProbabilistic;
    expectClose(logLoss(b.yTrue, b.yProb), b.logLoss);
    expectClose(brierScore(b.yTrue, b.yProb), b.brier);
  });

  it('macro averages over the classes present in y_true', () => {
    // Classes 0 and 2 present; class 1 only predicted, class 3 absent: F1 2/3 and 1.
    const s = precisionRecallF1([0, 0, 2], [0, 1, 2], 4);
    expectClose(macroOverPresent(s).f1, (2 / 3 + 1) / 2);
    expectClose(macroOverPresent(s).recall, balancedAccuracy([0, 0, 2], [0, 1, 2], 4));
    expectClose(s.macro.f1, (2 / 3 + 1) / 4);
    // On the scikit-learn cases: the mean of sklearn's per-class F1 over the supported classes.
    for (const c of ref.classification) {
      const m = macroOverPresent(precisionRecallF1(c.yTrue, c.yPred, c.numClasses));
      const present = c.f1.filter((_, j) => c.support[j] > 0);
      expectClose(m.f1, present.reduce((a, b) => a + b, 0) / present.length);
    }
  });

  it('kappa is undefined when both raters always say the same single class', () => {
    const r = cohenKappa([1, 1, 1], [1, 1, 1], 3);
    expect(r.defined).toBe(false);
  });

  it('argmax takes the first maximum', () => {
    expect(
      Array.from(
        argmaxRows([
          [0.2, 0.5, 0.5],
          [1, 0, 1],
        ]),
      ),
    ).toEqual([1, 0]);
  });

  it('validates labels, lengths, shapes and probabilities', () => {
    const argOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(MetricsError);
        return (e as MetricsError).argument;
      }
      return 'no error';
    };
    expect(argOf(() => confusionMatrix([0, 1, 3], [0, 1, 1], 3))).toBe('yTrue');
    expect(argOf(() => confusionMatrix([0, 1], [0, 1.5], 3))).toBe('yPred');
    expect(argOf(() => confusionMatrix([0, 1], [0], 3))).toBe('yPred');
    expect(argOf(() => confusionMatrix([0, 1], [0, 1], 0))).toBe('numClasses');
    expect(argOf(() => logLoss([0, 1], [0.5, 1.5]))).toBe('yProb');
    expect(argOf(() => logLoss([0, 1], [[0.5, 0.5], [0.5]]))).toBe('yProb');
    expect(argOf(() => topKAccuracy([0], [[0.1, 0.9]], 0))).toBe('k');
    expect(argOf(() => brierScore([0, 2], [0.1, 0.2]))).toBe('yTrue');
  });
});
