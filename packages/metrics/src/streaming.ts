// torchmetrics-style accumulators: update(batch) / compute() / reset() / merge(other), plus state() /
// static fromState() so another process (a distributed rank) can send its accumulator as plain data. Counting metrics keep
// counts (exact), mean-type metrics keep exactly rounded sums (order-independent), and ranking / correlation
// metrics keep the values and call the one-shot function, so compute() equals the one-shot result on the
// concatenated data — merged across ranks in any order for counts and sums, in rank order for the rest.
import {
  addToBins,
  CalibrationBins,
  type CalibrationBinsState,
  type ReliabilityDiagram,
} from './calibration.js';
import {
  accuracyFromConfusion,
  addToConfusion,
  balancedAccuracyFromConfusion,
  brierScore,
  brierTerms,
  type ConfusionMatrix,
  cohenKappaFromConfusion,
  logLoss,
  logLossTerms,
  type PrecisionRecallF1,
  precisionRecallF1FromConfusion,
  topKAccuracy,
} from './classification.js';
import { MetricsError } from './errors.js';
import { ExactSum } from './numeric.js';
import {
  type AveragedRankingResult,
  auroc,
  averagePrecision,
  multilabelAuroc,
  multilabelAveragePrecision,
  ovrAuroc,
} from './ranking.js';
import { type RegressionColumns, regressionPerColumn } from './regression.js';
import { type ConcordanceResult, concordanceIndex } from './survival.js';
import type { MatrixInput, MetricResult, Vector } from './types.js';
import {
  binaryLabels,
  binaryMatrix,
  finiteMatrix,
  finiteVector,
  positiveInt,
  sameLength,
} from './validate.js';

/** The common shape of every accumulator. */
export interface MetricAccumulator<TResult, TSelf> {
  compute(): TResult;
  reset(): void;
  merge(other: TSelf): void;
}

/** An append-only float64 buffer with amortized O(1) growth. */
class Buffer64 {
  private data = new Float64Array(1024);
  length = 0;

  push(values: ArrayLike<number>): void {
    if (this.length + values.length > this.data.length) {
      let cap = this.data.length;
      while (cap < this.length + values.length) cap *= 2;
      const next = new Float64Array(cap);
      next.set(this.data.subarray(0, this.length));
      this.data = next;
    }
    this.data.set(values as ArrayLike<number>, this.length);
    this.length += values.length;
  }

  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}

function requireData(length: number, name: string): void {
  if (length === 0) throw new MetricsError(name, 'compute() called before any update()');
}

export interface ConfusionSummary {
  readonly confusion: ConfusionMatrix;
  readonly accuracy: number;
  readonly balancedAccuracy: number;
  readonly scores: PrecisionRecallF1;
  readonly kappa: MetricResult;
  readonly quadraticKappa: MetricResult;
}

