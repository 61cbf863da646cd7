// Ranking metrics: ROC / PR curves, AUROC and average precision with scikit-learn's tie conventions,
// multi-label and one-vs-rest averages, and DeLong's variance and paired test.
import { MetricsError } from './errors.js';
import { denseRanks, normalQuantile, normalSf } from './numeric.js';
import { definedResult, type MatrixInput, type MetricResult, undefinedResult, type Vector } from './types.js';
import {
  binaryLabels,
  binaryMatrix,
  classLabels,
  column,
  finiteMatrix,
  finiteVector,
  sameLength,
  unitInterval,
} from './validate.js';

/**
 * Cumulative counts at each distinct score, scores in descending order (scikit-learn's `_binary_clf_curve`).
 * Entry i counts the samples with score >= thresholds[i].
 */
export interface BinaryCounts {
  readonly thresholds: Float64Array;
  readonly tps: Float64Array;
  readonly fps: Float64Array;
  readonly positives: number;
  readonly negatives: number;
}

/**
 * Sorts positives and negatives separately (native typed-array sort) and merges them from the top, so the
 * whole curve costs two O(n log n) numeric sorts and one O(n) pass, with no comparator-based index sort.
 */
export function binaryCountsUnchecked(labels: Uint8Array, scores: Float64Array): BinaryCounts {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  const negatives = labels.length - positives;
  const pos = new Float64Array(positives);
  const neg = new Float64Array(negatives);
  let ip = 0;
  let ineg = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos[ip++] = scores[i];
    else neg[ineg++] = scores[i];
  }
  pos.sort();
  neg.sort();
  const thresholds = new Float64Array(labels.length);
  const tps = new Float64Array(labels.length);
  const fps = new Float64Array(labels.length);
  let i = positives - 1;
  let j = negatives - 1;
  let tp = 0;
  let fp = 0;
  let k = 0;
  while (i >= 0 || j >= 0) {
    let v: number;
    if (i < 0) v = neg[j];
    else if (j < 0) v = pos[i];
    else v = Math.max(pos[i], neg[j]);
    while (i >= 0 && pos[i] === v) {
      tp++;
      i--;
    }
    while (j >= 0 && neg[j] === v) {
      fp++;
      j--;
    }
    thresholds[k] = v;
    tps[k] = tp;
    fps[k] = fp;
    k++;
  }
  return {
    thresholds: thresholds.slice(0, k),
    tps: tps.slice(0, k),
    fps: fps.slice(0, k),
    positives,
    negatives,
  };
}

/** Validated cumulative counts per distinct score (descending). O(n log n). */
export function binaryCounts(yTrue: Vector, yScore: Vector): BinaryCounts {
  const labels = binaryLabels('yTrue', yTrue);
  const scores = finiteVector('yScore', yScore);
  sameLength('yTrue', labels, 'yScore', scores);
  return binaryCountsUnchecked(labels, scores);
}

export interface RocCurve {
  /** False positive rate per threshold; NaN everywhere when there are no negatives (as scikit-learn). */
  readonly fpr: Float64Array;
  /** True positive rate per threshold; NaN everywhere when there are no positives. */
  readonly tpr: Float64Array;
  /** Decreasing thresholds; the first is `max(score) + 1` (scikit-learn 1.2's convention) for the (0, 0) point. */
  readonly thresholds: Float64Array;
  /** False when one class is absent and the curve is meaningless. */
  readonly defined: boolean;
}

/**
 * ROC curve as scikit-learn's `roc_curve(y_true, y_score, drop_intermediate=...)`: one point per distinct score
 * (predict positive when score >= threshold), collinear points dropped by default. O(n log n).
 */
export function rocCurve(
  yTrue: Vector,
  yScore: Vector,
  options: { dropIntermediate?: boolean } = {},
): RocCurve {
  const c = binaryCounts(yTrue, yScore);
  let keep: number[] | null = null;
  const m = c.thresholds.length;
  if ((options.dropIntermediate ?? true) && m > 2) {
    keep = [0];
    for (let i = 1; i < m - 1; i++) {
      const d2f = c.fps[i + 1] - 2 * c.fps[i] + c.fps[i - 1];
      const d2t = c.tps[i + 1] - 2 * c.tps[i] + c.tps[i - 1];
      if (d2f !== 0 || d2t !== 0) keep.push(i);
    }
    keep.push(m - 1);
  }
  const idx = keep ?? Array.from({ length: m }, (_, i) => i);
  const len = idx.length + 1;
  const fpr = new Float64Array(len);
  const tpr = new Float64Array(len);
  const thresholds = new Float64Array(len);
  thresholds[0] = c.thresholds[idx[0]] + 1;
  for (let k = 0; k < idx.length; k++) {
    fpr[k + 1] = c.negatives > 0 ? c.fps[idx[k]] / c.negatives : Number.NaN;
    tpr[k + 1] = c.positives > 0 ? c.tps[idx[k]] / c.positives : Number.NaN;
    thresholds[k + 1] = c.thresholds[idx[k]];
  }
  if (c.negatives === 0) fpr[0] = Number.NaN;
  if (c.positives === 0) tpr[0] = Number.NaN;
  return { fpr, tpr, thresholds, defined: c.positives > 0 && c.negatives > 0 };
}

