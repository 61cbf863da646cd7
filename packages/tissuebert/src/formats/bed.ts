import { writeFileSync } from 'node:fs';
import { TissueBertDataError } from '../errors';
import { bgzfCompress, readMaybeGzipText } from './bgzf';

/**
 * A wgbstools block / region: BED coordinates (0-based start, exclusive end) plus the CpG index
 * range [startCpg, endCpg) in wgbstools' 1-based genome-wide CpG numbering.
 */
export interface CpgRegion {
  chrom: string;
  start: number;
  end: number;
  startCpg: number;
  endCpg: number;
}

/** A UXM marker: a region, its target cell type, a name, direction ('U' or 'M') and per-cell-type values. */
export interface UxmMarker extends CpgRegion {
  target: string;
  name: string;
  direction: string;
  values: Float64Array;
}

function int(v: string, what: string, file: string, line: number): number {
  const x = Number(v);
  if (v === '' || !Number.isInteger(x) || x < 0) {
    throw new TissueBertDataError(file, `${what} must be a non-negative integer, got '${v}'`, line);
  }
  return x;
}

function dataLines(text: string): Array<{ fields: string[]; line: number }> {
  const out: Array<{ fields: string[]; line: number }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].replace(/\r$/, '');
    if (l === '' || l.startsWith('#') || l.startsWith('track ') || l.startsWith('browser ')) continue;
    out.push({ fields: l.split('\t'), line: i + 1 });
  }
  return out;
}

function parseRegion(f: string[], line: number, file: string): CpgRegion {
  if (f.length < 5)
    throw new TissueBertDataError(
      file,
      `expected ≥5 fields (chrom start end startCpG endCpG), got ${f.length}`,
      line,
    );
  const r = {
    chrom: f[0],
    start: int(f[1], 'start', file, line),
    end: int(f[2], 'end', file, line),
    startCpg: int(f[3], 'startCpG', file, line),
    endCpg: int(f[4], 'endCpG', file, line),
  };
  if (r.end < r.start) throw new TissueBertDataError(file, `end ${r.end} < start ${r.start}`, line);
  if (r.endCpg < r.startCpg)
    throw new TissueBertDataError(file, `endCpG ${r.endCpg} < startCpG ${r.startCpg}`, line);
  return r;
}

/** Parses a wgbstools blocks BED (no header: chrom start end startCpG endCpG [extra columns ignored]). */
export function parseBlocksBed(text: string, file = '<bed>'): CpgRegion[] {
  const rows = dataLines(text);
  // A header line ("chr start end startCpG endCpG") is accepted and skipped.
  if (rows.length > 0 && rows[0].fields[1] === 'start') rows.shift();
  return rows.map(({ fields, line }) => parseRegion(fields, line, file));
}

export function readBlocksBed(file: string): CpgRegion[] {
  return parseBlocksBed(readMaybeGzipText(file), file);
}

/** Writes a blocks BED (plain text, or BGZF when the name ends in .gz). */
export function writeBlocksBed(file: string, regions: readonly CpgRegion[]): void {
  let s = '';
  for (const r of regions) s += `${r.chrom}\t${r.start}\t${r.end}\t${r.startCpg}\t${r.endCpg}\n`;
  writeFileSync(file, file.endsWith('.gz') ? bgzfCompress(Buffer.from(s)) : s);
}

/**
 * Parses UXM marker tables: `Markers.*.bed` (no header, 8 fixed columns + one value per cell
 * type) or the atlas TSV (header `chr start end startCpG endCpG target name direction <cell types...>`).
 * Empty cells become NaN. Without a header, cell-type names are `col9`, `col10`, ….
 */