/** Confusion-matrix-based metrics from predicted class labels. Memory O(K²). */
export class ConfusionMatrixAccumulator
  implements MetricAccumulator<ConfusionSummary, ConfusionMatrixAccumulator>
{
  readonly numClasses: number;
  private cm: ConfusionMatrix;
  private n = 0;

  constructor(numClasses: number) {
    positiveInt('numClasses', numClasses);
    this.numClasses = numClasses;
    this.cm = { numClasses, counts: new Float64Array(numClasses * numClasses) };
  }

  update(yTrue: Vector, yPred: Vector): void {
    addToConfusion(this.cm, yTrue, yPred);
    this.n += yTrue.length;
  }

  compute(): ConfusionSummary {
    requireData(this.n, 'ConfusionMatrixAccumulator');
    const confusion = { numClasses: this.numClasses, counts: this.cm.counts.slice() };
    return {
      confusion,
      accuracy: accuracyFromConfusion(confusion),
      balancedAccuracy: balancedAccuracyFromConfusion(confusion),
      scores: precisionRecallF1FromConfusion(confusion),
      kappa: cohenKappaFromConfusion(confusion, 'none'),
      quadraticKappa: cohenKappaFromConfusion(confusion, 'quadratic'),
    };
  }

  /** Plain, structured-clone-able state, e.g. to send to rank 0 before `fromState` + `merge`. */
  state(): { readonly numClasses: number; readonly counts: Float64Array } {
    return { numClasses: this.numClasses, counts: this.cm.counts.slice() };
  }

  static fromState(state: { numClasses: number; counts: ArrayLike<number> }): ConfusionMatrixAccumulator {
    const acc = new ConfusionMatrixAccumulator(state.numClasses);
    if (state.counts?.length !== state.numClasses * state.numClasses) {
      throw new MetricsError('state.counts', `expected ${state.numClasses * state.numClasses} counts`);
    }
    for (let i = 0; i < state.counts.length; i++) {
      const c = state.counts[i];
      if (!Number.isInteger(c) || c < 0)
        throw new MetricsError('state.counts', `expected counts >= 0, got ${c}`);
      (acc.cm.counts as Float64Array)[i] = c;
      acc.n += c;
    }
    return acc;
  }

  reset(): void {
    (this.cm.counts as Float64Array).fill(0);
    this.n = 0;
  }

  merge(other: ConfusionMatrixAccumulator): void {
    if (other.numClasses !== this.numClasses) {
      throw new MetricsError('other', `expected numClasses ${this.numClasses}, got ${other.numClasses}`);
    }
    for (let i = 0; i < this.cm.counts.length; i++) (this.cm.counts as Float64Array)[i] += other.cm.counts[i];
    this.n += other.n;
  }
}

export interface MeanState {
  readonly partials: ArrayLike<number>;
  readonly count: number;
}

/** Mean of per-sample values (e.g. the loss) with an exactly rounded sum: merge order does not matter. */
export class MeanAccumulator implements MetricAccumulator<number, MeanAccumulator> {
  private sum = new ExactSum();
  private count = 0;

  update(values: Vector | number): void {
    const v = typeof values === 'number' ? [values] : values;
    const x = finiteVector('values', v, true);
    for (let i = 0; i < x.length; i++) this.sum.add(x[i]);
    this.count += x.length;
  }

  compute(): number {
    requireData(this.count, 'MeanAccumulator');
    return this.sum.value() / this.count;
  }

  state(): MeanState {
    return { partials: this.sum.toPartials(), count: this.count };
  }

  static fromState(state: MeanState): MeanAccumulator {
    const acc = new MeanAccumulator();
    if (!Number.isInteger(state.count) || state.count < 0) {
      throw new MetricsError('state.count', `expected a count >= 0, got ${state.count}`);
    }
    acc.sum = ExactSum.fromPartials(finiteVector('state.partials', state.partials, true));
    acc.count = state.count;
    return acc;
  }

  reset(): void {
    this.sum.reset();
    this.count = 0;
  }

  merge(other: MeanAccumulator): void {
    this.sum.addAll(other.sum);
    this.count += other.count;
  }
}

/** Log loss and Brier score (binary vector or [n, K] probabilities), equal to `logLoss` / `brierScore`. */
export class ProbabilisticLossAccumulator
  implements MetricAccumulator<{ logLoss: number; brier: number }, ProbabilisticLossAccumulator>
{
  private log = new MeanAccumulator();
  private brier = new MeanAccumulator();

  update(yTrue: Vector, yProb: Vector | MatrixInput): void {
    this.log.update(logLossTerms(yTrue, yProb));
    this.brier.update(brierTerms(yTrue, yProb));
  }

  compute(): { logLoss: number; brier: number } {
    return { logLoss: this.log.compute(), brier: this.brier.compute() };
  }

  state(): { readonly logLoss: MeanState; readonly brier: MeanState } {
    return { logLoss: this.log.state(), brier: this.brier.state() };
  }

  static fromState(state: { logLoss: MeanState; brier: MeanState }): ProbabilisticLossAccumulator {
    const acc = new ProbabilisticLossAccumulator();
    acc.log = MeanAccumulator.fromState(state.logLoss);
    acc.brier = MeanAccumulator.fromState(state.brier);
    return acc;
  }

  reset(): void {
    this.log.reset();
    this.brier.reset();
  }

  merge(other: ProbabilisticLossAccumulator): void {
    this.log.merge(other.log);
    this.brier.merge(other.brier);
  }
}

