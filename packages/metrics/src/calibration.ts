// Calibration: equal-width-bin ECE / MCE and reliability diagrams, temperature scaling and Platt scaling.
import { isVectorInput, probabilityInput } from './classification.js';
import { MetricsError } from './errors.js';
import { ExactSum } from './numeric.js';
import type { MatrixInput, Vector } from './types.js';
import {
  binaryLabels,
  classLabels,
  finiteMatrix,
  finiteVector,
  positiveInt,
  sameLength,
} from './validate.js';

/** Per-bin sums of equal-width confidence bins on [0, 1]; bin b is (b/M, (b+1)/M], bin 0 also holds 0. */
export class CalibrationBins {
  readonly numBins: number;
  readonly counts: Float64Array;
  private conf: ExactSum[];
  private obs: ExactSum[];

  constructor(numBins: number) {
    positiveInt('bins', numBins);
    this.numBins = numBins;
    this.counts = new Float64Array(numBins);
    this.conf = Array.from({ length: numBins }, () => new ExactSum());
    this.obs = Array.from({ length: numBins }, () => new ExactSum());
  }

  /** Bin index as numpy's `searchsorted(linspace(0, 1, M + 1)[1:-1], p)` (scikit-learn's calibration_curve). */
  binOf(p: number): number {
    const m = this.numBins;
    const step = 1 / m;
    let b = Math.min(m - 1, Math.max(0, Math.ceil(p * m) - 1));
    while (b > 0 && !(b * step < p)) b--;
    while (b < m - 1 && (b + 1) * step < p) b++;
    return b;
  }

  add(confidence: number, observed: number): void {
    const b = this.binOf(confidence);
    this.counts[b]++;
    this.conf[b].add(confidence);
    this.obs[b].add(observed);
  }

  merge(other: CalibrationBins): void {
    if (other.numBins !== this.numBins) {
      throw new MetricsError('other', `expected ${this.numBins} bins, got ${other.numBins}`);
    }
    for (let b = 0; b < this.numBins; b++) {
      this.counts[b] += other.counts[b];
      this.conf[b].addAll(other.conf[b]);
      this.obs[b].addAll(other.obs[b]);
    }
  }

  /** Plain, structured-clone-able state for sending to another process. */
  state(): CalibrationBinsState {
    return {
      numBins: this.numBins,
      counts: this.counts.slice(),
      confidence: this.conf.map((x) => x.toPartials()),
      observed: this.obs.map((x) => x.toPartials()),
    };
  }

  static fromState(state: CalibrationBinsState): CalibrationBins {
    const bins = new CalibrationBins(state.numBins);
    const ok =
      state.counts?.length === state.numBins &&
      state.confidence?.length === state.numBins &&
      state.observed?.length === state.numBins;
    if (!ok)
      throw new MetricsError(
        'state',
        `expected ${state.numBins} bins of counts, confidence and observed sums`,
      );
    for (let b = 0; b < state.numBins; b++) {
      const c = state.counts[b];
      if (!Number.isInteger(c) || c < 0)
        throw new MetricsError('state.counts', `expected counts >= 0, got ${c}`);
      bins.counts[b] = c;
      bins.conf[b] = ExactSum.fromPartials(finiteVector('state.confidence', state.confidence[b], true));
      bins.obs[b] = ExactSum.fromPartials(finiteVector('state.observed', state.observed[b], true));
    }
    return bins;
  }

  reset(): void {
    this.counts.fill(0);
    for (let b = 0; b < this.numBins; b++) {
      this.conf[b].reset();
      this.obs[b].reset();
    }
  }

