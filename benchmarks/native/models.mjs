#!/usr/bin/env node
// Training steps of the three models of issue 14 — tissuebert-small, the crc-mil gated-attention
// MIL head on one bag of 4096 × 1024 features, and vit3d-small (V-JEPA 3D) — built from the
// meddl packages themselves (createModel / GatedAttentionMil, @meddl/trainer's Adam) on the
// native backend, side by side with their PyTorch twins from benchmarks/peers/peers.py (same
// layers, batch, Adam lr 1e-3, thread count). Rounds alternate between the two; each reports the
// median step time of its rounds (each round: 1 warm-up + `steps` timed steps, median), plus the
// min–max over rounds.
// Usage: node benchmarks/native/models.mjs [--models tissuebert,crc-mil,vjepa3d] [--rounds 3]
//        [--steps 3] [--profile]        MEDDL_THREADS=1 sets native and torch threads.
// Build first: pnpm --filter @meddl/tensor --filter @meddl/nn --filter @meddl/trainer ... build.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatedAttentionMil } from '../../packages/crc-mil/dist/index.js';
import {
  formatKernelProfile,
  Generator,
  initBackend,
  profileKernels,
  tf,
} from '../../packages/tensor/dist/index.js';
import { createModel as createTissueBert } from '../../packages/tissuebert/dist/index.js';
import { Adam } from '../../packages/trainer/dist/index.js';
import { createModel as createVJepa, patchify, tokenGrid } from '../../packages/vjepa3d/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv;
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
// biome-ignore lint/suspicious/noUndeclaredEnvVars: benchmarks are never cached by turbo (cache: false)
const profile = argv.includes('--profile') || process.env.MEDDL_PROFILE === '1';
const rounds = Number(opt('rounds', 3));
const steps = Number(opt('steps', 3));
const which = opt('models', 'tissuebert,crc-mil,vjepa3d').split(',');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function ints(rng, n, lo, hi) {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(rng.random() * (hi - lo));
  return a;
}
function normals(rng, n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Adam (torch.optim.Adam semantics) on tf.variableGrads of lossFn, as the benchmark suite does. */
function trainer(model, lossFn) {
  const params = model.trainableParameters();
  const adam = new Adam(params, { lr: 1e-3 });
  const step = () => {
    model.train();
    const { value, grads } = tf.variableGrads(lossFn, params);
    adam.step(grads);
    const v = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return v;
  };
  return { step, dispose: () => adam.dispose() };
}

const MODELS = {
  tissuebert: {
    describe: 'tissuebert-small (hidden 128, 2 layers, 4 heads, FFN 512), batch 16 × 148 tokens',
    build() {
      const batch = 16;
      const seq = 148;
      const rng = new Generator(0);
      const model = createTissueBert('tissuebert-small', {}, rng);
      const c = model.config;
      const ids = tf.tensor2d(ints(rng, batch * seq, 5, c.vocabSize), [batch, seq], 'int32');
      const meth = tf.tensor2d(ints(rng, batch * seq, 0, c.methylationStates), [batch, seq], 'int32');
      const y = tf.oneHot(tf.tensor1d(ints(rng, batch, 0, c.numClasses), 'int32'), c.numClasses);
      const t = trainer(model, () => tf.losses.softmaxCrossEntropy(y, model.forward(ids, meth)));
      return {
        step: t.step,
        peer: { model: 'tissuebert', config: c, batch, seq },
        dispose: () => {
          t.dispose();
          tf.dispose([ids, meth, y]);
        },
      };
    },
  },
  'crc-mil': {
    describe: 'crc-mil gated-attention MIL head (1024 → 512 → gated attention 256), one bag of 4096 × 1024',
    build() {
      const bag = 4096;
      const rng = new Generator(0);
      const model = new GatedAttentionMil({ inDim: 1024, hidden: 512, attnDim: 256, dropout: 0.25 }, rng);
      const x = tf.tensor2d(normals(rng, bag * 1024), [bag, 1024]);
      const y = tf.oneHot(tf.tensor1d([1], 'int32'), model.config.numClasses);
      const t = trainer(model, () => tf.losses.softmaxCrossEntropy(y, model.forward(x).logits));
      return {
        step: t.step,
        peer: { model: 'crc-mil', config: model.config, batch: 1, bag },
        dispose: () => {
          t.dispose();
          tf.dispose([x, y]);
        },
      };
    },
  },
  vjepa3d: {
    describe:
      'vit3d-small (V-JEPA 3D: ViT 384 × 12 + predictor 384 × 6 over 1024 tubelet tokens), batch 2, L1 loss',
    build() {
      const batch = 2;
      const rng = new Generator(0);
      const model = createVJepa('vit3d-small', {}, new Generator(0));
      const c = model.config;
      const grid = tokenGrid(c);
      const n = grid[0] * grid[1] * grid[2];
      const k = c.tubelet[0] * c.tubelet[1] * c.tubelet[2];
      const vol = c.inputShape[0] * c.inputShape[1] * c.inputShape[2];
      const tubelets = tf.tensor3d(patchify(normals(rng, batch * vol), batch, c.inputShape, c.tubelet), [
        batch,
        n,
        k,
      ]);
      const nContext = Math.floor(n / 4);
      const nTarget = Math.floor(n / 2);
      const context = new Int32Array(batch * nContext);
      const target = new Int32Array(batch * nTarget);
      for (let b = 0; b < batch; b++) {
        const perm = rng.permutation(n);
        for (let j = 0; j < nContext; j++) context[b * nContext + j] = perm[j];
        for (let j = 0; j < nTarget; j++) target[b * nTarget + j] = perm[nContext + j];
      }
      const masks = [{ context, target, nContext, nTarget }];
      const t = trainer(model, () => model.loss(tubelets, masks, 'l1'));
      return {
        step: t.step,
        peer: { model: 'vjepa3d', config: c, batch, nContext, nTarget },
        dispose: () => {
          t.dispose();
          tubelets.dispose();
        },
      };
    },
  },
};

async function nativeRound(name) {
  await initBackend('native');
  const m = MODELS[name].build();
  m.step(); // warm-up
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    m.step();
    times.push(performance.now() - t0);
  }
  let prof = null;
  if (profile)
    prof = await profileKernels(() => {
      m.step();
      return [];
    });
  m.dispose();
  tf.disposeVariables();
  return { ms: median(times), prof, peer: m.peer };
}

