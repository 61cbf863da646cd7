import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq';
import { QueueError } from './errors';

/**
 * Distributed batch work (slide preprocessing, feature extraction, batch inference) on a
 * Redis-backed BullMQ queue: any number of workers on any hosts, retries with exponential
 * backoff, priorities, progress, and a summary of failed items. Outputs are made idempotent by
 * `writeOutputOnce` (a finished item's output exists, complete, or not at all), and enqueueing
 * uses the item id as the BullMQ job id, so enqueueing the same item twice is a no-op.
 */

/** One item of work. `id` names the item (e.g. the slide path) and makes enqueueing idempotent. */
export interface BatchItem<D = unknown> {
  id: string;
  /** Which handler runs it (e.g. 'preprocess', 'features', 'predict'). */
  kind: string;
  data: D;
  /** 1 is the highest priority (BullMQ's convention); default none (FIFO). */
  priority?: number;
}

export interface EnqueueOptions {
  /** Tries per item including the first (default 3). */
  attempts?: number;
  /** First retry delay; doubles on every retry (default 1000 ms). */
  backoffMs?: number;
}

export interface JobContext {
  id: string;
  kind: string;
  /** 1 on the first try. */
  attempt: number;
  progress(value: number | Record<string, unknown>): Promise<void>;
}

export type JobHandler<D = unknown, R = unknown> = (data: D, ctx: JobContext) => Promise<R> | R;

export interface QueueSummary {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  /** Items that used up their attempts, with the last error. */
  failedItems: { id: string; kind: string; attempts: number; reason: string }[];
}

/** `redis://[user:pass@]host[:port][/db]` → BullMQ connection options. */
export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueError(`--queue '${url}' is not a URL; expected redis://host:port[/db]`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new QueueError(`--queue '${url}': expected a redis:// or rediss:// URL, got ${u.protocol}`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new QueueError(`--queue '${url}': database '${u.pathname.slice(1)}' is not a number`);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    db,
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    // Workers block on Redis; BullMQ requires unlimited retries per request for them.
    maxRetriesPerRequest: null,
  };
}

export class BatchQueue {
  readonly queue: Queue;
  constructor(
    readonly url: string,
    readonly name: string,
  ) {
    this.queue = new Queue(name, { connection: redisConnection(url) });
  }

  /** Adds items; an item whose id is already in the queue (waiting, running, done or failed) is skipped. */
  async enqueue(items: BatchItem[], options: EnqueueOptions = {}): Promise<number> {
    const before = await this.queue.getJobCountByTypes(
      'waiting',
      'active',
      'delayed',
      'completed',
      'failed',
      'prioritized',
    );
    await this.queue.addBulk(
      items.map((it) => ({
        name: it.kind,
        data: it.data,
        opts: {
          jobId: it.id,
          priority: it.priority,
          attempts: options.attempts ?? 3,
          backoff: { type: 'exponential', delay: options.backoffMs ?? 1000 },
          removeOnComplete: false,
          removeOnFail: false,
        },
      })),
    );
    const after = await this.queue.getJobCountByTypes(
      'waiting',
      'active',
      'delayed',
      'completed',
      'failed',
      'prioritized',
    );
    return after - before;
  }

  async summary(): Promise<QueueSummary> {
    const c = await this.queue.getJobCounts(
      'waiting',
      'prioritized',
      'active',
      'delayed',
      'completed',
      'failed',
    );
    const failed = await this.queue.getFailed(0, 999);
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
      failedItems: failed.map((j) => ({
        id: String(j.id),
        kind: j.name,
        attempts: j.attemptsMade,
        reason: j.failedReason,
      })),
    };
  }

  /** Resolves when nothing is waiting, delayed or running (polls every `intervalMs`). */
  async drained(timeoutMs = 600_000, intervalMs = 200): Promise<QueueSummary> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.summary();
      if (s.waiting + s.active + s.delayed === 0) return s;
      if (Date.now() > deadline)
        throw new QueueError(
          `queue '${this.name}' at ${this.url} not drained after ${timeoutMs} ms (${s.waiting} waiting, ${s.active} active, ${s.delayed} delayed); are workers running?`,
        );
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export interface WorkerOptions {
  concurrency?: number;
  /** A job whose worker stops renewing its lock for this long is stalled and handed to another worker (default 30 s). */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 30 s, as BullMQ). */
  stalledIntervalMs?: number;
}

/** Processes jobs of queue `name` with `handlers[kind]` until closed. */
export function runWorker(
  url: string,
  name: string,
  handlers: Record<string, JobHandler>,
  options: WorkerOptions = {},
): Worker {
  const worker = new Worker(
    name,
    async (job: Job) => {
      const handler = handlers[job.name];
      if (!handler)
        throw new QueueError(
          `no handler for job kind '${job.name}' (item ${job.id}); this worker handles: ${Object.keys(handlers).join(', ')}`,
        );
      return handler(job.data, {
        id: String(job.id),
        kind: job.name,
        attempt: job.attemptsMade + 1,
        progress: (v) => job.updateProgress(v as number | object),
      });
    },
    {
      connection: redisConnection(url),
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: 3,
    },
  );
  worker.on('error', (e) => process.stderr.write(`[meddl worker] ${e.message}\n`));
  return worker;
}

/**
 * Writes `path` once: when it exists (a finished item) nothing is produced again; otherwise the
 * content goes to a temporary file renamed into place, so a killed worker never leaves half an output.
 */
export async function writeOutputOnce(
  path: string,
  produce: () => Promise<string | Uint8Array> | string | Uint8Array,
): Promise<{ written: boolean }> {
  if (existsSync(path)) return { written: false };
  const content = await produce();
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new QueueError(`cannot write output ${path}: ${(e as Error).message}`);
  }
  return { written: true };
}
