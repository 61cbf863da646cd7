// Frozen-feature evaluation: a linear probe (multinomial logistic regression with L2, on features
// standardised with the training split's statistics) and a k-NN classifier (cosine similarity,
// similarity-weighted votes), scored with @meddl/metrics.
import { accuracy, balancedAccuracy, ovrAuroc } from '@meddl/metrics';

export interface ProbeScores {
  accuracy: number;
  balancedAccuracy: number;
  /** Macro one-vs-rest AUROC of the probe's probabilities (NaN when undefined). */
  aurocMacro: number;
}

export interface ProbeResult {
  linear: ProbeScores;
  knn: { accuracy: number; balancedAccuracy: number; k: number };
  nTrain: number;
  nTest: number;
}

function standardise(train: Float64Array[], test: Float64Array[], d: number) {
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const x of train) for (let j = 0; j < d; j++) mean[j]! += x[j]! / train.length;
  for (const x of train) for (let j = 0; j < d; j++) std[j]! += (x[j]! - mean[j]!) ** 2 / train.length;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]!) || 1;
  const f = (x: Float64Array) => x.map((v, j) => (v - mean[j]!) / std[j]!);
  return { train: train.map(f), test: test.map(f) };
}

/** Softmax regression by full-batch gradient descent with Nesterov momentum; returns a predictor. */
export function fitLogisticRegression(
  x: Float64Array[],
  y: number[],
  numClasses: number,
  options: { l2?: number; iterations?: number; lr?: number } = {},
): (v: Float64Array) => Float64Array {
  const d = x[0]?.length ?? 0;
  const l2 = options.l2 ?? 1e-2;
  const lr = options.lr ?? 0.5;
  const W = new Float64Array(numClasses * (d + 1));
  const V = new Float64Array(W.length);
  const probs = (w: Float64Array, v: Float64Array) => {
    const z = new Float64Array(numClasses);
    for (let c = 0; c < numClasses; c++) {
      let s = w[c * (d + 1) + d]!;
      for (let j = 0; j < d; j++) s += w[c * (d + 1) + j]! * v[j]!;
      z[c] = s;
    }
    const m = Math.max(...z);
    let t = 0;
    for (let c = 0; c < numClasses; c++) t += z[c] = Math.exp(z[c]! - m);
    return z.map((e) => e / t);
  };
  const n = x.length;
  for (let it = 0; it < (options.iterations ?? 500); it++) {
    const look = W.map((w, i) => w + 0.9 * V[i]!);
    const g = new Float64Array(W.length);
    for (let i = 0; i < n; i++) {
      const p = probs(look, x[i]!);
      for (let c = 0; c < numClasses; c++) {
        const e = (p[c]! - (y[i] === c ? 1 : 0)) / n;
        for (let j = 0; j < d; j++) g[c * (d + 1) + j]! += e * x[i]![j]!;
        g[c * (d + 1) + d]! += e;
      }
    }
    for (let c = 0; c < numClasses; c++)
      for (let j = 0; j < d; j++) g[c * (d + 1) + j]! += l2 * look[c * (d + 1) + j]!;
    for (let i = 0; i < W.length; i++) {
      V[i] = 0.9 * V[i]! - lr * g[i]!;
      W[i]! += V[i]!;
    }
  }
  return (v) => probs(W, v);
}

/** k-NN on cosine similarity with similarity-weighted votes. */
export function knnPredict(
  train: Float64Array[],
  trainY: number[],
  test: Float64Array[],
  numClasses: number,
  k: number,
): number[] {
  const unit = (v: Float64Array) => {
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  };
  const tr = train.map(unit);
  return test.map((q0) => {
    const q = unit(q0);
    const sims = tr.map((t, i) => ({ i, s: t.reduce((a, v, j) => a + v * q[j]!, 0) }));
    sims.sort((a, b) => b.s - a.s || a.i - b.i);
    const votes = new Float64Array(numClasses);
    for (const { i, s } of sims.slice(0, k)) votes[trainY[i]!]! += 1 + s;
    return votes.indexOf(Math.max(...votes));
  });
}

/** Linear probe and k-NN on frozen features [n, d] with train/test index lists. */
export function probeFeatures(
  features: Float32Array,
  d: number,
  labels: number[],
  split: { train: number[]; test: number[] },
  numClasses: number,
  k = 5,
): ProbeResult {
  const row = (i: number) => Float64Array.from(features.subarray(i * d, (i + 1) * d));
  const s = standardise(split.train.map(row), split.test.map(row), d);
  const yTrain = split.train.map((i) => labels[i]!);
  const yTest = split.test.map((i) => labels[i]!);
  const predict = fitLogisticRegression(s.train, yTrain, numClasses);
  const p = s.test.map(predict);
  const yHat = p.map((v) => v.indexOf(Math.max(...v)));
  const auc = ovrAuroc(yTest, p).macro;
  const kk = Math.min(k, split.train.length);
  const knn = knnPredict(s.train, yTrain, s.test, numClasses, kk);
  return {
    linear: {
      accuracy: accuracy(yTest, yHat, numClasses),
      balancedAccuracy: balancedAccuracy(yTest, yHat, numClasses),
      aurocMacro: auc.defined ? auc.value : Number.NaN,
    },
    knn: {
      accuracy: accuracy(yTest, knn, numClasses),
      balancedAccuracy: balancedAccuracy(yTest, knn, numClasses),
      k: kk,
    },
    nTrain: split.train.length,
    nTest: split.test.length,
  };
}
