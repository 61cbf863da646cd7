import type { Generator } from '@meddl/tensor';
import { DeconvolutionError, TissueBertArgumentError } from '../errors';

/**
 * Read-level class posteriors P(t | read) of a sample: `nReads × T` row-major, each row sums to 1
 * (the model's softmax output on each read of a cfDNA sample).
 */
export interface ReadPosteriors {
  probs: Float64Array;
  nReads: number;
  nClasses: number;
}

function check(p: ReadPosteriors): void {
  if (p.probs.length !== p.nReads * p.nClasses) {
    throw new TissueBertArgumentError(
      'posteriors',
      `has ${p.probs.length} values, expected ${p.nReads}×${p.nClasses}`,
    );
  }
  if (p.nReads === 0) throw new TissueBertArgumentError('posteriors', 'no reads');
}

/**
 * Temperature scaling (Guo et al. 2017): softmax(z / T). Given probabilities rather than logits,
 * z = log p (equal to the logits up to a per-row constant, which softmax ignores).
 */
export function applyTemperature(p: ReadPosteriors, temperature: number): ReadPosteriors {
  if (!(temperature > 0)) throw new TissueBertArgumentError('temperature', `must be > 0, got ${temperature}`);
  const out = new Float64Array(p.probs.length);
  const T = p.nClasses;
  for (let r = 0; r < p.nReads; r++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < T; t++)
      max = Math.max(max, Math.log(Math.max(p.probs[r * T + t], 1e-300)) / temperature);
    let s = 0;
    for (let t = 0; t < T; t++) {
      const v = Math.exp(Math.log(Math.max(p.probs[r * T + t], 1e-300)) / temperature - max);
      out[r * T + t] = v;
      s += v;
    }
    for (let t = 0; t < T; t++) out[r * T + t] /= s;
  }
  return { probs: out, nReads: p.nReads, nClasses: T };
}

/** Mean negative log-likelihood of labels under temperature-scaled posteriors. */
export function temperatureNll(p: ReadPosteriors, labels: ArrayLike<number>, temperature: number): number {
  const q = applyTemperature(p, temperature);
  let nll = 0;
  for (let r = 0; r < p.nReads; r++) nll -= Math.log(Math.max(q.probs[r * p.nClasses + labels[r]], 1e-300));
  return nll / p.nReads;
}

/**
 * Fits the temperature on held-out reads with known labels by minimizing the NLL over log T
 * (golden-section search on [log 0.05, log 20]; the NLL is unimodal in T for temperature scaling).
 */
