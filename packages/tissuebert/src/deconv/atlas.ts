import { softmax } from '@meddl/metrics';
import { TissueBertArgumentError } from '../errors';
import { METH_METHYLATED, METH_UNMETHYLATED } from '../formats/pat';
import type { PreparedStore } from '../store';

/**
 * A read-level methylation atlas: for every CpG of the panel (region × token position, as in the
 * prepared store) and every tissue, the probability that a read of that tissue calls it
 * methylated, estimated from training files by counting with a Beta(a, a) prior. A read's
 * likelihood under a tissue is the product over its called CpGs (CpGs treated as independent —
 * the assumption of read-level atlas methods such as CelFiE; co-methylated CpGs make it
 * over-confident, which temperature scaling on held-out reads corrects). Posteriors use a uniform
 * tissue prior, so they feed {@link mixtureMle} with its default (uniform) priors.
 *
 * No neural network: this is what counting alone extracts from the same training reads, a
 * reference for what the transformer could learn, and a deconvolution method in its own right.
 */
export interface ReadAtlas {
  tissues: number;
  tokenLength: number;
  regions: number;
  /** log P(methylated | tissue) at [(region · tokenLength + token) · tissues + t]. */
  logMeth: Float64Array;
  /** log P(unmethylated | tissue), same layout. */
  logUnmeth: Float64Array;
}

/**
 * Counts the methylated / unmethylated calls of every CpG per tissue over all examples of the
 * given files of `store` (labels from the store), smoothed with a Beta(`pseudocount`, `pseudocount`) prior.
 */
export function buildReadAtlas(store: PreparedStore, files: readonly number[], pseudocount = 0.5): ReadAtlas {
  if (!(pseudocount > 0)) throw new TissueBertArgumentError('pseudocount', `must be > 0, got ${pseudocount}`);
  const K = store.tissues.length;
  const L = store.tokenLength;
  const G = store.regions.length;
  const meth = new Float64Array(G * L * K);
  const unmeth = new Float64Array(G * L * K);
  for (const f of files) {
    const s = store.samples[f];
    if (!s) throw new TissueBertArgumentError('files', `no sample ${f} (store has ${store.samples.length})`);
    for (let e = 0; e < s.n; e++) {
      const w = s.count[e];
      const base = s.region[e] * L;
      for (let j = 0; j < L; j++) {
        const st = s.methylation[e * L + j];
        const at = (base + j) * K + s.label;
        if (st === METH_METHYLATED) meth[at] += w;
        else if (st === METH_UNMETHYLATED) unmeth[at] += w;
      }
    }
  }
  const logMeth = new Float64Array(meth.length);
  const logUnmeth = new Float64Array(meth.length);
  for (let i = 0; i < meth.length; i++) {
    const n = meth[i] + unmeth[i] + 2 * pseudocount;
    logMeth[i] = Math.log((meth[i] + pseudocount) / n);
    logUnmeth[i] = Math.log((unmeth[i] + pseudocount) / n);
  }
  return { tissues: K, tokenLength: L, regions: G, logMeth, logUnmeth };
}

/** Posterior P(tissue | read) under a uniform prior for one example (`methylation` of tokenLength states). */
export function atlasReadPosterior(
  atlas: ReadAtlas,
  region: number,
  methylation: ArrayLike<number>,
): Float64Array {
  const { tissues: K, tokenLength: L } = atlas;
  if (!(region >= 0 && region < atlas.regions))
    throw new TissueBertArgumentError('region', `${region} is outside the atlas's ${atlas.regions} regions`);
  if (methylation.length !== L)
    throw new TissueBertArgumentError('methylation', `has ${methylation.length} states, the atlas ${L}`);
  const ll = new Float64Array(K);
  for (let j = 0; j < L; j++) {
    const st = methylation[j];
    if (st !== METH_METHYLATED && st !== METH_UNMETHYLATED) continue;
    const table = st === METH_METHYLATED ? atlas.logMeth : atlas.logUnmeth;
    const at = (region * L + j) * K;
    for (let t = 0; t < K; t++) ll[t] += table[at + t];
  }
  return softmax({ data: ll, cols: K });
}
