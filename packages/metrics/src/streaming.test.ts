import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import { reliabilityDiagram } from './calibration.js';
import {
  accuracy,
  balancedAccuracy,
  brierScore,
  cohenKappa,
  logLoss,
  precisionRecallF1,
  topKAccuracy,
} from './classification.js';
import { auroc, averagePrecision, multilabelAuroc, ovrAuroc } from './ranking.js';
import { regressionPerColumn } from './regression.js';
import {
  BinaryRankingAccumulator,
  CalibrationAccumulator,
  ConcordanceAccumulator,
  ConfusionMatrixAccumulator,
  MeanAccumulator,
  MulticlassAccumulator,
  MultilabelRankingAccumulator,
  ProbabilisticLossAccumulator,
  RegressionAccumulator,
} from './streaming.js';
import { concordanceIndex } from './survival.js';

/** Splits 0..n into consecutive batches of uneven sizes. */
function batches(n: number, sizes = [7, 13, 1, 29]): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  let k = 0;
  while (start < n) {
    const end = Math.min(n, start + sizes[k++ % sizes.length]);
    out.push([start, end]);
    start = end;
  }
  return out;
}

describe('streaming accumulators equal the one-shot functions', () => {
  it('ConfusionMatrixAccumulator (update, merge in any order, reset)', () => {
    const c = ref.classification[0];
    const k = c.numClasses;
    const parts = batches(c.yTrue.length).map(([a, b]) => {
      const acc = new ConfusionMatrixAccumulator(k);
      acc.update(c.yTrue.slice(a, b), c.yPred.slice(a, b));
      return acc;
    });
    const merged = new ConfusionMatrixAccumulator(k);
    for (const p of parts.reverse()) merged.merge(p);
    const r = merged.compute();
    expect(r.accuracy).toBe(accuracy(c.yTrue, c.yPred, k));
    expect(r.balancedAccuracy).toBe(balancedAccuracy(c.yTrue, c.yPred, k));
    expect(r.scores).toEqual(precisionRecallF1(c.yTrue, c.yPred, k));
    expect(r.quadraticKappa).toEqual(cohenKappa(c.yTrue, c.yPred, k, 'quadratic'));
    merged.reset();
    expect(() => merged.compute()).toThrow(/before any update/);
    expect(() => merged.merge(new ConfusionMatrixAccumulator(k + 1))).toThrow(/numClasses/);
  });

  it('ProbabilisticLossAccumulator and MeanAccumulator are bit-identical regardless of merge order', () => {
    const p = ref.probabilistic;
    const parts = batches(p.yTrue.length).map(([a, b]) => {
      const acc = new ProbabilisticLossAccumulator();
      acc.update(p.yTrue.slice(a, b), p.yProb.slice(a, b));
      return acc;
    });
    const fwd = new ProbabilisticLossAccumulator();
    const rev = new ProbabilisticLossAccumulator();
    for (const x of parts) fwd.merge(x);
    for (const x of [...parts].reverse()) rev.merge(x);
    expect(fwd.compute().logLoss).toBe(logLoss(p.yTrue, p.yProb));
    expect(fwd.compute().brier).toBe(brierScore(p.yTrue, p.yProb));
    expect(rev.compute()).toEqual(fwd.compute());
    const m = new MeanAccumulator();
    m.update([1e16, 1, -1e16]);
    m.update(3);
    expect(m.compute()).toBe(1);
  });

  it('CalibrationAccumulator equals reliabilityDiagram', () => {
    const c = ref.calibration.topLabel;
    const acc = new CalibrationAccumulator({ bins: 15 });
    const other = new CalibrationAccumulator({ bins: 15 });
    batches(c.yTrue.length).forEach(([a, b], i) => {
      (i % 2 ? acc : other).update(c.yTrue.slice(a, b), c.yProb.slice(a, b));
    });
    acc.merge(other);
    expect(acc.compute()).toEqual(reliabilityDiagram(c.yTrue, c.yProb, { bins: 15 }));
  });

  it('BinaryRankingAccumulator, MultilabelRankingAccumulator, MulticlassAccumulator', () => {
    const c = ref.binary[1];
    const bin = new BinaryRankingAccumulator();
    for (const [a, b] of batches(c.yTrue.length)) bin.update(c.yTrue.slice(a, b), c.yScore.slice(a, b));
    expect(bin.compute().auroc).toEqual(auroc(c.yTrue, c.yScore));
    expect(bin.compute().averagePrecision).toEqual(averagePrecision(c.yTrue, c.yScore));

    const m = ref.multilabel;
    const ml = new MultilabelRankingAccumulator(m.yTrue[0].length);
    const ml2 = new MultilabelRankingAccumulator(m.yTrue[0].length);
    const half = 50;
    ml.update(m.yTrue.slice(0, half), m.yScore.slice(0, half));
    ml2.update(m.yTrue.slice(half), m.yScore.slice(half));
    ml.merge(ml2);
    expect(ml.compute().auroc).toEqual(multilabelAuroc(m.yTrue, m.yScore));

    const o = ref.ovr;
    const mc = new MulticlassAccumulator(4, { topK: [1, 2] });
    for (const [a, b] of batches(o.yTrue.length)) mc.update(o.yTrue.slice(a, b), o.yScore.slice(a, b));
    const r = mc.compute();
    expect(r.ovrAuroc).toEqual(ovrAuroc(o.yTrue, o.yScore));
    expect(r.topK[2]).toBe(topKAccuracy(o.yTrue, o.yScore, 2));
    expect(r.logLoss).toBe(logLoss(o.yTrue, o.yScore));
    expect(() => mc.update([0], [[0.5, 0.5]])).toThrow(/columns/);
  });

  it('RegressionAccumulator and ConcordanceAccumulator', () => {
    const r = ref.regression;
    const acc = new RegressionAccumulator(3);
    for (const [a, b] of batches(r.yTrue.length)) acc.update(r.yTrue.slice(a, b), r.yPred.slice(a, b));
    expect(acc.compute()).toEqual(regressionPerColumn(r.yTrue, r.yPred));
    const s = ref.concordance[1];
    const ca = new ConcordanceAccumulator();
    const cb = new ConcordanceAccumulator();
    ca.update(s.time.slice(0, 40), s.risk.slice(0, 40), s.event.slice(0, 40));
    cb.update(s.time.slice(40), s.risk.slice(40), s.event.slice(40));
    ca.merge(cb);
    expect(ca.compute()).toEqual(concordanceIndex(s.time, s.risk, s.event));
  });

  it('rejects a bad batch without storing it', () => {
    const acc = new BinaryRankingAccumulator();
    acc.update([0, 1], [0.2, 0.8]);
    expect(() => acc.update([0, 1], [0.2, Number.NaN])).toThrow(/yScore/);
    expect(acc.compute().auroc.value).toBe(1);
  });

  it('state() survives structuredClone and fromState() + merge() reproduces the one-shot values', () => {
    const c = ref.classification[1];
    const k = c.numClasses;
    const half = 25;
    const rank0 = new ConfusionMatrixAccumulator(k);
    const rank1 = new ConfusionMatrixAccumulator(k);
    rank0.update(c.yTrue.slice(0, half), c.yPred.slice(0, half));
    rank1.update(c.yTrue.slice(half), c.yPred.slice(half));
    rank0.merge(ConfusionMatrixAccumulator.fromState(structuredClone(rank1.state())));
    expect(rank0.compute().scores).toEqual(precisionRecallF1(c.yTrue, c.yPred, k));

    const p = ref.probabilistic;
    const l0 = new ProbabilisticLossAccumulator();
    const l1 = new ProbabilisticLossAccumulator();
    l0.update(p.yTrue.slice(0, 30), p.yProb.slice(0, 30));
    l1.update(p.yTrue.slice(30), p.yProb.slice(30));
    l1.merge(ProbabilisticLossAccumulator.fromState(structuredClone(l0.state())));
    expect(l1.compute().logLoss).toBe(logLoss(p.yTrue, p.yProb));

    const t = ref.calibration.topLabel;
    const c0 = new CalibrationAccumulator({ bins: 15 });
    const c1 = new CalibrationAccumulator({ bins: 15 });
    c0.update(t.yTrue.slice(0, 100), t.yProb.slice(0, 100));
    c1.update(t.yTrue.slice(100), t.yProb.slice(100));
    c0.merge(CalibrationAccumulator.fromState(structuredClone(c1.state())));
    expect(c0.compute()).toEqual(reliabilityDiagram(t.yTrue, t.yProb, { bins: 15 }));

    const b = ref.binary[2];
    const b0 = new BinaryRankingAccumulator();
    const b1 = new BinaryRankingAccumulator();
    b0.update(b.yTrue.slice(0, 70), b.yScore.slice(0, 70));
    b1.update(b.yTrue.slice(70), b.yScore.slice(70));
    b0.merge(BinaryRankingAccumulator.fromState(structuredClone(b1.state())));
    expect(b0.compute().auroc).toEqual(auroc(b.yTrue, b.yScore));

    const o = ref.ovr;
    const m0 = MulticlassAccumulator.fromState(structuredClone(new MulticlassAccumulator(4).state()));
    m0.update(o.yTrue, o.yScore);
    expect(m0.compute().ovrAuroc).toEqual(ovrAuroc(o.yTrue, o.yScore));

    const r = ref.regression;
    const r0 = new RegressionAccumulator(3);
    r0.update(r.yTrue, r.yPred);
    expect(RegressionAccumulator.fromState(structuredClone(r0.state())).compute()).toEqual(
      regressionPerColumn(r.yTrue, r.yPred),
    );
    const s = ref.concordance[0];
    const k0 = new ConcordanceAccumulator();
    k0.update(s.time, s.risk, s.event);
    expect(ConcordanceAccumulator.fromState(structuredClone(k0.state())).compute()).toEqual(
      concordanceIndex(s.time, s.risk, s.event),
    );
    const m = ref.multilabel;
    const ml = new MultilabelRankingAccumulator(4);
    ml.update(m.yTrue, m.yScore);
    expect(MultilabelRankingAccumulator.fromState(structuredClone(ml.state())).compute()).toEqual(
      ml.compute(),
    );

    expect(() => ConfusionMatrixAccumulator.fromState({ numClasses: 2, counts: [1, 2, 3] })).toThrow(
      /state.counts/,
    );
    expect(() => MeanAccumulator.fromState({ partials: [Number.NaN], count: 1 })).toThrow(/state.partials/);
  });
});
