import { epochGenerator, type Sampler } from '@meddl/trainer';
import { DistributedError } from './errors';

export interface DistributedSamplerOptions {
  rank: number;
  worldSize: number;
  /** Shuffle with a permutation drawn from (seed, epoch), the same on every rank (default true). */
  shuffle?: boolean;
  seed?: number;
  /** Drop the tail so every rank gets floor(n / worldSize); otherwise pad by repeating the first indices. */
  dropLast?: boolean;
}

/**
 * torch.utils.data.DistributedSampler: every rank sees a disjoint slice (`indices[rank::worldSize]`)
 * of the same epoch order, padded (repeating from the start) or truncated so all ranks have the same
 * number of samples. The epoch is an argument of `epochIndices`, so there is no `set_epoch` to forget.
 * The shuffle uses meddl's Generator (the permutation of RandomSampler(n, seed)), not torch's
 * randperm, so orders match meddl single-process runs, not PyTorch's.
 */
export class DistributedSampler implements Sampler {
  readonly length: number;
  readonly totalSize: number;
  private readonly rank: number;
  private readonly worldSize: number;
  private readonly shuffle: boolean;
  private readonly seed: number;
  private readonly dropLast: boolean;

  constructor(
    readonly datasetLength: number,
    options: DistributedSamplerOptions,
  ) {
    const { rank, worldSize } = options;
    if (
      !Number.isInteger(worldSize) ||
      worldSize < 1 ||
      !Number.isInteger(rank) ||
      rank < 0 ||
      rank >= worldSize
    )
      throw new DistributedError(`DistributedSampler: rank ${rank} is outside 0..${worldSize - 1}`);
    this.rank = rank;
    this.worldSize = worldSize;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.length =
      this.dropLast && datasetLength % worldSize !== 0
        ? Math.ceil((datasetLength - worldSize) / worldSize)
        : Math.ceil(datasetLength / worldSize);
    this.totalSize = this.length * worldSize;
  }

  epochIndices(epoch: number): number[] {
    const n = this.datasetLength;
    let indices = this.shuffle
      ? epochGenerator(this.seed, epoch).permutation(n)
      : Array.from({ length: n }, (_, i) => i);
    if (!this.dropLast) {
      const padding = this.totalSize - indices.length;
      if (padding > 0 && n > 0) {
        const base = indices;
        const extra: number[] = [];
        while (extra.length < padding) extra.push(...base.slice(0, padding - extra.length));
        indices = indices.concat(extra);
      }
    } else indices = indices.slice(0, this.totalSize);
    const out: number[] = [];
    for (let i = this.rank; i < this.totalSize; i += this.worldSize) out.push(indices[i]);
    return out;
  }
}
