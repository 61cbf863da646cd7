// Measures how much DataLoader worker threads overlap example decoding with main-thread compute.
// Build first (npx pnpm@10.34.8 build), then:  node benchmarks/trainer/loader-overlap.mjs [work] [batches] [matrix size]
// Decoding = `work` sin iterations per example (fixtures/worker-dataset.mjs); compute = matMul on the main thread.

import { initBackend, tf } from '../../packages/tensor/dist/index.js';
import { DataLoader } from '../../packages/trainer/dist/index.js';
import { createDataset } from '../../packages/trainer/fixtures/worker-dataset.mjs';

const work = Number(process.argv[2] ?? 20000);
const nBatches = Number(process.argv[3] ?? 40);
const batchSize = 16;
const n = nBatches * batchSize;
await initBackend('cpu');
const spec = {
  module: new URL('../../packages/trainer/fixtures/worker-dataset.mjs', import.meta.url).href,
  args: { n, work, dim: 64 },
};
const size = Number(process.argv[4] ?? 96);
const a = tf.randomNormal([size, size], 0, 1, 'float32', 1);
const compute = () =>
  tf.tidy(() => {
    let x = a;
    for (let i = 0; i < 2; i++) x = tf.matMul(x, a).div(200);
    return x.dataSync()[0];
  });

async function epoch(workers, withCompute, withDecode = true) {
  const ds = createDataset({ n, work: withDecode ? work : 0, dim: 64 });
  const loader = new DataLoader(
    { ...ds, get: ds.get, workerSpec: spec },
    { batchSize, workers, prefetch: 4 },
  );
  // warm the pool (worker start-up is a one-time cost)
  for await (const _ of loader.batches(99, loader.length - 1)) void _;
  const t0 = performance.now();
  for await (const _ of loader.batches(0)) if (withCompute) compute();
  const ms = performance.now() - t0;
  await loader.close();
  return ms;
}

compute();
// best of 3: the machine may be shared
const best = async (...args) => Math.min(await epoch(...args), await epoch(...args), await epoch(...args));
const computeOnly = await best(0, true, false);
const decodeOnly = await best(0, false);
const serial = await best(0, true);
const w1 = await best(1, true);
const w2 = await best(2, true);
const fmt = (ms) => `${ms.toFixed(0)} ms`;
console.log(JSON.stringify({ work, nBatches, batchSize, cpus: (await import('node:os')).cpus().length }));
console.log(`compute only (no decode)        ${fmt(computeOnly)}`);
console.log(`decode only, main thread        ${fmt(decodeOnly)}`);
console.log(`decode + compute, main thread   ${fmt(serial)}`);
console.log(
  `decode in 1 worker + compute    ${fmt(w1)}  (hidden: ${((100 * (serial - w1)) / Math.min(decodeOnly, computeOnly)).toFixed(0)}% of the smaller part)`,
);
console.log(
  `decode in 2 workers + compute   ${fmt(w2)}  (hidden: ${((100 * (serial - w2)) / Math.min(decodeOnly, computeOnly)).toFixed(0)}% of the smaller part)`,
);
