// CSV (RFC 4180, via csv-parse) and JSONL manifests, each row validated by a zod schema the caller
// passes. Errors carry row and line numbers and field names.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type { z } from 'zod';
import { ManifestError, type ManifestIssue } from './errors';

export type ManifestFormat = 'csv' | 'tsv' | 'jsonl';

export interface ManifestOptions {
  /** Default: from the file extension (.csv, .tsv, .jsonl/.ndjson); 'csv' for text. */
  format?: ManifestFormat;
  /** Name used in error messages for text input; default '<manifest>'. */
  source?: string;
  /** CSV cells that are empty become `undefined` (so `.optional()` fields work); default true. */
  emptyAsUndefined?: boolean;
  /** Stop collecting issues after this many; default 20. */
  maxIssues?: number;
}

interface RawRow {
  line: number;
  value: unknown;
}

function formatOf(path: string): ManifestFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.tsv') return 'tsv';
  return 'csv';
}

function csvRows(text: string, source: string, delimiter: string, emptyAsUndefined: boolean): RawRow[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parseCsv(text, {
      columns: (header: string[]) => {
        const seen = new Set<string>();
        return header.map((h) => {
          const name = h.trim();
          if (name === '') throw new ManifestError(source, 'line 1: empty column name in the header');
          if (seen.has(name))
            throw new ManifestError(source, `line 1: duplicate column "${name}" in the header`);
          seen.add(name);
          return name;
        });
      },
      bom: true,
      delimiter,
      skip_empty_lines: true,
      info: true,
      relax_column_count: false,
    }) as unknown as { record: Record<string, string>; info: { lines: number } }[];
  } catch (e) {
    if (e instanceof ManifestError) throw e;
    const err = e as { lines?: number; message?: string };
    throw new ManifestError(
      source,
      `line ${err.lines ?? '?'}: malformed ${delimiter === '\t' ? 'TSV' : 'CSV'}: ${err.message ?? String(e)}`,
    );
  }
  return records.map(({ record, info }) => {
    const value: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(record)) value[k] = emptyAsUndefined && v === '' ? undefined : v;
    return { line: info.lines, value };
  });
}

function jsonlRows(text: string, source: string): RawRow[] {
  const rows: RawRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    try {
      rows.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (e) {
      throw new ManifestError(
        source,
        `line ${i + 1}: invalid JSON: ${e instanceof Error ? e.message : String(e)}`,
        [{ row: rows.length + 1, line: i + 1, field: '', message: 'invalid JSON' }],
      );
    }
  });
  return rows;
}

/** Parses manifest text and validates every row; throws one ManifestError listing the issues. */
export function parseManifest<S extends z.ZodType>(
  text: string,
  schema: S,
  options: ManifestOptions = {},
): z.output<S>[] {
  const source = options.source ?? '<manifest>';
  const format = options.format ?? 'csv';
  const rows =
    format === 'jsonl'
      ? jsonlRows(text, source)
      : csvRows(text, source, format === 'tsv' ? '\t' : ',', options.emptyAsUndefined ?? true);
  const maxIssues = options.maxIssues ?? 20;
  const issues: ManifestIssue[] = [];
  const out: z.output<S>[] = [];
  rows.forEach((r, i) => {
    const result = schema.safeParse(r.value);
    if (result.success) {
      out.push(result.data);
      return;
    }
    for (const issue of result.error.issues) {
      if (issues.length < maxIssues) {
        issues.push({
          row: i + 1,
          line: r.line,
          field: issue.path.map(String).join('.'),
          message: issue.message,
        });
      }
    }
  });
  if (issues.length) {
    const lines = issues.map(
      (x) => `row ${x.row} (line ${x.line})${x.field ? `, field "${x.field}"` : ''}: ${x.message}`,
    );
    throw new ManifestError(source, `${issues.length} invalid value(s):\n  ${lines.join('\n  ')}`, issues);
  }
  return out;
}

/** Reads and validates a CSV/TSV/JSONL manifest file. */
export async function readManifest<S extends z.ZodType>(
  path: string,
  schema: S,
  options: Omit<ManifestOptions, 'source'> = {},
): Promise<z.output<S>[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ManifestError(path, `cannot read file: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseManifest(text, schema, { ...options, source: path, format: options.format ?? formatOf(path) });
}