/** ECE / MCE / reliability diagram with fixed bins; memory O(bins), identical to `reliabilityDiagram`. */
export class CalibrationAccumulator implements MetricAccumulator<ReliabilityDiagram, CalibrationAccumulator> {
  private bins: CalibrationBins;

  constructor(options: { bins?: number } = {}) {
    this.bins = new CalibrationBins(options.bins ?? 15);
  }

  update(yTrue: Vector, yProb: Vector | MatrixInput): void {
    addToBins(this.bins, yTrue, yProb);
  }

  compute(): ReliabilityDiagram {
    const d = this.bins.diagram();
    requireData(d.count, 'CalibrationAccumulator');
    return d;
  }

  state(): CalibrationBinsState {
    return this.bins.state();
  }

  static fromState(state: CalibrationBinsState): CalibrationAccumulator {
    const acc = new CalibrationAccumulator({ bins: state.numBins });
    acc.bins = CalibrationBins.fromState(state);
    return acc;
  }

  reset(): void {
    this.bins.reset();
  }

  merge(other: CalibrationAccumulator): void {
    this.bins.merge(other.bins);
  }
}

/** Binary AUROC and average precision (exact, so scores are kept: memory O(n)). */
export class BinaryRankingAccumulator
  implements
    MetricAccumulator<{ auroc: MetricResult; averagePrecision: MetricResult }, BinaryRankingAccumulator>
{
  private labels = new Buffer64();
  private scores = new Buffer64();

  update(yTrue: Vector, yScore: Vector): void {
    const labels = binaryLabels('yTrue', yTrue);
    const scores = finiteVector('yScore', yScore);
    sameLength('yTrue', labels, 'yScore', scores);
    this.labels.push(labels);
    this.scores.push(scores);
  }

  compute(): { auroc: MetricResult; averagePrecision: MetricResult } {
    requireData(this.labels.length, 'BinaryRankingAccumulator');
    const y = this.labels.view();
    const s = this.scores.view();
    return { auroc: auroc(y, s), averagePrecision: averagePrecision(y, s) };
  }

  state(): { readonly labels: Float64Array; readonly scores: Float64Array } {
    return { labels: this.labels.view().slice(), scores: this.scores.view().slice() };
  }

  static fromState(state: {
    labels: ArrayLike<number>;
    scores: ArrayLike<number>;
  }): BinaryRankingAccumulator {
    const acc = new BinaryRankingAccumulator();
    if (state.labels.length > 0) acc.update(state.labels, state.scores);
    return acc;
  }

  reset(): void {
    this.labels.reset();
    this.scores.reset();
  }

  merge(other: BinaryRankingAccumulator): void {
    this.labels.push(other.labels.view());
    this.scores.push(other.scores.view());
  }
}

export interface MultilabelRankingSummary {
  readonly auroc: AveragedRankingResult & { readonly micro: MetricResult };
  readonly averagePrecision: AveragedRankingResult & { readonly micro: MetricResult };
}

