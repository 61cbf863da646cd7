// Survival analysis: Harrell's C-index (lifelines conventions), Kaplan–Meier with Greenwood bands, log-rank.
import { MetricsError } from './errors.js';
import { argsort, chiSquaredSf, denseRanks, normalQuantile } from './numeric.js';
import { definedResult, type MetricResult, undefinedResult, type Vector } from './types.js';
import { binaryLabels, finiteVector, sameLength, unitInterval } from './validate.js';

function survivalInputs(time: Vector, event: Vector): { t: Float64Array; e: Uint8Array } {
  const t = finiteVector('time', time);
  const e = binaryLabels('event', event);
  sameLength('time', t, 'event', e);
  for (let i = 0; i < t.length; i++) {
    if (t[i] < 0) throw new MetricsError('time', `expected non-negative times, got ${t[i]} at index ${i}`);
  }
  return { t, e };
}

export interface ConcordanceResult {
  readonly value: number;
  readonly defined: boolean;
  readonly concordant: number;
  readonly tied: number;
  readonly comparable: number;
}

/**
 * Harrell's concordance index of a risk score (higher risk = earlier event), with the conventions of
 * `lifelines.utils.concordance_index(time, -risk, event)`: a pair is comparable when the earlier time is an
 * event, or when times tie and exactly one is an event (the event is taken as earlier); ties in risk count
 * 0.5; C = (concordant + 0.5 tied) / comparable. Undefined when no pair is comparable.
 * O(n log n) with a Fenwick tree over risk ranks.
 */
export function concordanceIndex(time: Vector, risk: Vector, event: Vector): ConcordanceResult {
  const { t, e } = survivalInputs(time, event);
  const r = finiteVector('risk', risk);
  sameLength('time', t, 'risk', r);
  const n = t.length;
  // Dense ranks of risk (1-based) for the Fenwick tree.
  const dense = denseRanks(r);
  const distinct = dense.distinct.length;
  const rank = dense.rank;
  const tree = new Float64Array(distinct + 1);
  const add = (i: number): void => {
    for (let x = i + 1; x <= distinct; x += x & -x) tree[x]++;
  };
  const prefix = (i: number): number => {
    let s = 0;
    for (let x = i; x > 0; x -= x & -x) s += tree[x];
    return s;
  };
  const tOrder = argsort(t);
  let concordant = 0;
  let tied = 0;
  let comparable = 0;
  let inserted = 0;
  // Walk time groups from the latest; the tree holds every subject with a strictly later time.
  let hi = n - 1;
  while (hi >= 0) {
    let lo = hi;
    while (lo > 0 && t[tOrder[lo - 1]] === t[tOrder[hi]]) lo--;
    // Censored subjects at this time are "later" than events at this time.
    for (let k = lo; k <= hi; k++) {
      const i = tOrder[k];
      if (e[i] === 0) {
        add(rank[i]);
        inserted++;
      }
    }
    for (let k = lo; k <= hi; k++) {
      const i = tOrder[k];
      if (e[i] === 1) {
        const below = prefix(rank[i]); // subjects with strictly lower risk
        const equal = prefix(rank[i] + 1) - below;
        concordant += below;
        tied += equal;
        comparable += inserted;
      }
    }
    for (let k = lo; k <= hi; k++) {
      const i = tOrder[k];
      if (e[i] === 1) {
        add(rank[i]);
        inserted++;
      }
    }
    hi = lo - 1;
  }
  if (comparable === 0) {
    return { value: Number.NaN, defined: false, concordant, tied, comparable };
  }
  return { value: (concordant + 0.5 * tied) / comparable, defined: true, concordant, tied, comparable };
}

export interface KaplanMeier {
  /** Distinct observed times (events or censorings), increasing. */
  readonly time: Float64Array;
  readonly atRisk: Float64Array;
  readonly events: Float64Array;
  readonly censored: Float64Array;
  /** S(t) just after each time. */
  readonly survival: Float64Array;
  /** Greenwood's Σ d / (n (n − d)) up to each time (the variance of log S). */
  readonly greenwood: Float64Array;
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly confidence: number;
  readonly ci: 'log-log' | 'linear';
}

/**
 * Kaplan–Meier product-limit estimator with pointwise confidence bands from Greenwood's formula: by default
 * the log(−log S) transform (Kalbfleisch & Prentice; lifelines' default, exp(−exp(log(−log S) ± z √V / |log S|))),
 * or the plain `linear` band S ± z S √V clipped to [0, 1]. Where S = 1 the band is [1, 1]; where S = 0, [0, 0].
 * O(n log n).
 */
