import { TissueBertArgumentError } from './errors';
import { METH_METHYLATED, METH_NONE, METH_UNMETHYLATED } from './formats/pat';

/**
 * Vocabulary: 5 special tokens then all 4^k k-mers in lexicographic A<C<G<T order.
 *
 * This is MethylBERT's layout (`MethylVocab`: specials at ids 0–4, then
 * `sorted(product('AGTC', repeat=k))`, i.e. alphabetical), so k-mer ids agree with
 * MethylBERT's: AAA = 5, AAC = 6, …, TTT = 68. The special tokens carry DNABERT's names and
 * positions ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4); MethylBERT calls ids 2/3
 * `<eos>`/`<sos>`, pad/unk/mask coincide.
 */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
export const PAD_ID = 0;
export const UNK_ID = 1;
export const CLS_ID = 2;
export const SEP_ID = 3;
export const MASK_ID = 4;

const BASES = 'ACGT';

export function kmerVocabulary(k = 3): string[] {
  const kmers: string[] = [''];
  for (let i = 0; i < k; i++) {
    const next: string[] = [];
    for (const p of kmers) for (const b of BASES) next.push(p + b);
    kmers.splice(0, kmers.length, ...next);
  }
  return [...SPECIAL_TOKENS, ...kmers];
}

/** Vocabulary size for k (69 for k = 3). */
export function vocabSize(k = 3): number {
  return SPECIAL_TOKENS.length + 4 ** k;
}

function baseCode(ch: number): number {
  switch (ch) {
    case 65: // A
    case 97:
      return 0;
    case 67: // C
    case 99:
      return 1;
    case 71: // G
    case 103:
      return 2;
    case 84: // T
    case 116:
      return 3;
    default:
      return -1;
  }
}

export interface KmerOptions {
  k?: number;
  /**
   * MethylBERT's preprocessing (`finetune_data_generate`) emits len − k k-mers, dropping the
   * last one; set true to reproduce its tables exactly. Default false: all len − k + 1 k-mers.
   */
  methylbertCompat?: boolean;
}

/** Overlapping k-mers (stride 1) of a sequence, as strings. */
export function kmers(sequence: string, options: KmerOptions = {}): string[] {
  const k = options.k ?? 3;
  const n = sequence.length - k + (options.methylbertCompat ? 0 : 1);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(sequence.slice(i, i + k).toUpperCase());
  return out;
}

/** Token ids of the overlapping k-mers; k-mers containing N (or any non-ACGT) map to [UNK]. */
export function tokenizeSequence(sequence: string, options: KmerOptions = {}): Uint8Array {
  const k = options.k ?? 3;
  if (k < 1 || k > 3)
    throw new TissueBertArgumentError('k', `supported k-mer sizes are 1..3 (uint8 ids), got ${k}`);
  const n = Math.max(0, sequence.length - k + (options.methylbertCompat ? 0 : 1));
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let id = 0;
    let unknown = false;
    for (let j = 0; j < k; j++) {
      const c = baseCode(sequence.charCodeAt(i + j));
      if (c < 0) unknown = true;
      id = id * 4 + Math.max(c, 0);
    }
    out[i] = unknown ? UNK_ID : SPECIAL_TOKENS.length + id;
  }
  return out;
}

/** Inverse of {@link tokenizeSequence} for display. */
export function detokenize(ids: ArrayLike<number>, k = 3): string[] {
  const vocab = kmerVocabulary(k);
  return Array.from(ids, (i) => vocab[i] ?? `<${i}>`);
}

/**
 * Methylation state per token for a window of `windowLength` bases: a CpG whose C is at
 * 0-based window offset p is assigned to token p − 1 (the 3-mer N**C**G whose middle base is
 * the C), the way MethylBERT aligns `methyl_seq` to `dna_seq`. Tokens without a called CpG get
 * 2. CpGs at offset 0 (no token has them in the middle) are dropped, as in MethylBERT.
 *
 * @param cpgOffsets 0-based offsets of the C of each CpG inside the window
 * @param states 0 (unmethylated) / 1 (methylated) / 2 (not covered), one per CpG
 */
export function methylationTokens(
  windowLength: number,
  cpgOffsets: ArrayLike<number>,
  states: ArrayLike<number>,
  options: KmerOptions = {},
): Uint8Array {
  const k = options.k ?? 3;
  const n = Math.max(0, windowLength - k + (options.methylbertCompat ? 0 : 1));
  const out = new Uint8Array(n).fill(METH_NONE);
  const mid = Math.floor(k / 2);
  for (let i = 0; i < cpgOffsets.length; i++) {
    const s = states[i];
    if (s !== METH_METHYLATED && s !== METH_UNMETHYLATED) continue;
    const t = cpgOffsets[i] - mid;
    if (t >= 0 && t < n) out[t] = s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Bismark/SAM helpers: enough to rebuild MethylBERT's `dna_seq` / `methyl_seq` from SAM fields.

/**
 * Reference bases under an alignment, from the read (SAM field 10), its CIGAR and MD tag:
 * matched bases are the read's, MD mismatches and deletions (`^…`) restore the reference,
 * insertions and soft clips are skipped. Returns the reference from the read's POS over the
 * aligned span.
 */
export function referenceFromMd(seq: string, cigar: string, md: string): string {
  const ref: string[] = [];
  let i = 0;
  for (const m of cigar.matchAll(/(\d+)([MIDNSHP=X])/g)) {
    const n = Number(m[1]);
    const op = m[2];
    if (op === 'M' || op === '=' || op === 'X') {
      for (let j = 0; j < n; j++) ref.push(seq[i + j]);
      i += n;
    } else if (op === 'I' || op === 'S') i += n;
    else if (op === 'D' || op === 'N') for (let j = 0; j < n; j++) ref.push('N');
  }
  let k = 0;
  for (const m of md.matchAll(/(\d+)|\^([A-Z]+)|([A-Z])/g)) {
    if (m[1] !== undefined) k += Number(m[1]);
    else if (m[2] !== undefined) for (const c of m[2]) ref[k++] = c;
    else ref[k++] = m[3];
  }
  return ref.join('');
}

/**
 * Per-base CpG calls from a Bismark XM string in read coordinates: 'Z' methylated, 'z'
 * unmethylated. For reads from the G→A converted strand (XG = 'GA') the call sits on the G of
 * the CpG, so the C is one base to the left; returns the 0-based read offsets of the C of each
 * called CpG and its state.
 */
export function cpgCallsFromXm(xm: string, xg: 'CT' | 'GA'): { offsets: number[]; states: number[] } {
  const offsets: number[] = [];
  const states: number[] = [];
  for (let i = 0; i < xm.length; i++) {
    const c = xm[i];
    if (c !== 'Z' && c !== 'z') continue;
    offsets.push(xg === 'GA' ? i - 1 : i);
    states.push(c === 'Z' ? METH_METHYLATED : METH_UNMETHYLATED);
  }
  return { offsets, states };
}