function torchRound(peer, threads) {
  const spec = { ...peer, steps, warmup: 1, threads, scenarios: ['train-step'] };
  // OpenBLAS inside torch gets the same thread count (its own pool ignores torch.set_num_threads).
  const t = String(threads);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t };
  const r = spawnSync('/usr/bin/python3', [join(here, '..', 'peers', 'peers.py')], {
    env,
    input: JSON.stringify(spec),
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`peers.py failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ms: median(out.train) * 1000, torch: out.torch, threads: out.threads };
}

const info = await initBackend('native');
const threads = info.threads;
const loadavg = (await import('node:os')).loadavg().map((x) => x.toFixed(1));
console.log(
  `issue-14 training steps, native threads ${threads}, rounds ${rounds} × ${steps} steps, load ${loadavg.join(' ')}`,
);
const rows = [];
for (const name of which) {
  const nat = [];
  const tor = [];
  let prof = null;
  let torchVersion = '';
  for (let r = 0; r < rounds; r++) {
    const n = await nativeRound(name);
    nat.push(n.ms);
    prof = n.prof ?? prof;
    const t = torchRound(n.peer, threads);
    tor.push(t.ms);
    torchVersion = `${t.torch}, ${t.threads} thread(s)`;
  }
  const row = {
    name,
    native: median(nat),
    torch: median(tor),
    nativeRange: [Math.min(...nat), Math.max(...nat)],
    torchRange: [Math.min(...tor), Math.max(...tor)],
  };
  rows.push(row);
  const f = (x) => x.toFixed(1);
  console.log(`\n${name}: ${MODELS[name].describe} (torch ${torchVersion})`);
  console.log(
    `  native ${f(row.native)} ms/step (${f(row.nativeRange[0])}–${f(row.nativeRange[1])}), ` +
      `torch ${f(row.torch)} ms/step (${f(row.torchRange[0])}–${f(row.torchRange[1])}), ` +
      `native/torch ${(row.native / row.torch).toFixed(2)}×`,
  );
  if (prof) console.log(`  kernel profile of one native step:\n${formatKernelProfile(prof, 20)}`);
}
const after = (await import('node:os')).loadavg().map((x) => x.toFixed(1));
console.log(`\nload average at the end: ${after.join(' ')}`);
