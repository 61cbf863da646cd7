// Classification metrics on integer class labels and probability matrices, matching scikit-learn 1.2.
import { MetricsError } from './errors.js';
import { ExactSum } from './numeric.js';
import { definedResult, type MatrixInput, type MetricResult, undefinedResult, type Vector } from './types.js';
import {
  binaryLabels,
  classLabels,
  finiteMatrix,
  positiveInt,
  probabilityVector,
  sameLength,
} from './validate.js';

/** Confusion matrix counts, row = true class, column = predicted class (scikit-learn's layout). */
export interface ConfusionMatrix {
  readonly numClasses: number;
  /** Row-major [numClasses, numClasses] counts. */
  readonly counts: Float64Array;
}

function labelsPair(yTrue: Vector, yPred: Vector, numClasses: number): { t: Int32Array; p: Int32Array } {
  const t = classLabels('yTrue', yTrue, numClasses);
  const p = classLabels('yPred', yPred, numClasses);
  sameLength('yTrue', t, 'yPred', p);
  return { t, p };
}

/** Confusion matrix of integer labels in [0, numClasses). O(n + K²). */
export function confusionMatrix(yTrue: Vector, yPred: Vector, numClasses: number): ConfusionMatrix {
  const { t, p } = labelsPair(yTrue, yPred, numClasses);
  const counts = new Float64Array(numClasses * numClasses);
  for (let i = 0; i < t.length; i++) counts[t[i] * numClasses + p[i]]++;
  return { numClasses, counts };
}

/** Accumulates more labels into an existing confusion matrix (used by the streaming accumulator). */
export function addToConfusion(cm: ConfusionMatrix, yTrue: Vector, yPred: Vector): void {
  const { t, p } = labelsPair(yTrue, yPred, cm.numClasses);
  const k = cm.numClasses;
  for (let i = 0; i < t.length; i++) (cm.counts as Float64Array)[t[i] * k + p[i]]++;
}

function total(cm: ConfusionMatrix): number {
  let s = 0;
  for (let i = 0; i < cm.counts.length; i++) s += cm.counts[i];
  return s;
}

/** Fraction of exact matches. */
export function accuracyFromConfusion(cm: ConfusionMatrix): number {
  let diag = 0;
  for (let c = 0; c < cm.numClasses; c++) diag += cm.counts[c * cm.numClasses + c];
  return diag / total(cm);
}

export function accuracy(yTrue: Vector, yPred: Vector, numClasses: number): number {
  return accuracyFromConfusion(confusionMatrix(yTrue, yPred, numClasses));
}

/** Mean per-class recall over the classes present in yTrue (scikit-learn's `balanced_accuracy_score`). */
export function balancedAccuracyFromConfusion(cm: ConfusionMatrix): number {
  const k = cm.numClasses;
  let sum = 0;
  let present = 0;
  for (let c = 0; c < k; c++) {
    let row = 0;
    for (let j = 0; j < k; j++) row += cm.counts[c * k + j];
    if (row > 0) {
      sum += cm.counts[c * k + c] / row;
      present++;
    }
  }
  return sum / present;
}

/**
 * Macro averages over the classes present in y_true only (support > 0), as `balancedAccuracy`
 * averages recall: a held-out split that lacks some classes is then not scored as if every missing
 * class had F1 0 (the all-classes `macro` of {@link precisionRecallF1FromConfusion}).
 */
export function macroOverPresent(prf: PrecisionRecallF1): AveragedScores {
  let p = 0;
  let r = 0;
  let f = 0;
  let n = 0;
  prf.support.forEach((s, c) => {
    if (s > 0) {
      p += prf.precision[c];
      r += prf.recall[c];
      f += prf.f1[c];
      n++;
    }
  });
  return n === 0 ? { precision: 0, recall: 0, f1: 0 } : { precision: p / n, recall: r / n, f1: f / n };
}

export function balancedAccuracy(yTrue: Vector, yPred: Vector, numClasses: number): number {
  return balancedAccuracyFromConfusion(confusionMatrix(yTrue, yPred, numClasses));
}

