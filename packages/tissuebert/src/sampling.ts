import type { Generator } from '@meddl/tensor';
import { TissueBertArgumentError } from './errors';
import { METH_METHYLATED, METH_NONE, METH_UNMETHYLATED } from './formats/pat';

/** What the sampler needs to know about each file: its tissue and the weights of its examples. */
export interface SamplerFile {
  label: number;
  /** Per-example weights (pat counts); an example is drawn with probability ∝ weight. */
  weights: ArrayLike<number>;
}

/**
 * Tissue-balanced sampling: a file is drawn with weight 1 / (number of files of its tissue), so
 * each tissue present is drawn equally often whatever its number of files; then an example
 * (read) within the file, proportional to its count.
 */
export class TissueBalancedSampler {
  readonly fileWeights: Float64Array;
  private readonly cumulative: Float64Array[];
  private readonly files: readonly SamplerFile[];

  constructor(files: readonly SamplerFile[]) {
    if (files.length === 0) throw new TissueBertArgumentError('files', 'no files to sample from');
    this.files = files;
    const perTissue = new Map<number, number>();
    for (const f of files) perTissue.set(f.label, (perTissue.get(f.label) ?? 0) + 1);
    this.fileWeights = Float64Array.from(files, (f) =>
      f.weights.length > 0 ? 1 / (perTissue.get(f.label) as number) : 0,
    );
    this.cumulative = files.map((f) => {
      const c = new Float64Array(f.weights.length);
      let s = 0;
      for (let i = 0; i < c.length; i++) c[i] = s += f.weights[i];
      return c;
    });
  }

  /** Draws (file index, example index). */
  sample(rng: Generator): { file: number; example: number } {
    const file = rng.categorical(this.fileWeights);
    const c = this.cumulative[file];
    const u = rng.random() * c[c.length - 1];
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return { file, example: lo };
  }

  /** A batch of draws. */
  batch(rng: Generator, size: number): Array<{ file: number; example: number }> {
    return Array.from({ length: size }, () => this.sample(rng));
  }

  get numFiles(): number {
    return this.files.length;
  }
}

/**
 * CpG-dropout augmentation (training only): each observed CpG state (0 or 1) becomes "no CpG"
 * (2) with probability `rate`. Returns a new array.
 */
export function cpgDropout(methylation: Uint8Array, rate: number, rng: Generator): Uint8Array {
  if (!(rate >= 0 && rate <= 1)) throw new TissueBertArgumentError('rate', `must be in [0, 1], got ${rate}`);
  const out = Uint8Array.from(methylation);
  for (let i = 0; i < out.length; i++) {
    if ((out[i] === METH_UNMETHYLATED || out[i] === METH_METHYLATED) && rng.random() < rate)
      out[i] = METH_NONE;
  }
  return out;
}

/** Default CpG dropout rate (5% of observed CpGs). */
export const CPG_DROPOUT_RATE = 0.05;

/**
 * At most `max` of the indices 0..n−1, evenly spaced (⌊i·n/k⌋, k = min(n, max)): the deterministic
 * subsample used for validation, evaluation, reference and prediction reads.
 */
export function evenlySpaced(n: number, max: number): number[] {
  const k = Math.min(n, max);
  return Array.from({ length: k }, (_, i) => Math.floor((i * n) / k));
}
