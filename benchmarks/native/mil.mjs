#!/usr/bin/env node
// Training step of a gated-attention MIL head (Ilse et al. 2018) on one bag of 4096 x 1024
// features: Linear 1024->512 + ReLU, gated attention (tanh/sigmoid branches 512->256, score
// 256->1, softmax over instances), attention pooling, Linear 512->2, cross-entropy, Adam.
// Same architecture in PyTorch (mil_torch.py); rounds alternate, medians reported.
// Usage: node benchmarks/native/mil.mjs [--rounds 3] [--steps 5] [--profile]  (MEDDL_THREADS, MEDDL_PROFILE=1)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatKernelProfile, initBackend, profileKernels, tf } from '../../packages/tensor/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
// biome-ignore lint/suspicious/noUndeclaredEnvVars: benchmarks are never cached by turbo (cache: false)
const profile = process.argv.includes('--profile') || process.env.MEDDL_PROFILE === '1';
const rounds = arg('rounds', 3);
const steps = arg('steps', 5);
const N = 4096;
const F = 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function tfjsSteps(n) {
  await initBackend('native');
  let s = 1;
  const w = (shape) => tf.variable(tf.randomNormal(shape, 0, 1 / Math.sqrt(shape[0]), 'float32', s++));
  const z = (shape) => tf.variable(tf.zeros(shape));
  const p = {
    w1: w([F, 512]),
    b1: z([512]),
    wv: w([512, 256]),
    bv: z([256]),
    wu: w([512, 256]),
    bu: z([256]),
    ww: w([256, 1]),
    bw: z([1]),
    wc: w([512, 2]),
    bc: z([2]),
  };
  const x = tf.randomNormal([N, F], 0, 1, 'float32', 99);
  const y = tf.tensor2d([[0, 1]]);
  const opt = tf.train.adam(1e-4);
  const lin = (a, wt, b) => tf.add(tf.matMul(a, wt), b);
  const step = () =>
    tf.tidy(
      () =>
        opt
          .minimize(() => {
            const h = tf.relu(lin(x, p.w1, p.b1));
            const gate = tf.mul(tf.tanh(lin(h, p.wv, p.bv)), tf.sigmoid(lin(h, p.wu, p.bu)));
            const a = tf.softmax(tf.reshape(lin(gate, p.ww, p.bw), [1, N]));
            const logits = lin(tf.matMul(a, h), p.wc, p.bc);
            return tf.losses.softmaxCrossEntropy(y, logits);
          }, true)
          .dataSync()[0],
    );
  step();
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
  const prof = profile
    ? await profileKernels(() => {
        step();
        return [];
      })
    : null;
  tf.disposeVariables();
  opt.dispose();
  x.dispose();
  y.dispose();
  return { t: median(times), prof };
}

function torchSteps(n) {
  const r = spawnSync('/usr/bin/python3', [join(here, 'mil_torch.py')], {
    encoding: 'utf8',
    env: { ...process.env, STEPS: String(n) },
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim().split('\n').pop());
}

const res = { native: [], torch: [] };
let prof = null;
for (let i = 0; i < rounds; i++) {
  const r = await tfjsSteps(steps);
  res.native.push(r.t);
  prof = r.prof ?? prof;
  res.torch.push(torchSteps(steps));
}
const info = await initBackend('native');
console.log(
  `gated-attention MIL head, bag ${N} x ${F}, threads ${info.threads}, rounds ${rounds} x ${steps} steps`,
);
for (const [k, v] of Object.entries(res))
  console.log(`${k.padEnd(8)} ${(median(v) * 1000).toFixed(1).padStart(9)} ms/step`);
console.log(`native / torch = ${(median(res.native) / median(res.torch)).toFixed(2)}x`);
if (prof) console.log(`\nkernel profile of one native step:\n${formatKernelProfile(prof, 20)}`);
