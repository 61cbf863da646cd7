/**
 * The HTTP API (fastify). Routes, authentication, rate limits, uploads and error mapping live
 * here; queueing is in jobs.ts and all model work behind the `Predictor` interface.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { AuditEntry, AuditLog } from './audit';
import type { ServeConfig } from './config';
import { isMeddlError, ServeError } from './errors';
import { cachedPredict, type JobQueues, PRIORITIES, type PriorityName, type ResultCache } from './jobs';
import { hasRole, type KeyStore, type Principal, type Role } from './keys';
import type { ServeMetrics } from './metrics';
import { resolveConfinedPath } from './paths';
import type { ModelRegistry, Predictor } from './predictor';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    audit: Partial<AuditEntry>;
  }
  interface FastifyInstance {
    /** POST handlers still running (a client may have hung up; the work goes on). */
    inFlight(): number;
  }
  interface FastifyContextConfig {
    /** Role a route needs; 'public' = no key needed (probes, when configured). */
    role?: Role | 'probe';
  }
}

export interface ServerDeps {
  config: ServeConfig;
  registry: ModelRegistry;
  keys: KeyStore;
  redis: Redis;
  queues: JobQueues;
  cache: ResultCache;
  metrics: ServeMetrics;
  audit: AuditLog;
  /** Models configured but not (yet) loaded, for /readyz. */
  expectedModels: string[];
}

const SubmitJson = z
  .object({
    model: z.string(),
    priority: z.enum(['urgent', 'routine', 'low']).default('routine'),
    options: z.record(z.string(), z.unknown()).default({}),
    input: z.object({ root: z.string(), path: z.string() }).strict(),
  })
  .strict();

interface Submission {
  predictor: Predictor;
  priority: PriorityName;
  options: Record<string, unknown>;
  file: string;
  /** What the client called the input (error messages say this, never the server's path). */
  display: string;
  caseSha256: string;
}

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

