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
  /** The linear probe's L2 penalty (chosen by inner CV with `l2: 'cv'`). */
  l2: number;
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

/**
 * Largest eigenvalue of (1/n) X̃ᵀX̃ with X̃ = [x, 1] (power iteration): with it, L = λ/2 + l2 bounds
 * the curvature of the L2-regularised softmax loss, so gradient steps of 1/L cannot diverge.
 */
export function featureGramBound(x: Float64Array[], iterations = 50): number {
  const n = x.length;
  const d = x[0]?.length ?? 0;
  if (n === 0) return 1;
  let v = new Float64Array(d + 1).fill(1 / Math.sqrt(d + 1));
  let lambda = 1;
  for (let it = 0; it < iterations; it++) {
    const w = new Float64Array(d + 1);
    for (const r of x) {
      let s = v[d]!;
      for (let j = 0; j < d; j++) s += r[j]! * v[j]!;
      for (let j = 0; j < d; j++) w[j]! += (s * r[j]!) / n;
      w[d]! += s / n;
    }
    const norm = Math.hypot(...w);
    if (norm === 0) return 1;
    lambda = norm;
    v = w.map((e) => e / norm);
  }
  // Power iteration approaches λmax from below; a small margin keeps 1/L on the safe side.
  return lambda * 1.05;
}

export interface LogisticRegressionOptions {
  /** L2 penalty (l2/2)·‖W‖² on the weights (not the biases); default 1e-2. */
  l2?: number;
  /** Iteration cap (default 3000); stops earlier once the largest gradient entry is below `tol`. */
  iterations?: number;
  /** Step size; default 1/L from `featureGramBound` (stable whatever the feature scale). */
  lr?: number;
  /** Gradient tolerance (max-norm) for the early stop; default 1e-5. */
  tol?: number;
}

/**
 * Softmax regression by full-batch gradient descent with Nesterov momentum; returns a predictor.
 * The step defaults to 1/L (L = curvature bound): a fixed step of 0.5 diverged on strongly
 * correlated features (the random-init encoders' mean-pooled tokens) and left the probe at a
 * random point of an oscillation.
 */
export function fitLogisticRegression(
  x: Float64Array[],
  y: number[],
  numClasses: number,
  options: LogisticRegressionOptions = {},
): (v: Float64Array) => Float64Array {
  return fitLogisticRegressionDetailed(x, y, numClasses, options).predict;
}

/** `fitLogisticRegression` with the fit's diagnostics (final loss, gradient max-norm, iterations). */
export function fitLogisticRegressionDetailed(
  x: Float64Array[],
  y: number[],
  numClasses: number,
  options: LogisticRegressionOptions & { init?: Float64Array } = {},
): {
  predict: (v: Float64Array) => Float64Array;
  weights: Float64Array;
  loss: number;
  gradMax: number;
  iterations: number;
} {
  const d = x[0]?.length ?? 0;
  const n = x.length;
  const C = numClasses;
  const l2 = options.l2 ?? 1e-2;
  const lr = options.lr ?? 1 / (featureGramBound(x) / 2 + l2);
  const tol = options.tol ?? 1e-5;
  const maxIt = options.iterations ?? 3000;
  const stride = d + 1;
  // Flat row-major features with a trailing 1 (the bias column); weights [C, d + 1].
  const X = new Float64Array(n * stride);
  x.forEach((r, i) => {
    X.set(r, i * stride);
    X[i * stride + d] = 1;
  });
  const W = options.init ? Float64Array.from(options.init) : new Float64Array(C * stride);
  const V = new Float64Array(W.length);
  const look = new Float64Array(W.length);
  const g = new Float64Array(W.length);
  const z = new Float64Array(C);
  const softmaxInto = (w: Float64Array, xs: Float64Array, off: number) => {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < C; c++) {
      let s = 0;
      const wo = c * stride;
      for (let j = 0; j < stride; j++) s += w[wo + j]! * xs[off + j]!;
      z[c] = s;
      if (s > m) m = s;
    }
    let t = 0;
    for (let c = 0; c < C; c++) t += z[c] = Math.exp(z[c]! - m);
    for (let c = 0; c < C; c++) z[c]! /= t;
  };
  /** Gradient of the objective at w into g; returns the objective. */
  const gradient = (w: Float64Array): number => {
    g.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const off = i * stride;
      softmaxInto(w, X, off);
      loss -= Math.log(Math.max(z[y[i]!]!, 1e-300)) / n;
      for (let c = 0; c < C; c++) {
        const e = (z[c]! - (y[i] === c ? 1 : 0)) / n;
        if (e === 0) continue;
        const go = c * stride;
        for (let j = 0; j < stride; j++) g[go + j]! += e * X[off + j]!;
      }
    }
    for (let c = 0; c < C; c++)
      for (let j = 0; j < d; j++) {
        const wj = w[c * stride + j]!;
        g[c * stride + j]! += l2 * wj;
        loss += (l2 / 2) * wj * wj;
      }
    return loss;
  };
  const gmax = () => {
    let m = 0;
    for (let i = 0; i < g.length; i++) m = Math.max(m, Math.abs(g[i]!));
    return m;
  };
  let it = 0;
  for (; it < maxIt; it++) {
    for (let i = 0; i < W.length; i++) look[i] = W[i]! + 0.9 * V[i]!;
    gradient(look);
    for (let i = 0; i < W.length; i++) {
      V[i] = 0.9 * V[i]! - lr * g[i]!;
      W[i]! += V[i]!;
    }
    if (it % 25 === 24) {
      gradient(W);
      if (gmax() < tol) {
        it++;
        break;
      }
    }
  }
  const loss = gradient(W);
  const weights = Float64Array.from(W);
  return {
    predict: (v) => {
      const out = new Float64Array(C);
      const xs = new Float64Array(stride);
      xs.set(v);
      xs[d] = 1;
      softmaxInto(weights, xs, 0);
      out.set(z);
      return out;
    },
    weights,
    loss,
    gradMax: gmax(),
    iterations: it,
  };
}

