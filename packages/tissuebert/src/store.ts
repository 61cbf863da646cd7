import { TissueBertArgumentError, TissueBertDataError } from './errors';
import { type CpgIndex, type CpgRegion, cpgPosition } from './formats/bed';
import type { IndexedFasta } from './formats/fasta';
import { METH_NONE, type PatRecord, patCharState } from './formats/pat';
import { methylationTokens, tokenizeSequence } from './tokenizer';

/**
 * One training example: a `windowLength`-bp genomic window around a read, as the model sees it.
 * `tokenIds[i]` is the 3-mer starting at window offset i; `methylation[i]` the state of a CpG
 * whose C sits in the middle of that 3-mer (0 unmethylated, 1 methylated, 2 none/not covered).
 */
export interface TissueBertExample {
  tokenIds: Uint8Array;
  methylation: Uint8Array;
  /** Tissue class of the file the read came from. */
  label: number;
}

/**
 * One sample (file) of a prepared store. The arrays are the datasets of one HDF5 group
 * `/samples/<sample>` in the planned HDF5 layout (tokens and methylation as uint8 [n, L],
 * chunked by rows; region and count as int32/uint32 [n]; tissue and label as attributes).
 */
export interface PreparedSample {
  sample: string;
  tissue: string;
  label: number;
  /** Examples in this sample (distinct pat lines that overlap a panel region). */
  n: number;
  /** [n × L] token ids. */
  tokens: Uint8Array;
  /** [n × L] methylation states. */
  methylation: Uint8Array;
  /** [n] index of the panel region of each example (into the store's regions). */
  region: Int32Array;
  /** [n] number of identical reads (the pat count): sampling weight within the file. */
  count: Uint32Array;
}

/**
 * The prepared training store: the interface the dataset/sampler reads, so it can be backed by
 * memory (here) or by HDF5 (the lead wires it to @meddl/data's HDF5 helpers).
 */
export interface PreparedStore {
  /** Tokens per example (window length − 2 for 3-mers). */
  tokenLength: number;
  windowLength: number;
  tissues: string[];
  regions: CpgRegion[];
  samples: PreparedSample[];
}

export function getExample(store: PreparedStore, sampleIdx: number, exampleIdx: number): TissueBertExample {
  const s = store.samples[sampleIdx];
  if (!s)
    throw new TissueBertArgumentError(
      'sampleIdx',
      `no sample ${sampleIdx} (store has ${store.samples.length})`,
    );
  if (exampleIdx < 0 || exampleIdx >= s.n)
    throw new TissueBertArgumentError('exampleIdx', `no example ${exampleIdx} in ${s.sample} (has ${s.n})`);
  const L = store.tokenLength;
  return {
    tokenIds: s.tokens.slice(exampleIdx * L, (exampleIdx + 1) * L),
    methylation: s.methylation.slice(exampleIdx * L, (exampleIdx + 1) * L),
    label: s.label,
  };
}

export interface PrepareOptions {
  /** Window length in bp (default 150, MethylBERT's read length). */
  windowLength?: number;
}

/**
 * Window placement: regions no longer than the window are centred in it (every read of the
 * region sees the same window); longer regions get a window centred on the read's CpGs.
 */
function windowFor(
  region: CpgRegion,
  readStartPos: number,
  readEndPos: number,
  L: number,
  chromLength: number,
): number {
  const centre =
    region.end - region.start <= L ? (region.start + region.end) / 2 : (readStartPos + readEndPos) / 2;
  return Math.max(0, Math.min(chromLength - L, Math.round(centre - L / 2)));
}

/**
 * Turns one sample's pat records into examples: every pat line that overlaps a panel region
 * (CpG index ranges) becomes one example with the reference window from the FASTA and the
 * read's calls at the CpGs inside the window. Reads spanning two regions are assigned to the
 * first region they overlap.
 */
export function prepareSample(
  sample: { sample: string; tissue: string; label: number },
  records: readonly PatRecord[],
  regions: readonly CpgRegion[],
  cpgIndex: CpgIndex,
  fasta: IndexedFasta,
  options: PrepareOptions = {},
): PreparedSample {
  const L = options.windowLength ?? 150;
  const nTok = L - 2;
  const byChrom = new Map<string, number[]>();
  regions.forEach((r, i) => {
    const l = byChrom.get(r.chrom);
    if (l) l.push(i);
    else byChrom.set(r.chrom, [i]);
  });
  for (const l of byChrom.values()) l.sort((a, b) => regions[a].startCpg - regions[b].startCpg);
  const windowCache = new Map<string, Uint8Array>();
  const tokens: Uint8Array[] = [];
  const meth: Uint8Array[] = [];
  const regionIdx: number[] = [];
  const counts: number[] = [];
  for (const rec of records) {
    const list = byChrom.get(rec.chrom);
    if (!list) continue;
    const first = rec.startCpg;
    const last = rec.startCpg + rec.pattern.length - 1;
    // Binary search for the first region with endCpg > first.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (regions[list[mid]].endCpg <= first) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= list.length) continue;
    const g = list[lo];
    const region = regions[g];
    if (region.startCpg > last) continue;
    const chromLength = fasta.length(rec.chrom);
    if (chromLength < L)
      throw new TissueBertDataError(fasta.file, `${rec.chrom} is shorter than the ${L}-bp window`);
    const readStart = cpgPosition(cpgIndex, rec.chrom, first) - 1;
    const readEnd = cpgPosition(cpgIndex, rec.chrom, last);
    const w0 = windowFor(region, readStart, readEnd, L, chromLength);
    const key = `${rec.chrom}:${w0}`;
    let tok = windowCache.get(key);
    if (!tok) {
      tok = tokenizeSequence(fasta.fetch(rec.chrom, w0, w0 + L));
      windowCache.set(key, tok);
    }
    const offsets: number[] = [];
    const states: number[] = [];
    for (let j = 0; j < rec.pattern.length; j++) {
      const s = patCharState(rec.pattern[j]);
      if (s === METH_NONE) continue;
      const off = cpgPosition(cpgIndex, rec.chrom, first + j) - 1 - w0;
      if (off < 0 || off >= L) continue;
      offsets.push(off);
      states.push(s);
    }
    tokens.push(tok);
    meth.push(methylationTokens(L, offsets, states));
    regionIdx.push(g);
    counts.push(rec.count);
  }
  const n = tokens.length;
  const T = new Uint8Array(n * nTok);
  const M = new Uint8Array(n * nTok);
  for (let i = 0; i < n; i++) {
    T.set(tokens[i], i * nTok);
    M.set(meth[i], i * nTok);
  }
  return {
    ...sample,
    n,
    tokens: T,
    methylation: M,
    region: Int32Array.from(regionIdx),
    count: Uint32Array.from(counts),
  };
}
