/**
 * Jobs: one BullMQ queue per model (so each model has its own bounded concurrency), priorities
 * (urgent first), retries with exponential backoff, a per-job timeout, cancellation (a waiting job
 * is removed; a running one is aborted through a Redis pub/sub message every worker process
 * listens to), and the Redis result cache keyed by content hash + model version + options.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { AuditLog } from './audit';
import type { ServeConfig } from './config';
import { isMeddlError, JobCancelledError, ServeError } from './errors';
import type { ServeMetrics } from './metrics';
import type { ModelRegistry, Prediction, Predictor } from './predictor';

export const PRIORITIES = { urgent: 1, routine: 5, low: 10 } as const;
export type PriorityName = keyof typeof PRIORITIES;

export interface JobData {
  model: string;
  version: string;
  file: string;
  /** What the client called the input ('upload' or root:path); replaces the server path in errors. */
  display?: string;
  caseSha256: string;
  options: Record<string, unknown>;
  priority: PriorityName;
  keyId: string;
}

export interface JobResult {
  model: string;
  version: string;
  caseSha256: string;
  cached: boolean;
  prediction: Prediction;
}

export function redisConnection(config: ServeConfig): Redis {
  // BullMQ needs maxRetriesPerRequest: null for blocking commands.
  return new Redis(config.redis.url, { maxRetriesPerRequest: null, lazyConnect: false });
}

export function queueName(model: string): string {
  return `predict-${model}`;
}

/** Canonical JSON (sorted keys) so equal options give equal cache keys. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export class ResultCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly enabled = true,
  ) {}
  key(model: string, version: string, caseSha256: string, options: Record<string, unknown>): string {
    const opt = createHash('sha256').update(canonical(options)).digest('hex').slice(0, 16);
    return `${this.prefix}:cache:${model}:${version}:${caseSha256}:${opt}`;
  }
  async get(key: string): Promise<Prediction | null> {
    if (!this.enabled) return null;
    const v = await this.redis.get(key);
    return v ? (JSON.parse(v) as Prediction) : null;
  }
  async set(key: string, p: Prediction): Promise<void> {
    if (this.enabled) await this.redis.set(key, JSON.stringify(p), 'EX', this.ttlSeconds);
  }
}

/** Runs a prediction through the cache: a hit returns the stored result without calling the model. */
export async function cachedPredict(
  predictor: Predictor,
  cache: ResultCache,
  metrics: ServeMetrics,
  input: { file: string; caseSha256: string; options: Record<string, unknown>; signal?: AbortSignal },
): Promise<JobResult> {
  const key = cache.key(predictor.name, predictor.version, input.caseSha256, input.options);
  const hit = await cache.get(key);
  const base = { model: predictor.name, version: predictor.version, caseSha256: input.caseSha256 };
  metrics.cache.inc({ model: predictor.name, outcome: hit ? 'hit' : 'miss' });
  if (hit) return { ...base, cached: true, prediction: hit };
  const prediction = await predictor.predict({
    file: input.file,
    options: input.options,
    signal: input.signal,
  });
  metrics.predictions.inc({ model: predictor.name });
  await cache.set(key, prediction);
  return { ...base, cached: false, prediction };
}

export class JobQueues {
  readonly queues = new Map<string, Queue<JobData, JobResult>>();
  constructor(
    private readonly config: ServeConfig,
    private readonly redis: Redis,
    models: string[],
  ) {
    for (const m of models)
      this.queues.set(
        m,
        new Queue<JobData, JobResult>(queueName(m), { connection: redis, prefix: config.redis.prefix }),
      );
  }

  queue(model: string): Queue<JobData, JobResult> {
    const q = this.queues.get(model);
    if (!q) throw new ServeError(404, `model '${model}' is not served here`, 'unknown_model');
    return q;
  }

  async waiting(): Promise<number> {
    let n = 0;
    for (const q of this.queues.values()) {
      const c = await q.getJobCounts('wait', 'prioritized', 'delayed');
      n += (c.wait ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0);
    }
    return n;
  }

  async submit(data: JobData): Promise<string> {
    if ((await this.waiting()) >= this.config.queue.maxWaiting)
      throw new ServeError(503, 'the queue is full; retry later', 'queue_full');
    const id = `${data.model}.${randomUUID().replaceAll('-', '')}`;
    await this.queue(data.model).add('predict', data, {
      jobId: id,
      priority: PRIORITIES[data.priority],
      attempts: this.config.queue.attempts,
      backoff: { type: 'exponential', delay: this.config.queue.backoffMs },
      removeOnComplete: { age: this.config.queue.keepResultsSeconds },
      removeOnFail: { age: this.config.queue.keepResultsSeconds },
    });
    return id;
  }

  async find(id: string): Promise<Job<JobData, JobResult> | null> {
    const dot = id.lastIndexOf('.');
    if (dot <= 0 || !/^[a-f0-9]{32}$/.test(id.slice(dot + 1)))
      throw new ServeError(400, `'${id}' is not a job id`, 'bad_job_id');
    const q = this.queues.get(id.slice(0, dot));
    if (!q) return null;
    return (await Job.fromId<JobData, JobResult>(q, id)) ?? null;
  }

