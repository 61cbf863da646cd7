#!/usr/bin/env node
// Is pretraining better than random init, across pretraining seeds? Probes the frozen encoders of
// runs <trainer.name>-s<seed> (benchmarks/vjepa3d/pretrain-seed.mjs) and random-init encoders on a
// separate labelled folder that pretraining never saw, over repeated patient splits, with the
// linear probe's L2 chosen by inner CV on each training split (the same for every encoder).
//   node benchmarks/vjepa3d/seeds.mjs CONFIG.yaml PROBE_DIR [--seeds 0,1,2] [--splits 10]
//     [--val-fraction 0.3] [--extra-random 100,101,102] [--pooling mean,mean-max] [--out FILE.json]
//     [--l2 cv|0.01] [--lr 0.5 --iterations 500]
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, initBackend } from '../../packages/tensor/dist/index.js';
import {
  correctedPairedGain,
  createModel,
  embedVolumes,
  loadOctDataset,
  loadPretrainConfig,
  loadPretrained,
  pairedGain,
  probeFeatures,
  splitDataset,
} from '../../packages/vjepa3d/dist/index.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const [configPath, probeDir] = argv;
const seeds = opt('seeds', '0,1,2').split(',').map(Number);
const extra = opt('extra-random', '').split(',').filter(Boolean).map(Number);
const nSplits = Number(opt('splits', '10'));
const valFraction = Number(opt('val-fraction', '0.3'));
const poolings = opt('pooling', 'mean,mean-max').split(',');
const l2Mode = opt('l2', 'cv') === 'cv' ? 'cv' : Number(opt('l2', 'cv'));
// --lr 0.5 --iterations 500 --l2 0.01: the probe as it was before the step-size fix.
const fitOptions = {
  ...(opt('lr') ? { lr: Number(opt('lr')) } : {}),
  ...(opt('iterations') ? { iterations: Number(opt('iterations')) } : {}),
};
const base = loadPretrainConfig(configPath, {});
await initBackend(base.backend);
const w0 = Date.now();
const c0 = process.cpuUsage();

const encoders = {};
let preset;
for (const s of seeds) {
  const runDir = join(base.trainer.runsDir ?? 'runs', `${base.trainer.name}-s${s}`);
  const { model, config } = await loadPretrained(runDir);
  preset = config;
  encoders[`pretrained${s}`] = model;
  // The weights run s started from (pretrain() creates its model from Generator(trainer.seed)).
  encoders[`random${s}`] = createModel(config.model.preset, config.model.overrides, new Generator(s));
}
for (const s of extra)
  encoders[`random${s}`] = createModel(preset.model.preset, preset.model.overrides, new Generator(s));
const shape =
  preset.data.resampleShape ??
  encoders[`pretrained${seeds[0]}`].config.inputShape.map((n) => Math.round(n * 1.125));
const data = await loadOctDataset(probeDir, shape);
const groups = data.rows.map((r) => r.patientId || r.path);
const splits = Array.from({ length: nSplits }, (_, k) => splitDataset(data, valFraction, k));
const nTrain = splits[0].train.length;
const nTest = splits[0].val.length;
console.log(
  `probe data ${probeDir}: ${data.volumes.length} volumes, ${nSplits} patient splits (~${nTrain} train / ${nTest} test), L2 ${l2Mode}`,
);

const result = {
  probeDir,
  seeds,
  extra,
  nSplits,
  valFraction,
  l2: l2Mode,
  fitOptions,
  nTrain,
  nTest,
  poolings: {},
};
const f = (x) => (x >= 0 ? '+' : '') + x.toFixed(3);
for (const pooling of poolings) {
  const acc = {};
  const l2s = {};
  for (const [name, m] of Object.entries(encoders)) {
    const e = embedVolumes(m, data.volumes, preset.probeEncoder, pooling);
    acc[name] = [];
    l2s[name] = [];
    for (const sp of splits) {
      const p = probeFeatures(
        e.embeddings,
        e.dim,
        data.labels,
        { train: sp.train, test: sp.val },
        data.numClasses,
        5,
        { l2: l2Mode, groups, ...fitOptions },
      );
      acc[name].push(p.linear.accuracy);
      l2s[name].push(p.l2);
    }
  }
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  const randomNames = Object.keys(acc).filter((k) => k.startsWith('random'));
  const randomMean = splits.map((_, k) => mean(randomNames.map((r) => acc[r][k])));
  const rows = [];
  const gains = [];
  for (const s of seeds) {
    const pre = acc[`pretrained${s}`];
    const own = acc[`random${s}`];
    const g = correctedPairedGain(pre, own, nTest / nTrain);
    const gAll = correctedPairedGain(pre, randomMean, nTest / nTrain);
    const naive = pairedGain(pre, own);
    gains.push(g.mean);
    rows.push({
      seed: s,
      pretrained: mean(pre).toFixed(3),
      randomInit: mean(own).toFixed(3),
      gain: f(g.mean),
      ci95: `[${f(g.lower)}, ${f(g.upper)}]`,
      naiveCi: `[${f(naive.lower)}, ${f(naive.upper)}]`,
      vsAllRandom: `${f(gAll.mean)} [${f(gAll.lower)}, ${f(gAll.upper)}]`,
      minSplitGain: f(Math.min(...pre.map((x, k) => x - own[k]))),
    });
  }
  console.log(`\npooling ${pooling}: linear-probe accuracy, mean of ${nSplits} splits`);
  console.table(rows);
  console.log(
    'per encoder:',
    Object.entries(acc)
      .map(([k, a]) => `${k} ${mean(a).toFixed(3)} (l2 ${[...new Set(l2s[k])].join('/')})`)
      .join(', '),
  );
  const m = mean(gains);
  const sdSeeds = Math.sqrt(gains.reduce((x, g) => x + (g - m) ** 2, 0) / Math.max(1, gains.length - 1));
  console.log(
    `pooled over seeds ${seeds.join(',')}: mean gain ${f(m)}, sd ${sdSeeds.toFixed(3)}, range [${f(Math.min(...gains))}, ${f(Math.max(...gains))}]`,
  );
  result.poolings[pooling] = { accuracy: acc, l2: l2s, rows, pooledGain: { mean: m, sd: sdSeeds, gains } };
}
const cpu = process.cpuUsage(c0);
console.log(
  `wall ${((Date.now() - w0) / 1000).toFixed(1)} s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
);
const out = opt('out');
if (out) {
  writeFileSync(`${out}.tmp`, JSON.stringify(result, null, 1));
  renameSync(`${out}.tmp`, out);
}
