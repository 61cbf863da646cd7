import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfusionMatrixAccumulator, MeanAccumulator } from '@meddl/metrics';
import { initBackend, tf } from '@meddl/tensor';
import { DataLoader, Trainer } from '@meddl/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxDiff, TINY, TinyMlp, tinyDataset, tinyTask, trainReference, weights } from '../test/tiny-task';
import { DistributedDataParallel } from './ddp';
import { allGatherMetric } from './metrics';
import { DistributedSampler } from './sampler';
import { freePort, localGroups } from './test-utils';

const here = new URL('.', import.meta.url).pathname;
const worker = join(here, '../test/ddp-worker.ts');
const tmp = mkdtempSync(join(tmpdir(), 'meddl-ddp-'));
let reference: Record<string, number[]>;

beforeAll(async () => {
  await initBackend();
  reference = await trainReference();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function runWorkers(world: number, extraEnv: Record<string, string> = {}) {
  const out = mkdtempSync(join(tmp, `w${world}-`));
  const port = await freePort();
  const codes = await Promise.all(
    Array.from({ length: world }, (_, rank) => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker], {
        env: {
          ...process.env,
          RANK: String(rank),
          WORLD_SIZE: String(world),
          LOCAL_RANK: String(rank),
          LOCAL_WORLD_SIZE: String(world),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
          OUT_DIR: out,
          ...extraEnv,
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      return new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    }),
  );
  expect(codes).toEqual(Array(world).fill(0));
  return Array.from({ length: world }, (_, r) =>
    JSON.parse(readFileSync(join(out, `rank${r}.json`), 'utf8')),
  );
}

describe('DistributedDataParallel', () => {
  it('2 and 4 processes on loopback reach the single-process weights (global batch 8) within 1e-5', async () => {
    for (const world of [2, 4]) {
      // Small buckets so the model's 4 tensors travel in several exchanges.
      const ranks = await runWorkers(world, { BUCKET_CAP_MB: String(200 / (1024 * 1024)) });
      console.info(
        `DDP ${world} processes: max |w - w_ref| = ${maxDiff(reference, ranks[0].weights).toExponential(2)}`,
      );
      for (const r of ranks) {
        expect(r.steps).toBe((TINY.n / TINY.globalBatch) * TINY.epochs);
        expect(r.stats.buckets).toBeGreaterThan(1);
        expect(maxDiff(reference, r.weights)).toBeLessThan(1e-5);
        expect(maxDiff(ranks[0].weights, r.weights)).toBe(0); // replicas stay bit-identical
      }
    }
  });

  it('fp16 gradient compression (in-process ranks) stays close to the reference and identical across ranks', async () => {
    const groups = await localGroups(2);
    const models = groups.map((_, r) => new TinyMlp(TINY.modelSeed + r));
    try {
      await Promise.all(
        groups.map(async (g, r) => {
          const ddp = new DistributedDataParallel(g, models[r], { compression: 'fp16' });
          await ddp.syncParameters();
          const train = new DataLoader(tinyDataset(TINY.n, TINY.dataSeed), {
            batchSize: TINY.globalBatch / 2,
            sampler: new DistributedSampler(TINY.n, { rank: r, worldSize: 2, seed: TINY.samplerSeed }),
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
          await trainer.fit(tinyTask(models[r]), { train });
        }),
      );
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
    const [a, b] = models.map(weights);
    expect(maxDiff(a, b)).toBe(0);
    const d = maxDiff(reference, a);
    console.info(`DDP fp16 compression, 2 ranks: max |w - w_ref| = ${d.toExponential(2)}`);
    expect(d).toBeGreaterThan(0); // compression is lossy…
    expect(d).toBeLessThan(2e-3); // …but 12 AdamW steps of lr 0.01 stay close
  });

  it('validation metrics merged across ranks (async validationEpochEnd) equal one process over all examples', async () => {
    const val = tinyDataset(20, 77);
    type VB = Parameters<ReturnType<typeof tinyTask>['trainingStep']>[0];
    const evalTask = (
      model: TinyMlp,
      merge: (
        cm: ConfusionMatrixAccumulator,
        loss: MeanAccumulator,
      ) => Promise<[ConfusionMatrixAccumulator, MeanAccumulator]>,
    ) => ({
      ...tinyTask(model),
      validationStep(batch: VB) {
        const x = batch.x as { data: Float32Array; shape: number[] };
        const y = Array.from((batch.y as { data: Float32Array }).data);
        const logits = model.forward(tf.tensor2d(x.data, [x.shape[0], 4]));
        const losses = tf.losses.softmaxCrossEntropy(
          tf.oneHot(y, 3),
          logits,
          undefined,
          0,
          tf.Reduction.NONE,
        );
        return {
          pred: Int32Array.from(tf.argMax(logits, 1).dataSync()),
          y: Int32Array.from(y),
          losses: Float32Array.from(losses.dataSync()),
        };
      },
      async validationEpochEnd(outputs: Record<string, unknown>[]) {
        const cm = new ConfusionMatrixAccumulator(3);
        const loss = new MeanAccumulator();
        for (const o of outputs) {
          cm.update(Array.from(o.y as Int32Array), Array.from(o.pred as Int32Array));
          loss.update(Array.from(o.losses as Float32Array));
        }
        const [mcm, ml] = await merge(cm, loss);
        return { val_accuracy: mcm.compute().accuracy, val_nll: ml.compute() };
      },
    });
    const quiet = {
      maxEpochs: 1,
      maxSteps: 1,
      runsDir: null,
      loggers: { console: false, csv: false, jsonl: false, tensorboard: false },
      handleSignals: false,
    };
    const single = new TinyMlp(5);
    const one = await new Trainer(quiet).fit(evalTask(single, async (a, b) => [a, b]) as never, {
      train: new DataLoader(tinyDataset(8, 1), { batchSize: 8 }),
      val: new DataLoader(val, { batchSize: 4 }),
    });
    const groups = await localGroups(2);
    try {
      const ranks = await Promise.all(
        groups.map(async (g, r) => {
          const model = new TinyMlp(5);
          const ddp = new DistributedDataParallel(g, model);
          const sampler = (n: number) => new DistributedSampler(n, { rank: r, worldSize: 2, shuffle: false });
          return new Trainer(quiet, ddp.trainerOptions()).fit(
            evalTask(model, async (a, b) =>
              Promise.all([
                allGatherMetric(g, a, ConfusionMatrixAccumulator.fromState),
                allGatherMetric(g, b, MeanAccumulator.fromState),
              ]),
            ) as never,
            {
              train: new DataLoader(tinyDataset(8, 1), { batchSize: 4, sampler: sampler(8) }),
              val: new DataLoader(val, { batchSize: 2, sampler: sampler(20) }),
            },
          );
        }),
      );
      for (const s of ranks) {
        expect(s.lastMetrics.val_accuracy).toBe(one.lastMetrics.val_accuracy);
        expect(s.lastMetrics.val_nll).toBeCloseTo(one.lastMetrics.val_nll, 6);
      }
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });
});
