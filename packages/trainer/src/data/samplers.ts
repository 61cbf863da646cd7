import { Generator } from '@meddl/tensor';
import { TrainerError } from '../errors';

/**
 * A sampler gives the order of dataset indices for one epoch. The order is a pure function of
 * (seed, epoch), so a resumed run replays the interrupted epoch's order exactly.
 */
export interface Sampler {
  /** Indices per epoch. */
  readonly length: number;
  epochIndices(epoch: number): number[];
}

/** The generator for one epoch of a seeded sampler. */
export function epochGenerator(seed: number, epoch: number): Generator {
  return new Generator((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
}

export class SequentialSampler implements Sampler {
  constructor(readonly length: number) {}
  epochIndices(): number[] {
    return Array.from({ length: this.length }, (_, i) => i);
  }
}

/** A fresh permutation every epoch (torch's RandomSampler without replacement). */
export class RandomSampler implements Sampler {
  constructor(
    readonly length: number,
    private readonly seed = 0,
  ) {}
  epochIndices(epoch: number): number[] {
    return epochGenerator(this.seed, epoch).permutation(this.length);
  }
}

/** torch's WeightedRandomSampler with replacement: numSamples draws ∝ weights. */
export class WeightedRandomSampler implements Sampler {
  private readonly cumulative: Float64Array;
  constructor(
    weights: ArrayLike<number>,
    readonly length: number,
    private readonly seed = 0,
  ) {
    if (weights.length === 0) throw new TrainerError('WeightedRandomSampler needs at least one weight');
    this.cumulative = new Float64Array(weights.length);
    let s = 0;
    for (let i = 0; i < weights.length; i++) {
      if (!(weights[i] >= 0))
        throw new TrainerError(`WeightedRandomSampler weight ${i} is ${weights[i]}, expected >= 0`);
      s += weights[i];
      this.cumulative[i] = s;
    }
    if (!(s > 0)) throw new TrainerError('WeightedRandomSampler weights sum to 0');
  }
  epochIndices(epoch: number): number[] {
    const g = epochGenerator(this.seed, epoch);
    const total = this.cumulative[this.cumulative.length - 1];
    const out = new Array<number>(this.length);
    for (let k = 0; k < this.length; k++) {
      const r = g.random() * total;
      let lo = 0;
      let hi = this.cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.cumulative[mid] > r) hi = mid;
        else lo = mid + 1;
      }
      out[k] = lo;
    }
    return out;
  }
}

/**
 * Balances groups (e.g. tissue types, or slides at file level): each item is drawn with
 * weight 1/n_group, so every group is equally likely regardless of its size.
 */
export class GroupBalancedSampler extends WeightedRandomSampler {
  constructor(groups: ArrayLike<string | number>, numSamples = groups.length, seed = 0) {
    const counts = new Map<string | number, number>();
    for (let i = 0; i < groups.length; i++) counts.set(groups[i], (counts.get(groups[i]) ?? 0) + 1);
    super(
      Array.from({ length: groups.length }, (_, i) => 1 / (counts.get(groups[i]) as number)),
      numSamples,
      seed,
    );
  }
}

/**
 * Stratified order: every prefix — hence every consecutive batch, whatever its size — holds
 * the classes in (close to) their overall proportions. Each class is shuffled, then items are
 * dealt by largest remaining deficit.
 */
export class StratifiedSampler implements Sampler {
  readonly length: number;
  constructor(
    private readonly labels: ArrayLike<string | number>,
    private readonly seed = 0,
  ) {
    this.length = labels.length;
  }
  epochIndices(epoch: number): number[] {
    const g = epochGenerator(this.seed, epoch);
    const byClass = new Map<string | number, number[]>();
    for (let i = 0; i < this.labels.length; i++) {
      const l = this.labels[i];
      const list = byClass.get(l) ?? [];
      list.push(i);
      byClass.set(l, list);
    }
    const pools = [...byClass.values()].map((l) => g.shuffle(l));
    const n = this.labels.length;
    const taken = pools.map(() => 0);
    const out: number[] = [];
    // Deal so that after k draws, class c has ≈ k·n_c/n items (largest deficit first).
    for (let k = 1; k <= n; k++) {
      let best = -1;
      let bestDeficit = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < pools.length; c++) {
        if (taken[c] >= pools[c].length) continue;
        const deficit = (k * pools[c].length) / n - taken[c];
        if (deficit > bestDeficit) {
          bestDeficit = deficit;
          best = c;
        }
      }
      out.push(pools[best][taken[best]++]);
    }
    return out;
  }
}