const predictionSchema = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    version: { type: 'string' },
    caseSha256: { type: 'string' },
    cached: { type: 'boolean' },
    prediction: {
      type: 'object',
      properties: {
        labels: { type: 'array', items: { type: 'string' } },
        probabilities: { type: 'array', items: { type: 'number' } },
        uncertainty: { type: 'object', nullable: true, additionalProperties: true },
        extras: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

const submitBodyDoc = {
  description:
    'multipart/form-data with fields `model`, `priority` (urgent|routine|low), `options` (JSON) and one file part `file`; or application/json with a server-side path `{model, priority, options, input: {root, path}}`',
  type: 'object',
  properties: {
    model: { type: 'string' },
    priority: { type: 'string', enum: Object.keys(PRIORITIES) },
    options: { type: 'object', additionalProperties: true },
    input: { type: 'object', properties: { root: { type: 'string' }, path: { type: 'string' } } },
  },
} as const;

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

function presentedKey(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const x = req.headers['x-api-key'];
  return typeof x === 'string' ? x.trim() : null;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { config, registry, keys, queues, cache, metrics, audit, redis } = deps;
  const app = Fastify({
    logger: false,
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustProxy,
    return503OnClosing: true,
  });
  const spool = config.storage.uploadDir;
  mkdirSync(spool, { recursive: true });
  let syncInFlight = 0;
  let busy = 0;
  app.decorate('inFlight', () => busy);
  /** Runs a handler body, counting it as in flight until it really ends (even if the client hung up). */
  async function tracked<T>(fn: () => Promise<T>): Promise<T> {
    busy++;
    try {
      return await fn();
    } finally {
      busy--;
    }
  }

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'meddl inference service',
        version: '0.1.0',
        description: 'Submit cases to the meddl models, follow jobs, fetch calibrated results.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key: mdl_<id>_<secret>' },
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  });
  await app.register(fastifyMultipart, {
    limits: {
      fileSize: config.server.uploadLimitBytes,
      files: 1,
      fields: 8,
      fieldSize: 64 * 1024,
      parts: 10,
    },
  });

  app.decorateRequest('principal', undefined);
  app.decorateRequest('audit', null as unknown as Partial<AuditEntry>);

  // Every request is authenticated (probes only when server.publicProbes is set).
  app.addHook('onRequest', async (req) => {
    req.audit = {};
    const role = req.routeOptions.config?.role;
    if (role === 'probe' && config.server.publicProbes) return;
    const key = presentedKey(req);
    if (!key)
      throw new ServeError(401, 'an API key is required (Authorization: Bearer <key>)', 'unauthenticated');
    const p = keys.verify(key);
    if (!p) throw new ServeError(401, 'invalid API key', 'unauthenticated');
    req.principal = p;
    req.audit.keyId = p.keyId;
    if (role && role !== 'probe' && !hasRole(p, role))
      throw new ServeError(403, `this key lacks the '${role}' role`, 'forbidden');
  });

  await app.register(fastifyRateLimit, {
    global: true,
    hook: 'preHandler',
    redis,
    nameSpace: `${config.redis.prefix}:ratelimit:`,
    timeWindow: config.rateLimit.windowMs,
    keyGenerator: (req) => req.principal?.keyId ?? req.ip,
    max: (req) => req.principal?.rateLimit ?? config.rateLimit.max,
    errorResponseBuilder: (_req, ctx) => {
      metrics.shed.inc({ reason: 'rate_limit' });
      return Object.assign(
        new Error(`rate limit of ${ctx.max} requests per ${ctx.after} exceeded for this key`),
        {
          statusCode: 429,
          code: 'rate_limited',
        },
      );
    },
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    audit.write({
      type: 'request',
      method: req.method,
      route,
      status: reply.statusCode,
      outcome: reply.statusCode < 400 ? 'ok' : 'rejected',
      ms: Math.round(reply.elapsedTime),
      ...req.audit,
    });
  });

  app.setErrorHandler(
    (err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
      let status = 500;
      let code = 'internal';
      let message = 'internal error';
      if (err.validation) {
        status = 400;
        code = 'invalid_request';
        message = err.message;
      } else if (isMeddlError(err)) {
        status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 400;
        code = err.code ?? err.name;
        message = err.message;
      } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        status = err.statusCode;
        code = err.code ?? 'bad_request';
        message = err.message;
      } else if (err.statusCode === 503) {
        status = 503;
        code = 'unavailable';
        message = err.message;
      } else {
        // Server paths may name patients: log the error class and stack frames, not the message.
        console.error(
          `serve: ${req.method} ${req.routeOptions.url}: ${err.name} ${(err.stack ?? '').split('\n').slice(1, 4).join(' ')}`,
        );
      }
      if (status === 503) reply.header('retry-after', '1');
      req.audit.outcome = code;
      reply.code(status).send({ error: code, message });
    },
  );

  /** Streams the one file part to the spool folder, hashing it on the way. */
  async function spoolUpload(
    req: FastifyRequest,
    maxBytes: number,
  ): Promise<{
    fields: Record<string, string>;
    file: string;
    filename: string;
    mimetype: string;
    sha: string;
  }> {
    const fields: Record<string, string> = {};
    let upload: { file: string; filename: string; mimetype: string; sha: string } | null = null;
    for await (const part of req.parts({ limits: { fileSize: maxBytes } })) {
      if (part.type === 'field') {
        fields[part.fieldname] = String(part.value);
        continue;
      }
      if (part.fieldname !== 'file' || upload) {
        part.file.resume();
        throw new ServeError(400, `unexpected file part '${part.fieldname}' (send one part named 'file')`);
      }
      const tmp = join(spool, `.tmp-${randomBytes(8).toString('hex')}`);
      const h = createHash('sha256');
      try {
        await pipeline(
          part.file,
          new Transform({
            transform(chunk, _enc, cb) {
              h.update(chunk);
              cb(null, chunk);
            },
          }),
          createWriteStream(tmp),
        );
        if (part.file.truncated)
          throw new ServeError(413, `the upload exceeds ${maxBytes} bytes`, 'too_large');
      } catch (e) {
        rmSync(tmp, { force: true });
        const sc = (e as { statusCode?: number }).statusCode;
        if (sc === 413) throw new ServeError(413, `the upload exceeds ${maxBytes} bytes`, 'too_large');
        throw e;
      }
      const sha = h.digest('hex');
      const ext = part.filename.toLowerCase().endsWith('.gz') ? '.gz' : '';
      const file = join(spool, `${sha}${ext}`);
      renameSync(tmp, file);
      upload = { file, filename: part.filename, mimetype: part.mimetype, sha };
    }
    if (!upload) throw new ServeError(400, "no file part named 'file' in the upload");
    return { fields, ...upload };
  }

  function modelFor(name: unknown): Predictor {
    if (typeof name !== 'string' || name === '') throw new ServeError(400, "'model' is required");
    const p = registry.get(name);
    if (!p) throw new ServeError(404, `model '${name}' is not served here`, 'unknown_model');
    return p;
  }

  function checkOptions(p: Predictor, options: unknown): Record<string, unknown> {
    const r = p.optionsSchema.safeParse(options ?? {});
    if (!r.success) {
      const i = r.error.issues[0];
      throw new ServeError(400, `options.${i.path.join('.')}: ${i.message}`);
    }
    return r.data;
  }

  function checkInputType(p: Predictor, filename: string, mimetype: string, file: string): void {
    const name = filename.toLowerCase();
    const kind = p.inputs.find((k) => k.extensions.some((e) => name.endsWith(e)));
    if (!kind)
      throw new ServeError(
        415,
        `'${filename}': ${p.name} accepts ${p.inputs.flatMap((k) => k.extensions).join(', ')} files`,
        'unsupported_media_type',
      );
    if (!kind.contentTypes.includes(mimetype))
      throw new ServeError(
        415,
        `content type '${mimetype}' is not accepted for ${kind.kind}`,
        'unsupported_media_type',
      );
    if (name.endsWith('.gz')) {
      const fd = openSync(file, 'r');
      const magic = Buffer.alloc(2);
      const n = readSync(fd, magic, 0, 2, 0);
      closeSync(fd);
      if (n < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b)
        throw new ServeError(
          415,
          `'${filename}' is named .gz but is not gzip data`,
          'unsupported_media_type',
        );
    }
  }

  async function validateInput(p: Predictor, file: string, display: string): Promise<void> {
    try {
      await p.validate?.(file);
    } catch (e) {
      if (isMeddlError(e)) throw new ServeError(400, e.message.replaceAll(file, display), 'invalid_input');
      throw new ServeError(
        400,
        `'${display}' could not be read: ${(e as Error).message.replaceAll(file, display)}`,
        'invalid_input',
      );
    }
  }

  async function readSubmission(req: FastifyRequest, maxBytes: number): Promise<Submission> {
    if (req.isMultipart()) {
      const up = await spoolUpload(req, maxBytes);
      const predictor = modelFor(up.fields.model);
      let options: unknown = {};
      if (up.fields.options) {
        try {
          options = JSON.parse(up.fields.options);
        } catch {
          throw new ServeError(400, "the 'options' field is not valid JSON");
        }
      }
      const priority = (up.fields.priority ?? 'routine') as PriorityName;
      if (!(priority in PRIORITIES))
        throw new ServeError(400, `priority must be one of ${Object.keys(PRIORITIES).join(', ')}`);
      const opts = checkOptions(predictor, options);
      checkInputType(predictor, up.filename, up.mimetype, up.file);
      await validateInput(predictor, up.file, 'upload');
      return { predictor, priority, options: opts, file: up.file, display: 'upload', caseSha256: up.sha };
    }
    const parsed = SubmitJson.safeParse(req.body);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new ServeError(400, `${i.path.join('.') || 'body'}: ${i.message}`, 'invalid_request');
    }
    const b = parsed.data;
    const predictor = modelFor(b.model);
    const opts = checkOptions(predictor, b.options);
    const file = resolveConfinedPath(config.storage.roots, b.input.root, b.input.path);
    const display = `${b.input.root}:${b.input.path}`;
    if (statSync(file).size > maxBytes)
      throw new ServeError(413, `'${display}' exceeds ${maxBytes} bytes`, 'too_large');
    const name = b.input.path.toLowerCase();
    if (!predictor.inputs.some((k) => k.extensions.some((e) => name.endsWith(e))))
      throw new ServeError(
        415,
        `'${display}': ${predictor.name} accepts ${predictor.inputs.flatMap((k) => k.extensions).join(', ')} files`,
        'unsupported_media_type',
      );
    await validateInput(predictor, file, display);
    return {
      predictor,
      priority: b.priority,
      options: opts,
      file,
      display,
      caseSha256: await sha256File(file),
    };
  }

  const jobStatusSchema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      model: { type: 'string' },
      version: { type: 'string' },
      state: { type: 'string', enum: ['queued', 'active', 'completed', 'failed', 'cancelled'] },
      priority: { type: 'string' },
      attemptsMade: { type: 'integer' },
      createdAt: { type: 'string' },
      startedAt: { type: 'string', nullable: true },
      finishedAt: { type: 'string', nullable: true },
      error: { type: 'string', nullable: true },
    },
  } as const;

  async function jobStatus(id: string, p: Principal) {
    let job = await queues.find(id);
    if (!job) {
      if (await queues.isCancelled(id)) return { id, state: 'cancelled' as const, job: null };
      throw new ServeError(404, `job ${id} not found`, 'not_found');
    }
    if (!hasRole(p, 'read') && job.data.keyId !== p.keyId)
      throw new ServeError(403, 'this key may only read jobs it submitted', 'forbidden');
    const raw = await job.getState();
    let state: 'queued' | 'active' | 'completed' | 'failed' | 'cancelled' =
      raw === 'active'
        ? 'active'
        : raw === 'completed'
          ? 'completed'
          : raw === 'failed'
            ? 'failed'
            : 'queued';
    if (state === 'failed' && (await queues.isCancelled(id))) state = 'cancelled';
    // The job may have finished between the fetch and getState: the fetched copy then lacks its
    // return value and finish time. A finished job no longer changes, so fetch it again.
    if ((state === 'completed' || state === 'failed') && !job.finishedOn)
      job = (await queues.find(id)) ?? job;
    return { id, state, job };
  }

  const iso = (t?: number) => (t ? new Date(t).toISOString() : null);

  app.get('/openapi.json', { config: { role: 'read' }, schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/healthz',
    {
      config: { role: 'probe' },
      schema: {
        summary: 'Liveness',
        response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: { role: 'probe' },
      schema: {
        summary: 'Readiness: models loaded and Redis reachable',
        response: {
          200: { type: 'object', additionalProperties: true },
          503: { type: 'object', additionalProperties: true },
        },
      },
    },
    async (_req, reply) => {
      let redisOk = false;
      try {
        redisOk = (await redis.ping()) === 'PONG';
      } catch {
        redisOk = false;
      }
      const loaded = registry.list().map((p) => p.name);
      const missing = deps.expectedModels.filter((m) => !loaded.includes(m));
      const ready = redisOk && missing.length === 0 && loaded.length > 0;
      reply.code(ready ? 200 : 503);
      return { ready, redis: redisOk, models: loaded, missing };
    },
  );

  app.get(
    '/metrics',
    { config: { role: 'read' }, schema: { summary: 'Prometheus metrics' } },
    async (_req, reply) => {
      const depth = await Promise.all(
        [...queues.queues.entries()].map(async ([model, q]) => {
          const c = await q.getJobCounts('wait', 'prioritized', 'active', 'delayed');
          return [
            {
              labels: { model, state: 'waiting' },
              value: (c.wait ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0),
            },
            { labels: { model, state: 'active' }, value: c.active ?? 0 },
          ];
        }),
      );
      reply.type('text/plain; version=0.0.4');
      return metrics.render([
        { name: 'meddl_queue_jobs', help: 'Jobs in the queue by state', values: depth.flat() },
      ]);
    },
  );

  app.get(
    '/v1/models',
    {
      config: { role: 'read' },
      schema: {
        summary: 'Models served, with versions, labels, calibration and input contracts',
        response: {
          200: {
            type: 'object',
            properties: { models: { type: 'array', items: { type: 'object', additionalProperties: true } } },
          },
        },
      },
    },
    async () => ({ models: registry.list().map((p) => p.card()) }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/artifacts/:name',
    {
      config: { role: 'submit' },
      schema: {
        summary:
          'An image a model wrote for a result (crc-mil attention heatmap), by the name in the result; named by a sha256 of model version and input, so only a client that has the result can name it',
        params: { type: 'object', properties: { name: { type: 'string' } } },
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      if (!/^[0-9a-f]{64}\.png$/.test(name)) throw new ServeError(400, `'${name}' is not an artifact name`);
      const file = join(config.storage.artifactDir, name);
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        throw new ServeError(404, `artifact ${name} not found`, 'not_found');
      }
      reply.type('image/png').header('cache-control', 'private, max-age=86400');
      return bytes;
    },
  );

  app.post(
    '/v1/jobs',
    {
      config: { role: 'submit' },
      bodyLimit: config.server.bodyLimitBytes,
      validatorCompiler: () => () => true,
      schema: {
        summary: 'Submit a case; returns a job id',
        consumes: ['multipart/form-data', 'application/json'],
        body: submitBodyDoc,
        response: {
          202: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              state: { type: 'string' },
              model: { type: 'string' },
              version: { type: 'string' },
            },
          },
          '4xx': errorSchema,
          503: errorSchema,
        },
      },
    },
    (req, reply) =>
      tracked(async () => {
        const s = await readSubmission(req, config.server.uploadLimitBytes);
        Object.assign(req.audit, {
          model: s.predictor.name,
          version: s.predictor.version,
          caseSha256: s.caseSha256,
        });
        let id: string;
        try {
          id = await queues.submit({
            model: s.predictor.name,
            version: s.predictor.version,
            file: s.file,
            caseSha256: s.caseSha256,
            options: s.options,
            priority: s.priority,
            keyId: req.principal?.keyId ?? '',
          });
        } catch (e) {
          if ((e as { code?: string }).code === 'queue_full') metrics.shed.inc({ reason: 'queue_full' });
          throw e;
        }
        req.audit.jobId = id;
        reply.code(202).header('location', `/v1/jobs/${id}`);
        return { id, state: 'queued', model: s.predictor.name, version: s.predictor.version };
      }),
  );

  app.post(
    '/v1/predict',
    {
      config: { role: 'submit' },
      validatorCompiler: () => () => true,
      schema: {
        summary: 'Synchronous prediction for small inputs (sheds load with 503 when busy)',
        consumes: ['multipart/form-data', 'application/json'],
        body: submitBodyDoc,
        response: { 200: predictionSchema, '4xx': errorSchema, 503: errorSchema },
      },
    },
    (req) =>
      tracked(async () => {
        if (syncInFlight >= config.sync.maxConcurrent) {
          metrics.shed.inc({ reason: 'sync_busy' });
          throw new ServeError(503, 'synchronous prediction is at capacity; retry or submit a job', 'busy');
        }
        syncInFlight++;
        try {
          const s = await readSubmission(req, config.sync.maxBytes);
          Object.assign(req.audit, {
            model: s.predictor.name,
            version: s.predictor.version,
            caseSha256: s.caseSha256,
          });
          try {
            return await cachedPredict(s.predictor, cache, metrics, s);
          } catch (e) {
            if (isMeddlError(e))
              throw new ServeError(e.statusCode ?? 400, e.message.replaceAll(s.file, s.display), e.code);
            throw e;
          }
        } finally {
          syncInFlight--;
        }
      }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      config: { role: 'submit' },
      schema: {
        summary: 'Job status',
        params: { type: 'object', properties: { id: { type: 'string' } } },
        response: { 200: jobStatusSchema, '4xx': errorSchema },
      },
    },
    async (req) => {
      req.audit.jobId = req.params.id;
      const { id, state, job } = await jobStatus(req.params.id, req.principal as Principal);
      return {
        id,
        state,
        model: job?.data.model,
        version: job?.data.version,
        priority: job?.data.priority,
        attemptsMade: job?.attemptsMade ?? 0,
        createdAt: iso(job?.timestamp),
        startedAt: iso(job?.processedOn),
        finishedAt: iso(job?.finishedOn),
        error: state === 'failed' ? (job?.failedReason ?? null) : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/result',
    {
      config: { role: 'submit' },
      schema: {
        summary: 'Job result (202 while pending, 410 when cancelled)',
        response: { 200: predictionSchema, 202: jobStatusSchema, '4xx': errorSchema },
      },
    },
    async (req, reply) => {
      req.audit.jobId = req.params.id;
      const { id, state, job } = await jobStatus(req.params.id, req.principal as Principal);
      if (state === 'completed' && job) {
        Object.assign(req.audit, {
          model: job.data.model,
          version: job.data.version,
          caseSha256: job.data.caseSha256,
        });
        return job.returnvalue;
      }
      if (state === 'cancelled') throw new ServeError(410, `job ${id} was cancelled`, 'cancelled');
      if (state === 'failed')
        throw new ServeError(422, `job ${id} failed: ${job?.failedReason ?? 'unknown error'}`, 'failed');
      reply.code(202);
      return { id, state };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      config: { role: 'submit' },
      schema: {
        summary: 'Cancel a job',
        response: {
          200: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' } } },
          '4xx': errorSchema,
        },
      },
    },
    async (req) => {
      req.audit.jobId = req.params.id;
      await jobStatus(req.params.id, req.principal as Principal);
      const state = await queues.cancel(req.params.id);
      return { id: req.params.id, state };
    },
  );

  return app;
}
