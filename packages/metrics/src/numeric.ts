// Numerical building blocks: exactly rounded summation, special functions, sorting, ranks, quantiles.

/**
 * Exactly rounded floating-point sum (Shewchuk's algorithm, as in Python's `math.fsum`). The result does not
 * depend on the order of additions, which is what makes streaming accumulators merge to the same bits as the
 * one-shot functions.
 */
export class ExactSum {
  private partials: number[] = [];

  add(value: number): this {
    let x = value;
    const p = this.partials;
    let i = 0;
    for (let j = 0; j < p.length; j++) {
      let y = p[j];
      if (Math.abs(x) < Math.abs(y)) {
        const t = x;
        x = y;
        y = t;
      }
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) p[i++] = lo;
      x = hi;
    }
    p.length = i;
    p.push(x);
    return this;
  }

  addAll(other: ExactSum): this {
    for (const v of other.partials) this.add(v);
    return this;
  }

  value(): number {
    const p = this.partials;
    let n = p.length;
    if (n === 0) return 0;
    let hi = p[--n];
    let lo = 0;
    while (n > 0) {
      const x = hi;
      const y = p[--n];
      hi = x + y;
      const yr = hi - x;
      lo = y - yr;
      if (lo !== 0) break;
    }
    // Round half to even across the remaining partials, as Python's msum does.
    if (n > 0 && ((lo < 0 && p[n - 1] < 0) || (lo > 0 && p[n - 1] > 0))) {
      const y = lo * 2;
      const x = hi + y;
      const yr = x - hi;
      if (y === yr) hi = x;
    }
    return hi;
  }

  reset(): void {
    this.partials = [];
  }

  /** The non-overlapping partial sums that represent the exact total (for transfer between processes). */
  toPartials(): number[] {
    return this.partials.slice();
  }

  /** Rebuilds a sum from `toPartials()` output (re-added, so any finite numbers are accepted). */
  static fromPartials(partials: ArrayLike<number>): ExactSum {
    const s = new ExactSum();
    for (let i = 0; i < partials.length; i++) s.add(partials[i]);
    return s;
  }

  clone(): ExactSum {
    const c = new ExactSum();
    c.partials = this.partials.slice();
    return c;
  }
}

export function exactSum(values: ArrayLike<number>): number {
  const s = new ExactSum();
  for (let i = 0; i < values.length; i++) s.add(values[i]);
  return s.value();
}

const SQRT_PI = Math.sqrt(Math.PI);

/** Complementary error function to near machine precision (series below 2.5, continued fraction above). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x === Number.POSITIVE_INFINITY) return 0;
  if (x < 2.5) {
    // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (2n+1)!!  (all terms positive: no cancellation)
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-x2) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), modified Lentz.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / SQRT_PI / f;
}

/** Standard normal cumulative distribution function. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Standard normal survival function 1 - Φ(x), accurate in the upper tail. */
export function normalSf(x: number): number {
  return 0.5 * erfc(x / Math.SQRT2);
}

/** Standard normal quantile Φ⁻¹(p) by safeguarded Newton iteration on `normalCdf`. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    return Number.NaN;
  }
  if (p > 0.5) return -normalQuantile(1 - p);
  let lo = -40;
  let hi = 0;
  let x = -1;
  for (let i = 0; i < 200; i++) {
    const f = normalCdf(x) - p;
    if (f > 0) hi = x;
    else lo = x;
    const pdf = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    let next = x - f / pdf;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - x) <= 1e-15 * Math.max(1, Math.abs(x))) return next;
    x = next;
  }
  return x;
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos approximation, g = 7). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularized upper incomplete gamma Q(a, x) (series / continued fraction, Numerical Recipes §6.2). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPre = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let ap = a;
    let del = 1 / a;
    let sum = del;
    for (let n = 0; n < 10000; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-17) break;
    }
    return 1 - sum * Math.exp(lnPre);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(lnPre) * h;
}

/** Survival function of the chi-squared distribution with `df` degrees of freedom. */
export function chiSquaredSf(x: number, df: number): number {
  if (x <= 0) return 1;
  if (df === 1) return erfc(Math.sqrt(x / 2));
  if (df === 2) return Math.exp(-x / 2);
  return gammaQ(df / 2, x / 2);
}

/**
 * Dense ranks: `rank[i]` is the 0-based index of values[i] among the distinct values (ascending). Uses the native
 * numeric typed-array sort plus one binary search per element, several times faster in V8 than a comparator
 * sort of indices. −0 and +0 share a rank. Values must not be NaN. O(n log n).
 */
export function denseRanks(values: Float64Array): { rank: Uint32Array; distinct: Float64Array } {
  const n = values.length;
  const sorted = Float64Array.from(values).sort();
  let m = 0;
  for (let i = 0; i < n; i++) if (m === 0 || sorted[i] !== sorted[m - 1]) sorted[m++] = sorted[i];
  const distinct = sorted.subarray(0, m);
  const rank = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    let lo = 0;
    let hi = m - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (distinct[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    rank[i] = lo;
  }
  return { rank, distinct };
}

/** Stable ascending argsort of a float64 array (dense ranks, then a counting sort). O(n log n). */
export function argsort(values: Float64Array): Uint32Array {
  const { rank, distinct } = denseRanks(values);
  const start = new Uint32Array(distinct.length + 1);
  for (let i = 0; i < rank.length; i++) start[rank[i] + 1]++;
  for (let r = 0; r < distinct.length; r++) start[r + 1] += start[r];
  const order = new Uint32Array(values.length);
  for (let i = 0; i < rank.length; i++) order[start[rank[i]]++] = i;
  return order;
}

/** Ranks 1..n with ties given their average rank (scipy.stats.rankdata 'average'). O(n log n). */
export function averageRanks(values: Float64Array): Float64Array {
  const { rank, distinct } = denseRanks(values);
  const count = new Float64Array(distinct.length);
  for (let i = 0; i < rank.length; i++) count[rank[i]]++;
  // Tied block r occupies ordinal ranks below+1 .. below+count; its average is below + (count + 1) / 2.
  const avg = new Float64Array(distinct.length);
  let below = 0;
  for (let r = 0; r < distinct.length; r++) {
    avg[r] = below + (count[r] + 1) / 2;
    below += count[r];
  }
  const out = new Float64Array(rank.length);
  for (let i = 0; i < rank.length; i++) out[i] = avg[rank[i]];
  return out;
}

/** Quantile of sorted data with linear interpolation between order statistics (numpy's default, type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const t = h - lo;
  return sorted[lo] + t * (sorted[hi] - sorted[lo]);
}
