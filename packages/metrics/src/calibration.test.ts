import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import {
  applyPlatt,
  expectedCalibrationError,
  fitPlatt,
  fitTemperature,
  maximumCalibrationError,
  reliabilityDiagram,
  softmax,
} from './calibration.js';
import { logLoss } from './classification.js';
import { expectAllClose, expectClose } from './test-utils.js';

describe('calibration error vs scikit-learn calibration_curve and numpy', () => {
  const c = ref.calibration;
  c.cases.forEach((k) => {
    it(`binary reliability with ${k.bins} bins (probabilities on bin edges included)`, () => {
      const d = reliabilityDiagram(c.yTrue, c.yProb, { bins: k.bins });
      const nonEmpty = Array.from(d.counts.keys()).filter((b) => d.counts[b] > 0);
      expectAllClose(
        nonEmpty.map((b) => d.observed[b]),
        k.probTrue,
      );
      expectAllClose(
        nonEmpty.map((b) => d.meanConfidence[b]),
        k.probPred,
      );
      expectClose(d.ece, k.ece);
      expectClose(d.mce, k.mce);
      expect(d.count).toBe(c.yTrue.length);
      expectClose(expectedCalibrationError(c.yTrue, c.yProb, { bins: k.bins }), k.ece);
      expectClose(maximumCalibrationError(c.yTrue, c.yProb, { bins: k.bins }), k.mce);
    });
  });

  it('top-label ECE / MCE for multi-class probabilities', () => {
    const t = c.topLabel;
    expectClose(expectedCalibrationError(t.yTrue, t.yProb, { bins: t.bins }), t.ece);
    expectClose(maximumCalibrationError(t.yTrue, t.yProb, { bins: t.bins }), t.mce);
  });

  it('empty bins are NaN in the diagram and do not count', () => {
    const d = reliabilityDiagram([0, 1], [0.05, 0.95], { bins: 10 });
    expect(d.counts[5]).toBe(0);
    expect(d.meanConfidence[5]).toBeNaN();
    expectClose(d.ece, 0.05);
  });
});

describe('temperature scaling', () => {
  it('matches a Brent root of dNLL/dβ from scipy and lowers the NLL', () => {
    const t = ref.temperature;
    const fit = fitTemperature(t.logits, t.yTrue);
    expect(fit.converged).toBe(true);
    expectClose(fit.temperature, t.temperature, 1e-9);
    expectClose(fit.nllBefore, t.nllBefore);
    expectClose(fit.nllAfter, t.nllAfter);
    expect(fit.nllAfter).toBeLessThan(fit.nllBefore);
    const probs = softmax(t.logits, fit.temperature);
    expectClose(logLoss(t.yTrue, { data: probs, cols: 5 }), t.nllAfter, 1e-9);
  });

  it('recovers a known temperature: logits sampled from softmax(z / 2) data give T ≈ 2 on large n', () => {
    // Build an exactly calibrated set at T* = 2 by enumerating labels with their probabilities as weights:
    // repeat each row so label counts follow softmax(z / 2) exactly.
    const base = [
      [2, 0, -2],
      [4, 1, 0],
      [0, 3, 1],
    ];
    const logits: number[][] = [];
    const labels: number[] = [];
    for (const z of base) {
      const p = softmax([z], 2);
      // 1000 copies per row, labels allocated by rounded probability mass
      const counts = Array.from(p, (x) => Math.round(x * 1000));
      counts.forEach((cnt, k) => {
        for (let r = 0; r < cnt; r++) {
          logits.push(z);
          labels.push(k);
        }
      });
    }
    const fit = fitTemperature(logits, labels);
    expectClose(fit.temperature, 2, 2e-2);
  });
});

describe('Platt scaling', () => {
  it('matches a tight BFGS fit of the smoothed-target objective (and sklearn to its tolerance)', () => {
    const p = ref.platt;
    const fit = fitPlatt(p.yTrue, p.scores);
    expect(fit.converged).toBe(true);
    expectClose(fit.a, p.a, 1e-7);
    expectClose(fit.b, p.b, 1e-7);
    expectClose(-fit.a, p.sklearnA, 1e-3);
    const probs = applyPlatt(fit, [0, 100, -100]);
    expectClose(probs[0], 1 / (1 + Math.exp(-fit.b)));
    expect(probs[1]).toBeGreaterThan(0.99);
    expect(probs[2]).toBeLessThan(0.01);
  });
});
