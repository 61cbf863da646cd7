import type { Generator } from '@meddl/tensor';
import { TrainerError } from '../errors';
import {
  fromInternal,
  internalBounds,
  type ParamSpec,
  type Params,
  type ParamValue,
  type SearchSpace,
  sampleUniform,
  toInternal,
} from './space';

/** A finished trial as samplers see it: params and the objective (higher is better after sign). */
export interface ObservedTrial {
  params: Params;
  /** Objective oriented so that lower is better (the search negates maximized metrics). */
  loss: number;
}

export interface SearchSampler {
  readonly kind: string;
  /** Next params, or null when the sampler is exhausted (grid). */
  suggest(space: SearchSpace, history: ObservedTrial[], rng: Generator): Params | null;
}

export class RandomSearchSampler implements SearchSampler {
  readonly kind = 'random';
  suggest(space: SearchSpace, _h: ObservedTrial[], rng: Generator): Params {
    return Object.fromEntries(Object.entries(space).map(([k, p]) => [k, sampleUniform(p, rng)]));
  }
}

/** Every combination in order: categorical choices, ints (all values up to pointsPerAxis), numbers on a (log) grid. */
export class GridSampler implements SearchSampler {
  readonly kind = 'grid';
  private next = 0;
  constructor(private readonly pointsPerAxis = 3) {}
  static axis(p: ParamSpec, n: number): ParamValue[] {
    if (p.type === 'categorical') return [...p.choices];
    if (p.type === 'int' && p.high - p.low + 1 <= n)
      return Array.from({ length: p.high - p.low + 1 }, (_, i) => p.low + i);
    const lo = toInternal(p, p.low);
    const hi = toInternal(p, p.high);
    const vals = Array.from({ length: n }, (_, i) =>
      fromInternal(p, n === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * i) / (n - 1)),
    );
    return [...new Set(vals)];
  }
  size(space: SearchSpace): number {
    return Object.values(space).reduce((a, p) => a * GridSampler.axis(p, this.pointsPerAxis).length, 1);
  }
  suggest(space: SearchSpace): Params | null {
    const keys = Object.keys(space);
    const axes = keys.map((k) => GridSampler.axis(space[k], this.pointsPerAxis));
    if (this.next >= this.size(space)) return null;
    let r = this.next++;
    const out: Params = {};
    for (let i = keys.length - 1; i >= 0; i--) {
      out[keys[i]] = axes[i][r % axes[i].length];
      r = Math.floor(r / axes[i].length);
    }
    return Object.fromEntries(keys.map((k) => [k, out[k]]));
  }
}

export interface TPEOptions {
  /** Random trials before the model is used (Optuna default 10). */
  nStartupTrials?: number;
  /** Candidates drawn from l(x) per suggestion (Optuna default 24). */
  nEICandidates?: number;
  /** Size of the "good" set for n trials (Optuna default: min(ceil(0.1·n), 25)). */
  gamma?: (n: number) => number;
  priorWeight?: number;
}

interface Parzen {
  mus: number[];
  sigmas: number[];
  weights: number[];
  lo: number;
  hi: number;
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), enough for truncation masses.
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-a * a);
  return s * y;
}
const ncdf = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));

/**
 * A univariate Parzen estimator in the manner of Optuna's TPE: one Gaussian per observation
 * plus a prior Gaussian over the whole range, bandwidth from the distances to neighbours
 * clipped to [range/min(100, 1+n), range], truncated to the bounds.
 */
function parzen(obs: number[], lo: number, hi: number, priorWeight: number): Parzen {
  const range = hi - lo;
  const prior = { mu: (lo + hi) / 2, sigma: range };
  const sorted = [...obs.map((v, i) => ({ v, i }))].sort((a, b) => a.v - b.v);
  const sig = new Array<number>(obs.length);
  const minSigma = range / Math.min(100, 1 + obs.length);
  sorted.forEach(({ v, i }, j) => {
    const left = j > 0 ? v - sorted[j - 1].v : v - lo;
    const right = j < sorted.length - 1 ? sorted[j + 1].v - v : hi - v;
    sig[i] = Math.min(range, Math.max(minSigma, Math.max(left, right)));
  });
  const mus = [...obs, prior.mu];
  const sigmas = [...sig, prior.sigma];
  const w = [...obs.map(() => 1), priorWeight];
  const total = w.reduce((a, b) => a + b, 0);
  return { mus, sigmas, weights: w.map((x) => x / total), lo, hi };
}

