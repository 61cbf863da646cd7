#!/usr/bin/env node
// Training step of a small transformer encoder classifier (pre-LN, GELU, Adam), written from
// tfjs ops, against the same architecture in PyTorch (transformer_torch.py) with the same batch
// and thread count. Rounds alternate; each contender reports the median step time.
// Usage: node benchmarks/native/transformer.mjs [--rounds 3] [--steps 5] [--cpu] [--profile]
//   --profile (or MEDDL_PROFILE=1) prints time per kernel of one native step.
//   MEDDL_THREADS=2 (default: all cores) sets native and torch threads.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatKernelProfile, initBackend, profileKernels, tf } from '../../packages/tensor/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const flag = (name) => process.argv.includes(`--${name}`);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
export const CFG = { batch: 8, seq: 64, dim: 128, heads: 4, ff: 512, layers: 2, vocab: 1000, classes: 10 };
const rounds = arg('rounds', 3);
const steps = arg('steps', 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function buildModel(seed) {
  const { dim, ff, layers, vocab, classes, seq } = CFG;
  let s = seed;
  const w = (shape, std) => tf.variable(tf.randomNormal(shape, 0, std, 'float32', s++));
  const z = (shape) => tf.variable(tf.zeros(shape));
  const o = (shape) => tf.variable(tf.ones(shape));
  const p = { emb: w([vocab, dim], 0.02), pos: w([seq, dim], 0.02), layers: [] };
  for (let l = 0; l < layers; l++) {
    p.layers.push({
      ln1g: o([dim]),
      ln1b: z([dim]),
      wqkv: w([dim, 3 * dim], 0.02),
      bqkv: z([3 * dim]),
      wo: w([dim, dim], 0.02),
      bo: z([dim]),
      ln2g: o([dim]),
      ln2b: z([dim]),
      w1: w([dim, ff], 0.02),
      b1: z([ff]),
      w2: w([ff, dim], 0.02),
      b2: z([dim]),
    });
  }
  p.lnfg = o([dim]);
  p.lnfb = z([dim]);
  p.head = w([dim, classes], 0.02);
  p.headb = z([classes]);
  return p;
}

function layerNorm(x, g, b) {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
}
const gelu = (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
const linear = (x, w, b) => {
  const shape = x.shape;
  const y = tf.add(tf.matMul(tf.reshape(x, [-1, shape[shape.length - 1]]), w), b);
  return tf.reshape(y, [...shape.slice(0, -1), w.shape[1]]);
};

function forward(p, tokens) {
  const { batch, seq, dim, heads } = CFG;
  const hd = dim / heads;
  let x = tf.add(tf.gather(p.emb, tokens), p.pos);
  for (const L of p.layers) {
    const h = layerNorm(x, L.ln1g, L.ln1b);
    const qkv = tf.transpose(
      tf.reshape(linear(h, L.wqkv, L.bqkv), [batch, seq, 3, heads, hd]),
      [2, 0, 3, 1, 4],
    );
    const [q, k, v] = tf.unstack(qkv, 0);
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)));
    const o = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [batch, seq, dim]);
    x = tf.add(x, linear(o, L.wo, L.bo));
    const h2 = layerNorm(x, L.ln2g, L.ln2b);
    x = tf.add(x, linear(gelu(linear(h2, L.w1, L.b1)), L.w2, L.b2));
  }
  x = layerNorm(x, p.lnfg, p.lnfb);
  return linear(tf.mean(x, 1), p.head, p.headb);
}

async function tfjsSteps(backend, n) {
  await initBackend(backend);
  const p = buildModel(1);
  const opt = tf.train.adam(1e-3);
  const tokens = tf.randomUniform([CFG.batch, CFG.seq], 0, CFG.vocab, 'int32', 7);
  const labels = tf.oneHot(tf.randomUniform([CFG.batch], 0, CFG.classes, 'int32', 8), CFG.classes);
  const step = () =>
    tf.tidy(() => {
      const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, forward(p, tokens)), true);
      return cost.dataSync()[0];
    });
  step(); // warm-up
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
  let prof = null;
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: benchmarks are never cached by turbo (cache: false)
  if (flag('profile') || process.env.MEDDL_PROFILE === '1')
    prof = await profileKernels(() => {
      step();
      return [];
    });
  tf.disposeVariables();
  opt.dispose();
  tokens.dispose();
  labels.dispose();
  return { t: median(times), prof };
}

function torchSteps(n) {
  const env = { ...process.env, CFG: JSON.stringify(CFG), STEPS: String(n) };
  const r = spawnSync('/usr/bin/python3', [join(here, 'transformer_torch.py')], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim().split('\n').pop());
}

const res = { native: [], torch: [], cpu: [] };
let prof = null;
for (let i = 0; i < rounds; i++) {
  const r = await tfjsSteps('native', steps);
  res.native.push(r.t);
  prof = r.prof ?? prof;
  res.torch.push(torchSteps(steps));
  if (i === 0 && flag('cpu')) res.cpu.push((await tfjsSteps('cpu', 1)).t);
}
const info = await initBackend('native');
console.log(
  `transformer training step ${JSON.stringify(CFG)}, threads ${info.threads}, rounds ${rounds} x ${steps} steps`,
);
for (const [k, v] of Object.entries(res)) {
  if (v.length) console.log(`${k.padEnd(8)} ${(median(v) * 1000).toFixed(1).padStart(9)} ms/step`);
}
console.log(`native / torch = ${(median(res.native) / median(res.torch)).toFixed(2)}x`);
if (prof) console.log(`\nkernel profile of one native step:\n${formatKernelProfile(prof, 25)}`);
