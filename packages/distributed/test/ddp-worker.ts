// One rank of the DDP tests (run with tsx by ddp.test.ts / launcher.test.ts, or under `meddl launch`):
// reads the torchrun variables, trains TinyMlp data-parallel, writes its final weights.
// CKPT_DIR: checkpoint every 2 steps (rank 0 writes) and resume from the newest valid one.
// FAULT=exit|hang: on the first attempt rank 1 exits (or stops heartbeating) after step 5.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointManager } from '@meddl/checkpoint';
import { initBackend } from '@meddl/tensor';
import { type Callback, DataLoader, Trainer } from '@meddl/trainer';
import {
  DistributedDataParallel,
  DistributedSampler,
  HeartbeatCallback,
  ProcessGroup,
  rankZeroSink,
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
const ckptDir = process.env.CKPT_DIR;
const fault: Callback = {
  name: 'fault',
  onTrainStepEnd(_t, record) {
    if (env.restartCount > 0 || env.rank !== 1 || record.step !== 5) return;
    if (process.env.FAULT === 'exit') process.exit(3);
    if (process.env.FAULT === 'hang') {
      const until = Date.now() + 60_000;
      while (Date.now() < until) {} // a hung worker: no heartbeat, no progress
    }
  },
};
const trainer = new Trainer(
  {
    maxEpochs: TINY.epochs,
    optimizer: { name: 'adamw', lr: TINY.lr },
    runsDir: null,
    loggers: { console: false, csv: false, jsonl: false, tensorboard: false },
    handleSignals: false,
    checkpoint: ckptDir ? { everyNSteps: 2, mode: 'min' } : undefined,
  },
  {
    ...ddp.trainerOptions(),
    callbacks: [new HeartbeatCallback(), fault],
    checkpointSink: ckptDir
      ? rankZeroSink(group, new CheckpointManager(ckptDir, { keepLast: 2 }))
      : undefined,
  },
);
const summary = await trainer.fit(tinyTask(model), { train }, { resume: ckptDir !== undefined });
await group.barrier();
writeFileSync(
  join(process.env.OUT_DIR as string, `rank${env.rank}.json`),
  JSON.stringify({
    steps: summary.steps,
    resumedFrom: summary.resumedFrom,
    restartCount: env.restartCount,
    weights: weights(model),
    stats: ddp.stats,
    env: { RANK: env.rank, LOCAL_RANK: env.localRank, WORLD_SIZE: env.worldSize, source: env.source },
  }),
);
await group.destroy();
