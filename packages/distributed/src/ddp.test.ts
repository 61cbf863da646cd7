import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@meddl/tensor';
import { DataLoader, Trainer } from '@meddl/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxDiff, TINY, TinyMlp, tinyDataset, tinyTask, trainReference, weights } from '../test/tiny-task';
import { DistributedDataParallel } from './ddp';
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
          const { DistributedSampler } = await import('./sampler');
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
});
