/**
 * The prepared training store as one HDF5 file (`<data dir>/store.h5`), through @meddl/data's
 * h5wasm-based `Hdf5File`. Layout (format 'meddl-tissuebert-store', version 1):
 *
 *   /                     attrs format, version, tissues (JSON array), chroms (JSON array),
 *                               windowLength, tokenLength, samples (count)
 *   /regions/chrom        int32 [R]  index into the root `chroms`
 *   /regions/start, end   int32 [R]  0-based half-open bp
 *   /regions/startCpg, endCpg  int32 [R]  CpG index range, half-open
 *   /samples/<sample>     attrs sample, tissue, label, index (manifest order), n
 *       tokens            uint8 [n, L]  chunked by rows, gzip
 *       methylation       uint8 [n, L]  chunked by rows, gzip
 *       region            int32 [n]
 *       count             uint32 [n]
 *
 * Group names are the sample names with encodeURIComponent (HDF5 paths cannot hold '/').
 */
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Hdf5File } from '@meddl/data';
import { TissueBertDataError } from './errors';
import type { CpgRegion } from './formats/bed';
import type { PreparedSample, PreparedStore } from './store';

export const STORE_FORMAT = 'meddl-tissuebert-store';
export const STORE_VERSION = 1;
export const STORE_FILE = 'store.h5';

export interface WriteStoreOptions {
  /** Rows per chunk of tokens/methylation (default 4096). */
  chunkRows?: number;
  /** gzip level (default 4). */
  gzip?: number;
}

/** Writes `store` to `file` atomically (temp file + rename). */
export async function writePreparedStore(
  store: PreparedStore,
  file: string,
  options: WriteStoreOptions = {},
): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const chunkRows = options.chunkRows ?? 4096;
  const gzip = options.gzip ?? 4;
  const L = store.tokenLength;
  const chroms = [...new Set(store.regions.map((r) => r.chrom))];
  const f = await Hdf5File.open(tmp, 'w');
  try {
    f.setAttributes('/', {
      format: STORE_FORMAT,
      version: STORE_VERSION,
      tissues: JSON.stringify(store.tissues),
      chroms: JSON.stringify(chroms),
      windowLength: store.windowLength,
      tokenLength: L,
      samples: store.samples.length,
    });
    const R = store.regions.length;
    const col = (get: (r: CpgRegion) => number) => Int32Array.from(store.regions, get);
    const regionOpts = { shape: [R], ...(R > 0 ? { chunks: [Math.min(R, 65536)], gzip } : {}) };
    f.writeDataset(
      'regions/chrom',
      col((r) => chroms.indexOf(r.chrom)),
      regionOpts,
    );
    f.writeDataset(
      'regions/start',
      col((r) => r.start),
      regionOpts,
    );
    f.writeDataset(
      'regions/end',
      col((r) => r.end),
      regionOpts,
    );
    f.writeDataset(
      'regions/startCpg',
      col((r) => r.startCpg),
      regionOpts,
    );
    f.writeDataset(
      'regions/endCpg',
      col((r) => r.endCpg),
      regionOpts,
    );
    f.createGroup('samples');
    store.samples.forEach((s, index) => {
      const g = `samples/${encodeURIComponent(s.sample)}`;
      if (f.has(g)) throw new TissueBertDataError(file, `sample '${s.sample}' appears twice`);
      f.createGroup(g);
      f.setAttributes(g, { sample: s.sample, tissue: s.tissue, label: s.label, index, n: s.n });
      const rows = Math.max(1, Math.min(s.n, chunkRows));
      const chunked = s.n > 0;
      f.writeDataset(`${g}/tokens`, s.tokens, {
        shape: [s.n, L],
        ...(chunked ? { chunks: [rows, L], gzip } : {}),
      });
      f.writeDataset(`${g}/methylation`, s.methylation, {
        shape: [s.n, L],
        ...(chunked ? { chunks: [rows, L], gzip } : {}),
      });
      f.writeDataset(`${g}/region`, s.region, {
        shape: [s.n],
        ...(chunked ? { chunks: [Math.min(s.n, rows * 16)] } : {}),
      });
      f.writeDataset(`${g}/count`, s.count, {
        shape: [s.n],
        ...(chunked ? { chunks: [Math.min(s.n, rows * 16)] } : {}),
      });
    });
  } catch (e) {
    f.close();
    rmSync(tmp, { force: true });
    throw e;
  }
  f.close();
  renameSync(tmp, file);
}

