import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatPat, type PatRecord, readPat, writePatGz } from '@meddl/tissuebert';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuditLog } from './audit';
import { parseConfig, type ServeConfig, type ServeConfigInput } from './config';
import { JobQueues, redisConnection, startWorkers } from './jobs';
import { addKey } from './keys';
import { createService, type Service } from './service';
import {
  hasRedis,
  type RedisHandle,
  startRedis,
  type TissueBertFixture,
  tissueBertFixture,
} from './test-support';

const KiB = 1024;
// The killed worker runs in a child process, which needs the built package (pnpm install builds it).
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe.skipIf(!hasRedis)('meddl serve against a real redis-server', () => {
  let redis: RedisHandle;
  let fx: TissueBertFixture;
  let service: Service;
  let base: string;
  let config: ServeConfig;
  let rawConfig: ServeConfigInput;
  const key: Record<string, string> = {};
  let requests = 0;
  let bigSample: string;

  async function call(path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const k = init.key === undefined ? key.admin : init.key;
    if (k) headers.set('authorization', `Bearer ${k}`);
    requests++;
    return fetch(`${base}${path}`, { ...init, headers });
  }

  function upload(
    file: string,
    fields: Record<string, string>,
    name = 'sample.pat.gz',
    type = 'application/gzip',
  ) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.set(k, v);
    form.set('file', new Blob([readFileSync(file)], { type }), name);
    return form;
  }

  async function waitFor(id: string, states: string[], k = key.admin, timeoutMs = 20_000) {
    const t0 = Date.now();
    for (;;) {
      const s = (await (await call(`/v1/jobs/${id}`, { key: k })).json()) as { state: string };
      if (states.includes(s.state)) return s;
      if (Date.now() - t0 > timeoutMs) throw new Error(`job ${id} stuck in ${s.state}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const sample = (i: number) => join(fx.reference, fx.dataset.samples[i].file);

  beforeAll(async () => {
    redis = await startRedis();
    fx = await tissueBertFixture();
    // A larger sample (every read of every file) for the slow model used by cancellation and shedding tests.
    const all: PatRecord[] = fx.dataset.samples.flatMap((s) => readPat(join(fx.reference, s.file)));
    all.sort((a, b) => (a.chrom === b.chrom ? a.startCpg - b.startCpg : a.chrom < b.chrom ? -1 : 1));
    bigSample = join(fx.reference, 'samples', 'all.pat.gz');
    writePatGz(bigSample, all);
    writeFileSync(join(fx.reference, 'samples', 'garbage.pat'), 'chr1\tnot-a-number\tCT\t1\n');
    symlinkSync('/etc/hostname', join(fx.reference, 'samples', 'escape.pat'));
    const model = {
      kind: 'tissuebert' as const,
      checkpoint: fx.checkpoint,
      reference: fx.reference,
      preset: 'tissuebert-tiny' as const,
      batchSize: 32,
    };
    rawConfig = {
      redis: { url: redis.url, prefix: 'test' },
      keysFile: join(fx.dir, 'keys.json'),
      auditLog: join(fx.dir, 'audit.jsonl'),
      server: { port: 0, uploadLimitBytes: 256 * KiB, drainTimeoutMs: 20_000 },
      storage: { uploadDir: join(fx.dir, 'uploads'), roots: { samples: join(fx.reference, 'samples') } },
      queue: { attempts: 2, backoffMs: 10 },
      sync: { maxConcurrent: 1, maxBytes: 64 * KiB },
      rateLimit: { max: 10_000 },
      models: [model, { ...model, name: 'tissuebert-slow', batchSize: 1 }],
    };
    config = parseConfig(rawConfig, 'test-config');
    key.admin = addKey(config.keysFile, { name: 'admin', roles: ['admin'] }).key;
    key.submit = addKey(config.keysFile, { name: 'scanner', roles: ['submit'] }).key;
    key.submit2 = addKey(config.keysFile, { name: 'other scanner', roles: ['submit'] }).key;
    key.read = addKey(config.keysFile, { name: 'dashboard', roles: ['read'] }).key;
    key.limited = addKey(config.keysFile, { name: 'limited', roles: ['read'], rateLimit: 3 }).key;
    service = await createService(config);
    base = await service.listen();
  });

  afterAll(async () => {
    await service?.shutdown();
    await redis?.stop();
  });

  test('health, readiness, OpenAPI description and the model list', async () => {
    expect((await call('/healthz')).status).toBe(200);
    const ready = (await (await call('/readyz')).json()) as { ready: boolean; models: string[] };
    expect(ready).toMatchObject({ ready: true, models: ['tissuebert', 'tissuebert-slow'] });
    const spec = (await (await call('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/v1/jobs',
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/result',
        '/v1/predict',
        '/v1/models',
      ]),
    );
    const models = (await (await call('/v1/models', { key: key.read })).json()) as {
      models: { name: string; version: string; labels: string[]; calibration: { calibrated: boolean } }[];
    };
    const sha = (await import('node:crypto'))
      .createHash('sha256')
      .update(readFileSync(fx.checkpoint))
      .digest('hex');
    expect(models.models[0]).toMatchObject({
      name: 'tissuebert',
      version: sha.slice(0, 12),
      labels: fx.dataset.groundTruth.tissues,
      calibration: { calibrated: false },
    });
  });

  test('authentication: missing, invalid and wrong-secret keys → 401; missing role → 403', async () => {
    expect((await call('/v1/models', { key: null })).status).toBe(401);
    expect((await call('/healthz', { key: null })).status).toBe(401);
    expect((await call('/v1/models', { key: 'not-a-key' })).status).toBe(401);
    const [, id] = key.read.split('_');
    const wrongSecret = `mdl_${id}_${'A'.repeat(32)}`;
    const r = await call('/v1/models', { key: wrongSecret });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { message: string }).message).toBe('invalid API key');
    // submit-only key cannot list models; read-only key cannot submit.
    expect((await call('/v1/models', { key: key.submit })).status).toBe(403);
    const sub = await call('/v1/jobs', {
      key: key.read,
      method: 'POST',
      body: JSON.stringify({ model: 'tissuebert', input: { root: 'samples', path: 'x.pat.gz' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(sub.status).toBe(403);
  });

  test('per-key rate limit → 429', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await call('/v1/models', { key: key.limited })).status);
    expect(codes.slice(0, 3)).toEqual([200, 200, 200]);
    expect(codes.slice(3)).toEqual([429, 429]);
  });

  const json = (body: unknown) => ({
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });

  test('server-side paths: traversal, absolute paths, symlink escapes and unknown roots are refused', async () => {
    const submit = (root: string, path: string) =>
      call('/v1/jobs', { key: key.submit, ...json({ model: 'tissuebert', input: { root, path } }) });
    expect((await submit('samples', '../model.safetensors')).status).toBe(400);
    expect((await submit('samples', 'a/../../model.safetensors')).status).toBe(400);
    expect((await submit('samples', '/etc/passwd')).status).toBe(400);
    expect((await submit('nope', 'x.pat.gz')).status).toBe(400);
    const esc = await submit('samples', 'escape.pat');
    expect(esc.status).toBe(403);
    expect(((await esc.json()) as { message: string }).message).toContain('outside root');
    expect((await submit('samples', 'missing.pat.gz')).status).toBe(404);
  });

  test('oversized, mistyped and malformed inputs → 413 / 415 / 400, and the server keeps serving', async () => {
    const big = join(fx.dir, 'big.pat');
    writeFileSync(big, Buffer.alloc(300 * KiB, 0x41));
    const tooBig = await call('/v1/jobs', {
      method: 'POST',
      body: upload(big, { model: 'tissuebert' }, 'big.pat', 'text/plain'),
    });
    expect(tooBig.status).toBe(413);
    const syncTooBig = await call('/v1/predict', {
      method: 'POST',
      body: upload(big, { model: 'tissuebert' }, 'big.pat', 'text/plain'),
    });
    expect(syncTooBig.status).toBe(413);
    // A .gz name without gzip data; a file type the model does not take; a wrong content type.
    const notGz = join(fx.dir, 'plain.pat');
    writeFileSync(notGz, formatPat(readPat(sample(0))));
    expect(
      (await call('/v1/jobs', { method: 'POST', body: upload(notGz, { model: 'tissuebert' }) })).status,
    ).toBe(415);
    expect(
      (
        await call('/v1/jobs', {
          method: 'POST',
          body: upload(notGz, { model: 'tissuebert' }, 'x.dcm', 'application/dicom'),
        })
      ).status,
    ).toBe(415);
    expect(
      (await call('/v1/jobs', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/csv' } }))
        .status,
    ).toBe(415);
    // Malformed content: the tissuebert parser's error (meddl: true) → 400 with its message, no server path.
    const bad = await call('/v1/jobs', {
      method: 'POST',
      body: upload(
        join(fx.reference, 'samples', 'garbage.pat'),
        { model: 'tissuebert' },
        'g.pat',
        'text/plain',
      ),
    });
    expect(bad.status).toBe(400);
    const msg = ((await bad.json()) as { message: string }).message;
    expect(msg).toContain('CpG index must be a positive integer');
    expect(msg).not.toContain(fx.dir);
    const badPath = await call(
      '/v1/jobs',
      json({ model: 'tissuebert', input: { root: 'samples', path: 'garbage.pat' } }),
    );
    expect(badPath.status).toBe(400);
    expect(((await badPath.json()) as { message: string }).message).toContain('samples:garbage.pat:1');
    expect(
      (
        await call('/v1/jobs', {
          method: 'POST',
          body: '{"model":',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(400);
    expect((await call('/v1/jobs', json({ model: 'tissuebert', extra: 1 }))).status).toBe(400);
    expect(
      (await call('/v1/jobs', json({ model: 'nope', input: { root: 'samples', path: 'x.pat.gz' } }))).status,
    ).toBe(404);
    expect(
      (
        await call(
          '/v1/jobs',
          json({
            model: 'tissuebert',
            options: { maxReads: -1 },
            input: { root: 'samples', path: 'all.pat.gz' },
          }),
        )
      ).status,
    ).toBe(400);
    expect((await call('/healthz')).status).toBe(200);
  });

  test('a job runs to a calibrated result; the repeat is served from the cache without recomputation', async () => {
    const r = await call('/v1/jobs', {
      key: key.submit,
      method: 'POST',
      body: upload(sample(1), { model: 'tissuebert', priority: 'urgent' }),
    });
    expect(r.status).toBe(202);
    const { id } = (await r.json()) as { id: string };
    await waitFor(id, ['completed'], key.submit);
    const result = (await (await call(`/v1/jobs/${id}/result`, { key: key.submit })).json()) as {
      cached: boolean;
      version: string;
      prediction: {
        labels: string[];
        probabilities: number[];
        uncertainty: { score: number };
        extras: { reads: number };
      };
    };
    expect(result.cached).toBe(false);
    const p = result.prediction;
    expect(p.labels).toEqual(fx.dataset.groundTruth.tissues);
    expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(p.uncertainty.score).toBeGreaterThan(0);
    expect(p.uncertainty.score).toBeLessThanOrEqual(1);
    expect(p.extras.reads).toBeGreaterThan(0);
    const computed = service.metrics.predictions.values.get('{model="tissuebert"}')?.value;
    // Same content through a server-side path: a cache hit, no new prediction.
    const again = await call('/v1/jobs', {
      key: key.submit,
      ...json({
        model: 'tissuebert',
        input: { root: 'samples', path: fx.dataset.samples[1].file.replace('samples/', '') },
      }),
    });
    const id2 = ((await again.json()) as { id: string }).id;
    await waitFor(id2, ['completed'], key.submit);
    const cached = (await (await call(`/v1/jobs/${id2}/result`)).json()) as typeof result;
    expect(cached.cached).toBe(true);
    expect(cached.prediction.probabilities).toEqual(p.probabilities);
    expect(service.metrics.predictions.values.get('{model="tissuebert"}')?.value).toBe(computed);
    const prom = await (await call('/metrics', { key: key.read })).text();
    expect(prom).toMatch(/meddl_cache_lookups_total\{model="tissuebert",outcome="hit"\} [1-9]/);
    expect(prom).toMatch(/meddl_queue_jobs\{model="tissuebert",state="waiting"\} \d+/);
    expect(prom).toMatch(/meddl_http_request_seconds_bucket\{route="\/v1\/jobs",le="\+Inf"\} [1-9]/);
    // Synchronous prediction shares the cache; other options are another cache entry.
    const sync = (await (
      await call('/v1/predict', { method: 'POST', body: upload(sample(1), { model: 'tissuebert' }) })
    ).json()) as typeof result;
    expect(sync.cached).toBe(true);
    const opts = await call('/v1/predict', {
      method: 'POST',
      body: upload(sample(1), { model: 'tissuebert', options: '{"maxReads":5}' }),
    });
    expect(opts.status).toBe(200);
    const o = (await opts.json()) as typeof result;
    expect(o.cached).toBe(false);
    expect(o.prediction.extras.reads).toBeLessThanOrEqual(5);
    // A key that only submits cannot read another key's job.
    const other = await call(`/v1/jobs/${id}`, { key: key.submit2 });
    expect(other.status).toBe(403);
  });

  test('urgent jobs run before routine ones', async () => {
    const q = service.queues.queue('tissuebert');
    await q.pause();
    const ids: Record<string, string> = {};
    for (const [name, i, priority] of [
      ['routine1', 2, 'routine'],
      ['low', 3, 'low'],
      ['routine2', 4, 'routine'],
      ['urgent', 5, 'urgent'],
    ] as const) {
      const r = await call('/v1/jobs', {
        method: 'POST',
        body: upload(sample(i), { model: 'tissuebert', priority, options: '{"maxReads":8}' }),
      });
      ids[name] = ((await r.json()) as { id: string }).id;
    }
    await q.resume();
    const started: [string, number][] = [];
    for (const [name, id] of Object.entries(ids)) {
      await waitFor(id, ['completed']);
      const job = await service.queues.find(id);
      started.push([name, job?.processedOn ?? 0]);
    }
    started.sort((a, b) => a[1] - b[1]);
    expect(started.map((s) => s[0])).toEqual(['urgent', 'routine1', 'routine2', 'low']);
  });

  test('cancellation of a waiting job and of a running one', async () => {
    const q = service.queues.queue('tissuebert-slow');
    await q.pause();
    const r = await call(
      '/v1/jobs',
      json({ model: 'tissuebert-slow', input: { root: 'samples', path: 'all.pat.gz' } }),
    );
    const { id } = (await r.json()) as { id: string };
    const del = await call(`/v1/jobs/${id}`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ id, state: 'cancelled' });
    expect(((await (await call(`/v1/jobs/${id}`)).json()) as { state: string }).state).toBe('cancelled');
    expect((await call(`/v1/jobs/${id}/result`)).status).toBe(410);
    await q.resume();

    const r2 = await call(
      '/v1/jobs',
      json({
        model: 'tissuebert-slow',
        options: { maxReads: 100000 },
        input: { root: 'samples', path: 'all.pat.gz' },
      }),
    );
    const id2 = ((await r2.json()) as { id: string }).id;
    await waitFor(id2, ['active']);
    const del2 = await call(`/v1/jobs/${id2}`, { method: 'DELETE' });
    expect(((await del2.json()) as { state: string }).state).toBe('cancelling');
    const t0 = Date.now();
    await waitFor(id2, ['cancelled', 'completed']);
    expect(((await (await call(`/v1/jobs/${id2}`)).json()) as { state: string }).state).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await call(`/v1/jobs/${id2}`, { method: 'DELETE' })).status).toBe(409);
  });

  test('synchronous prediction sheds load with 503 when at capacity', async () => {
    // all.pat.gz is too big for sync; the slow model on a normal sample keeps the one slot busy.
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        call('/v1/predict', {
          method: 'POST',
          body: upload(sample(6 + i), { model: 'tissuebert-slow' }),
        }).then((r) => r.status),
      ),
    );
    expect(results).toContain(200);
    expect(results).toContain(503);
    expect(results.every((s) => s === 200 || s === 503)).toBe(true);
  });

  test.skipIf(!existsSync(DIST))(
    'a worker killed mid-job: the job is retried by another worker and completes once',
    async () => {
      const raw = {
        ...rawConfig,
        redis: { url: redis.url, prefix: 'kill' },
        auditLog: join(fx.dir, 'audit-kill.jsonl'),
        models: (rawConfig.models ?? []).filter((m) => m.name === 'tissuebert-slow'),
      };
      const killConfig = parseConfig(raw, 'kill-config');
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { parseConfig, loadRegistry, startWorkers, ServeMetrics, AuditLog } from ${JSON.stringify(DIST)};
         const config = parseConfig(JSON.parse(process.env.KILL_CONFIG), 'child');
         const registry = await loadRegistry(config);
         await startWorkers(config, registry, new ServeMetrics(), new AuditLog(config.auditLog), { lockDurationMs: 1000, stalledIntervalMs: 500 });
         process.stdout.write('ready\\n');`,
        ],
        { env: { ...process.env, KILL_CONFIG: JSON.stringify(raw) }, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`worker child exited with ${code}`)));
      });
      const conn = redisConnection(killConfig);
      const queues = new JobQueues(killConfig, conn, ['tissuebert-slow']);
      const id = await queues.submit({
        model: 'tissuebert-slow',
        version: 'v',
        file: bigSample,
        caseSha256: createHash('sha256').update(readFileSync(bigSample)).digest('hex'),
        options: { maxReads: 40 },
        priority: 'routine',
        keyId: 'test',
      });
      const state = async () => (await queues.find(id))?.getState();
      for (let t0 = Date.now(); (await state()) !== 'active'; ) {
        if (Date.now() - t0 > 30_000) throw new Error('the child never started the job');
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      await exited;
      expect(await state()).toBe('active'); // still locked by the dead worker
      const audit = new AuditLog(killConfig.auditLog);
      const pool = await startWorkers(killConfig, service.registry, service.metrics, audit, {
        lockDurationMs: 1000,
        stalledIntervalMs: 500,
      });
      try {
        for (let t0 = Date.now(); (await state()) !== 'completed'; ) {
          if (Date.now() - t0 > 40_000) throw new Error(`job stuck in ${await state()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const job = await queues.find(id);
        expect(job?.returnvalue.prediction.probabilities).toHaveLength(fx.dataset.groundTruth.tissues.length);
        expect(job?.attemptsStarted).toBeGreaterThanOrEqual(2);
        const lines = readFileSync(killConfig.auditLog, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { jobId?: string; outcome: string });
        expect(lines.filter((l) => l.jobId === id && l.outcome.startsWith('completed'))).toHaveLength(1);
      } finally {
        await pool.close();
        audit.close();
        await queues.close();
        await conn.quit();
      }
    },
  );

  test('the audit log has one line per request, with key ids and case hashes but no file names', async () => {
    await new Promise((r) => setTimeout(r, 50));
    const lines = readFileSync(config.auditLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const req = lines.filter((l) => l.type === 'request');
    expect(req.length).toBe(requests);
    const submitted = req.filter((l) => l.route === '/v1/jobs' && l.status === 202);
    expect(submitted.length).toBeGreaterThan(0);
    for (const l of submitted)
      expect(l).toMatchObject({
        keyId: expect.stringMatching(/^[a-f0-9]{16}$/),
        caseSha256: expect.stringMatching(/^[a-f0-9]{64}$/),
        model: expect.any(String),
        version: expect.any(String),
      });
    expect(readFileSync(config.auditLog, 'utf8')).not.toContain('S00');
    expect(lines.some((l) => l.type === 'job' && l.outcome === 'cancelled')).toBe(true);
  });

  test('graceful shutdown lets a running job finish', async () => {
    const r = await call(
      '/v1/jobs',
      json({
        model: 'tissuebert-slow',
        options: { maxReads: 60 },
        input: { root: 'samples', path: 'all.pat.gz' },
      }),
    );
    const { id } = (await r.json()) as { id: string };
    await waitFor(id, ['active']);
    const job = await service.queues.find(id);
    expect(job).not.toBeNull();
    const queue = service.queues.queue('tissuebert-slow');
    const { Queue } = await import('bullmq');
    const { Redis } = await import('ioredis');
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const watcher = new Queue(queue.name, { connection: conn, prefix: 'test' });
    await service.shutdown();
    expect(await (await watcher.getJob(id))?.getState()).toBe('completed');
    await watcher.close();
    await conn.quit();
  });
});
