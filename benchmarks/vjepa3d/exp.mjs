#!/usr/bin/env node
// Experiment driver: pretrain with a config + JSON overrides, then probe pretrained vs random init
// on several patient splits of all labelled volumes.
//   node benchmarks/vjepa3d/exp.mjs CONFIG.yaml '{"trainer":{"maxEpochs":10}}'
import { Generator } from '../../packages/tensor/dist/index.js';
import {
  createModel,
  embedVolumes,
  loadOctDataset,
  loadPretrainConfig,
  loadPretrained,
  pretrain,
  probeFeatures,
  splitDataset,
} from '../../packages/vjepa3d/dist/index.js';

const merge = (a, b) => {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return b;
  const o = { ...a };
  for (const [k, v] of Object.entries(b)) o[k] = merge(a?.[k], v);
  return o;
};
const base = loadPretrainConfig(process.argv[2], {});
const config = merge(base, JSON.parse(process.argv[3] ?? '{}'));
const t0 = process.cpuUsage();
const w0 = Date.now();
const r = await pretrain(config);
const cpu = process.cpuUsage(t0);
console.log(
  `pretrain wall ${((Date.now() - w0) / 1000).toFixed(1)} s cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
);
console.log('train loss', r.summary.history.map((h) => h.trainLoss.toFixed(3)).join(' '));
console.log('last metrics', JSON.stringify(r.metrics));
const { model, config: rc } = await loadPretrained(r.runDir);
const shape = rc.data.resampleShape ?? model.config.inputShape.map((n) => Math.round(n * 1.125));
const data = await loadOctDataset(rc.data.dir, shape);
const rows = [];
const encs = { pretrained: model };
for (const s of [0, 1, 2])
  encs[`random${s}`] = createModel(rc.model.preset, rc.model.overrides, new Generator(s));
for (const pooling of ['mean', 'mean-max']) {
  const feats = Object.fromEntries(
    Object.entries(encs).map(([k, m]) => [k, embedVolumes(m, data.volumes, rc.probeEncoder, pooling)]),
  );
  for (const [k, e] of Object.entries(feats)) {
    const acc = [];
    const knn = [];
    for (const seed of [0, 1, 2, 3, 4]) {
      const sp = splitDataset(data, 0.3, seed);
      const p = probeFeatures(
        e.embeddings,
        e.dim,
        data.labels,
        { train: sp.train, test: sp.val },
        data.numClasses,
      );
      acc.push(p.linear.accuracy);
      knn.push(p.knn.accuracy);
    }
    const m = (a) => a.reduce((x, y) => x + y, 0) / a.length;
    rows.push({
      pooling,
      encoder: k,
      linear: m(acc).toFixed(3),
      linSplits: acc.map((a) => a.toFixed(2)).join(' '),
      knn: m(knn).toFixed(3),
    });
  }
}
console.table(rows);
