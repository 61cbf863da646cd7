// Operating points: metrics at a threshold, and F1- or Youden-optimal thresholds per label.
import { MetricsError } from './errors.js';
import { binaryCounts } from './ranking.js';
import type { MatrixInput, Vector } from './types.js';
import { binaryLabels, binaryMatrix, column, finiteMatrix, finiteVector, sameLength } from './validate.js';

/** Binary metrics when predicting positive for score >= threshold. Ratios with a zero denominator are NaN. */
export interface ThresholdMetrics {
  readonly threshold: number;
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
  /** Recall, true positive rate. */
  readonly sensitivity: number;
  /** True negative rate. */
  readonly specificity: number;
  /** Positive predictive value. */
  readonly precision: number;
  /** Negative predictive value. */
  readonly npv: number;
  readonly f1: number;
  readonly accuracy: number;
  readonly balancedAccuracy: number;
  /** Youden's J = sensitivity + specificity − 1. */
  readonly youden: number;
}

const ratio = (a: number, b: number): number => (b === 0 ? Number.NaN : a / b);

function fromCounts(threshold: number, tp: number, fp: number, p: number, n: number): ThresholdMetrics {
  const fn = p - tp;
  const tn = n - fp;
  const sensitivity = ratio(tp, p);
  const specificity = ratio(tn, n);
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    sensitivity,
    specificity,
    precision: ratio(tp, tp + fp),
    npv: ratio(tn, tn + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    accuracy: (tp + tn) / (p + n),
    balancedAccuracy: (sensitivity + specificity) / 2,
    youden: sensitivity + specificity - 1,
  };
}

/** Confusion counts and derived rates at a fixed threshold (positive when score >= threshold). O(n). */
export function metricsAtThreshold(yTrue: Vector, yScore: Vector, threshold: number): ThresholdMetrics {
  const labels = binaryLabels('yTrue', yTrue);
  const scores = finiteVector('yScore', yScore);
  sameLength('yTrue', labels, 'yScore', scores);
  if (Number.isNaN(threshold)) throw new MetricsError('threshold', 'expected a number, got NaN');
  let tp = 0;
  let fp = 0;
  let p = 0;
  for (let i = 0; i < labels.length; i++) {
    p += labels[i];
    if (scores[i] >= threshold) {
      if (labels[i] === 1) tp++;
      else fp++;
    }
  }
  return fromCounts(threshold, tp, fp, p, labels.length - p);
}

export type ThresholdCriterion = 'f1' | 'youden';

export interface OptimalThreshold extends ThresholdMetrics {
  readonly criterion: ThresholdCriterion;
  /** The optimized value (F1 or Youden's J) at `threshold`. */
  readonly value: number;
  readonly defined: boolean;
}

/**
 * The threshold among the observed scores maximizing F1 or Youden's J (ties go to the highest threshold).
 * Undefined (NaN threshold) when yTrue lacks positives (F1) or either class (Youden). O(n log n).
 */
export function optimalThreshold(
  yTrue: Vector,
  yScore: Vector,
  criterion: ThresholdCriterion,
): OptimalThreshold {
  if (criterion !== 'f1' && criterion !== 'youden') {
    throw new MetricsError('criterion', `expected 'f1' or 'youden', got ${String(criterion)}`);
  }
  const c = binaryCounts(yTrue, yScore);
  const undefinedCase = c.positives === 0 || (criterion === 'youden' && c.negatives === 0);
  if (undefinedCase) {
    return {
      ...fromCounts(Number.NaN, 0, 0, c.positives, c.negatives),
      criterion,
      value: Number.NaN,
      defined: false,
    };
  }
  let best = -1;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tp = c.tps[k];
    const fp = c.fps[k];
    const v = criterion === 'f1' ? (2 * tp) / (tp + fp + c.positives) : tp / c.positives - fp / c.negatives;
    if (v > bestValue) {
      bestValue = v;
      best = k;
    }
  }
  const m = fromCounts(c.thresholds[best], c.tps[best], c.fps[best], c.positives, c.negatives);
  return { ...m, criterion, value: criterion === 'f1' ? m.f1 : m.youden, defined: true };
}

/** `optimalThreshold` for each column of a multi-label [n, L] target and score matrix. */
export function optimalThresholds(
  yTrue: MatrixInput,
  yScore: MatrixInput,
  criterion: ThresholdCriterion,
): OptimalThreshold[] {
  const t = binaryMatrix('yTrue', yTrue);
  const s = finiteMatrix('yScore', yScore);
  if (t.rows !== s.rows || t.cols !== s.cols) {
    throw new MetricsError(
      'yScore',
      `expected shape [${t.rows}, ${t.cols}] like yTrue, got [${s.rows}, ${s.cols}]`,
    );
  }
  const out: OptimalThreshold[] = [];
  for (let c = 0; c < t.cols; c++) out.push(optimalThreshold(column(t, c), column(s, c), criterion));
  return out;
}
