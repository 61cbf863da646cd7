#!/usr/bin/env node
// Diagnoses the probe task: how separable are the labels from simple, training-free features
// (per-token mean intensity on the token grid, a global intensity histogram) and from a randomly
// initialised encoder, on the same patient split the pretraining run uses.
//   node benchmarks/vjepa3d/diagnose.mjs DATA_DIR [seeds=0,1,2]
import { Generator, initBackend } from '../../packages/tensor/dist/index.js';
import {
  centerCrop,
  createModel,
  embedVolumes,
  loadOctDataset,
  probeFeatures,
  splitDataset,
} from '../../packages/vjepa3d/dist/index.js';

const dir = process.argv[2] ?? '.data/vjepa3d-quickstart';
const seeds = (process.argv[3] ?? '0,1,2').split(',').map(Number);
await initBackend();
const model0 = createModel('vit3d-tiny', {}, new Generator(0));
const c = model0.config;
const data = await loadOctDataset(
  dir,
  c.inputShape.map((n) => Math.round(n * 1.125)),
);
const [D, H, W] = c.inputShape;
const [t, p, q] = c.tubelet;
const tokenMeans = new Float32Array(data.volumes.length * (D / t) * (H / p) * (W / q));
const hist = new Float32Array(data.volumes.length * 16);
data.volumes.forEach((v0, i) => {
  const v = centerCrop(v0, c.inputShape).data;
  const n = (D / t) * (H / p) * (W / q);
  for (let z = 0; z < D; z++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const k = (Math.floor(z / t) * (H / p) + Math.floor(y / p)) * (W / q) + Math.floor(x / q);
        tokenMeans[i * n + k] += v[(z * H + y) * W + x] / (t * p * q);
        const b = Math.max(0, Math.min(15, Math.floor((v[(z * H + y) * W + x] + 2) * 4)));
        hist[i * 16 + b] += 1 / (D * H * W);
      }
});
const rows = [];
for (const seed of seeds) {
  const split = splitDataset(data, 0.3, seed);
  const s = { train: split.train, test: split.val };
  const r = (name, f, d) => {
    const pr = probeFeatures(f, d, data.labels, s, data.numClasses);
    rows.push({ seed, name, linear: pr.linear.accuracy.toFixed(3), knn: pr.knn.accuracy.toFixed(3) });
  };
  r('token-grid means', tokenMeans, tokenMeans.length / data.volumes.length);
  r('intensity histogram', hist, 16);
  const m = createModel('vit3d-tiny', {}, new Generator(seed));
  for (const pooling of ['mean', 'mean-max']) {
    const e = embedVolumes(m, data.volumes, 'target', pooling);
    r(`random-init ${pooling}`, e.embeddings, e.dim);
  }
  m.dispose();
}
console.table(rows);
