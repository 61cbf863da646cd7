/**
 * Synchronous prediction off the event loop: the same TissueBERT model served twice, once on the
 * API's own thread and once in a worker thread (`threads: 1`), each given one long forward pass
 * (200 reads of the synthetic samples in a single batch). While it runs, /healthz is polled:
 * with the worker thread it keeps answering; the in-loop latencies are printed for comparison.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PatRecord, readPat, writePatGz } from '@meddl/tissuebert';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from './config';
import { addKey } from './keys';
import { createService, type Service } from './service';
import {
  hasRedis,
  type RedisHandle,
  startRedis,
  type TissueBertFixture,
  tissueBertFixture,
} from './test-support';
import type { ThreadedPredictor } from './threads';

const WORKER = fileURLToPath(new URL('../dist/predict-worker.js', import.meta.url));

describe.skipIf(!hasRedis || !existsSync(WORKER))('inference in worker threads', () => {
  let redis: RedisHandle;
  let fx: TissueBertFixture;
  let service: Service;
  let base: string;
  let key: string;

  beforeAll(async () => {
    redis = await startRedis();
    fx = await tissueBertFixture();
    const all: PatRecord[] = fx.dataset.samples.flatMap((s) => readPat(join(fx.reference, s.file)));
    all.sort((a, b) => (a.chrom === b.chrom ? a.startCpg - b.startCpg : a.chrom < b.chrom ? -1 : 1));
    writePatGz(join(fx.reference, 'samples', 'all.pat.gz'), all);
    const model = {
      kind: 'tissuebert' as const,
      checkpoint: fx.checkpoint,
      reference: fx.reference,
      preset: 'tissuebert-tiny' as const,
      // One forward pass over the whole sample: a long synchronous computation.
      batchSize: 1_000_000,
    };
    const config = parseConfig({
      redis: { url: redis.url, prefix: 'threads' },
      keysFile: join(fx.dir, 'threads-keys.json'),
      auditLog: join(fx.dir, 'threads-audit.jsonl'),
      server: { port: 0 },
      storage: { uploadDir: join(fx.dir, 'uploads'), roots: { samples: join(fx.reference, 'samples') } },
      sync: { maxConcurrent: 2, maxBytes: 64 * 1024 * 1024 },
      queue: { inProcessWorkers: false },
      rateLimit: { max: 100_000 },
      models: [
        { ...model, name: 'in-loop' },
        { ...model, name: 'in-thread', threads: 1 },
        // Small batches: the thread checks the abort signal between them.
        { ...model, name: 'in-thread-batched', batchSize: 8, threads: 1 },
      ],
    });
    key = addKey(config.keysFile, { name: 'admin', roles: ['admin'] }).key;
    service = await createService(config);
    base = await service.listen();
  }, 120_000);

  afterAll(async () => {
    await service?.shutdown();
    await redis?.stop();
  });

  /** Runs one synchronous prediction while polling /healthz; returns the prediction and the probe latencies. */
  async function predictWhileProbing(model: string) {
    const headers = { authorization: `Bearer ${key}` };
    let done = false;
    const t0 = performance.now();
    const predict = fetch(`${base}/v1/predict`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      // 200 reads in one forward pass: a long synchronous computation for the test's scale.
      body: JSON.stringify({
        model,
        input: { root: 'samples', path: 'all.pat.gz' },
        options: { maxReads: 200 },
      }),
    }).then(async (r) => {
      const body = (await r.json()) as {
        prediction: { probabilities: number[]; extras: { reads: number } };
      };
      done = true;
      return { status: r.status, body, ms: performance.now() - t0 };
    });
    // The client runs in this process too, so a blocked loop stalls it as well: what shows the
    // blocking is the longest gap between answered probes (from the request to the result).
    const answered: number[] = [t0];
    while (!done) {
      const h = await fetch(`${base}/healthz`, { headers });
      expect(h.status).toBe(200);
      answered.push(performance.now());
      await new Promise((r) => setTimeout(r, 10));
    }
    const result = await predict;
    answered.push(t0 + result.ms);
    const gaps = answered.slice(1).map((t, i) => t - (answered[i] as number));
    return { ...result, probes: answered.length - 2, maxGapMs: Math.max(...gaps) };
  }

  test('/healthz answers while a long prediction runs in a worker thread; same result as in-loop', async () => {
    const card = (service.registry.get('in-thread') as ThreadedPredictor).card();
    expect(card.execution).toEqual({ threads: 1 });
    const loop = await predictWhileProbing('in-loop');
    const thread = await predictWhileProbing('in-thread');
    expect(loop.status).toBe(200);
    expect(thread.status).toBe(200);
    const a = loop.body.prediction.probabilities as number[];
    const b = thread.body.prediction.probabilities as number[];
    b.forEach((q, i) => {
      expect(q).toBeCloseTo(a[i] as number, 9);
    });
    const summary = {
      reads: thread.body.prediction.extras.reads,
      inLoop: { predictMs: Math.round(loop.ms), probes: loop.probes, maxGapMs: Math.round(loop.maxGapMs) },
      inThread: {
        predictMs: Math.round(thread.ms),
        probes: thread.probes,
        maxGapMs: Math.round(thread.maxGapMs),
      },
    };
    writeFileSync(join(fx.dir, 'threads-summary.json'), JSON.stringify(summary));
    console.log(`threads: ${JSON.stringify(summary)}`);
    // The event loop stayed free: several probes answered during the prediction, none stalled by it.
    expect(thread.probes).toBeGreaterThanOrEqual(3);
    expect(thread.maxGapMs).toBeLessThan(thread.ms / 2);
    // On the loop, the forward pass stalls every probe (the contrast the worker thread removes).
    expect(loop.maxGapMs).toBeGreaterThan(thread.maxGapMs);
  }, 120_000);

  test('an abort reaches the thread: the prediction stops with the caller’s reason; the thread keeps serving', async () => {
    const p = service.registry.get('in-thread-batched') as ThreadedPredictor;
    const file = join(fx.reference, 'samples', 'all.pat.gz');
    const ac = new AbortController();
    const t0 = performance.now();
    const options = { maxReads: 300 };
    const running = p.predict({ file, options, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('cancelled by the test')), 200);
    await expect(running).rejects.toThrow('cancelled by the test');
    const abortedAfter = performance.now() - t0;
    // The whole prediction takes longer than that; the thread answers again.
    const t1 = performance.now();
    const ok = await p.predict({ file, options });
    const fullMs = performance.now() - t1;
    expect(ok.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(abortedAfter).toBeLessThan(fullMs);
    console.log(
      `threads abort: stopped after ${Math.round(abortedAfter)} ms; full prediction ${Math.round(fullMs)} ms`,
    );
  }, 120_000);
});
