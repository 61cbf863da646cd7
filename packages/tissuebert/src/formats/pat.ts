import { writeFileSync } from 'node:fs';
import { TissueBertDataError } from '../errors';
import { bgzfCompress, readMaybeGzipText } from './bgzf';

/**
 * One line of a wgbstools `.pat` file: all reads (`count` of them) that share the same
 * chromosome, first CpG and methylation pattern.
 */
export interface PatRecord {
  chrom: string;
  /** 1-based genome-wide index of the first CpG the pattern covers (wgbstools CpG index). */
  startCpg: number;
  /** One character per consecutive CpG: 'C' methylated, 'T' unmethylated, '.' not covered (see {@link patCharState}). */
  pattern: string;
  count: number;
}

/** Per-CpG methylation state, also used as MethylBERT's methylation "token type". */
export const METH_UNMETHYLATED = 0;
export const METH_METHYLATED = 1;
export const METH_NONE = 2;

/**
 * Maps a pattern character to a state. wgbstools writes 'C' (methylated), 'T' (unmethylated)
 * and '.' (CpG inside the read but not called: sequencing mismatch, quality, or in the gap
 * between paired mates). Other letters that occur in patterns of other tools or older
 * wgbstools versions ('N', 'H', 'D', 'X', 'A', 'G') are read as "not covered"; anything
 * else returns -1 (the caller raises a {@link TissueBertDataError}).
 */
export function patCharState(ch: string): number {
  switch (ch) {
    case 'C':
      return METH_METHYLATED;
    case 'T':
      return METH_UNMETHYLATED;
    case '.':
    case 'N':
    case 'H':
    case 'D':
    case 'X':
    case 'A':
    case 'G':
      return METH_NONE;
    default:
      return -1;
  }
}

/** Parses the text of a `.pat` file (tab-separated: chrom, CpG index, pattern, count). */
export function parsePat(text: string, file = '<pat>'): PatRecord[] {
  const out: PatRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '' || line === '\r') continue;
    const f = line.replace(/\r$/, '').split('\t');
    if (f.length < 4)
      throw new TissueBertDataError(file, `expected 4 tab-separated fields, got ${f.length}`, i + 1);
    const startCpg = Number(f[1]);
    const count = Number(f[3]);
    if (!Number.isInteger(startCpg) || startCpg < 1) {
      throw new TissueBertDataError(file, `CpG index must be a positive integer, got '${f[1]}'`, i + 1);
    }
    if (!Number.isInteger(count) || count < 1) {
      throw new TissueBertDataError(file, `read count must be a positive integer, got '${f[3]}'`, i + 1);
    }
    const pattern = f[2];
    if (pattern.length === 0) throw new TissueBertDataError(file, 'empty methylation pattern', i + 1);
    for (let j = 0; j < pattern.length; j++) {
      if (patCharState(pattern[j]) < 0) {
        throw new TissueBertDataError(
          file,
          `unexpected pattern character '${pattern[j]}' at column ${j + 1}`,
          i + 1,
        );
      }
    }
    out.push({ chrom: f[0], startCpg, pattern, count });
  }
  return out;
}

/** Reads a `.pat` or `.pat.gz` (bgzip) file. */
export function readPat(file: string): PatRecord[] {
  return parsePat(readMaybeGzipText(file), file);
}

/** Formats records as `.pat` text (no sorting: callers pass records sorted by chrom then CpG index, as wgbstools does). */
export function formatPat(records: readonly PatRecord[]): string {
  let s = '';
  for (const r of records) s += `${r.chrom}\t${r.startCpg}\t${r.pattern}\t${r.count}\n`;
  return s;
}

/** Writes a `.pat.gz` as BGZF (bgzip-compatible; a CSI/tabix index is not written). */
export function writePatGz(file: string, records: readonly PatRecord[]): void {
  writeFileSync(file, bgzfCompress(Buffer.from(formatPat(records), 'utf8')));
}

/** Total reads (sum of counts) and number of called CpG sites in a set of records. */
export function patSummary(records: readonly PatRecord[]): { lines: number; reads: number; calls: number } {
  let reads = 0;
  let calls = 0;
  for (const r of records) {
    reads += r.count;
    for (const ch of r.pattern) if (ch === 'C' || ch === 'T') calls += r.count;
  }
  return { lines: records.length, reads, calls };
}

/**
 * Collapses a pat file into per-CpG counts (the `.beta` content): methylated and covered
 * counts for CpG indices 1..nSites (array index = CpG index − 1).
 */
export function patToBeta(
  records: readonly PatRecord[],
  nSites: number,
): { methylated: Uint32Array; covered: Uint32Array } {
  const methylated = new Uint32Array(nSites);
  const covered = new Uint32Array(nSites);
  for (const r of records) {
    for (let j = 0; j < r.pattern.length; j++) {
      const s = patCharState(r.pattern[j]);
      const k = r.startCpg - 1 + j;
      if (s === METH_NONE || k >= nSites) continue;
      covered[k] += r.count;
      if (s === METH_METHYLATED) methylated[k] += r.count;
    }
  }
  return { methylated, covered };
}