export function fitTemperature(p: ReadPosteriors, labels: ArrayLike<number>): number {
  check(p);
  if (labels.length !== p.nReads)
    throw new TissueBertArgumentError('labels', `has ${labels.length} entries, expected ${p.nReads}`);
  let lo = Math.log(0.05);
  let hi = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let a = hi - g * (hi - lo);
  let b = lo + g * (hi - lo);
  let fa = temperatureNll(p, labels, Math.exp(a));
  let fb = temperatureNll(p, labels, Math.exp(b));
  for (let i = 0; i < 80 && hi - lo > 1e-6; i++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - g * (hi - lo);
      fa = temperatureNll(p, labels, Math.exp(a));
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + g * (hi - lo);
      fb = temperatureNll(p, labels, Math.exp(b));
    }
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * The class prior a classifier actually implies, measured on labelled reference reads: the prior
 * ρ such that its posteriors with ρ divided out (`dividePrior`) average to the uniform vector
 * over the reference, each class's reads averaged first and the classes then weighted equally
 * (the balance the tissue-balanced sampler trained it on). Found by the fixed-point iteration
 * ρ ← ρ · K · mean(dividePrior(p, ρ)) from the uniform prior; its first step is the plain mean
 * of the posteriors. Why it matters: the mixture MLE is at the uniform mixture on balanced reads
 * exactly when the corrected posteriors average to uniform there (its stationarity condition),
 * and a classifier that leans towards some classes on reads it cannot tell apart (measured:
 * 0.033–0.055 per tissue for TissueBERT small against 1/22 = 0.045) turns that lean, summed over
 * thousands of reads, into large errors. Exact when the classifier's posteriors are calibrated
 * ones under a different prior; classes without reference reads get the mean of the others.
 * Sums to 1.
 */
export function impliedPrior(
  p: ReadPosteriors,
  labels: ArrayLike<number>,
  options: { maxIter?: number; tol?: number } = {},
): Float64Array {
  check(p);
  if (labels.length !== p.nReads)
    throw new TissueBertArgumentError('labels', `has ${labels.length} entries, expected ${p.nReads}`);
  const T = p.nClasses;
  const counts = new Float64Array(T);
  for (let r = 0; r < p.nReads; r++) {
    const c = labels[r];
    if (!(Number.isInteger(c) && c >= 0 && c < T))
      throw new TissueBertArgumentError('labels', `entry ${r} is ${c}, expected 0..${T - 1}`);
    counts[c]++;
  }
  const classes = counts.filter((c) => c > 0).length;
  let prior = new Float64Array(T).fill(1 / T);
  const maxIter = options.maxIter ?? 200;
  const tol = options.tol ?? 1e-10;
  for (let it = 0; it < maxIter; it++) {
    // Class-balanced mean of the posteriors with the current prior divided out.
    const mean = new Float64Array(T);
    for (let r = 0; r < p.nReads; r++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += p.probs[r * T + t] / prior[t];
      const w = 1 / (s * counts[labels[r]] * classes);
      for (let t = 0; t < T; t++) mean[t] += (p.probs[r * T + t] / prior[t]) * w;
    }
    const next = new Float64Array(T);
    let total = 0;
    for (let t = 0; t < T; t++) {
      next[t] = Math.max(prior[t] * mean[t], 1e-12);
      total += next[t];
    }
    let change = 0;
    for (let t = 0; t < T; t++) {
      next[t] /= total;
      change = Math.max(change, Math.abs(next[t] - prior[t]));
    }
    prior = next;
    if (change < tol) break;
  }
  return prior;
}

/**
 * Posteriors under another class prior (Saerens et al. 2002): P'(t | r) ∝ P(t | r) / prior_t,
 * renormalised per read. Dividing by the prior the classifier implies (`impliedPrior`) gives
 * posteriors under the uniform prior, i.e. read likelihoods up to a per-read constant — which the
 * mixture MLE and its Fisher and bootstrap intervals ignore — so every estimator downstream sees
 * corrected likelihood ratios.
 */
export function dividePrior(p: ReadPosteriors, prior: ArrayLike<number>): ReadPosteriors {
  check(p);
  const T = p.nClasses;
  if (prior.length !== T)
    throw new TissueBertArgumentError('prior', `has ${prior.length} entries, expected ${T}`);
  for (let t = 0; t < T; t++)
    if (!(prior[t] > 0))
      throw new TissueBertArgumentError('prior', `entry ${t} is ${prior[t]}, expected > 0`);
  const out = new Float64Array(p.probs.length);
  for (let r = 0; r < p.nReads; r++) {
    let s = 0;
    for (let t = 0; t < T; t++) {
      const v = p.probs[r * T + t] / prior[t];
      out[r * T + t] = v;
      s += v;
    }
    for (let t = 0; t < T; t++) out[r * T + t] /= s;
  }
  return { probs: out, nReads: p.nReads, nClasses: T };
}

/** Mean of the (calibrated) posteriors over reads: a simple, biased-towards-the-prior estimator. */
export function meanPosterior(p: ReadPosteriors, weights?: ArrayLike<number>): Float64Array {
  check(p);
  const T = p.nClasses;
  const out = new Float64Array(T);
  let wsum = 0;
  for (let r = 0; r < p.nReads; r++) {
    const w = weights ? weights[r] : 1;
    wsum += w;
    for (let t = 0; t < T; t++) out[t] += w * p.probs[r * T + t];
  }
  for (let t = 0; t < T; t++) out[t] /= wsum;
  return out;
}

export interface MixtureMleOptions {
  /** Training class priors (class frequencies of the reads the classifier was trained on); default uniform. */
  priors?: ArrayLike<number>;
  /** Per-read multiplicities (pat counts); default 1. */
  weights?: ArrayLike<number>;
  /** Stop when the bound on the log-likelihood gap per read, log max_t ∂ℓ/∂π_t / W, is below this (default 1e-8). */
  tol?: number;
  maxIter?: number;
  /** Starting point (default uniform). */
  init?: ArrayLike<number>;
}

export interface MixtureMleResult {
  proportions: Float64Array;
  logLikelihood: number;
  iterations: number;
  converged: boolean;
}

/**
 * Maximum-likelihood tissue proportions π from read posteriors.
 *
 * A read r from tissue t has likelihood P(r | t) = P(t | r) P(r) / prior_t, so the mixture
 * likelihood is Π_r Σ_t π_t P(r | t) ∝ Π_r Σ_t π_t q_rt with q_rt = P(t | r) / prior_t
 * (MethylBERT's tumour-fraction estimator, Jeong et al. 2025, generalized to T classes).
 * We maximize ℓ(π) = Σ_r w_r log Σ_t π_t q_rt over the simplex by the EM fixed point
 * π_t ← Σ_r w_r π_t q_rt / (Σ_s π_s q_rs) / Σ_r w_r, which increases ℓ monotonically and
 * converges to the global maximum (ℓ is concave in π). The EM map is accelerated by SQUAREM,
 * and iteration stops when the Jensen bound on the remaining gap, (ℓ* − ℓ)/W ≤ log max_t g_t
 * with g_t = ∂ℓ/∂π_t / W, falls below `tol`.
 */
export function mixtureMle(p: ReadPosteriors, options: MixtureMleOptions = {}): MixtureMleResult {
  check(p);
  const T = p.nClasses;
  const N = p.nReads;
  const priors = options.priors ?? new Float64Array(T).fill(1 / T);
  if (priors.length !== T)
    throw new TissueBertArgumentError('priors', `has ${priors.length} entries, expected ${T}`);
  const q = new Float64Array(N * T);
  for (let r = 0; r < N; r++) for (let t = 0; t < T; t++) q[r * T + t] = p.probs[r * T + t] / priors[t];
  const w = options.weights ?? null;
  let wsum = 0;
  for (let r = 0; r < N; r++) wsum += w ? w[r] : 1;
  let pi: Float64Array = options.init ? Float64Array.from(options.init) : new Float64Array(T).fill(1 / T);
  const tol = options.tol ?? 1e-8;
  const maxIter = options.maxIter ?? 10_000;
  // One EM step π_t ← π_t g_t, with g_t = Σ_r w_r q_rt / s_r / W, s_r = Σ_u π_u q_ru.
  // Also returns max_t g_t: ℓ(π*) − ℓ(π) ≤ W log max_t g_t (Jensen), the stopping rule.
  const g = new Float64Array(T);
  const emStep = (p: Float64Array): { next: Float64Array; gapBound: number; ll: number } => {
    g.fill(0);
    let ll = 0;
    for (let r = 0; r < N; r++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += p[t] * q[r * T + t];
      if (s <= 0) continue;
      const wr = w ? w[r] : 1;
      ll += wr * Math.log(s);
      const f = wr / s;
      for (let t = 0; t < T; t++) g[t] += q[r * T + t] * f;
    }
    let gmax = 0;
    const next = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      g[t] /= wsum;
      gmax = Math.max(gmax, g[t]);
      next[t] = p[t] * g[t];
    }
    return { next, gapBound: Math.log(gmax), ll };
  };
  let iterations = 0;
  let converged = false;
  // SQUAREM acceleration of the EM map (Varadhan & Roland 2008, scheme S3), with a fall-back
  // to the plain EM step whenever the extrapolation lowers the likelihood.
  while (iterations < maxIter) {
    iterations++;
    const a = emStep(pi);
    if (a.gapBound < tol) {
      converged = true;
      break;
    }
    const b = emStep(a.next);
    let rr = 0;
    let vv = 0;
    const r = new Float64Array(T);
    const v = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      r[t] = a.next[t] - pi[t];
      v[t] = b.next[t] - a.next[t] - r[t];
      rr += r[t] * r[t];
      vv += v[t] * v[t];
    }
    let next: Float64Array = b.next;
    if (vv > 0) {
      // Step length α ≤ −1; backtrack towards −1 (where the extrapolation equals the double EM
      // step) until every component stays positive: a component at exactly 0 could never recover.
      let alpha = Math.min(-1, -Math.sqrt(rr / vv));
      const ext = new Float64Array(T);
      for (let tries = 0; tries < 30 && alpha < -1; tries++) {
        let ok = true;
        for (let t = 0; t < T; t++) {
          ext[t] = pi[t] - 2 * alpha * r[t] + alpha * alpha * v[t];
          if (!(ext[t] > 0)) ok = false;
        }
        if (ok) {
          const sum = ext.reduce((x, y) => x + y, 0);
          for (let t = 0; t < T; t++) ext[t] /= sum;
          const c = emStep(ext);
          if (mixtureLogLikelihood(q, N, T, c.next, w) >= b.ll) next = c.next;
          break;
        }
        alpha = (alpha - 1) / 2;
      }
    }
    pi = next;
  }
  return { proportions: pi, logLikelihood: mixtureLogLikelihood(q, N, T, pi, w), iterations, converged };
}

