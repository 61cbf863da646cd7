import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { TissueBertDataError } from '../errors';

/** One line of a samtools `.fai` index. */
export interface FaiEntry {
  name: string;
  length: number;
  /** Byte offset of the first base. */
  offset: number;
  lineBases: number;
  lineWidth: number;
}

export function parseFai(text: string, file = '<fai>'): FaiEntry[] {
  const out: FaiEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].replace(/\r$/, '');
    if (l === '') continue;
    const f = l.split('\t');
    if (f.length < 5)
      throw new TissueBertDataError(
        file,
        `expected 5 fields (name length offset linebases linewidth), got ${f.length}`,
        i + 1,
      );
    const [length, offset, lineBases, lineWidth] = f.slice(1, 5).map(Number);
    if (
      ![length, offset, lineBases, lineWidth].every((v) => Number.isInteger(v) && v >= 0) ||
      lineWidth < lineBases
    ) {
      throw new TissueBertDataError(file, `invalid numbers in '${l}'`, i + 1);
    }
    out.push({ name: f[0], length, offset, lineBases, lineWidth });
  }
  return out;
}

/**
 * Builds the `.fai` entries of a FASTA file (same rules as `samtools faidx`: every line of a
 * sequence except the last must have the same length).
 */
export function indexFasta(bytes: Uint8Array, file = '<fasta>'): FaiEntry[] {
  const out: FaiEntry[] = [];
  let cur: FaiEntry | null = null;
  let lastShort = false;
  let pos = 0;
  let lineNo = 0;
  while (pos < bytes.length) {
    let end = bytes.indexOf(10, pos);
    if (end < 0) end = bytes.length;
    lineNo++;
    const width = end - pos + (end < bytes.length ? 1 : 0);
    const bases = end - pos - (end > pos && bytes[end - 1] === 13 ? 1 : 0);
    if (bytes[pos] === 62 /* '>' */) {
      const header = Buffer.from(bytes.subarray(pos + 1, pos + bases)).toString('utf8');
      cur = { name: header.split(/\s/)[0], length: 0, offset: end + 1, lineBases: 0, lineWidth: 0 };
      out.push(cur);
      lastShort = false;
    } else if (cur) {
      if (bases > 0) {
        if (cur.lineBases === 0) {
          cur.lineBases = bases;
          cur.lineWidth = width;
        } else if (lastShort || bases > cur.lineBases) {
          throw new TissueBertDataError(file, `sequence '${cur.name}' has lines of differing length`, lineNo);
        }
        if (bases < cur.lineBases) lastShort = true;
        cur.length += bases;
      }
    } else if (bases > 0) {
      throw new TissueBertDataError(file, 'sequence data before the first > header', lineNo);
    }
    pos = end + 1;
  }
  return out;
}

export function formatFai(entries: readonly FaiEntry[]): string {
  return entries.map((e) => `${e.name}\t${e.length}\t${e.offset}\t${e.lineBases}\t${e.lineWidth}\n`).join('');
}

/** Writes a FASTA file with fixed line width and its `.fai` next to it. */
export function writeFasta(
  file: string,
  sequences: ReadonlyArray<{ name: string; sequence: string }>,
  lineBases = 60,
): void {
  const parts: string[] = [];
  for (const s of sequences) {
    parts.push(`>${s.name}\n`);
    for (let i = 0; i < s.sequence.length; i += lineBases)
      parts.push(`${s.sequence.slice(i, i + lineBases)}\n`);
  }
  const bytes = Buffer.from(parts.join(''), 'latin1');
  writeFileSync(file, bytes);
  writeFileSync(`${file}.fai`, formatFai(indexFasta(bytes, file)));
}

/**
 * Random access to an indexed FASTA: reads only the bytes of the requested region (pread),
 * never the whole file. Requires `<file>.fai` (or builds the index in memory when `buildIndex`).
 */
export class IndexedFasta {
  readonly file: string;
  readonly entries: Map<string, FaiEntry>;
  private fd: number;

  constructor(file: string, options: { buildIndex?: boolean } = {}) {
    this.file = file;
    const fai = `${file}.fai`;
    let entries: FaiEntry[];
    if (existsSync(fai)) entries = parseFai(readFileSync(fai, 'utf8'), fai);
    else if (options.buildIndex) entries = indexFasta(readFileSync(file), file);
    else
      throw new TissueBertDataError(
        fai,
        'FASTA index not found (create it with `samtools faidx` or writeFasta)',
      );
    this.entries = new Map(entries.map((e) => [e.name, e]));
    try {
      this.fd = openSync(file, 'r');
    } catch (e) {
      throw new TissueBertDataError(file, `cannot open: ${(e as Error).message}`);
    }
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  length(name: string): number {
    return this.entry(name).length;
  }

  private entry(name: string): FaiEntry {
    const e = this.entries.get(name);
    if (!e) throw new TissueBertDataError(this.file, `no sequence named '${name}'`);
    return e;
  }

  /** Bases [start, end) (0-based, half-open, as BED), upper-cased. */
  fetch(name: string, start: number, end: number): string {
    const e = this.entry(name);
    if (
      !(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end >= start && end <= e.length)
    ) {
      throw new TissueBertDataError(this.file, `region ${name}:${start}-${end} outside 0..${e.length}`);
    }
    if (end === start) return '';
    const byteOf = (p: number) => e.offset + Math.floor(p / e.lineBases) * e.lineWidth + (p % e.lineBases);
    const first = byteOf(start);
    const last = byteOf(end - 1);
    const buf = Buffer.alloc(last - first + 1);
    readSync(this.fd, buf, 0, buf.length, first);
    let s = '';
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      if (c !== 10 && c !== 13) s += String.fromCharCode(c);
    }
    if (s.length !== end - start)
      throw new TissueBertDataError(this.file, `short read for ${name}:${start}-${end} (index stale?)`);
    return s.toUpperCase();
  }

  close(): void {
    closeSync(this.fd);
  }
}
