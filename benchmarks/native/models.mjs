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
import { ints, normals, MODELS as SUITE_MODELS, trainer } from '../suite/src/models.mjs';

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
      const step = trainer(model, () => tf.losses.softmaxCrossEntropy(y, model.forward(ids, meth)));
      return {
        step,
        peer: { model: 'tissuebert', config: c, batch, seq },
        dispose: () => {
          step.dispose();
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
      const step = trainer(model, () => tf.losses.softmaxCrossEntropy(y, model.forward(x).logits));
      return {
        step,
        peer: { model: 'crc-mil', config: model.config, batch: 1, bag },
        dispose: () => {
          step.dispose();
          tf.dispose([x, y]);
        },
      };
    },
  },
  vjepa3d: {
    describe:
      'vit3d-small (V-JEPA 3D: ViT 384 × 12 + predictor 384 × 6 over 1024 tubelet tokens), batch 2, L1 loss',
    build() {
      // The benchmark suite's own vit3d case (seeded volume, a quarter of the tokens as context,
      // the next half as targets); its preset `small` is vit3d-small at batch 2.
      const m = SUITE_MODELS.vjepa3d.build('small');
      return {
        step: m.trainStep,
        peer: { model: 'vjepa3d', ...m.peerSpec },
        dispose: () => {
          m.trainStep.dispose();
          tf.dispose(m.inputs);
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
