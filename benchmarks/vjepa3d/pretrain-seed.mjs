#!/usr/bin/env node
// Pretrains one config with a given trainer seed (run name <trainer.name>-s<seed>, unless it exists):
//   MEDDL_THREADS=1 node benchmarks/vjepa3d/pretrain-seed.mjs configs/vjepa3d/pretrain-120-long.yaml 1
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadPretrainConfig, pretrain } from '../../packages/vjepa3d/dist/index.js';

const [path, seedArg] = process.argv.slice(2);
const seed = Number(seedArg ?? 0);
const config = loadPretrainConfig(path, {});
const name = `${config.trainer.name}-s${seed}`;
const runDir = join(config.trainer.runsDir ?? 'runs', name);
if (existsSync(join(runDir, 'metrics.json'))) {
  console.log(`${runDir} exists`);
  process.exit(0);
}
const t0 = process.cpuUsage();
const w0 = Date.now();
const r = await pretrain({ ...config, trainer: { ...config.trainer, name, seed } });
const cpu = process.cpuUsage(t0);
console.log(
  `${r.runDir}: pretrain wall ${((Date.now() - w0) / 1000).toFixed(1)} s, cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (user ${(cpu.user / 1e6).toFixed(1)}, sys ${(cpu.system / 1e6).toFixed(1)})`,
);
console.log('train loss', r.summary.history.map((h) => h.trainLoss.toFixed(3)).join(' '));
console.log('last metrics', JSON.stringify(r.metrics));