  diagram(): ReliabilityDiagram {
    const m = this.numBins;
    const binEdges = new Float64Array(m + 1);
    for (let b = 0; b <= m; b++) binEdges[b] = b === m ? 1 : b * (1 / m);
    const meanConfidence = new Float64Array(m);
    const observed = new Float64Array(m);
    let n = 0;
    for (let b = 0; b < m; b++) n += this.counts[b];
    let ece = 0;
    let mce = 0;
    for (let b = 0; b < m; b++) {
      const c = this.counts[b];
      meanConfidence[b] = c > 0 ? this.conf[b].value() / c : Number.NaN;
      observed[b] = c > 0 ? this.obs[b].value() / c : Number.NaN;
      if (c > 0) {
        const gap = Math.abs(observed[b] - meanConfidence[b]);
        ece += (c / n) * gap;
        mce = Math.max(mce, gap);
      }
    }
    return { binEdges, counts: this.counts.slice(), meanConfidence, observed, ece, mce, count: n };
  }
}

export interface CalibrationBinsState {
  readonly numBins: number;
  readonly counts: ArrayLike<number>;
  readonly confidence: ReadonlyArray<ArrayLike<number>>;
  readonly observed: ReadonlyArray<ArrayLike<number>>;
}

export interface ReliabilityDiagram {
  /** M + 1 edges, 0 … 1. */
  readonly binEdges: Float64Array;
  readonly counts: Float64Array;
  /** Mean confidence per bin (NaN when empty). */
  readonly meanConfidence: Float64Array;
  /** Observed frequency per bin: accuracy (top-label) or fraction of positives (binary); NaN when empty. */
  readonly observed: Float64Array;
  /** Expected calibration error: Σ_b (n_b / N) |observed_b − confidence_b|. */
  readonly ece: number;
  /** Maximum calibration error over non-empty bins. */
  readonly mce: number;
  readonly count: number;
}

/** Adds a batch to calibration bins: binary positive-class reliability for a vector, top-label for a matrix. */
export function addToBins(bins: CalibrationBins, yTrue: Vector, yProb: Vector | MatrixInput): void {
  const binary = isVectorInput(yProb);
  const { y, probs, cols } = probabilityInput(yTrue, yProb);
  for (let r = 0; r < y.length; r++) {
    if (binary) {
      bins.add(probs[2 * r + 1], y[r]);
      continue;
    }
    let best = 0;
    for (let c = 1; c < cols; c++) if (probs[r * cols + c] > probs[r * cols + best]) best = c;
    bins.add(probs[r * cols + best], best === y[r] ? 1 : 0);
  }
}

export interface CalibrationOptions {
  /** Number of equal-width bins on [0, 1] (default 15). */
  readonly bins?: number;
}

/**
 * Reliability-diagram data with ECE and MCE. A vector `yProb` of P(y = 1) with 0/1 labels gives the binary
 * reliability curve (as scikit-learn's `calibration_curve(strategy='uniform')`); an [n, K] matrix with class
 * labels gives top-label calibration (Guo et al. 2017: confidence = max p, observed = accuracy). O(n K).
 */
export function reliabilityDiagram(
  yTrue: Vector,
  yProb: Vector | MatrixInput,
  options: CalibrationOptions = {},
): ReliabilityDiagram {
  const bins = new CalibrationBins(options.bins ?? 15);
  addToBins(bins, yTrue, yProb);
  return bins.diagram();
}

/** Expected calibration error with equal-width bins (see `reliabilityDiagram`). */
export function expectedCalibrationError(
  yTrue: Vector,
  yProb: Vector | MatrixInput,
  options: CalibrationOptions = {},
): number {
  return reliabilityDiagram(yTrue, yProb, options).ece;
}

/** Maximum calibration error with equal-width bins (see `reliabilityDiagram`). */
export function maximumCalibrationError(
  yTrue: Vector,
  yProb: Vector | MatrixInput,
  options: CalibrationOptions = {},
): number {
  return reliabilityDiagram(yTrue, yProb, options).mce;
}

/** Row-wise softmax of logits / temperature, computed stably. */
export function softmax(logits: MatrixInput, temperature = 1): Float64Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new MetricsError('temperature', `expected a positive finite number, got ${temperature}`);
  }
  const m = finiteMatrix('logits', logits);
  const out = new Float64Array(m.data.length);
  for (let r = 0; r < m.rows; r++) {
    const base = r * m.cols;
    let mx = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < m.cols; c++) mx = Math.max(mx, m.data[base + c] / temperature);
    let s = 0;
    for (let c = 0; c < m.cols; c++) {
      out[base + c] = Math.exp(m.data[base + c] / temperature - mx);
      s += out[base + c];
    }
    for (let c = 0; c < m.cols; c++) out[base + c] /= s;
  }
  return out;
}