  private cancelledKey(id: string): string {
    return `${this.config.redis.prefix}:cancelled:${id}`;
  }

  async isCancelled(id: string): Promise<boolean> {
    return (await this.redis.exists(this.cancelledKey(id))) === 1;
  }

  /** Cancels a job: removes it when it has not started, else asks the worker running it to abort. */
  async cancel(id: string): Promise<'cancelled' | 'cancelling'> {
    const job = await this.find(id);
    if (!job) throw new ServeError(404, `job ${id} not found`, 'not_found');
    const state = await job.getState();
    if (state === 'completed' || state === 'failed')
      throw new ServeError(
        409,
        `job ${id} has already ${state === 'completed' ? 'completed' : 'failed'}`,
        'finished',
      );
    await this.redis.set(this.cancelledKey(id), '1', 'EX', this.config.queue.keepResultsSeconds);
    if (state !== 'active') {
      try {
        await job.remove();
        return 'cancelled';
      } catch {
        // It became active between getState and remove: abort it instead.
      }
    }
    await this.redis.publish(cancelChannel(this.config), id);
    return 'cancelling';
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

export function cancelChannel(config: ServeConfig): string {
  return `${config.redis.prefix}:cancel`;
}

export interface WorkerPool {
  workers: Worker<JobData, JobResult>[];
  /** Stops taking jobs and waits for the running ones (graceful) or aborts them (force). */
  close(force?: boolean): Promise<void>;
}

/** Starts one BullMQ worker per model (concurrency from the model entry), in this process. */
export async function startWorkers(
  config: ServeConfig,
  registry: ModelRegistry,
  metrics: ServeMetrics,
  audit: AuditLog | null,
  options: { lockDurationMs?: number; stalledIntervalMs?: number } = {},
): Promise<WorkerPool> {
  const connection = redisConnection(config);
  const subscriber = redisConnection(config);
  const cache = new ResultCache(
    connection,
    config.redis.prefix,
    config.cache.ttlSeconds,
    config.cache.enabled,
  );
  const workers: Worker<JobData, JobResult>[] = [];
  for (const entry of config.models) {
    const predictor = registry.get(entry.name);
    if (!predictor) continue;
    const worker = new Worker<JobData, JobResult>(
      queueName(entry.name),
      async (job, _token, signal) => {
        const started = performance.now();
        const timeout = AbortSignal.timeout(config.queue.timeoutMs);
        const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
        const cancelled = () => signal?.aborted === true;
        if (await connection.exists(`${config.redis.prefix}:cancelled:${job.id}`))
          throw new UnrecoverableError(new JobCancelledError(job.id ?? '').message);
        try {
          const guard = new Promise<never>((_, reject) => {
            abort.addEventListener('abort', () => reject(abort.reason), { once: true });
          });
          const result = await Promise.race([
            cachedPredict(predictor, cache, metrics, {
              file: job.data.file,
              caseSha256: job.data.caseSha256,
              options: job.data.options,
              signal: abort,
            }),
            guard,
          ]);
          metrics.jobs.inc({ model: entry.name, outcome: 'completed' });
          metrics.jobSeconds.observe({ model: entry.name }, (performance.now() - started) / 1000);
          audit?.write({
            type: 'job',
            jobId: job.id,
            keyId: job.data.keyId,
            model: entry.name,
            version: predictor.version,
            caseSha256: job.data.caseSha256,
            outcome: result.cached ? 'completed (cached)' : 'completed',
            ms: Math.round(performance.now() - started),
          });
          return result;
        } catch (e) {
          const outcome = cancelled() ? 'cancelled' : timeout.aborted ? 'timeout' : 'error';
          metrics.jobs.inc({ model: entry.name, outcome });
          audit?.write({
            type: 'job',
            jobId: job.id,
            keyId: job.data.keyId,
            model: entry.name,
            version: predictor.version,
            caseSha256: job.data.caseSha256,
            outcome,
          });
          if (cancelled()) throw new UnrecoverableError(new JobCancelledError(job.id ?? '').message);
          if (timeout.aborted) throw new Error(`timed out after ${config.queue.timeoutMs} ms`);
          // Bad input does not get better on retry.
          if (isMeddlError(e))
            throw new UnrecoverableError(e.message.replaceAll(job.data.file, job.data.display ?? 'input'));
          throw e;
        }
      },
      {
        connection,
        prefix: config.redis.prefix,
        concurrency: entry.concurrency,
        lockDuration: options.lockDurationMs ?? 30_000,
        stalledInterval: options.stalledIntervalMs ?? 30_000,
        maxStalledCount: config.queue.attempts,
      },
    );
    worker.on('error', (e) => console.error(`worker ${entry.name}: ${e.message}`));
    workers.push(worker);
  }
  await subscriber.subscribe(cancelChannel(config));
  subscriber.on('message', (_channel, id: string) => {
    for (const w of workers) w.cancelJob(id, 'cancelled');
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  return {
    workers,
    async close(force = false) {
      subscriber.disconnect();
      await Promise.all(workers.map((w) => w.close(force)));
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
