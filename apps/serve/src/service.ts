/** Wires config → models, keys, Redis, queues, workers and the HTTP server; and shuts it all down in order. */
import { initBackend } from '@meddl/tensor';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { AuditLog } from './audit';
import type { ModelEntry, ServeConfig } from './config';
import { JobQueues, ResultCache, redisConnection, startWorkers, type WorkerPool } from './jobs';
import { KeyStore } from './keys';
import { ServeMetrics } from './metrics';
import { ModelRegistry, type Predictor, type PredictorContext } from './predictor';
import { CrcMilPredictor } from './predictors/crc-mil';
import { MdfNetPredictor } from './predictors/mdf-net';
import { loadOnnxPredictor } from './predictors/onnx';
import { TissueBertPredictor } from './predictors/tissuebert';
import { VJepa3dPredictor } from './predictors/vjepa3d';
import { buildServer } from './server';
import { ThreadedPredictor } from './threads';

/** Loads one configured model. New domains add a case here (and a Predictor in predictors/). */
export async function loadPredictor(entry: ModelEntry, ctx: PredictorContext): Promise<Predictor> {
  switch (entry.kind) {
    case 'tissuebert':
      return TissueBertPredictor.load(entry);
    case 'crc-mil':
      return CrcMilPredictor.load(entry, ctx);
    case 'mdf-net':
      return MdfNetPredictor.load(entry);
    case 'vjepa3d':
      return VJepa3dPredictor.load(entry);
    case 'onnx':
      return loadOnnxPredictor(entry, ctx);
  }
}

export async function loadRegistry(config: ServeConfig): Promise<ModelRegistry> {
  // The compute backend (native when built, else wasm/cpu; MEDDL_BACKEND overrides) before any model.
  await initBackend();
  const registry = new ModelRegistry();
  const ctx: PredictorContext = { artifactDir: config.storage.artifactDir };
  for (const entry of config.models) {
    const p = await loadPredictor(entry, ctx);
    // threads > 0: predictions run in worker threads, off this event loop (docs/serving.md).
    const threadEntry = (p.threadEntry?.() as ModelEntry | undefined) ?? entry;
    registry.register(
      entry.threads > 0 ? await ThreadedPredictor.start(p, threadEntry, ctx, entry.threads) : p,
    );
  }
  return registry;
}

export interface Service {
  app: FastifyInstance;
  config: ServeConfig;
  registry: ModelRegistry;
  metrics: ServeMetrics;
  queues: JobQueues;
  workers: WorkerPool | null;
  redis: Redis;
  /** Listens on config.server.host/port; returns the address. */
  listen(): Promise<string>;
  /** Stops accepting requests, drains in-flight requests and jobs (up to drainTimeoutMs), closes everything. */
  shutdown(): Promise<void>;
}

export async function createService(
  config: ServeConfig,
  options: {
    registry?: ModelRegistry;
    workers?: boolean;
    lockDurationMs?: number;
    stalledIntervalMs?: number;
  } = {},
): Promise<Service> {
  const registry = options.registry ?? (await loadRegistry(config));
  const redis = redisConnection(config);
  const metrics = new ServeMetrics();
  const audit = new AuditLog(config.auditLog);
  const keys = KeyStore.fromFile(config.keysFile);
  if (keys.size === 0)
    console.warn(
      `serve: ${config.keysFile} has no keys; every request will be refused (meddl serve keys add)`,
    );
  const models = registry.list().map((p) => p.name);
  const queues = new JobQueues(config, redis, models);
  const cache = new ResultCache(redis, config.redis.prefix, config.cache.ttlSeconds, config.cache.enabled);
  const runWorkers = options.workers ?? config.queue.inProcessWorkers;
  const workers = runWorkers
    ? await startWorkers(config, registry, metrics, audit, {
        lockDurationMs: options.lockDurationMs,
        stalledIntervalMs: options.stalledIntervalMs,
      })
    : null;
  const app = await buildServer({
    config,
    registry,
    keys,
    redis,
    queues,
    cache,
    metrics,
    audit,
    expectedModels: config.models.map((m) => m.name),
  });
  let closed = false;
  return {
    app,
    config,
    registry,
    metrics,
    queues,
    workers,
    redis,
    listen: () => app.listen({ host: config.server.host, port: config.server.port }),
    async shutdown() {
      if (closed) return;
      closed = true;
      const deadline = new Promise<'timeout'>((r) =>
        setTimeout(() => r('timeout'), config.server.drainTimeoutMs).unref(),
      );
      // New requests get 503 while in-flight ones finish; then running jobs finish (workers take no new ones).
      const drained = await Promise.race([
        (async () => {
          await app.close();
          // A client that hung up does not stop its handler: wait for those too.
          while (app.inFlight() > 0) await new Promise((r) => setTimeout(r, 20));
          await workers?.close(false);
          return 'drained' as const;
        })(),
        deadline,
      ]);
      if (drained === 'timeout') await workers?.close(true);
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
      audit.close();
      if (!options.registry) registry.dispose();
    },
  };
}

/** Runs only workers (`meddl serve worker`): for scaling out on other hosts. */
export async function createWorkerProcess(
  config: ServeConfig,
): Promise<{ pool: WorkerPool; shutdown(): Promise<void> }> {
  const registry = await loadRegistry(config);
  const audit = new AuditLog(config.auditLog);
  const pool = await startWorkers(config, registry, new ServeMetrics(), audit);
  return {
    pool,
    async shutdown() {
      const t = setTimeout(() => void pool.close(true), config.server.drainTimeoutMs);
      await pool.close(false);
      clearTimeout(t);
      audit.close();
      registry.dispose();
    },
  };
}

/** SIGTERM/SIGINT → graceful shutdown (a second signal exits at once). */
export function onShutdownSignals(shutdown: () => Promise<void>): void {
  let stopping = false;
  const handler = (sig: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(`serve: ${sig}, draining…`);
    shutdown().then(
      () => process.exit(0),
      (e) => {
        console.error(`serve: shutdown failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => handler('SIGTERM'));
  process.once('SIGINT', () => handler('SIGINT'));
}