function parzenSample(p: Parzen, rng: Generator): number {
  const k = rng.categorical(p.weights);
  for (let tries = 0; tries < 100; tries++) {
    const x = rng.normal(p.mus[k], p.sigmas[k]);
    if (x >= p.lo && x <= p.hi) return x;
  }
  return Math.min(p.hi, Math.max(p.lo, p.mus[k]));
}

function parzenLogPdf(p: Parzen, x: number): number {
  let acc = 0;
  for (let k = 0; k < p.mus.length; k++) {
    const z = (x - p.mus[k]) / p.sigmas[k];
    const mass = ncdf((p.hi - p.mus[k]) / p.sigmas[k]) - ncdf((p.lo - p.mus[k]) / p.sigmas[k]);
    acc += (p.weights[k] * Math.exp(-0.5 * z * z - LOG_SQRT_2PI)) / p.sigmas[k] / Math.max(mass, 1e-12);
  }
  return Math.log(Math.max(acc, 1e-300));
}

/**
 * Tree-structured Parzen Estimator (Bergstra et al. 2011; Optuna's default sampler, univariate):
 * split finished trials by the gamma quantile into good/bad, fit a Parzen estimator per
 * parameter to each, draw candidates from the good one l(x) and keep the one maximising l(x)/g(x).
 */
export class TPESampler implements SearchSampler {
  readonly kind = 'tpe';
  private readonly o: Required<TPEOptions>;
  private readonly random = new RandomSearchSampler();
  constructor(options: TPEOptions = {}) {
    this.o = {
      nStartupTrials: 10,
      nEICandidates: 24,
      gamma: (n) => Math.min(Math.ceil(0.1 * n), 25),
      priorWeight: 1,
      ...options,
    };
  }
  suggest(space: SearchSpace, history: ObservedTrial[], rng: Generator): Params {
    const done = history.filter((t) => Number.isFinite(t.loss));
    if (done.length < this.o.nStartupTrials) return this.random.suggest(space, history, rng);
    const sorted = [...done].sort((a, b) => a.loss - b.loss);
    const nBelow = Math.max(1, Math.min(sorted.length - 1, this.o.gamma(sorted.length)));
    const below = sorted.slice(0, nBelow);
    const above = sorted.slice(nBelow);
    const out: Params = {};
    for (const [name, p] of Object.entries(space)) out[name] = this.suggestOne(name, p, below, above, rng);
    return out;
  }

  private suggestOne(
    name: string,
    p: ParamSpec,
    below: ObservedTrial[],
    above: ObservedTrial[],
    rng: Generator,
  ): ParamValue {
    if (p.type === 'categorical') {
      const probs = (set: ObservedTrial[]) => {
        const c = p.choices.map(() => this.o.priorWeight / p.choices.length);
        for (const t of set) {
          const i = p.choices.indexOf(t.params[name]);
          if (i >= 0) c[i] += 1;
        }
        const s = c.reduce((a, b) => a + b, 0);
        return c.map((v) => v / s);
      };
      const l = probs(below);
      const g = probs(above);
      let best = 0;
      let bestScore = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < this.o.nEICandidates; k++) {
        const i = rng.categorical(l);
        const score = Math.log(l[i]) - Math.log(g[i]);
        if (score > bestScore) {
          bestScore = score;
          best = i;
        }
      }
      return p.choices[best];
    }
    const [lo, hi] = internalBounds(p);
    const obs = (set: ObservedTrial[]) => set.map((t) => toInternal(p, t.params[name] as number));
    const l = parzen(obs(below), lo, hi, this.o.priorWeight);
    const g = parzen(obs(above), lo, hi, this.o.priorWeight);
    let best = l.mus[0];
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < this.o.nEICandidates; k++) {
      const x = parzenSample(l, rng);
      const score = parzenLogPdf(l, x) - parzenLogPdf(g, x);
      if (score > bestScore) {
        bestScore = score;
        best = x;
      }
    }
    return fromInternal(p, best);
  }
}

export function createSearchSampler(
  kind: 'grid' | 'random' | 'tpe',
  options: { pointsPerAxis?: number } & TPEOptions = {},
) {
  if (kind === 'grid') return new GridSampler(options.pointsPerAxis);
  if (kind === 'random') return new RandomSearchSampler();
  if (kind === 'tpe') return new TPESampler(options);
  throw new TrainerError(`Unknown search sampler '${kind}'`);
}
