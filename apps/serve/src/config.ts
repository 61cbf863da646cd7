/**
 * Service configuration: one YAML file validated by zod, then environment overrides
 * (MEDDL_SERVE_*), so the same file works on every host and secrets/addresses come from the
 * environment of each deployment.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ServeConfigError } from './errors';

const MiB = 1024 * 1024;

/** Run inference in this many worker threads (0 = on the calling thread; see docs/serving.md). */
const threads = z.number().int().min(0).max(64).default(0);

export const TissueBertModelEntry = z.object({
  kind: z.literal('tissuebert'),
  /** Name clients use in requests (defaults to the kind). */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/)
    .default('tissuebert'),
  /** A model.safetensors file, or a checkpoints directory of @meddl/checkpoint (newest valid one). */
  checkpoint: z.string(),
  /** Folder with genome.fa (+ .fai), CpG.bed.gz and regions.bed of the panel the model was trained on. */
  reference: z.string(),
  /** Class names in label order; default: `tissues` of reference/ground_truth.json. */
  tissues: z.array(z.string()).min(2).optional(),
  preset: z.enum(['tissuebert-tiny', 'tissuebert-small', 'tissuebert-base']).default('tissuebert-small'),
  overrides: z.record(z.string(), z.number()).default({}),
  /** Temperature fitted on held-out reads (tissuebert.fitTemperature); absent = uncalibrated (T = 1). */
  temperature: z.number().positive().optional(),
  /**
   * The class prior the model implies (tissuebert.impliedPrior; `meddl eval tissuebert` writes it as
   * deconvolution.impliedPrior), in label order, divided out before the mixture MLE; absent = uniform.
   */
  impliedPrior: z.array(z.number().positive()).min(2).optional(),
  /** Reported model version; default: the first 12 hex digits of the weights' sha256. */
  version: z.string().optional(),
  /** Jobs of this model processed at once per worker process. */
  concurrency: z.number().int().positive().default(1),
  /** Reads per forward pass. */
  batchSize: z.number().int().positive().default(64),
  threads,
});

const modelName = (d: string) =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/)
    .default(d);
export const CrcMilModelEntry = z.object({
  kind: z.literal('crc-mil'),
  name: modelName('crc-mil'),
  /** A model folder written by `meddl train crc-mil` (`<run>/final`: model.json + model.safetensors). */
  modelDir: z.string(),
  version: z.string().optional(),
  concurrency: z.number().int().positive().default(1),
  threads,
  /** Longest side of the heatmap image (thumbnail pixels). */
  heatmapMaxSize: z.number().int().min(64).max(8192).default(1024),
  /** Top-attention patches listed in the result. */
  topK: z.number().int().min(0).max(64).default(3),
});

export const MdfNetModelEntry = z.object({
  kind: z.literal('mdf-net'),
  name: modelName('mdf-net'),
  /** A run folder of `meddl train mdf-net` (mdf-net.json, stage1/ stage2/ checkpoints). */
  run: z.string(),
  /**
   * Per-finding temperatures (14, or one for all): calibrated p = sigmoid(logit / T). Without them,
   * `calibrate: run` takes the run's calibration.json (written by `meddl train mdf-net`) and falls
   * back to `val`, which fits them at start-up on the run's validation split (certain labels
   * only); `none` lists the model as uncalibrated.
   */
  temperatures: z.union([z.number().positive(), z.array(z.number().positive()).length(14)]).optional(),
  calibrate: z.enum(['run', 'val', 'none']).default('run'),
  version: z.string().optional(),
  concurrency: z.number().int().positive().default(1),
  threads,
});

export const VJepa3dModelEntry = z.object({
  kind: z.literal('vjepa3d'),
  name: modelName('vjepa3d'),
  /** A run folder of `meddl pretrain vjepa3d` (vjepa3d.json + checkpoints/). */
  run: z.string(),
  /** Default: the run's probeEncoder and pooling. */
  encoder: z.enum(['target', 'context']).optional(),
  pooling: z.enum(['mean', 'mean-max']).optional(),
  /** Largest volume accepted (float32 bytes after decoding). */
  maxVolumeBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * MiB),
  version: z.string().optional(),
  concurrency: z.number().int().positive().default(1),
  threads,
});

