/**
 * Test fixtures: a real redis-server on a random loopback port, a synthetic methylation data set
 * from @meddl/tissuebert's generator, and tiny random-initialised TissueBERT weights in safetensors.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '@meddl/checkpoint';
import { Generator, initBackend } from '@meddl/tensor';
import { createModel, generateSyntheticDataset, type SynthDataset } from '@meddl/tissuebert';

export const REDIS_SERVER = process.env.MEDDL_REDIS_SERVER ?? '/usr/bin/redis-server';
export const hasRedis = existsSync(REDIS_SERVER);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts redis-server on 127.0.0.1:<random> without persistence; resolves when it accepts connections. */
export async function startRedis(): Promise<RedisHandle> {
  const port = await freePort();
  const proc: ChildProcess = spawn(
    REDIS_SERVER,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

export interface TissueBertFixture {
  dir: string;
  reference: string;
  checkpoint: string;
  dataset: SynthDataset;
}

/** A synthetic panel + samples and tiny random TissueBERT weights (seeded, so the same every run). */
export async function tissueBertFixture(
  dir = mkdtempSync(join(tmpdir(), 'meddl-serve-')),
): Promise<TissueBertFixture> {
  await initBackend();
  const reference = join(dir, 'ref');
  mkdirSync(reference, { recursive: true });
  const dataset = generateSyntheticDataset(reference, { seed: 0, samples: 29, regions: 16, meanCoverage: 4 });
  const model = createModel(
    'tissuebert-tiny',
    { numClasses: dataset.groundTruth.tissues.length },
    new Generator(0),
  );
  const checkpoint = join(dir, 'model.safetensors');
  writeSafetensors(checkpoint, model.stateDict(), { format: 'pt' });
  model.dispose();
  return { dir, reference, checkpoint, dataset };
}
