import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handlers } from '../test/queue-handlers';
import { BatchQueue, redisConnection, runWorker, writeOutputOnce } from './queue';
import { freePort } from './test-utils';

const REDIS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
if (!REDIS) console.warn('queue tests skipped: redis-server is not installed (Debian package redis-server)');
const workerScript = join(new URL('.', import.meta.url).pathname, '../test/queue-worker.ts');
const tmp = mkdtempSync(join(tmpdir(), 'meddl-queue-'));
let redis: ChildProcess | null = null;
let url = '';

beforeAll(async () => {
  if (!REDIS) return;
  const port = await freePort();
  redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    redis?.stdout?.on(
      'data',
      (d: Buffer) => d.toString().includes('Ready to accept connections') && resolve(),
    );
    redis?.once('exit', (c) => reject(new Error(`redis-server exited with ${c}`)));
  });
  url = `redis://127.0.0.1:${port}/0`;
});
afterAll(() => {
  redis?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

function inputs(dir: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const p = join(dir, `slide-${i}.txt`);
    writeFileSync(p, `slide ${i} `.repeat(100 + i));
    return p;
  });
}

const sha = (p: string) => `${createHash('sha256').update(readFileSync(p)).digest('hex')}\n`;

describe('writeOutputOnce and URLs', () => {
  it('writes atomically once and rejects bad queue URLs', async () => {
    const p = join(tmp, 'sub', 'out.txt');
    expect(await writeOutputOnce(p, () => 'a')).toEqual({ written: true });
    expect(await writeOutputOnce(p, () => 'b')).toEqual({ written: false });
    expect(readFileSync(p, 'utf8')).toBe('a');
    expect(readdirSync(join(tmp, 'sub'))).toEqual(['out.txt']);
    expect(redisConnection('redis://u:p%40ss@h:6390/2')).toMatchObject({
      host: 'h',
      port: 6390,
      db: 2,
      password: 'p@ss',
    });
    expect(() => redisConnection('http://h')).toThrow(/redis:\/\//);
    expect(() => redisConnection('nope')).toThrow(/not a URL/);
    const { loadHandlers } = await import('./commands');
    const here = new URL('.', import.meta.url).pathname;
    expect(Object.keys(await loadHandlers(join(here, '../test/queue-handlers.ts')))).toEqual(['checksum']);
    await expect(loadHandlers(join(here, 'errors.ts'))).rejects.toThrow(/no 'handlers' export/);
    await expect(loadHandlers(join(tmp, 'absent.mjs'))).rejects.toThrow(/cannot import/);
  });
});

describe.skipIf(!REDIS)('BatchQueue on a real redis-server', () => {
  it('retries with backoff, honours priorities, skips duplicate items, and summarizes failures', async () => {
    const dir = mkdtempSync(join(tmp, 'retry-'));
    const files = inputs(dir, 3);
    const q = new BatchQueue(url, 'retry');
    const order: string[] = [];
    const traced = {
      checksum: async (d: unknown, ctx: Parameters<typeof handlers.checksum>[1]) => {
        order.push(`${ctx.id}#${ctx.attempt}`);
        return handlers.checksum(d, ctx);
      },
    };
    const added = await q.enqueue(
      [
        { id: 'low', kind: 'checksum', data: { input: files[0], outDir: dir, delayMs: 0 }, priority: 3 },
        {
          id: 'flaky',
          kind: 'checksum',
          data: { input: files[1], outDir: dir, delayMs: 0, failAttempts: 2 },
          priority: 1,
        },
        { id: 'high', kind: 'checksum', data: { input: files[2], outDir: dir, delayMs: 0 }, priority: 2 },
        {
          id: 'broken',
          kind: 'checksum',
          data: { input: join(dir, 'missing'), outDir: dir, delayMs: 0 },
          priority: 4,
        },
      ],
      { attempts: 3, backoffMs: 300 },
    );
    expect(added).toBe(4);
    expect(await q.enqueue([{ id: 'low', kind: 'checksum', data: {} }])).toBe(0); // same id: no-op
    const w = runWorker(url, 'retry', traced, { concurrency: 1 });
    const s = await q.drained(20_000, 100);
    await w.close();
    expect(order.slice(0, 2)).toEqual(['flaky#1', 'high#1']); // priority 1 first, then 2 while flaky backs off
    expect(order.filter((o) => o.startsWith('flaky'))).toEqual(['flaky#1', 'flaky#2', 'flaky#3']);
    expect(s.completed).toBe(3);
    expect(s.failedItems).toHaveLength(1);
    expect(s.failedItems[0]).toMatchObject({ id: 'broken', kind: 'checksum', attempts: 3 });
    expect(s.failedItems[0].reason).toMatch(/ENOENT.*missing/);
    expect(readFileSync(join(dir, 'flaky.sha256'), 'utf8')).toBe(sha(files[1]));
    const { formatSummary } = await import('./commands');
    expect(formatSummary('retry', s)).toMatch(
      /3 completed, 1 failed[\s\S]*FAILED broken \(checksum, 3 attempts\): ENOENT/,
    );
    await q.close();
  });

  it('a worker killed mid-job → the job is retried by another worker and finishes exactly once', async () => {
    const dir = mkdtempSync(join(tmp, 'kill-'));
    const files = inputs(dir, 3);
    const q = new BatchQueue(url, 'kill');
    await q.enqueue(
      files.map((f, i) => ({
        id: `slide-${i}`,
        kind: 'checksum',
        data: { input: f, outDir: dir, delayMs: 1500 },
      })),
    );
    const victim = spawn(process.execPath, ['--import', 'tsx', workerScript, url, 'kill'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Kill it as soon as it has started its first job.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (readdirSync(dir).some((f) => f.endsWith(`.started-${victim.pid}`))) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    victim.kill('SIGKILL');
    const killedJob = readdirSync(dir)
      .find((f) => f.endsWith(`.started-${victim.pid}`))
      ?.split('.started')[0] as string;
    expect(existsSync(join(dir, `${killedJob}.sha256`))).toBe(false); // no half-written output
    const rescuer = runWorker(url, 'kill', handlers, { lockDurationMs: 1500, stalledIntervalMs: 500 });
    const s = await q.drained(30_000, 100);
    await rescuer.close();
    expect(s.completed).toBe(3);
    expect(s.failed).toBe(0);
    const done = readFileSync(join(dir, 'done.log'), 'utf8').trim().split('\n');
    expect(done.filter((l) => l.startsWith(`${killedJob} `))).toEqual([`${killedJob} ${process.pid} true`]);
    expect(done).toHaveLength(3); // every item finished once
    for (const [i, f] of files.entries())
      expect(readFileSync(join(dir, `slide-${i}.sha256`), 'utf8')).toBe(sha(f));
    await q.close();
  });
});