/** Multi-label per-label / mean AUROC and AUPRC over [n, L] batches (memory O(n L)). */
export class MultilabelRankingAccumulator
  implements MetricAccumulator<MultilabelRankingSummary, MultilabelRankingAccumulator>
{
  readonly numLabels: number;
  private labels = new Buffer64();
  private scores = new Buffer64();

  constructor(numLabels: number) {
    positiveInt('numLabels', numLabels);
    this.numLabels = numLabels;
  }

  update(yTrue: MatrixInput, yScore: MatrixInput): void {
    const t = binaryMatrix('yTrue', yTrue);
    const s = finiteMatrix('yScore', yScore, this.numLabels);
    if (t.cols !== this.numLabels)
      throw new MetricsError('yTrue', `expected ${this.numLabels} columns, got ${t.cols}`);
    if (t.rows !== s.rows)
      throw new MetricsError('yScore', `expected ${t.rows} rows like yTrue, got ${s.rows}`);
    this.labels.push(t.data);
    this.scores.push(s.data);
  }

  compute(): MultilabelRankingSummary {
    requireData(this.labels.length, 'MultilabelRankingAccumulator');
    const t = { data: this.labels.view(), cols: this.numLabels };
    const s = { data: this.scores.view(), cols: this.numLabels };
    return { auroc: multilabelAuroc(t, s), averagePrecision: multilabelAveragePrecision(t, s) };
  }

  state(): { readonly numLabels: number; readonly labels: Float64Array; readonly scores: Float64Array } {
    return {
      numLabels: this.numLabels,
      labels: this.labels.view().slice(),
      scores: this.scores.view().slice(),
    };
  }

  static fromState(state: {
    numLabels: number;
    labels: ArrayLike<number>;
    scores: ArrayLike<number>;
  }): MultilabelRankingAccumulator {
    const acc = new MultilabelRankingAccumulator(state.numLabels);
    if (state.labels.length > 0) {
      acc.update(
        { data: state.labels, cols: state.numLabels },
        { data: state.scores, cols: state.numLabels },
      );
    }
    return acc;
  }

  reset(): void {
    this.labels.reset();
    this.scores.reset();
  }

  merge(other: MultilabelRankingAccumulator): void {
    if (other.numLabels !== this.numLabels) {
      throw new MetricsError('other', `expected numLabels ${this.numLabels}, got ${other.numLabels}`);
    }
    this.labels.push(other.labels.view());
    this.scores.push(other.scores.view());
  }
}

export interface MulticlassSummary {
  readonly accuracy: number;
  /** Top-k accuracy for each requested k. */
  readonly topK: Readonly<Record<number, number>>;
  readonly logLoss: number;
  readonly brier: number;
  readonly ovrAuroc: AveragedRankingResult;
}

/** Multi-class probability metrics over [n, K] batches: accuracy, top-k, log loss, Brier, OvR AUROC. */
export class MulticlassAccumulator implements MetricAccumulator<MulticlassSummary, MulticlassAccumulator> {
  readonly numClasses: number;
  readonly topK: readonly number[];
  private labels = new Buffer64();
  private probs = new Buffer64();

  constructor(numClasses: number, options: { topK?: readonly number[] } = {}) {
    positiveInt('numClasses', numClasses);
    this.numClasses = numClasses;
    this.topK = options.topK ?? [1];
    for (const k of this.topK) positiveInt('topK', k);
  }

  update(yTrue: Vector, yProb: MatrixInput): void {
    const p = finiteMatrix('yProb', yProb, this.numClasses);
    logLoss(yTrue, { data: p.data, cols: p.cols }); // validates labels, lengths and probability range
    this.labels.push(yTrue);
    this.probs.push(p.data);
  }

  compute(): MulticlassSummary {
    requireData(this.labels.length, 'MulticlassAccumulator');
    const y = this.labels.view();
    const p = { data: this.probs.view(), cols: this.numClasses };
    const topK: Record<number, number> = {};
    for (const k of this.topK) topK[k] = topKAccuracy(y, p, k);
    return {
      accuracy: topKAccuracy(y, p, 1),
      topK,
      logLoss: logLoss(y, p),
      brier: brierScore(y, p),
      ovrAuroc: ovrAuroc(y, p),
    };
  }

  state(): {
    readonly numClasses: number;
    readonly topK: readonly number[];
    readonly labels: Float64Array;
    readonly probs: Float64Array;
  } {
    return {
      numClasses: this.numClasses,
      topK: [...this.topK],
      labels: this.labels.view().slice(),
      probs: this.probs.view().slice(),
    };
  }

  static fromState(state: {
    numClasses: number;
    topK: readonly number[];
    labels: ArrayLike<number>;
    probs: ArrayLike<number>;
  }): MulticlassAccumulator {
    const acc = new MulticlassAccumulator(state.numClasses, { topK: state.topK });
    if (state.labels.length > 0) acc.update(state.labels, { data: state.probs, cols: state.numClasses });
    return acc;
  }

  reset(): void {
    this.labels.reset();
    this.probs.reset();
  }

