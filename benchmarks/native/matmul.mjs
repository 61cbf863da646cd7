#!/usr/bin/env node
// fp32 1024^3 matmul: meddl native backend vs numpy (same OpenBLAS) vs tfjs cpu and wasm.
// Rounds alternate between the contenders; each reports the median of its rounds.
// Usage: node benchmarks/native/matmul.mjs [--n 1024] [--rounds 5] [--slow-rounds 1]
// (needs `pnpm --filter @meddl/tensor build` first; numpy from /usr/bin/python3)
import { spawnSync } from 'node:child_process';
import { initBackend, tf } from '../../packages/tensor/dist/index.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg('n', 1024);
const rounds = arg('rounds', 5);
const slowRounds = arg('slow-rounds', 1);
const threads = process.env.MEDDL_THREADS ?? '';
const flops = 2 * n * n * n;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function tfjsOnce(backend, reps) {
  await initBackend(backend);
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  tf.matMul(a, b).dispose(); // warm-up
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    times.push((performance.now() - t0) / 1000);
    c.dispose();
  }
  a.dispose();
  b.dispose();
  return median(times);
}

function numpyOnce(reps) {
  const code = `
import time, numpy as np
n=${n}
a=np.random.default_rng(1).standard_normal((n,n),dtype=np.float32)
b=np.random.default_rng(2).standard_normal((n,n),dtype=np.float32)
a@b
ts=[]
for _ in range(${reps}):
    t=time.perf_counter(); a@b; ts.append(time.perf_counter()-t)
ts.sort(); print(ts[len(ts)//2])
`;
  const env = { ...process.env };
  if (threads) env.OPENBLAS_NUM_THREADS = threads;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}

const res = { native: [], numpy: [], cpu: [], wasm: [] };
for (let i = 0; i < rounds; i++) {
  res.native.push(await tfjsOnce('native', 3));
  res.numpy.push(numpyOnce(3));
  if (i < slowRounds) {
    res.wasm.push(await tfjsOnce('wasm', 1));
    res.cpu.push(await tfjsOnce('cpu', 1));
  }
}
const info = await initBackend('native');
console.log(`fp32 matmul ${n}^3, native threads ${info.threads}, rounds ${rounds} (cpu/wasm ${slowRounds})`);
const g = {};
for (const [k, v] of Object.entries(res)) {
  if (v.length === 0) continue;
  g[k] = flops / median(v) / 1e9;
  console.log(
    `${k.padEnd(8)} ${(median(v) * 1000).toFixed(1).padStart(9)} ms  ${g[k].toFixed(1).padStart(7)} GFLOP/s`,
  );
}
console.log(`native / numpy = ${((100 * g.native) / g.numpy).toFixed(0)}%`);
