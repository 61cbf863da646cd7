import { readFileSync } from 'node:fs';
import { TissueBertDataError } from '../errors';

/** A dense numeric table: row ids × named columns, row-major values. */
export interface NumericTable {
  rowIds: string[];
  columns: string[];
  /** rows × columns, row-major. */
  values: Float64Array;
}

/**
 * Reads a comma- (or tab-) separated table with a header whose first column is an id
 * (the meth_atlas `reference_atlas.csv` and mixture CSV layout). All rows are kept, including
 * repeated ids (meth_atlas reads with pandas `index_col=0`, which keeps duplicates).
 * Empty cells become NaN.
 */
export function parseNumericTable(text: string, file = '<csv>', sep?: string): NumericTable {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new TissueBertDataError(file, 'empty table');
  const delim = sep ?? (lines[0].includes('\t') && !lines[0].includes(',') ? '\t' : ',');
  const header = lines[0].split(delim);
  const columns = header.slice(1);
  if (columns.length === 0) throw new TissueBertDataError(file, 'header has no value columns', 1);
  const rowIds: string[] = [];
  const values = new Float64Array((lines.length - 1) * columns.length);
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].split(delim);
    if (f.length !== header.length) {
      throw new TissueBertDataError(file, `expected ${header.length} fields, got ${f.length}`, i + 1);
    }
    rowIds.push(f[0]);
    for (let j = 0; j < columns.length; j++) {
      const v = f[j + 1];
      const x = v === '' || v === 'NA' || v === 'NaN' || v === 'nan' ? Number.NaN : Number(v);
      if (Number.isNaN(x) && !(v === '' || v === 'NA' || /^nan$/i.test(v))) {
        throw new TissueBertDataError(file, `column '${columns[j]}' is not a number: '${v}'`, i + 1);
      }
      values[(i - 1) * columns.length + j] = x;
    }
  }
  return { rowIds, columns, values };
}

export function readNumericTable(file: string, sep?: string): NumericTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TissueBertDataError(file, `cannot read: ${(e as Error).message}`);
  }
  return parseNumericTable(text, file, sep);
}

/** Column j of a table as a vector. */
export function tableColumn(t: NumericTable, j: number): Float64Array {
  const n = t.rowIds.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = t.values[i * t.columns.length + j];
  return out;
}

/**
 * Aligns a mixture table to an atlas by row id the way meth_atlas `deconvolve.py` does: both
 * tables are de-duplicated by id (keeping one row per id; in reference_atlas.csv the 1785
 * repeated ids carry identical values, so which one is kept does not matter), inner-joined on
 * the id, and rows with a missing value in the atlas or in this mixture column are dropped.
 * Returns the atlas rows and the mixture columns (one Float64Array per mixture column, aligned
 * with `ids`); rows with NaN in one mixture are dropped for that mixture only via `valid`.
 */
export function alignByRowId(
  atlas: NumericTable,
  mixture: NumericTable,
): { ids: string[]; atlasRows: Float64Array[]; mixtureRows: Float64Array[] } {
  const firstMix = new Map<string, number>();
  mixture.rowIds.forEach((id, i) => {
    if (!firstMix.has(id)) firstMix.set(id, i);
  });
  const seen = new Set<string>();
  const atlasRows: Float64Array[] = [];
  const mixtureRows: Float64Array[] = [];
  const ids: string[] = [];
  const ca = atlas.columns.length;
  const cm = mixture.columns.length;
  for (let i = 0; i < atlas.rowIds.length; i++) {
    const id = atlas.rowIds[i];
    if (seen.has(id)) continue;
    seen.add(id);
    const k = firstMix.get(id);
    if (k === undefined) continue;
    const a = atlas.values.subarray(i * ca, (i + 1) * ca);
    if (a.some(Number.isNaN)) continue;
    atlasRows.push(Float64Array.from(a));
    mixtureRows.push(Float64Array.from(mixture.values.subarray(k * cm, (k + 1) * cm)));
    ids.push(id);
  }
  return { ids, atlasRows, mixtureRows };
}