export interface TemperatureFit {
  /** T > 0: calibrated probabilities are softmax(logits / T). Infinity when the logits carry no signal. */
  readonly temperature: number;
  /** Mean NLL at T = 1 and at the fitted T. */
  readonly nllBefore: number;
  readonly nllAfter: number;
  /** |dNLL/dβ| at the solution (β = 1/T). */
  readonly gradient: number;
  readonly iterations: number;
  readonly converged: boolean;
}

/**
 * Temperature scaling (Guo et al. 2017): the T minimizing mean NLL of softmax(logits / T) on validation data.
 * NLL is convex in β = 1/T (log-sum-exp minus a linear term), so we bracket the root of dNLL/dβ and run
 * Newton's method safeguarded by bisection to `tolerance` on the gradient. O(n K) per iteration.
 */
export function fitTemperature(
  logits: MatrixInput,
  yTrue: Vector,
  options: { tolerance?: number; maxIterations?: number } = {},
): TemperatureFit {
  const m = finiteMatrix('logits', logits);
  const y = classLabels('yTrue', yTrue, m.cols);
  sameLength('yTrue', y, 'logits rows', { length: m.rows });
  const tol = options.tolerance ?? 1e-12;
  const maxIter = options.maxIterations ?? 200;
  const n = m.rows;
  const k = m.cols;
  // NLL(β) and its first two derivatives: d = E_p[z] − z_y, d² = Var_p[z].
  const evaluate = (beta: number): { f: number; g: number; h: number } => {
    let f = 0;
    let g = 0;
    let h = 0;
    for (let r = 0; r < n; r++) {
      const base = r * k;
      let mx = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < k; c++) mx = Math.max(mx, beta * m.data[base + c]);
      let s = 0;
      let sz = 0;
      let szz = 0;
      for (let c = 0; c < k; c++) {
        const z = m.data[base + c];
        const e = Math.exp(beta * z - mx);
        s += e;
        sz += e * z;
        szz += e * z * z;
      }
      const ez = sz / s;
      f += mx + Math.log(s) - beta * m.data[base + y[r]];
      g += ez - m.data[base + y[r]];
      h += Math.max(0, szz / s - ez * ez);
    }
    return { f: f / n, g: g / n, h: h / n };
  };
  const at1 = evaluate(1);
  const at0 = evaluate(0);
  if (at0.g >= 0) {
    return {
      temperature: Number.POSITIVE_INFINITY,
      nllBefore: at1.f,
      nllAfter: at0.f,
      gradient: at0.g,
      iterations: 0,
      converged: true,
    };
  }
  let lo = 0;
  let hi = 1;
  let iterations = 0;
  let cur = at1;
  while (cur.g < 0 && hi < 1e12) {
    lo = hi;
    hi *= 2;
    cur = evaluate(hi);
    iterations++;
  }
  if (cur.g < 0) {
    // Separable data: NLL keeps decreasing as T → 0.
    return {
      temperature: 1 / hi,
      nllBefore: at1.f,
      nllAfter: cur.f,
      gradient: cur.g,
      iterations,
      converged: false,
    };
  }
  let beta = at1.g < 0 ? (lo + hi) / 2 : 1;
  if (at1.g >= 0) {
    lo = 0;
    hi = 1;
  }
  let state = evaluate(beta);
  let converged = false;
  for (; iterations < maxIter; iterations++) {
    if (Math.abs(state.g) <= tol) {
      converged = true;
      break;
    }
    if (state.g > 0) hi = beta;
    else lo = beta;
    let next = state.h > 0 ? beta - state.g / state.h : Number.NaN;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (next === beta || hi - lo <= 1e-16 * hi) {
      converged = true;
      break;
    }
    beta = next;
    state = evaluate(beta);
  }
  return {
    temperature: 1 / beta,
    nllBefore: at1.f,
    nllAfter: state.f,
    gradient: state.g,
    iterations,
    converged,
  };
}