function aurocFromCounts(c: BinaryCounts): MetricResult {
  if (c.positives === 0) return undefinedResult('AUROC is undefined: yTrue has no positive samples');
  if (c.negatives === 0) return undefinedResult('AUROC is undefined: yTrue has no negative samples');
  // Area under the step-with-ties ROC curve = P(s+ > s-) + 0.5 P(s+ = s-), accumulated in exact
  // half-integers and divided once.
  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < c.tps.length; k++) {
    const dFp = c.fps[k] - prevFp;
    area += dFp * (prevTp + (c.tps[k] - prevTp) / 2);
    prevTp = c.tps[k];
    prevFp = c.fps[k];
  }
  return definedResult(area / (c.positives * c.negatives));
}

/** Scratch-free AUROC on already validated arrays (used by accumulators and bootstrap callers). */
export function aurocUnchecked(labels: Uint8Array, scores: Float64Array): MetricResult {
  return aurocFromCounts(binaryCountsUnchecked(labels, scores));
}

/**
 * Area under the ROC curve, equal to scikit-learn's `roc_auc_score` for binary targets (ties count one half).
 * Undefined (NaN, `defined: false`) when only one class is present. O(n log n).
 */
export function auroc(yTrue: Vector, yScore: Vector): MetricResult {
  return aurocFromCounts(binaryCounts(yTrue, yScore));
}

export interface PrecisionRecallCurve {
  /** Precision per threshold in increasing threshold order, with a final 1 (scikit-learn's convention). */
  readonly precision: Float64Array;
  /** Recall per threshold, with a final 0. All ones when there are no positives (as scikit-learn 1.2). */
  readonly recall: Float64Array;
  /** Increasing distinct scores. */
  readonly thresholds: Float64Array;
  readonly defined: boolean;
}

/** Precision–recall curve as scikit-learn's `precision_recall_curve`. O(n log n). */
export function precisionRecallCurve(yTrue: Vector, yScore: Vector): PrecisionRecallCurve {
  const c = binaryCounts(yTrue, yScore);
  const m = c.thresholds.length;
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  const thresholds = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const r = m - 1 - k;
    const ps = c.tps[r] + c.fps[r];
    precision[k] = ps > 0 ? c.tps[r] / ps : 0;
    recall[k] = c.positives > 0 ? c.tps[r] / c.positives : 1;
    thresholds[k] = c.thresholds[r];
  }
  precision[m] = 1;
  recall[m] = 0;
  return { precision, recall, thresholds, defined: c.positives > 0 };
}

function apFromCounts(c: BinaryCounts): MetricResult {
  if (c.positives === 0)
    return undefinedResult('average precision is undefined: yTrue has no positive samples');
  // AP = sum_n (R_n - R_{n-1}) P_n over decreasing thresholds: step-wise, no interpolation.
  let ap = 0;
  let prevTp = 0;
  for (let k = 0; k < c.tps.length; k++) {
    const dTp = c.tps[k] - prevTp;
    if (dTp > 0) ap += (dTp / c.positives) * (c.tps[k] / (c.tps[k] + c.fps[k]));
    prevTp = c.tps[k];
  }
  return definedResult(ap);
}

export function averagePrecisionUnchecked(labels: Uint8Array, scores: Float64Array): MetricResult {
  return apFromCounts(binaryCountsUnchecked(labels, scores));
}

/**
 * Average precision as scikit-learn's `average_precision_score` (step-wise sum of precision weighted by recall
 * increments, not the interpolated trapezoid). Undefined when there are no positives. O(n log n).
 */
export function averagePrecision(yTrue: Vector, yScore: Vector): MetricResult {
  return apFromCounts(binaryCounts(yTrue, yScore));
}

export interface AveragedRankingResult {
  /** One result per label / class, undefined where that column has a single class. */
  readonly perLabel: readonly MetricResult[];
  /** Unweighted mean over the defined labels. */
  readonly macro: MetricResult;
  /** Mean over the defined labels weighted by their number of positives (scikit-learn's `average='weighted'`). */
  readonly weighted: MetricResult;
  /** Labels left out of the averages because they have only one class. */
  readonly skipped: readonly number[];
}

