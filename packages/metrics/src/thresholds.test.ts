import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import { expectClose } from './test-utils.js';
import { metricsAtThreshold, optimalThreshold, optimalThresholds } from './thresholds.js';

describe('thresholds vs a brute-force scan with scikit-learn', () => {
  const t = ref.thresholds;
  it('F1-optimal and Youden-optimal thresholds', () => {
    const f = optimalThreshold(t.yTrue, t.yScore, 'f1');
    expect(f.threshold).toBe(t.f1.threshold);
    expectClose(f.value, t.f1.value);
    const y = optimalThreshold(t.yTrue, t.yScore, 'youden');
    expect(y.threshold).toBe(t.youden.threshold);
    expectClose(y.value, t.youden.value);
  });

  it('metrics at a fixed threshold', () => {
    const m = metricsAtThreshold(t.yTrue, t.yScore, 0.5);
    expect([m.tp, m.fp, m.tn, m.fn]).toEqual([t.at05.tp, t.at05.fp, t.at05.tn, t.at05.fn]);
    expectClose(m.f1, t.at05.f1);
    expectClose(m.precision, t.at05.precision);
    expectClose(m.balancedAccuracy, t.at05.balancedAccuracy);
  });

  it('per label, with undefined labels flagged', () => {
    const yTrue = t.yTrue.map((v) => [v, 0]);
    const yScore = t.yScore.map((v) => [v, v]);
    const r = optimalThresholds(yTrue, yScore, 'youden');
    expect(r[0].threshold).toBe(t.youden.threshold);
    expect(r[1].defined).toBe(false);
    expect(r[1].threshold).toBeNaN();
  });

  it('precision with no predicted positives is NaN, not 0', () => {
    const m = metricsAtThreshold([0, 1], [0.1, 0.2], 0.9);
    expect(m.precision).toBeNaN();
    expect(m.sensitivity).toBe(0);
  });
});