function jsonStrings(file: string, value: unknown, what: string): string[] {
  try {
    const v = JSON.parse(String(value));
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // reported below
  }
  throw new TissueBertDataError(file, `root attribute '${what}' is not a JSON array of strings`);
}

/** Reads a store written by `writePreparedStore` / `prepareStore` fully into memory. */
export async function openPreparedStore(file: string): Promise<PreparedStore> {
  const f = await Hdf5File.open(file, 'r');
  try {
    const root = f.attributes('/');
    if (root.format !== STORE_FORMAT)
      throw new TissueBertDataError(
        file,
        `not a tissuebert store (root attribute format is '${String(root.format)}', expected '${STORE_FORMAT}')`,
      );
    if (root.version !== STORE_VERSION)
      throw new TissueBertDataError(file, `store version ${String(root.version)} is not supported`);
    const tissues = jsonStrings(file, root.tissues, 'tissues');
    const chroms = jsonStrings(file, root.chroms, 'chroms');
    const L = Number(root.tokenLength);
    const need = (path: string) => {
      if (!f.has(path)) throw new TissueBertDataError(file, `missing '${path}'`);
      return f.read(path);
    };
    const chrom = need('regions/chrom');
    const start = need('regions/start');
    const end = need('regions/end');
    const startCpg = need('regions/startCpg');
    const endCpg = need('regions/endCpg');
    const regions: CpgRegion[] = Array.from({ length: chrom.length }, (_, i) => {
      const c = chroms[Number(chrom[i])];
      if (c === undefined) throw new TissueBertDataError(file, `regions/chrom[${i}] is out of range`);
      return {
        chrom: c,
        start: Number(start[i]),
        end: Number(end[i]),
        startCpg: Number(startCpg[i]),
        endCpg: Number(endCpg[i]),
      };
    });
    const samples: Array<PreparedSample & { index: number }> = f.keys('samples').map((key) => {
      const g = `samples/${key}`;
      const a = f.attributes(g);
      const n = Number(a.n);
      const tokens = need(`${g}/tokens`);
      const methylation = need(`${g}/methylation`);
      const region = need(`${g}/region`);
      const count = need(`${g}/count`);
      if (
        !(tokens instanceof Uint8Array) ||
        !(methylation instanceof Uint8Array) ||
        !(region instanceof Int32Array) ||
        !(count instanceof Uint32Array)
      )
        throw new TissueBertDataError(
          file,
          `${g}: expected uint8 tokens/methylation, int32 region, uint32 count`,
        );
      if (
        tokens.length !== n * L ||
        methylation.length !== n * L ||
        region.length !== n ||
        count.length !== n
      )
        throw new TissueBertDataError(file, `${g}: dataset sizes do not match n = ${n}, L = ${L}`);
      const label = Number(a.label);
      if (tissues[label] !== a.tissue)
        throw new TissueBertDataError(file, `${g}: label ${label} is not tissue '${String(a.tissue)}'`);
      return {
        sample: String(a.sample),
        tissue: String(a.tissue),
        label,
        n,
        tokens,
        methylation,
        region,
        count,
        index: Number(a.index),
      };
    });
    samples.sort((x, y) => x.index - y.index);
    return {
      tokenLength: L,
      windowLength: Number(root.windowLength),
      tissues,
      regions,
      samples: samples.map(({ index: _, ...s }) => s),
    };
  } finally {
    f.close();
  }
}

/** True when `<dir>/store.h5` exists and is newer than `<dir>/manifest.csv`. */
export function storeIsFresh(dir: string): boolean {
  const h5 = join(dir, STORE_FILE);
  const manifest = join(dir, 'manifest.csv');
  return existsSync(h5) && existsSync(manifest) && statSync(h5).mtimeMs > statSync(manifest).mtimeMs;
}
