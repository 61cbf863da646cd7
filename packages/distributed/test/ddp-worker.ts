// One rank of the DDP equivalence test (run with tsx by ddp.test.ts or under `meddl launch`):
// reads the torchrun variables, trains TinyMlp data-parallel, writes its final weights.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '@meddl/tensor';
import { DataLoader, Trainer } from '@meddl/trainer';
import {
  DistributedDataParallel,
  DistributedSampler,
  ProcessGroup,
  resolveDistributedEnv,
} from '../src/index';
import { TINY, TinyMlp, tinyDataset, tinyTask, weights } from './tiny-task';

const env = resolveDistributedEnv();
await initBackend();
const group = await ProcessGroup.init({ ...env, rendezvousTimeoutMs: 20_000, timeoutMs: 20_000 });
// Every rank starts from different weights; syncParameters must copy rank 0's.
const model = new TinyMlp(TINY.modelSeed + env.rank);
const ddp = new DistributedDataParallel(group, model, {
  bucketCapMB: Number(process.env.BUCKET_CAP_MB ?? 25),
  compression: process.env.COMPRESSION === 'fp16' ? 'fp16' : 'none',
});
await ddp.syncParameters();
const sampler = new DistributedSampler(TINY.n, {
  rank: env.rank,
  worldSize: env.worldSize,
  seed: TINY.samplerSeed,
});
const train = new DataLoader(tinyDataset(TINY.n, TINY.dataSeed), {
  batchSize: TINY.globalBatch / env.worldSize,
  sampler,
});
const trainer = new Trainer(
  {
    maxEpochs: TINY.epochs,
    optimizer: { name: 'adamw', lr: TINY.lr },
    runsDir: null,
    loggers: { console: false, csv: false, jsonl: false, tensorboard: false },
    handleSignals: false,
  },
  ddp.trainerOptions(),
);
const summary = await trainer.fit(tinyTask(model), { train });
await group.barrier();
writeFileSync(
  join(process.env.OUT_DIR as string, `rank${env.rank}.json`),
  JSON.stringify({ steps: summary.steps, weights: weights(model), stats: ddp.stats }),
);
await group.destroy();
