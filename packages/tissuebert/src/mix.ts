import type { Generator } from '@meddl/tensor';
import { TissueBertArgumentError } from './errors';
import type { PatRecord } from './formats/pat';

/**
 * Mixes reads of several samples in given proportions, the way wgbstools `mix_pat` does: each
 * source contributes round(π_k · totalReads) reads drawn without replacement from its reads
 * (pat lines expanded by their counts). Returns merged, sorted pat records and, per source, the
 * realized fraction of reads.
 */
export function mixPat(
  sources: ReadonlyArray<readonly PatRecord[]>,
  proportions: ArrayLike<number>,
  totalReads: number,
  rng: Generator,
): { records: PatRecord[]; realized: Float64Array; sourceOfRecord: Int32Array } {
  if (sources.length !== proportions.length) {
    throw new TissueBertArgumentError(
      'proportions',
      `has ${proportions.length} entries for ${sources.length} sources`,
    );
  }
  const out: PatRecord[] = [];
  const sourceOfRecord: number[] = [];
  const taken = new Float64Array(sources.length);
  for (let k = 0; k < sources.length; k++) {
    const want = Math.round(proportions[k] * totalReads);
    if (want === 0) continue;
    const recs = sources[k];
    let available = 0;
    for (const r of recs) available += r.count;
    if (want > available) {
      throw new TissueBertArgumentError(
        'totalReads',
        `source ${k} has ${available} reads, the mixture needs ${want} (lower totalReads)`,
      );
    }
    // Selection sampling over the expanded read list (Knuth's algorithm S): exact, no expansion.
    let needed = want;
    let left = available;
    for (const r of recs) {
      let picked = 0;
      for (let c = 0; c < r.count; c++) {
        if (rng.random() * left < needed) {
          picked++;
          needed--;
        }
        left--;
      }
      if (picked > 0) {
        out.push({ ...r, count: picked });
        sourceOfRecord.push(k);
      }
    }
    taken[k] = want;
  }
  const total = taken.reduce((a, b) => a + b, 0);
  const order = out
    .map((_, i) => i)
    .sort((a, b) =>
      out[a].chrom < out[b].chrom ? -1 : out[a].chrom > out[b].chrom ? 1 : out[a].startCpg - out[b].startCpg,
    );
  return {
    records: order.map((i) => out[i]),
    realized: taken.map((v) => (total > 0 ? v / total : 0)),
    sourceOfRecord: Int32Array.from(order.map((i) => sourceOfRecord[i])),
  };
}

/** Dirichlet(α) proportions over T tissues (α = 0.5 as in published deconvolution benchmarks). */
export function dirichletMixture(rng: Generator, T: number, alpha = 0.5): Float64Array {
  return Float64Array.from(rng.dirichlet(new Array<number>(T).fill(alpha)));
}

/**
 * A cfDNA-like mixture: blood tissues share `bloodFraction` ∈ [lo, hi] (default 40–80%,
 * split by Dirichlet(1)), the rest is split among the other tissues by Dirichlet(α).
 */
export function bloodDominatedMixture(
  rng: Generator,
  T: number,
  bloodTissues: readonly number[],
  range: [number, number] = [0.4, 0.8],
  alpha = 0.5,
): Float64Array {
  const out = new Float64Array(T);
  const blood = rng.uniform(range[0], range[1]);
  const b = rng.dirichlet(new Array<number>(bloodTissues.length).fill(1));
  bloodTissues.forEach((t, i) => {
    out[t] = blood * b[i];
  });
  const others = Array.from({ length: T }, (_, i) => i).filter((i) => !bloodTissues.includes(i));
  const o = rng.dirichlet(new Array<number>(others.length).fill(alpha));
  others.forEach((t, i) => {
    out[t] = (1 - blood) * o[i];
  });
  return out;
}

/** A spike-in: tissue `target` at `fraction` (e.g. 0.5–5%), the rest `background` proportions rescaled. */
export function spikeInMixture(
  background: ArrayLike<number>,
  target: number,
  fraction: number,
): Float64Array {
  const out = Float64Array.from(background);
  out[target] = 0;
  const s = out.reduce((a, v) => a + v, 0);
  for (let t = 0; t < out.length; t++)
    out[t] = t === target ? fraction : s > 0 ? (out[t] * (1 - fraction)) / s : 0;
  return out;
}

// Small local metrics (the @meddl/metrics package is not merged yet; these move there later).

/** Root-mean-square error over all entries of paired proportion vectors. */
export function rmse(
  truth: ReadonlyArray<ArrayLike<number>>,
  estimate: ReadonlyArray<ArrayLike<number>>,
): number {
  let s = 0;
  let n = 0;
  truth.forEach((t, i) => {
    for (let j = 0; j < t.length; j++) {
      s += (t[j] - estimate[i][j]) ** 2;
      n++;
    }
  });
  return Math.sqrt(s / n);
}

/** Pearson correlation of two vectors (NaN when either is constant). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : Number.NaN;
}

/** Pearson r per tissue across mixtures (column-wise). */
export function pearsonPerTissue(
  truth: ReadonlyArray<ArrayLike<number>>,
  estimate: ReadonlyArray<ArrayLike<number>>,
): Float64Array {
  const T = truth[0]?.length ?? 0;
  return Float64Array.from({ length: T }, (_, t) =>
    pearson(
      truth.map((r) => r[t]),
      estimate.map((r) => r[t]),
    ),
  );
}

/**
 * Detection limit: the smallest spiked-in fraction whose estimates are all above the
 * (1 − α) quantile of the estimates for the same tissue in mixtures without it (fraction 0),
 * i.e. distinguishable from the blank. Returns Infinity when no tested level is.
 *
 * @param levels tested fractions (e.g. [0.005, 0.01, 0.02, 0.05])
 * @param estimates estimates[i] = the estimated fractions at levels[i] (replicates)
 * @param blanks estimated fractions at true fraction 0
 */
export function detectionLimit(
  levels: readonly number[],
  estimates: ReadonlyArray<readonly number[]>,
  blanks: readonly number[],
  alpha = 0.05,
): number {
  const b = [...blanks].sort((x, y) => x - y);
  const pos = (1 - alpha) * (b.length - 1);
  const i = Math.floor(pos);
  const threshold = i + 1 < b.length ? b[i] + (pos - i) * (b[i + 1] - b[i]) : b[i];
  const order = levels.map((_, k) => k).sort((x, y) => levels[x] - levels[y]);
  for (const k of order)
    if (estimates[k].length > 0 && estimates[k].every((e) => e > threshold)) return levels[k];
  return Number.POSITIVE_INFINITY;
}