export const OnnxModelEntry = z.object({
  kind: z.literal('onnx'),
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  /** An .onnx file written by `meddl export <model>`; its sidecar `<file>.json` must lie beside it. */
  onnx: z.string(),
  /** tissuebert: the reference folder of the panel (as for a tissuebert entry); not used by crc-mil. */
  reference: z.string().optional(),
  /** Overrides the sidecar's labels (tissuebert: reference/ground_truth.json when neither has them). */
  tissues: z.array(z.string()).min(2).optional(),
  /** Overrides the sidecar's calibration temperature. */
  temperature: z.number().positive().optional(),
  /** tissuebert: overrides the sidecar's implied class prior (label order). */
  impliedPrior: z.array(z.number().positive()).min(2).optional(),
  /** Default: the first 12 hex digits of the sidecar's sha256 of the .onnx file. */
  version: z.string().optional(),
  concurrency: z.number().int().positive().default(1),
  /** Reads per onnxruntime call. */
  batchSize: z.number().int().positive().default(64),
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  ortThreads: z.number().int().positive().optional(),
  /** mdf-net: per-finding temperatures (14, or one), as for an mdf-net entry. */
  temperatures: z.union([z.number().positive(), z.array(z.number().positive()).length(14)]).optional(),
  /** mdf-net: a run folder whose validation split fits the temperatures when none are given. */
  run: z.string().optional(),
  /** vjepa3d: pooling of the token features (mean = the graph's `embedding`; mean-max adds the max over tokens). */
  pooling: z.enum(['mean', 'mean-max']).default('mean'),
  /** crc-mil: as for a crc-mil entry. */
  heatmapMaxSize: z.number().int().min(64).max(8192).default(1024),
  topK: z.number().int().min(0).max(64).default(3),
  threads,
});

export const ModelEntrySchema = z.discriminatedUnion('kind', [
  TissueBertModelEntry,
  CrcMilModelEntry,
  MdfNetModelEntry,
  VJepa3dModelEntry,
  OnnxModelEntry,
]);
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

export const ServeConfigSchema = z.object({
  server: z
    .object({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      /** JSON bodies. */
      bodyLimitBytes: z
        .number()
        .int()
        .positive()
        .default(1 * MiB),
      /** One uploaded file. */
      uploadLimitBytes: z
        .number()
        .int()
        .positive()
        .default(256 * MiB),
      /** Let /healthz and /readyz answer without a key (for load balancers that cannot send one). */
      publicProbes: z.boolean().default(false),
      trustProxy: z.boolean().default(false),
      /** Graceful shutdown: how long to wait for in-flight jobs and requests. */
      drainTimeoutMs: z.number().int().positive().default(30_000),
    })
    .prefault({}),
  redis: z
    .object({
      url: z.string().default('redis://127.0.0.1:6379'),
      /** Prefix of every key and queue, so several deployments can share a Redis. */
      prefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('meddl'),
    })
    .prefault({}),
  /** API keys (hashed), written by `meddl serve keys add`. */
  keysFile: z.string().default('keys.json'),
  /** Append-only JSON-lines audit log. */
  auditLog: z.string().default('audit.jsonl'),
  storage: z
    .object({
      /** Uploaded inputs, stored by content hash; must be shared with workers on other hosts. */
      uploadDir: z.string().default('uploads'),
      /** Images the models write (crc-mil attention heatmaps), served at /v1/artifacts/<name>; shared with workers. */
      artifactDir: z.string().default('artifacts'),
      /** Named folders that server-side path inputs must lie in: { name: folder }. */
      roots: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), z.string()).default({}),
    })
    .prefault({}),
  queue: z
    .object({
      attempts: z.number().int().positive().default(3),
      backoffMs: z.number().int().min(0).default(1000),
      /** A job running longer is aborted (and retried while attempts remain). */
      timeoutMs: z.number().int().positive().default(600_000),
      /** Submissions are refused with 503 while more jobs than this wait. */
      maxWaiting: z.number().int().positive().default(10_000),
      keepResultsSeconds: z
        .number()
        .int()
        .positive()
        .default(7 * 86400),
      /** Run workers inside the API process (set false and run `meddl serve worker` elsewhere). */
      inProcessWorkers: z.boolean().default(true),
    })
    .prefault({}),
  cache: z
    .object({
      enabled: z.boolean().default(true),
      ttlSeconds: z
        .number()
        .int()
        .positive()
        .default(7 * 86400),
    })
    .prefault({}),
  rateLimit: z
    .object({
      /** Requests per key per window (a key's own `rateLimit` overrides it). */
      max: z.number().int().positive().default(600),
      windowMs: z.number().int().positive().default(60_000),
    })
    .prefault({}),
  sync: z
    .object({
      /** Synchronous predictions running at once; more are shed with 503. */
      maxConcurrent: z.number().int().positive().default(2),
      /** Largest input accepted by POST /v1/predict. */
      maxBytes: z
        .number()
        .int()
        .positive()
        .default(4 * MiB),
    })
    .prefault({}),
  models: z.array(ModelEntrySchema).default([]),
});
export type ServeConfig = z.infer<typeof ServeConfigSchema>;
export type ServeConfigInput = z.input<typeof ServeConfigSchema>;

