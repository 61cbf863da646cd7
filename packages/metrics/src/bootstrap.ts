// Seeded percentile bootstrap for any metric, optionally stratified by label and clustered by patient.
import { MetricsError } from './errors.js';
import { quantileSorted } from './numeric.js';
import type { Vector } from './types.js';
import { positiveInt, unitInterval } from './validate.js';

/**
 * A small seeded generator (xoshiro128**, Blackman & Vigna 2018, seeded through splitmix32). Local to this
 * package because @meddl/metrics has no dependency on @meddl/tensor's Generator.
 */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed))
      throw new MetricsError('seed', `expected an integer seed, got ${String(seed)}`);
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export interface BootstrapOptions {
  /** Seed of the resampling generator (required: results must be reproducible). */
  readonly seed: number;
  /** Number of resamples (default 1000). */
  readonly resamples?: number;
  /** Two-sided confidence level (default 0.95). */
  readonly confidence?: number;
  /** Resample within each stratum (e.g. the label), keeping stratum sizes fixed. */
  readonly strata?: Vector;
  /** Resample whole clusters (e.g. patient ids) with replacement; with `strata`, clusters within each stratum. */
  readonly clusters?: ArrayLike<number | string>;
}

export interface BootstrapResult {
  /** The metric on the original sample. */
  readonly estimate: number;
  /** Percentile interval. */
  readonly lower: number;
  readonly upper: number;
  readonly confidence: number;
  /** Defined (non-NaN) resampled values, sorted ascending. */
  readonly samples: Float64Array;
  /** Resamples where the metric was undefined (NaN), e.g. a resample with one class; excluded from the CI. */
  readonly undefinedResamples: number;
}

/** Gathers `values[indices[i]]` into a new Float64Array; a helper for metric closures. */
export function takeIndices(values: ArrayLike<number>, indices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = values[indices[i]];
  return out;
}

/**
 * Percentile bootstrap confidence interval (Efron & Tibshirani 1993) of `metric`, which receives the indices of
 * a resample of 0..n−1 (with repetitions) and returns a number (NaN when undefined). O(B · cost(metric)).
 *
 * @example bootstrapCI((idx) => auroc(takeIndices(y, idx), takeIndices(s, idx)).value, y.length, { seed: 1 })
 */
export function bootstrapCI(
  metric: (indices: Uint32Array) => number,
  n: number,
  options: BootstrapOptions,
): BootstrapResult {
  positiveInt('n', n);
  const resamples = options.resamples ?? 1000;
  positiveInt('resamples', resamples);
  const confidence = options.confidence ?? 0.95;
  unitInterval('confidence', confidence);
  const rng = new SeededRandom(options.seed);
  // Units are clusters (or single samples); each unit belongs to one stratum.
  const unitMembers: number[][] = [];
  const unitStratum: number[] = [];
  if (options.strata && options.strata.length !== n) {
    throw new MetricsError('strata', `expected length n = ${n}, got ${options.strata.length}`);
  }
  if (options.clusters) {
    if (options.clusters.length !== n) {
      throw new MetricsError('clusters', `expected length n = ${n}, got ${options.clusters.length}`);
    }
    const byId = new Map<number | string, number>();
    for (let i = 0; i < n; i++) {
      const id = options.clusters[i];
      let u = byId.get(id);
      if (u === undefined) {
        u = unitMembers.length;
        byId.set(id, u);
        unitMembers.push([]);
        unitStratum.push(options.strata ? options.strata[i] : 0);
      } else if (options.strata && unitStratum[u] !== options.strata[i]) {
        throw new MetricsError(
          'strata',
          `cluster ${String(id)} spans several strata; stratify by a cluster-level value`,
        );
      }
      unitMembers[u].push(i);
    }
  } else {
    for (let i = 0; i < n; i++) {
      unitMembers.push([i]);
      unitStratum.push(options.strata ? options.strata[i] : 0);
    }
  }
  const strata = new Map<number, number[]>();
  unitStratum.forEach((s, u) => {
    if (!Number.isFinite(s)) throw new MetricsError('strata', `expected finite stratum values, got ${s}`);
    const list = strata.get(s) ?? [];
    list.push(u);
    strata.set(s, list);
  });
  const strataUnits = Array.from(strata.keys())
    .sort((a, b) => a - b)
    .map((k) => strata.get(k)!);
  const identity = new Uint32Array(n);
  for (let i = 0; i < n; i++) identity[i] = i;
  const estimate = metric(identity);
  const values: number[] = [];
  let undefinedResamples = 0;
  const buffer: number[] = [];
  for (let b = 0; b < resamples; b++) {
    buffer.length = 0;
    for (const units of strataUnits) {
      for (let k = 0; k < units.length; k++) {
        const u = units[rng.nextInt(units.length)];
        for (const i of unitMembers[u]) buffer.push(i);
      }
    }
    const v = metric(Uint32Array.from(buffer));
    if (Number.isNaN(v)) undefinedResamples++;
    else values.push(v);
  }
  const samples = Float64Array.from(values).sort();
  const alpha = (1 - confidence) / 2;
  return {
    estimate,
    lower: quantileSorted(samples, alpha),
    upper: quantileSorted(samples, 1 - alpha),
    confidence,
    samples,
    undefinedResamples,
  };
}
