import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import { MetricsError } from './errors.js';
import {
  auroc,
  averagePrecision,
  delongAuroc,
  delongTest,
  multilabelAuroc,
  multilabelAveragePrecision,
  ovrAuroc,
  precisionRecallCurve,
  rocCurve,
} from './ranking.js';
import { expectAllClose, expectClose } from './test-utils.js';

describe('binary ranking vs scikit-learn 1.2', () => {
  ref.binary.forEach((c, i) => {
    it(`case ${i}: roc_curve, roc_auc_score, precision_recall_curve, average_precision_score`, () => {
      const roc = rocCurve(c.yTrue, c.yScore);
      expectAllClose(roc.fpr, c.roc.fpr);
      expectAllClose(roc.tpr, c.roc.tpr);
      expectAllClose(roc.thresholds, c.roc.thresholds);
      const all = rocCurve(c.yTrue, c.yScore, { dropIntermediate: false });
      expectAllClose(all.fpr, c.rocAll.fpr);
      expectAllClose(all.thresholds, c.rocAll.thresholds);
      const a = auroc(c.yTrue, c.yScore);
      expect(a.defined).toBe(true);
      expectClose(a.value, c.auroc);
      const pr = precisionRecallCurve(c.yTrue, c.yScore);
      expectAllClose(pr.precision, c.pr.precision);
      expectAllClose(pr.recall, c.pr.recall);
      expectAllClose(pr.thresholds, c.pr.thresholds);
      expectClose(averagePrecision(c.yTrue, c.yScore).value, c.averagePrecision);
    });
  });

  it('accepts typed arrays', () => {
    const c = ref.binary[0];
    expectClose(
      auroc(Uint8Array.from(c.yTrue), Float32Array.from(c.yScore)).value,
      auroc(c.yTrue, Float32Array.from(c.yScore)).value,
    );
  });
});

describe('multi-label and one-vs-rest vs scikit-learn', () => {
  it('per-label, macro, weighted and micro AUROC / AP', () => {
    const m = ref.multilabel;
    const a = multilabelAuroc(m.yTrue, m.yScore);
    expectAllClose(
      a.perLabel.map((r) => r.value),
      m.aurocPerLabel,
    );
    expectClose(a.macro.value, m.aurocMacro);
    expectClose(a.weighted.value, m.aurocWeighted);
    expectClose(a.micro.value, m.aurocMicro);
    expect(a.skipped).toEqual([]);
    const p = multilabelAveragePrecision(m.yTrue, m.yScore);
    expectAllClose(
      p.perLabel.map((r) => r.value),
      m.apPerLabel,
    );
    expectClose(p.macro.value, m.apMacro);
    expectClose(p.weighted.value, m.apWeighted);
    expectClose(p.micro.value, m.apMicro);
  });

  it('skips and reports labels with a single class instead of scoring them', () => {
    const m = ref.multilabel;
    const yTrue = m.yTrue.map((row) => [...row, 0]);
    const yScore = m.yScore.map((row, i) => [...row, i / 10]);
    const a = multilabelAuroc(yTrue, yScore);
    expect(a.skipped).toEqual([4]);
    expect(a.perLabel[4].defined).toBe(false);
    expectClose(a.macro.value, m.aurocMacro);
  });

  it('one-vs-rest macro and weighted', () => {
    const o = ref.ovr;
    const r = ovrAuroc(o.yTrue, o.yScore);
    expectAllClose(
      r.perLabel.map((x) => x.value),
      o.perClass,
    );
    expectClose(r.macro.value, o.macro);
    expectClose(r.weighted.value, o.weighted);
  });
});

describe('DeLong vs a numpy fast-DeLong reference', () => {
  ref.delong.forEach((c, i) => {
    it(`case ${i}: variance, CI and paired test`, () => {
      const a = delongAuroc(c.yTrue, c.scoresA);
      expectClose(a.auc, c.aucA);
      expectClose(a.variance, c.varianceA);
      expectClose(a.lower, c.lower);
      expectClose(a.upper, c.upper);
      const t = delongTest(c.yTrue, c.scoresA, c.scoresB);
      expectClose(t.aucB, c.aucB);
      expectClose(t.varianceB, c.varianceB);
      expectClose(t.covariance, c.covariance);
      expectClose(t.z, c.z);
      expectClose(t.pValue, c.pValue);
    });
  });
});

describe('undefined results and validation', () => {
  it('AUROC with one class is undefined, not 0.5', () => {
    const r = auroc([1, 1, 1], [0.2, 0.5, 0.9]);
    expect(r.defined).toBe(false);
    expect(r.value).toBeNaN();
    expect(auroc([0, 0], [0.1, 0.2]).defined).toBe(false);
    expect(averagePrecision([0, 0], [0.1, 0.2]).defined).toBe(false);
    expect(rocCurve([0, 0], [0.1, 0.2]).defined).toBe(false);
  });

  it('rejects bad input with an error naming the argument', () => {
    const bad = (f: () => unknown, arg: string): void => {
      try {
        f();
        expect.fail('expected a MetricsError');
      } catch (e) {
        expect(e).toBeInstanceOf(MetricsError);
        expect((e as MetricsError).meddl).toBe(true);
        expect((e as MetricsError).argument).toBe(arg);
      }
    };
    bad(() => auroc([0, 1], [0.1]), 'yScore');
    bad(() => auroc([0, 1], [0.1, Number.NaN]), 'yScore');
    bad(() => auroc([0, 1], [0.1, Number.POSITIVE_INFINITY]), 'yScore');
    bad(() => auroc([0, 2], [0.1, 0.2]), 'yTrue');
    bad(() => auroc([], []), 'yTrue');
    bad(
      () =>
        ovrAuroc(
          [0, 3],
          [
            [0.5, 0.5],
            [0.5, 0.5],
          ],
        ),
      'yTrue',
    );
    bad(() => delongAuroc([0, 1, 1], [0.1, 0.2, 0.3]), 'yTrue');
  });

  it('handles a perfect ranking and a fully tied ranking', () => {
    expect(auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]).value).toBe(1);
    expect(auroc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]).value).toBe(0.5);
    expect(averagePrecision([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]).value).toBe(0.5);
  });
});