function mixtureLogLikelihood(
  q: Float64Array,
  N: number,
  T: number,
  pi: ArrayLike<number>,
  w: ArrayLike<number> | null,
): number {
  let ll = 0;
  for (let r = 0; r < N; r++) {
    let s = 0;
    for (let t = 0; t < T; t++) s += pi[t] * q[r * T + t];
    ll += (w ? w[r] : 1) * Math.log(s);
  }
  return ll;
}

/**
 * MethylBERT's two-class estimator written directly: the tumour fraction θ maximizing
 * Σ_r log(θ P(T|r)/prior_T + (1−θ) P(N|r)/prior_N) over θ ∈ [0, 1]. The log-likelihood is
 * concave in θ, so we bisect on its derivative.
 */
export function tumourFractionMle(pTumour: ArrayLike<number>, priorTumour: number): number {
  const n = pTumour.length;
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    a[r] = pTumour[r] / priorTumour;
    b[r] = (1 - pTumour[r]) / (1 - priorTumour);
  }
  const deriv = (theta: number) => {
    let d = 0;
    for (let r = 0; r < n; r++) d += (a[r] - b[r]) / (theta * a[r] + (1 - theta) * b[r]);
    return d;
  };
  if (deriv(0) <= 0) return 0;
  if (deriv(1) >= 0) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-14; i++) {
    const mid = (lo + hi) / 2;
    if (deriv(mid) > 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface ConfidenceInterval {
  lower: Float64Array;
  upper: Float64Array;
  /** Standard error per tissue (bootstrap standard deviation, or from the Fisher information). */
  standardError: Float64Array;
}

/**
 * Percentile bootstrap over reads: resample reads with replacement (seeded), re-fit the MLE,
 * and take the (α/2, 1 − α/2) quantiles per tissue.
 */
export function bootstrapMixtureCi(
  p: ReadPosteriors,
  rng: Generator,
  options: MixtureMleOptions & { replicates?: number; alpha?: number } = {},
): ConfidenceInterval {
  check(p);
  const B = options.replicates ?? 200;
  const alpha = options.alpha ?? 0.05;
  const T = p.nClasses;
  const N = p.nReads;
  const fit = mixtureMle(p, options);
  const samples: Float64Array[] = Array.from({ length: T }, () => new Float64Array(B));
  const counts = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    counts.fill(0);
    // Multinomial resampling of reads (weighted by their multiplicities when given).
    if (options.weights) {
      const total = Array.from(options.weights).reduce((x, y) => x + y, 0);
      const cum = new Float64Array(N);
      let c = 0;
      for (let r = 0; r < N; r++) cum[r] = c += options.weights[r];
      for (let k = 0; k < Math.round(total); k++) {
        const u = rng.random() * c;
        let lo = 0;
        let hi = N - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cum[mid] > u) hi = mid;
          else lo = mid + 1;
        }
        counts[lo]++;
      }
    } else {
      for (let k = 0; k < N; k++) counts[rng.int(N)]++;
    }
    const r = mixtureMle(p, { ...options, weights: counts, init: fit.proportions, tol: options.tol ?? 1e-7 });
    for (let t = 0; t < T; t++) samples[t][b] = r.proportions[t];
  }
  const lower = new Float64Array(T);
  const upper = new Float64Array(T);
  const standardError = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const s = Float64Array.from(samples[t]).sort();
    lower[t] = quantile(s, alpha / 2);
    upper[t] = quantile(s, 1 - alpha / 2);
    const mean = s.reduce((a, v) => a + v, 0) / B;
    standardError[t] = Math.sqrt(s.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, B - 1));
  }
  return { lower, upper, standardError };
}

function quantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

/**
 * Wald interval from the observed Fisher information of ℓ(π) on the simplex: the Hessian
 * H_st = −Σ_r w_r q_rs q_rt / (Σ_u π_u q_ru)² restricted to the tangent space {v : Σ v = 0} of
 * the face of tissues with π_t > `activeTol` (tissues at the boundary get SE 0 and a one-sided
 * interval from 0). Cov = Z (Zᵀ(−H)Z)⁻¹ Zᵀ with Z = [e_i − e_k].
 */
export function fisherMixtureCi(
  p: ReadPosteriors,
  proportions: ArrayLike<number>,
  options: MixtureMleOptions & { z?: number; activeTol?: number } = {},
): ConfidenceInterval {
  check(p);
  const T = p.nClasses;
  const N = p.nReads;
  const priors = options.priors ?? new Float64Array(T).fill(1 / T);
  const active = Array.from({ length: T }, (_, t) => t).filter(
    (t) => proportions[t] > (options.activeTol ?? 1e-6),
  );
  const k = active.length;
  const standardError = new Float64Array(T);
  if (k >= 2) {
    const info = new Float64Array(k * k);
    const q = new Float64Array(k);
    for (let r = 0; r < N; r++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += proportions[t] * (p.probs[r * T + t] / priors[t]);
      const w = options.weights ? options.weights[r] : 1;
      for (let a = 0; a < k; a++) q[a] = p.probs[r * T + active[a]] / priors[active[a]];
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) info[a * k + b] += (w * q[a] * q[b]) / (s * s);
    }
    // Reduced information J = Zᵀ I Z with Z columns e_a − e_{k−1}, a < k − 1.
    const d = k - 1;
    const J = new Float64Array(d * d);
    const last = k - 1;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        J[a * d + b] = info[a * k + b] - info[a * k + last] - info[last * k + b] + info[last * k + last];
      }
    }
    const Jinv = invertSymmetric(J, d);
    // Cov = Z J⁻¹ Zᵀ: for a, b < k−1: Jinv_ab; the last coordinate is −Σ of the others.
    for (let a = 0; a < d; a++) standardError[active[a]] = Math.sqrt(Math.max(0, Jinv[a * d + a]));
    let varLast = 0;
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) varLast += Jinv[a * d + b];
    standardError[active[last]] = Math.sqrt(Math.max(0, varLast));
  }
  const z = options.z ?? 1.959963984540054;
  const lower = new Float64Array(T);
  const upper = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    lower[t] = Math.max(0, proportions[t] - z * standardError[t]);
    upper[t] = Math.min(1, proportions[t] + z * standardError[t]);
  }
  return { lower, upper, standardError };
}

/** Gauss–Jordan inverse with partial pivoting (small matrices only). */
function invertSymmetric(M: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(M);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]) > Math.abs(a[piv * n + c])) piv = r;
    if (Math.abs(a[piv * n + c]) < 1e-300)
      throw new DeconvolutionError(
        'Fisher information is singular (tissues not identifiable from these reads)',
      );
    if (piv !== c) {
      for (let j = 0; j < n; j++) {
        [a[c * n + j], a[piv * n + j]] = [a[piv * n + j], a[c * n + j]];
        [inv[c * n + j], inv[piv * n + j]] = [inv[piv * n + j], inv[c * n + j]];
      }
    }
    const d = a[c * n + c];
    for (let j = 0; j < n; j++) {
      a[c * n + j] /= d;
      inv[c * n + j] /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r * n + c];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        a[r * n + j] -= f * a[c * n + j];
        inv[r * n + j] -= f * inv[c * n + j];
      }
    }
  }
  return inv;
}