export function parseUxmMarkers(
  text: string,
  file = '<markers>',
): { cellTypes: string[]; markers: UxmMarker[] } {
  const rows = dataLines(text);
  let cellTypes: string[] | null = null;
  if (rows.length > 0 && rows[0].fields[1] === 'start') cellTypes = rows.shift()?.fields.slice(8) ?? null;
  const nValues = cellTypes ? cellTypes.length : rows.length > 0 ? rows[0].fields.length - 8 : 0;
  if (nValues < 0) throw new TissueBertDataError(file, 'expected at least 8 columns', rows[0]?.line);
  const names = cellTypes ?? Array.from({ length: nValues }, (_, i) => `col${i + 9}`);
  const markers = rows.map(({ fields, line }) => {
    if (fields.length !== 8 + nValues) {
      throw new TissueBertDataError(file, `expected ${8 + nValues} columns, got ${fields.length}`, line);
    }
    const region = parseRegion(fields, line, file);
    const values = new Float64Array(nValues);
    for (let j = 0; j < nValues; j++) {
      const v = fields[8 + j];
      if (v === '' || v === 'NA' || v === 'nan' || v === 'NaN') values[j] = Number.NaN;
      else {
        values[j] = Number(v);
        if (!Number.isFinite(values[j])) {
          throw new TissueBertDataError(
            file,
            `column ${9 + j} ('${names[j]}') is not a number: '${v}'`,
            line,
          );
        }
      }
    }
    return { ...region, target: fields[5], name: fields[6], direction: fields[7], values };
  });
  return { cellTypes: names, markers };
}

export function readUxmMarkers(file: string): { cellTypes: string[]; markers: UxmMarker[] } {
  return parseUxmMarkers(readMaybeGzipText(file), file);
}

/**
 * The wgbstools CpG index (`CpG.bed.gz` from `wgbstools init_genome`): lines `chrom pos index`,
 * pos = 1-based position of the C. Returns per-chromosome sorted positions and the index of
 * each chromosome's first CpG.
 */
export interface CpgIndex {
  chroms: string[];
  /** 1-based genome positions of the CpGs of each chromosome, ascending. */
  positions: Map<string, Int32Array>;
  /** wgbstools index of each chromosome's first CpG. */
  firstIndex: Map<string, number>;
  /** Total CpG sites. */
  nSites: number;
}

export function parseCpgIndex(text: string, file = '<CpG.bed>'): CpgIndex {
  const byChrom = new Map<string, number[]>();
  const firstIndex = new Map<string, number>();
  const chroms: string[] = [];
  let expected = 1;
  for (const { fields, line } of dataLines(text)) {
    if (fields.length < 3) throw new TissueBertDataError(file, 'expected chrom, position, index', line);
    const pos = int(fields[1], 'position', file, line);
    const idx = int(fields[2], 'index', file, line);
    if (idx !== expected)
      throw new TissueBertDataError(file, `CpG index ${idx} out of order (expected ${expected})`, line);
    expected++;
    let list = byChrom.get(fields[0]);
    if (!list) {
      list = [];
      byChrom.set(fields[0], list);
      firstIndex.set(fields[0], idx);
      chroms.push(fields[0]);
    }
    list.push(pos);
  }
  const positions = new Map<string, Int32Array>();
  for (const [c, list] of byChrom) positions.set(c, Int32Array.from(list));
  return { chroms, positions, firstIndex, nSites: expected - 1 };
}

export function readCpgIndex(file: string): CpgIndex {
  return parseCpgIndex(readMaybeGzipText(file), file);
}

/** Writes a CpG index as bgzipped `chrom pos index` lines. */
export function writeCpgIndex(
  file: string,
  chroms: readonly string[],
  positions: ReadonlyMap<string, ArrayLike<number>>,
): void {
  let s = '';
  let idx = 1;
  for (const c of chroms) {
    const p = positions.get(c);
    if (!p) continue;
    for (let i = 0; i < p.length; i++) s += `${c}\t${p[i]}\t${idx++}\n`;
  }
  writeFileSync(file, file.endsWith('.gz') ? bgzfCompress(Buffer.from(s)) : s);
}

/** Genome position (1-based) of a wgbstools CpG index. */
export function cpgPosition(index: CpgIndex, chrom: string, cpgIdx: number): number {
  const p = index.positions.get(chrom);
  const first = index.firstIndex.get(chrom);
  if (!p || first === undefined)
    throw new TissueBertDataError('<CpG index>', `unknown chromosome '${chrom}'`);
  const k = cpgIdx - first;
  if (k < 0 || k >= p.length)
    throw new TissueBertDataError('<CpG index>', `CpG ${cpgIdx} is not on ${chrom}`);
  return p[k];
}