function average(per: MetricResult[], weights: number[], name: string): AveragedRankingResult {
  const skipped: number[] = [];
  let sum = 0;
  let wsum = 0;
  let wtotal = 0;
  let count = 0;
  per.forEach((r, i) => {
    if (!r.defined) {
      skipped.push(i);
      return;
    }
    sum += r.value;
    wsum += r.value * weights[i];
    wtotal += weights[i];
    count++;
  });
  const macro =
    count > 0 ? definedResult(sum / count) : undefinedResult(`${name} is undefined for every label`);
  const weighted =
    wtotal > 0 ? definedResult(wsum / wtotal) : undefinedResult(`${name} is undefined for every label`);
  return { perLabel: per, macro, weighted, skipped };
}

function perColumn(
  yTrue: MatrixInput,
  yScore: MatrixInput,
  fn: (l: Uint8Array, s: Float64Array) => MetricResult,
  name: string,
): AveragedRankingResult & { readonly micro: MetricResult } {
  const t = binaryMatrix('yTrue', yTrue);
  const s = finiteMatrix('yScore', yScore);
  if (t.rows !== s.rows || t.cols !== s.cols) {
    throw new MetricsError(
      'yScore',
      `expected shape [${t.rows}, ${t.cols}] like yTrue, got [${s.rows}, ${s.cols}]`,
    );
  }
  const per: MetricResult[] = [];
  const weights: number[] = [];
  for (let c = 0; c < t.cols; c++) {
    const labels = Uint8Array.from(column(t, c));
    let p = 0;
    for (let i = 0; i < labels.length; i++) p += labels[i];
    weights.push(p);
    per.push(fn(labels, column(s, c)));
  }
  const micro = fn(Uint8Array.from(t.data), s.data);
  return { ...average(per, weights, name), micro };
}

/**
 * Multi-label AUROC: per label, macro and support-weighted means over the labels that have both classes, and
 * micro (all cells pooled). Labels with one class are skipped and listed, never scored 0.5.
 */
export function multilabelAuroc(
  yTrue: MatrixInput,
  yScore: MatrixInput,
): AveragedRankingResult & { readonly micro: MetricResult } {
  return perColumn(yTrue, yScore, aurocUnchecked, 'AUROC');
}

/** Multi-label average precision (AUPRC), with the same skipping and averages as `multilabelAuroc`. */
export function multilabelAveragePrecision(
  yTrue: MatrixInput,
  yScore: MatrixInput,
): AveragedRankingResult & { readonly micro: MetricResult } {
  return perColumn(yTrue, yScore, averagePrecisionUnchecked, 'average precision');
}

/**
 * One-vs-rest multi-class AUROC (scikit-learn's `roc_auc_score(multi_class='ovr')`, macro and prevalence-weighted).
 * `yScore` is [n, numClasses]; classes absent from `yTrue` are skipped and listed. O(K n log n).
 */
export function ovrAuroc(yTrue: Vector, yScore: MatrixInput): AveragedRankingResult {
  const s = finiteMatrix('yScore', yScore);
  const y = classLabels('yTrue', yTrue, s.cols);
  sameLength('yTrue', y, 'yScore rows', { length: s.rows });
  const per: MetricResult[] = [];
  const weights: number[] = [];
  for (let c = 0; c < s.cols; c++) {
    const labels = new Uint8Array(y.length);
    let p = 0;
    for (let i = 0; i < y.length; i++) {
      labels[i] = y[i] === c ? 1 : 0;
      p += labels[i];
    }
    weights.push(p);
    per.push(aurocUnchecked(labels, column(s, c)));
  }
  return average(per, weights, 'AUROC');
}

interface DelongComponents {
  auc: number;
  vPos: Float64Array; // structural components over positives (V10 in DeLong et al. 1988)
  vNeg: Float64Array; // structural components over negatives (V01)
}

// Sun & Xu (2014) fast DeLong: structural components from midranks of the pooled, positive-only and
// negative-only scores. All three midrank vectors come from one dense ranking of the pooled scores plus
// per-value counts of positives and negatives. O(n log n).
function delongComponents(labels: Uint8Array, scores: Float64Array): DelongComponents {
  const { rank, distinct } = denseRanks(scores);
  const d = distinct.length;
  const posAt = new Float64Array(d);
  const negAt = new Float64Array(d);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) posAt[rank[i]]++;
    else negAt[rank[i]]++;
  }
  // Midrank of value r within a group = (group members below r) + (members at r + 1) / 2.
  const midPooled = new Float64Array(d);
  const midPos = new Float64Array(d);
  const midNeg = new Float64Array(d);
  let belowPos = 0;
  let belowNeg = 0;
  for (let r = 0; r < d; r++) {
    midPooled[r] = belowPos + belowNeg + (posAt[r] + negAt[r] + 1) / 2;
    midPos[r] = belowPos + (posAt[r] + 1) / 2;
    midNeg[r] = belowNeg + (negAt[r] + 1) / 2;
    belowPos += posAt[r];
    belowNeg += negAt[r];
  }
  const m = belowPos;
  const n = belowNeg;
  const vPos = new Float64Array(m);
  const vNeg = new Float64Array(n);
  let a = 0;
  let b = 0;
  let sumRanksPos = 0;
  for (let i = 0; i < labels.length; i++) {
    const r = rank[i];
    if (labels[i] === 1) {
      vPos[a++] = (midPooled[r] - midPos[r]) / n;
      sumRanksPos += midPooled[r];
    } else {
      vNeg[b++] = 1 - (midPooled[r] - midNeg[r]) / m;
    }
  }
  const auc = sumRanksPos / m / n - (m + 1) / 2 / n;
  return { auc, vPos, vNeg };
}