export interface PlattFit {
  /** Calibrated P(y = 1 | s) = 1 / (1 + exp(−(a s + b))). Platt's / scikit-learn's (A, B) are (−a, −b). */
  readonly a: number;
  readonly b: number;
  readonly iterations: number;
  readonly converged: boolean;
}

/** Applies a Platt fit to scores. */
export function applyPlatt(fit: PlattFit, scores: Vector): Float64Array {
  const s = finiteVector('scores', scores);
  const out = new Float64Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const t = fit.a * s[i] + fit.b;
    out[i] = t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
  }
  return out;
}

/**
 * Platt scaling (Platt 1999): logistic regression of labels on scores by Newton's method with backtracking
 * (Lin, Lin & Weng 2007), with Platt's smoothed targets (N₊+1)/(N₊+2) and 1/(N₋+2) unless `smoothTargets`
 * is false. O(n) per iteration.
 */
export function fitPlatt(
  yTrue: Vector,
  scores: Vector,
  options: { smoothTargets?: boolean; tolerance?: number; maxIterations?: number } = {},
): PlattFit {
  const y = binaryLabels('yTrue', yTrue);
  const s = finiteVector('scores', scores);
  sameLength('yTrue', y, 'scores', s);
  const tol = options.tolerance ?? 1e-12;
  const maxIter = options.maxIterations ?? 100;
  let np = 0;
  for (let i = 0; i < y.length; i++) np += y[i];
  const nn = y.length - np;
  const smooth = options.smoothTargets ?? true;
  const tPos = smooth ? (np + 1) / (np + 2) : 1;
  const tNeg = smooth ? 1 / (nn + 2) : 0;
  const t = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) t[i] = y[i] === 1 ? tPos : tNeg;
  // Objective: Σ log(1 + e^{f}) − t f with f = a s + b, written stably.
  const objective = (a: number, b: number): number => {
    let v = 0;
    for (let i = 0; i < s.length; i++) {
      const f = a * s[i] + b;
      v += (f > 0 ? f + Math.log1p(Math.exp(-f)) : Math.log1p(Math.exp(f))) - t[i] * f;
    }
    return v;
  };
  let a = 0;
  let b = Math.log((np + 1) / (nn + 1));
  let fval = objective(a, b);
  let converged = false;
  let it = 0;
  for (; it < maxIter; it++) {
    let ga = 0;
    let gb = 0;
    let h11 = 1e-12;
    let h22 = 1e-12;
    let h21 = 0;
    for (let i = 0; i < s.length; i++) {
      const f = a * s[i] + b;
      const p = f >= 0 ? 1 / (1 + Math.exp(-f)) : Math.exp(f) / (1 + Math.exp(f));
      const d1 = p - t[i];
      const d2 = p * (1 - p);
      ga += s[i] * d1;
      gb += d1;
      h11 += s[i] * s[i] * d2;
      h22 += d2;
      h21 += s[i] * d2;
    }
    if (Math.abs(ga) < tol * y.length && Math.abs(gb) < tol * y.length) {
      converged = true;
      break;
    }
    const det = h11 * h22 - h21 * h21;
    const da = -(h22 * ga - h21 * gb) / det;
    const db = -(-h21 * ga + h11 * gb) / det;
    const gd = ga * da + gb * db;
    let step = 1;
    let accepted = false;
    while (step >= 1e-12) {
      const na = a + step * da;
      const nb = b + step * db;
      const nf = objective(na, nb);
      if (nf <= fval + 1e-4 * step * gd) {
        a = na;
        b = nb;
        fval = nf;
        accepted = true;
        break;
      }
      step /= 2;
    }
    if (!accepted) {
      converged = true; // no further decrease representable in float64
      break;
    }
  }
  return { a, b, iterations: it, converged };
}