export interface AveragedScores {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

export interface PrecisionRecallF1 {
  /** Per class; 0 where the denominator is 0 (scikit-learn's `zero_division=0`); check `predicted`/`support`. */
  readonly precision: Float64Array;
  readonly recall: Float64Array;
  readonly f1: Float64Array;
  /** Number of true samples per class. */
  readonly support: Float64Array;
  /** Number of predictions per class. */
  readonly predicted: Float64Array;
  readonly macro: AveragedScores;
  readonly micro: AveragedScores;
  /** Averaged with weights equal to the support. */
  readonly weighted: AveragedScores;
}

const safeDiv = (a: number, b: number): number => (b === 0 ? 0 : a / b);
const fScore = (p: number, r: number): number => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

/** Per-class precision / recall / F1 and their macro, micro and weighted averages over all numClasses. */
export function precisionRecallF1FromConfusion(cm: ConfusionMatrix): PrecisionRecallF1 {
  const k = cm.numClasses;
  const precision = new Float64Array(k);
  const recall = new Float64Array(k);
  const f1 = new Float64Array(k);
  const support = new Float64Array(k);
  const predicted = new Float64Array(k);
  let tpAll = 0;
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < k; j++) {
      support[c] += cm.counts[c * k + j];
      predicted[c] += cm.counts[j * k + c];
    }
    const tp = cm.counts[c * k + c];
    tpAll += tp;
    precision[c] = safeDiv(tp, predicted[c]);
    recall[c] = safeDiv(tp, support[c]);
    f1[c] = fScore(precision[c], recall[c]);
  }
  const n = total(cm);
  const mean = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / k;
  const wmean = (a: Float64Array): number =>
    safeDiv(
      a.reduce((s, v, i) => s + v * support[i], 0),
      n,
    );
  // Micro: every sample is one TP or (one FP and one FN), so micro precision = recall = accuracy.
  const microP = safeDiv(tpAll, n);
  return {
    precision,
    recall,
    f1,
    support,
    predicted,
    macro: { precision: mean(precision), recall: mean(recall), f1: mean(f1) },
    micro: { precision: microP, recall: microP, f1: fScore(microP, microP) },
    weighted: { precision: wmean(precision), recall: wmean(recall), f1: wmean(f1) },
  };
}

export function precisionRecallF1(yTrue: Vector, yPred: Vector, numClasses: number): PrecisionRecallF1 {
  return precisionRecallF1FromConfusion(confusionMatrix(yTrue, yPred, numClasses));
}

export type KappaWeights = 'none' | 'linear' | 'quadratic';

/**
 * Cohen's kappa from a confusion matrix, unweighted or with linear / quadratic disagreement weights
 * (scikit-learn's `cohen_kappa_score` with `labels=range(K)`). Undefined when chance agreement is perfect.
 */
export function cohenKappaFromConfusion(cm: ConfusionMatrix, weights: KappaWeights = 'none'): MetricResult {
  const k = cm.numClasses;
  const n = total(cm);
  const rows = new Float64Array(k);
  const cols = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      rows[i] += cm.counts[i * k + j];
      cols[j] += cm.counts[i * k + j];
    }
  }
  let observed = 0;
  let expected = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const w =
        weights === 'none' ? (i === j ? 0 : 1) : weights === 'linear' ? Math.abs(i - j) : (i - j) ** 2;
      observed += w * cm.counts[i * k + j];
      expected += (w * rows[i] * cols[j]) / n;
    }
  }
  if (expected === 0) return undefinedResult("Cohen's kappa is undefined: expected disagreement is 0");
  return definedResult(1 - observed / expected);
}

export function cohenKappa(
  yTrue: Vector,
  yPred: Vector,
  numClasses: number,
  weights: KappaWeights = 'none',
): MetricResult {
  return cohenKappaFromConfusion(confusionMatrix(yTrue, yPred, numClasses), weights);
}