function covariance(x: Float64Array, y: Float64Array): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (x[i] - mx) * (y[i] - my);
  return s / (n - 1);
}

function delongInputs(
  yTrue: Vector,
  scores: Vector,
  scoresName: string,
): { labels: Uint8Array; s: Float64Array } {
  const labels = binaryLabels('yTrue', yTrue);
  const s = finiteVector(scoresName, scores);
  sameLength('yTrue', labels, scoresName, s);
  let m = 0;
  for (let i = 0; i < labels.length; i++) m += labels[i];
  if (m < 2 || labels.length - m < 2) {
    throw new MetricsError(
      'yTrue',
      `DeLong needs at least 2 positives and 2 negatives, got ${m} and ${labels.length - m}`,
    );
  }
  return { labels, s };
}

export interface DelongAurocResult {
  readonly auc: number;
  readonly variance: number;
  readonly standardError: number;
  /** Normal-approximation confidence interval on the AUC scale, clipped to [0, 1]. */
  readonly lower: number;
  readonly upper: number;
  readonly confidence: number;
}

/**
 * AUROC with DeLong et al. (1988) variance, computed with Sun & Xu's (2014) fast algorithm, and its Wald
 * confidence interval. Needs at least two positives and two negatives. O(n log n).
 */
export function delongAuroc(
  yTrue: Vector,
  yScore: Vector,
  options: { confidence?: number } = {},
): DelongAurocResult {
  const confidence = options.confidence ?? 0.95;
  unitInterval('confidence', confidence);
  const { labels, s } = delongInputs(yTrue, yScore, 'yScore');
  const c = delongComponents(labels, s);
  const variance = covariance(c.vPos, c.vPos) / c.vPos.length + covariance(c.vNeg, c.vNeg) / c.vNeg.length;
  const se = Math.sqrt(variance);
  const z = normalQuantile(1 - (1 - confidence) / 2);
  return {
    auc: c.auc,
    variance,
    standardError: se,
    lower: Math.max(0, c.auc - z * se),
    upper: Math.min(1, c.auc + z * se),
    confidence,
  };
}

export interface DelongTestResult {
  readonly aucA: number;
  readonly aucB: number;
  /** aucA − aucB. */
  readonly difference: number;
  readonly varianceA: number;
  readonly varianceB: number;
  readonly covariance: number;
  /** z statistic; NaN (with `defined: false`) when the difference has zero variance. */
  readonly z: number;
  /** Two-sided p-value. */
  readonly pValue: number;
  readonly defined: boolean;
}

/** Paired DeLong test of two models' AUROCs on the same cases (DeLong, DeLong & Clarke-Pearson 1988). */
export function delongTest(yTrue: Vector, yScoreA: Vector, yScoreB: Vector): DelongTestResult {
  const a = delongInputs(yTrue, yScoreA, 'yScoreA');
  const b = delongInputs(yTrue, yScoreB, 'yScoreB');
  const ca = delongComponents(a.labels, a.s);
  const cb = delongComponents(b.labels, b.s);
  const m = ca.vPos.length;
  const n = ca.vNeg.length;
  const varA = covariance(ca.vPos, ca.vPos) / m + covariance(ca.vNeg, ca.vNeg) / n;
  const varB = covariance(cb.vPos, cb.vPos) / m + covariance(cb.vNeg, cb.vNeg) / n;
  const cov = covariance(ca.vPos, cb.vPos) / m + covariance(ca.vNeg, cb.vNeg) / n;
  const diff = ca.auc - cb.auc;
  const varDiff = varA + varB - 2 * cov;
  const defined = varDiff > 0;
  const z = defined ? diff / Math.sqrt(varDiff) : Number.NaN;
  return {
    aucA: ca.auc,
    aucB: cb.auc,
    difference: diff,
    varianceA: varA,
    varianceB: varB,
    covariance: cov,
    z,
    pValue: defined ? 2 * normalSf(Math.abs(z)) : Number.NaN,
    defined,
  };
}
