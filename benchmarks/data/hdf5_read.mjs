// HDF5 feature-bag read MB/s with meddl (h5wasm) beside hdf5_read_h5py.py. Not a test.
// Build first: npx --yes pnpm@10.34.8 --filter @meddl/data build
// Run: node benchmarks/data/hdf5_read.mjs [dir] [rows] [dim] [repeats]
// Writes <dir>/bench_bag.h5 (CLAM layout, rows x dim float32, chunks of 1000 rows, uncompressed)
// and reads it whole / in 1000-row hyperslabs.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hdf5File, readFeatureBag, writeFeatureBag } from '../../packages/data/dist/index.js';

const dir = process.argv[2] ?? tmpdir();
const rows = Number(process.argv[3] ?? 20000);
const dim = Number(process.argv[4] ?? 1024);
const repeats = Number(process.argv[5] ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const features = new Float32Array(rows * dim);
for (let i = 0; i < features.length; i++) features[i] = (i % 9973) / 9973;
const coords = new Int32Array(rows * 2).map((_, i) => i);
const path = join(dir, 'bench_bag.h5');
await writeFeatureBag(
  path,
  { features, coords, dim, attributes: { patch_level: 0, patch_size: 256 } },
  { chunkRows: 1000 },
);
const mb = (rows * dim * 4 + rows * 8) / 1e6;
const whole = [];
const slabs = [];
for (let r = 0; r < repeats + 1; r++) {
  let t0 = performance.now();
  const bag = await readFeatureBag(path);
  const dt = (performance.now() - t0) / 1000;
  if (bag.count !== rows) throw new Error('bad read');
  const f = await Hdf5File.open(path);
  t0 = performance.now();
  for (let s = 0; s < rows; s += 1000) f.readSlice('features', [[s, Math.min(rows, s + 1000)], null]);
  const st = (performance.now() - t0) / 1000;
  f.close();
  if (r === 0) continue;
  whole.push((rows * dim * 4 + rows * 8) / 1e6 / dt);
  slabs.push((rows * dim * 4) / 1e6 / st);
}
console.log(
  `meddl/h5wasm: ${rows}x${dim} float32 bag (${mb.toFixed(1)} MB, chunks 1000 rows): whole-bag read median ${median(whole).toFixed(0)} MB/s; ` +
    `1000-row hyperslabs median ${median(slabs).toFixed(0)} MB/s`,
);