  merge(other: MulticlassAccumulator): void {
    if (other.numClasses !== this.numClasses) {
      throw new MetricsError('other', `expected numClasses ${this.numClasses}, got ${other.numClasses}`);
    }
    this.labels.push(other.labels.view());
    this.probs.push(other.probs.view());
  }
}

/** Regression / agreement metrics per column over [n, C] batches (memory O(n C)). */
export class RegressionAccumulator implements MetricAccumulator<RegressionColumns, RegressionAccumulator> {
  readonly numColumns: number;
  private truth = new Buffer64();
  private pred = new Buffer64();

  constructor(numColumns: number) {
    positiveInt('numColumns', numColumns);
    this.numColumns = numColumns;
  }

  update(yTrue: MatrixInput, yPred: MatrixInput): void {
    const t = finiteMatrix('yTrue', yTrue, this.numColumns);
    const p = finiteMatrix('yPred', yPred, this.numColumns);
    if (t.rows !== p.rows)
      throw new MetricsError('yPred', `expected ${t.rows} rows like yTrue, got ${p.rows}`);
    this.truth.push(t.data);
    this.pred.push(p.data);
  }

  compute(): RegressionColumns {
    requireData(this.truth.length, 'RegressionAccumulator');
    return regressionPerColumn(
      { data: this.truth.view(), cols: this.numColumns },
      { data: this.pred.view(), cols: this.numColumns },
    );
  }

  state(): { readonly numColumns: number; readonly truth: Float64Array; readonly pred: Float64Array } {
    return { numColumns: this.numColumns, truth: this.truth.view().slice(), pred: this.pred.view().slice() };
  }

  static fromState(state: {
    numColumns: number;
    truth: ArrayLike<number>;
    pred: ArrayLike<number>;
  }): RegressionAccumulator {
    const acc = new RegressionAccumulator(state.numColumns);
    if (state.truth.length > 0) {
      acc.update({ data: state.truth, cols: state.numColumns }, { data: state.pred, cols: state.numColumns });
    }
    return acc;
  }

  reset(): void {
    this.truth.reset();
    this.pred.reset();
  }

  merge(other: RegressionAccumulator): void {
    if (other.numColumns !== this.numColumns) {
      throw new MetricsError('other', `expected numColumns ${this.numColumns}, got ${other.numColumns}`);
    }
    this.truth.push(other.truth.view());
    this.pred.push(other.pred.view());
  }
}

/** Harrell's C-index over batches of (time, risk, event) (memory O(n)). */
export class ConcordanceAccumulator implements MetricAccumulator<ConcordanceResult, ConcordanceAccumulator> {
  private time = new Buffer64();
  private risk = new Buffer64();
  private event = new Buffer64();

  update(time: Vector, risk: Vector, event: Vector): void {
    const t = finiteVector('time', time);
    const r = finiteVector('risk', risk);
    const e = binaryLabels('event', event);
    sameLength('time', t, 'risk', r);
    sameLength('time', t, 'event', e);
    for (let i = 0; i < t.length; i++) {
      if (t[i] < 0) throw new MetricsError('time', `expected non-negative times, got ${t[i]} at index ${i}`);
    }
    this.time.push(t);
    this.risk.push(r);
    this.event.push(e);
  }

  compute(): ConcordanceResult {
    requireData(this.time.length, 'ConcordanceAccumulator');
    return concordanceIndex(this.time.view(), this.risk.view(), this.event.view());
  }

  state(): { readonly time: Float64Array; readonly risk: Float64Array; readonly event: Float64Array } {
    return {
      time: this.time.view().slice(),
      risk: this.risk.view().slice(),
      event: this.event.view().slice(),
    };
  }

  static fromState(state: {
    time: ArrayLike<number>;
    risk: ArrayLike<number>;
    event: ArrayLike<number>;
  }): ConcordanceAccumulator {
    const acc = new ConcordanceAccumulator();
    if (state.time.length > 0) acc.update(state.time, state.risk, state.event);
    return acc;
  }

  reset(): void {
    this.time.reset();
    this.risk.reset();
    this.event.reset();
  }

  merge(other: ConcordanceAccumulator): void {
    this.time.push(other.time.view());
    this.risk.push(other.risk.view());
    this.event.push(other.event.view());
  }
}
