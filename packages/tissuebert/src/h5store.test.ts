import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hdf5File } from '@meddl/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TissueBertDataError } from './errors';
import { openPreparedStore, STORE_FILE, storeIsFresh } from './h5store';
import type { PreparedStore } from './store';
import { generateSyntheticDataset } from './synth/generator';
import { buildStore, loadStore, prepareStore } from './train';

describe('HDF5 prepared store', () => {
  let root: string;
  let data: string;
  let built: PreparedStore;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'tb-h5-'));
    data = join(root, 'data');
    generateSyntheticDataset(data, { seed: 5, samples: 30, regions: 16, meanCoverage: 4 });
    built = await buildStore(data);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('round-trips every sample, region and the metadata exactly', async () => {
    const out = join(root, 'copy.h5');
    const r = await prepareStore(data, out);
    expect(r.samples).toBe(30);
    expect(r.examples).toBe(built.samples.reduce((a, s) => a + s.n, 0));
    expect(r.examples).toBeGreaterThan(0);
    const back = await openPreparedStore(out);
    expect(back.tissues).toEqual(built.tissues);
    expect(back.regions).toEqual(built.regions);
    expect(back.tokenLength).toBe(148);
    expect(back.windowLength).toBe(150);
    expect(back.samples.map((s) => s.sample)).toEqual(built.samples.map((s) => s.sample));
    back.samples.forEach((s, i) => {
      const b = built.samples[i];
      expect([s.tissue, s.label, s.n]).toEqual([b.tissue, b.label, b.n]);
      expect(Buffer.compare(Buffer.from(s.tokens), Buffer.from(b.tokens))).toBe(0);
      expect(Buffer.compare(Buffer.from(s.methylation), Buffer.from(b.methylation))).toBe(0);
      expect(Array.from(s.region)).toEqual(Array.from(b.region));
      expect(Array.from(s.count)).toEqual(Array.from(b.count));
    });
    // Chunked, compressed datasets, one group per sample.
    const f = await Hdf5File.open(out);
    const g = `samples/${encodeURIComponent(built.samples[0].sample)}`;
    const info = f.info(`${g}/tokens`);
    expect(info.dtype).toBe('uint8');
    expect(info.shape).toEqual([built.samples[0].n, 148]);
    expect(info.chunks?.[1]).toBe(148);
    expect(info.filters).toContain('deflate');
    expect(f.keys('samples')).toHaveLength(30);
    f.close();
  });

  it('loadStore reads store.h5 when it is newer than manifest.csv, else the pat files', async () => {
    expect(storeIsFresh(data)).toBe(false);
    await prepareStore(data);
    expect(storeIsFresh(data)).toBe(true);
    // Make the HDF5 copy distinguishable: drop a sample from it.
    const h5 = join(data, STORE_FILE);
    const smaller = { ...built, samples: built.samples.slice(1) };
    const { writePreparedStore } = await import('./h5store');
    await writePreparedStore(smaller, h5);
    expect((await loadStore(data)).samples).toHaveLength(29);
    expect((await loadStore(data, { hdf5: false })).samples).toHaveLength(30);
    // A manifest edited after the store makes it stale.
    const later = new Date(Date.now() + 5000);
    utimesSync(join(data, 'manifest.csv'), later, later);
    expect(storeIsFresh(data)).toBe(false);
    expect((await loadStore(data)).samples).toHaveLength(30);
  });

  it('rejects a file that is not a tissuebert store, naming it', async () => {
    const other = join(root, 'other.h5');
    const f = await Hdf5File.open(other, 'w');
    f.setAttributes('/', { format: 'something-else' });
    f.close();
    await expect(openPreparedStore(other)).rejects.toThrow(TissueBertDataError);
    await expect(openPreparedStore(other)).rejects.toThrow(/other\.h5.*not a tissuebert store/);
    writeFileSync(join(root, 'junk.h5'), 'not hdf5');
    await expect(openPreparedStore(join(root, 'junk.h5'))).rejects.toThrow(/junk\.h5/);
  });
});