/** Environment variables that override config fields (documented in docs/serving.md). */
export const ENV_OVERRIDES: Record<string, { path: string[]; type: 'string' | 'int' | 'bool' }> = {
  MEDDL_SERVE_HOST: { path: ['server', 'host'], type: 'string' },
  MEDDL_SERVE_PORT: { path: ['server', 'port'], type: 'int' },
  MEDDL_SERVE_REDIS_URL: { path: ['redis', 'url'], type: 'string' },
  MEDDL_SERVE_REDIS_PREFIX: { path: ['redis', 'prefix'], type: 'string' },
  MEDDL_SERVE_KEYS_FILE: { path: ['keysFile'], type: 'string' },
  MEDDL_SERVE_AUDIT_LOG: { path: ['auditLog'], type: 'string' },
  MEDDL_SERVE_UPLOAD_DIR: { path: ['storage', 'uploadDir'], type: 'string' },
  MEDDL_SERVE_ARTIFACT_DIR: { path: ['storage', 'artifactDir'], type: 'string' },
  MEDDL_SERVE_IN_PROCESS_WORKERS: { path: ['queue', 'inProcessWorkers'], type: 'bool' },
  MEDDL_SERVE_RATE_LIMIT: { path: ['rateLimit', 'max'], type: 'int' },
};

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]] = value;
}

/** Applies MEDDL_SERVE_* overrides to a raw (unvalidated) config object. */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, source = 'environment'): void {
  for (const [name, { path, type }] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    let value: unknown = v;
    if (type === 'int') {
      if (!/^-?\d+$/.test(v)) throw new ServeConfigError(source, `${name}: expected an integer, got '${v}'`);
      value = Number(v);
    } else if (type === 'bool') {
      if (!/^(true|false|1|0)$/.test(v))
        throw new ServeConfigError(source, `${name}: expected true or false, got '${v}'`);
      value = v === 'true' || v === '1';
    }
    setPath(raw, path, value);
  }
}

/** Validates a config object; relative paths are resolved against `baseDir`. */
export function parseConfig(raw: unknown, file = '<config>', baseDir = process.cwd()): ServeConfig {
  const r = ServeConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ServeConfigError(file, `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const c = r.data;
  const abs = (p: string) => resolve(baseDir, p);
  c.keysFile = abs(c.keysFile);
  c.auditLog = abs(c.auditLog);
  c.storage.uploadDir = abs(c.storage.uploadDir);
  for (const k of Object.keys(c.storage.roots)) c.storage.roots[k] = abs(c.storage.roots[k]);
  c.storage.artifactDir = abs(c.storage.artifactDir);
  for (const m of c.models) {
    switch (m.kind) {
      case 'tissuebert':
        m.checkpoint = abs(m.checkpoint);
        m.reference = abs(m.reference);
        break;
      case 'crc-mil':
        m.modelDir = abs(m.modelDir);
        break;
      case 'mdf-net':
      case 'vjepa3d':
        m.run = abs(m.run);
        break;
      case 'onnx':
        m.onnx = abs(m.onnx);
        if (m.reference) m.reference = abs(m.reference);
        if (m.run) m.run = abs(m.run);
        break;
    }
  }
  const names = c.models.map((m) => m.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new ServeConfigError(file, `models: the name '${dup}' is used twice`);
  return c;
}

/** Reads a YAML config file, applies the environment, validates. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let raw: Record<string, unknown> = {};
  let baseDir = process.cwd();
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ServeConfigError(file, `cannot read: ${(e as Error).message}`);
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown>) ?? {};
    } catch (e) {
      throw new ServeConfigError(file, `invalid YAML: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ServeConfigError(file, 'expected a mapping');
    baseDir = dirname(resolve(file));
  }
  applyEnv(raw, env);
  return parseConfig(raw, file ?? '<defaults>', baseDir);
}