export function kaplanMeier(
  time: Vector,
  event: Vector,
  options: { confidence?: number; ci?: 'log-log' | 'linear' } = {},
): KaplanMeier {
  const { t, e } = survivalInputs(time, event);
  const confidence = options.confidence ?? 0.95;
  unitInterval('confidence', confidence);
  const ci = options.ci ?? 'log-log';
  if (ci !== 'log-log' && ci !== 'linear')
    throw new MetricsError('ci', `expected 'log-log' or 'linear', got ${String(ci)}`);
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const order = argsort(t);
  const n = t.length;
  const times: number[] = [];
  const atRisk: number[] = [];
  const events: number[] = [];
  const censored: number[] = [];
  let k = 0;
  while (k < n) {
    const tk = t[order[k]];
    let d = 0;
    let c = 0;
    let j = k;
    while (j < n && t[order[j]] === tk) {
      if (e[order[j]] === 1) d++;
      else c++;
      j++;
    }
    times.push(tk);
    atRisk.push(n - k);
    events.push(d);
    censored.push(c);
    k = j;
  }
  const m = times.length;
  const survival = new Float64Array(m);
  const greenwood = new Float64Array(m);
  const lower = new Float64Array(m);
  const upper = new Float64Array(m);
  let s = 1;
  let v = 0;
  for (let i = 0; i < m; i++) {
    const ni = atRisk[i];
    const di = events[i];
    s *= 1 - di / ni;
    v += ni === di ? Number.POSITIVE_INFINITY : di / (ni * (ni - di));
    survival[i] = s;
    greenwood[i] = v;
    if (s === 1) {
      lower[i] = 1;
      upper[i] = 1;
    } else if (s === 0) {
      lower[i] = 0;
      upper[i] = 0;
    } else if (ci === 'log-log') {
      const ls = Math.log(s);
      const half = (z * Math.sqrt(v)) / Math.abs(ls);
      lower[i] = Math.exp(-Math.exp(Math.log(-ls) + half));
      upper[i] = Math.exp(-Math.exp(Math.log(-ls) - half));
    } else {
      const half = z * s * Math.sqrt(v);
      lower[i] = Math.max(0, s - half);
      upper[i] = Math.min(1, s + half);
    }
  }
  return {
    time: Float64Array.from(times),
    atRisk: Float64Array.from(atRisk),
    events: Float64Array.from(events),
    censored: Float64Array.from(censored),
    survival,
    greenwood,
    lower,
    upper,
    confidence,
    ci,
  };
}

/** S(t) from a Kaplan–Meier fit (right-continuous step function; 1 before the first time). O(log m). */
export function survivalAt(km: KaplanMeier, t: number): number {
  let lo = 0;
  let hi = km.time.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (km.time[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 1 : km.survival[lo - 1];
}

/** Smallest time at which S(t) ≤ 0.5; undefined when the curve never reaches 0.5. */
export function medianSurvivalTime(km: KaplanMeier): MetricResult {
  for (let i = 0; i < km.time.length; i++) if (km.survival[i] <= 0.5) return definedResult(km.time[i]);
  return undefinedResult('median survival is undefined: S(t) stays above 0.5');
}

export interface LogRankResult {
  /** The distinct group labels, sorted ascending. */
  readonly groups: readonly number[];
  readonly observed: Float64Array;
  readonly expected: Float64Array;
  /** Chi-squared statistic U' V⁻¹ U on the first G − 1 groups. */
  readonly statistic: number;
  readonly degreesOfFreedom: number;
  readonly pValue: number;
}

/**
 * Log-rank (Mantel–Cox) test of equal survival across G ≥ 2 groups: at each distinct event time,
 * E_g = d n_g / n and V_gh = d (n − d) / (n − 1) · n_g / n · (δ_gh − n_h / n); statistic (O − E)' V⁻¹ (O − E)
 * over G − 1 groups, chi-squared with G − 1 degrees of freedom. O(n log n + m G²).
 */
export function logRankTest(time: Vector, event: Vector, group: Vector): LogRankResult {
  const { t, e } = survivalInputs(time, event);
  const g = finiteVector('group', group);
  sameLength('time', t, 'group', g);
  const groups = Array.from(new Set(g)).sort((a, b) => a - b);
  const G = groups.length;
  if (G < 2) throw new MetricsError('group', `expected at least 2 distinct groups, got ${G}`);
  const gi = new Int32Array(g.length);
  const index = new Map(groups.map((v, i) => [v, i]));
  for (let i = 0; i < g.length; i++) gi[i] = index.get(g[i])!;
  const order = argsort(t);
  const n = t.length;
  const atRisk = new Float64Array(G);
  for (let i = 0; i < n; i++) atRisk[gi[i]]++;
  const observed = new Float64Array(G);
  const expected = new Float64Array(G);
  const V = new Float64Array(G * G);
  let k = 0;
  let total = n;
  const dg = new Float64Array(G);
  const leaving = new Float64Array(G);
  while (k < n) {
    const tk = t[order[k]];
    dg.fill(0);
    leaving.fill(0);
    let d = 0;
    let j = k;
    while (j < n && t[order[j]] === tk) {
      const i = order[j];
      if (e[i] === 1) {
        dg[gi[i]]++;
        d++;
      }
      leaving[gi[i]]++;
      j++;
    }
    if (d > 0) {
      for (let a = 0; a < G; a++) {
        observed[a] += dg[a];
        expected[a] += (d * atRisk[a]) / total;
        if (total > 1) {
          const f = (d * (total - d)) / (total - 1);
          for (let b = 0; b < G; b++) {
            V[a * G + b] += f * (atRisk[a] / total) * ((a === b ? 1 : 0) - atRisk[b] / total);
          }
        }
      }
    }
    for (let a = 0; a < G; a++) atRisk[a] -= leaving[a];
    total -= j - k;
    k = j;
  }
  const df = G - 1;
  const u = Array.from({ length: df }, (_, a) => observed[a] - expected[a]);
  const x = solveSymmetric(
    Array.from({ length: df }, (_, a) => Array.from({ length: df }, (_, b) => V[a * G + b])),
    u,
  );
  let statistic = 0;
  for (let a = 0; a < df; a++) statistic += u[a] * x[a];
  return { groups, observed, expected, statistic, degreesOfFreedom: df, pValue: chiSquaredSf(statistic, df) };
}

// Gaussian elimination with partial pivoting; a singular system (a group with nobody at risk at any event)
// yields NaN, reported through the statistic.
function solveSymmetric(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    if (M[c][c] === 0) return new Array(n).fill(Number.NaN);
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}