/** The L2 grid the inner cross-validation chooses from (standardised features). */
export const L2_GRID = [1e-2, 1e-1, 1, 10];

/**
 * Chooses the probe's L2 penalty by inner k-fold cross-validation on the training split only:
 * folds by group (patient, so both eyes stay together; groups dealt round-robin after a seeded
 * shuffle within each label), score = mean held-out log-loss; ties go to the larger penalty.
 */
export function selectL2ByCv(
  x: Float64Array[],
  y: number[],
  numClasses: number,
  options: { groups?: string[]; folds?: number; grid?: number[]; seed?: number } = {},
): { l2: number; scores: number[] } {
  const grid = options.grid ?? L2_GRID;
  const k = options.folds ?? 3;
  const groups = options.groups ?? x.map((_, i) => String(i));
  // Group → label of its first member; shuffle groups (seeded LCG) and deal them per label.
  const first = new Map<string, number>();
  groups.forEach((g, i) => {
    if (!first.has(g)) first.set(g, y[i]!);
  });
  let state = (options.seed ?? 0) * 2654435761 + 1;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const names = [...first.keys()];
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [names[i], names[j]] = [names[j]!, names[i]!];
  }
  names.sort((a, b) => first.get(a)! - first.get(b)!);
  const fold = new Map<string, number>();
  names.forEach((g, i) => {
    fold.set(g, i % k);
  });
  const total = grid.map(() => 0);
  let count = 0;
  const order = grid.map((_, i) => i).sort((a, b) => grid[b]! - grid[a]!);
  for (let f = 0; f < k; f++) {
    const tr = groups.flatMap((g, i) => (fold.get(g) !== f ? [i] : []));
    const te = groups.flatMap((g, i) => (fold.get(g) === f ? [i] : []));
    if (tr.length === 0 || te.length === 0) continue;
    const s = standardise(
      tr.map((i) => x[i]!),
      te.map((i) => x[i]!),
      x[0]?.length ?? 0,
    );
    const yTr = tr.map((i) => y[i]!);
    const bound = featureGramBound(s.train);
    // Strongest penalty first, each fit warm-started from the previous one (same optimum, fewer steps).
    let init: Float64Array | undefined;
    for (const gi of order) {
      const l2 = grid[gi]!;
      const fit = fitLogisticRegressionDetailed(s.train, yTr, numClasses, {
        l2,
        lr: 1 / (bound / 2 + l2),
        tol: 1e-4,
        ...(init ? { init } : {}),
      });
      init = fit.weights;
      te.forEach((i, t) => {
        total[gi]! -= Math.log(Math.max(fit.predict(s.test[t]!)[y[i]!]!, 1e-12));
      });
    }
    count += te.length;
  }
  const scores = total.map((t) => (count > 0 ? t / count : Number.POSITIVE_INFINITY));
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (scores[i]! <= scores[best]! + 1e-9) best = i;
  return { l2: grid[best]!, scores };
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

export interface ProbeOptions {
  /** L2 penalty of the linear probe, or 'cv' to choose it from `L2_GRID` by inner CV on the train split. */
  l2?: number | 'cv';
  /** Group (patient) of every row of `features`, for the inner CV's folds. */
  groups?: string[];
  /** Optimiser settings of the final fit (`fitLogisticRegression`; defaults: step 1/L, ≤ 3000 steps). */
  lr?: number;
  iterations?: number;
}

/** Linear probe and k-NN on frozen features [n, d] with train/test index lists. */
export function probeFeatures(
  features: Float32Array,
  d: number,
  labels: number[],
  split: { train: number[]; test: number[] },
  numClasses: number,
  k = 5,
  options: ProbeOptions = {},
): ProbeResult {
  const row = (i: number) => Float64Array.from(features.subarray(i * d, (i + 1) * d));
  const s = standardise(split.train.map(row), split.test.map(row), d);
  const yTrain = split.train.map((i) => labels[i]!);
  const yTest = split.test.map((i) => labels[i]!);
  const l2 =
    options.l2 === 'cv'
      ? selectL2ByCv(
          split.train.map(row),
          yTrain,
          numClasses,
          options.groups ? { groups: split.train.map((i) => options.groups![i]!) } : {},
        ).l2
      : (options.l2 ?? 1e-2);
  const predict = fitLogisticRegression(s.train, yTrain, numClasses, {
    l2,
    ...(options.lr !== undefined ? { lr: options.lr, tol: 0 } : {}),
    ...(options.iterations !== undefined ? { iterations: options.iterations } : {}),
  });
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
    l2,
    knn: {
      accuracy: accuracy(yTest, knn, numClasses),
      balancedAccuracy: balancedAccuracy(yTest, knn, numClasses),
      k: kk,
    },
    nTrain: split.train.length,
    nTest: split.test.length,
  };
}