/** Index of the largest score in each row (first on ties, as numpy's argmax). */
export function argmaxRows(scores: MatrixInput): Int32Array {
  const m = finiteMatrix('scores', scores);
  const out = new Int32Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let best = 0;
    for (let c = 1; c < m.cols; c++) if (m.data[r * m.cols + c] > m.data[r * m.cols + best]) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Top-k accuracy: the true class is among the k highest scores. Ties are broken as scikit-learn's
 * `top_k_accuracy_score` (a stable ascending sort reversed: among equal scores the higher class index ranks
 * first). O(n K).
 */
export function topKAccuracy(yTrue: Vector, yScore: MatrixInput, k: number): number {
  const s = finiteMatrix('yScore', yScore);
  const y = classLabels('yTrue', yTrue, s.cols);
  sameLength('yTrue', y, 'yScore rows', { length: s.rows });
  positiveInt('k', k);
  let hits = 0;
  for (let r = 0; r < s.rows; r++) {
    const base = r * s.cols;
    const v = s.data[base + y[r]];
    let ahead = 0;
    for (let c = 0; c < s.cols; c++) {
      const x = s.data[base + c];
      if (x > v || (x === v && c > y[r])) ahead++;
    }
    if (ahead < k) hits++;
  }
  return hits / s.rows;
}

const EPS = 2.220446049250313e-16;

/** Per-sample negative log-likelihood terms of log loss (shared with the streaming accumulator). */
export function logLossTerms(yTrue: Vector, yProb: Vector | MatrixInput): Float64Array {
  const { y, probs, cols } = probabilityInput(yTrue, yProb);
  const n = y.length;
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    // scikit-learn 1.2: clip to [eps, 1 - eps], renormalize each row, then -log p[true].
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.min(Math.max(probs[r * cols + c], EPS), 1 - EPS);
    const pt = Math.min(Math.max(probs[r * cols + y[r]], EPS), 1 - EPS) / sum;
    out[r] = -Math.log(pt);
  }
  return out;
}

function isVectorInput(x: Vector | MatrixInput): x is Vector {
  if (Array.isArray(x)) return x.length === 0 || typeof x[0] === 'number';
  return ArrayBuffer.isView(x);
}

/** Normalizes binary (vector of P(y=1)) or multi-class ([n, K] probabilities) input to a dense matrix. */
export function probabilityInput(
  yTrue: Vector,
  yProb: Vector | MatrixInput,
): { y: Int32Array; probs: Float64Array; cols: number } {
  if (isVectorInput(yProb)) {
    const p = probabilityVector('yProb', yProb);
    const y = Int32Array.from(binaryLabels('yTrue', yTrue));
    sameLength('yTrue', y, 'yProb', p);
    const probs = new Float64Array(2 * p.length);
    for (let i = 0; i < p.length; i++) {
      probs[2 * i] = 1 - p[i];
      probs[2 * i + 1] = p[i];
    }
    return { y, probs, cols: 2 };
  }
  const m = finiteMatrix('yProb', yProb as MatrixInput);
  for (let i = 0; i < m.data.length; i++) {
    if (m.data[i] < 0 || m.data[i] > 1)
      throw new MetricsError('yProb', `expected probabilities in [0, 1], got ${m.data[i]}`);
  }
  const y = classLabels('yTrue', yTrue, m.cols);
  sameLength('yTrue', y, 'yProb rows', { length: m.rows });
  return { y, probs: m.data, cols: m.cols };
}

/**
 * Log loss (cross-entropy) as scikit-learn 1.2's `log_loss` (probabilities clipped to [eps, 1 − eps] and
 * renormalized). `yProb` is a vector of P(y = 1) for binary labels or an [n, K] probability matrix. O(n K).
 */
export function logLoss(yTrue: Vector, yProb: Vector | MatrixInput): number {
  const terms = logLossTerms(yTrue, yProb);
  const s = new ExactSum();
  for (let i = 0; i < terms.length; i++) s.add(terms[i]);
  return s.value() / terms.length;
}

/** Per-sample squared errors of the Brier score: sum over classes of (p_k − 1[y = k])². */
export function brierTerms(yTrue: Vector, yProb: Vector | MatrixInput): Float64Array {
  const binary = isVectorInput(yProb);
  const { y, probs, cols } = probabilityInput(yTrue, yProb);
  const out = new Float64Array(y.length);
  for (let r = 0; r < y.length; r++) {
    if (binary) {
      out[r] = (probs[2 * r + 1] - y[r]) ** 2;
      continue;
    }
    let s = 0;
    for (let c = 0; c < cols; c++) s += (probs[r * cols + c] - (c === y[r] ? 1 : 0)) ** 2;
    out[r] = s;
  }
  return out;
}

/**
 * Brier score. Binary (vector of P(y = 1)): mean (p − y)², as scikit-learn's `brier_score_loss`. Multi-class
 * ([n, K]): mean over samples of the squared distance to the one-hot target (Brier 1950). O(n K).
 */
export function brierScore(yTrue: Vector, yProb: Vector | MatrixInput): number {
  const terms = brierTerms(yTrue, yProb);
  const s = new ExactSum();
  for (let i = 0; i < terms.length; i++) s.add(terms[i]);
  return s.value() / terms.length;
}

export { isVectorInput };
