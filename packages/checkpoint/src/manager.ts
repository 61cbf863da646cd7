import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { tf } from '@meddl/tensor';
import { z } from 'zod';
import { type CommitJob, type CommitResult, CommitWorker, commitSync, type ManifestFile } from './commit';
import { CheckpointCorruptError, CheckpointError, SafetensorsError } from './errors';
import { SafetensorsFile, serializeSafetensors, type TensorLike } from './safetensors';

const gunzipAsync = promisify(gunzip);

export type CheckpointReason = 'periodic' | 'epoch' | 'best' | 'emergency' | 'manual';

export interface CheckpointPayload {
  /** The module's state dict (`module.stateDict()`); tensors are copied, not consumed. */
  model: Record<string, TensorLike>;
  /** Optimizer tensors, e.g. 'state.3.exp_avg'. */
  optimizer?: Record<string, TensorLike>;
  /** JSON-able training state: epoch, globalStep, scheduler, rng, optimizer meta, metrics, config, ... */
  state: Record<string, unknown>;
}

export interface CheckpointInfo {
  epoch: number;
  step: number;
  metrics: Record<string, number>;
  tags?: string[];
  reason?: CheckpointReason;
}

export interface CheckpointRecord {
  /** Directory name inside the checkpoints directory. */
  name: string;
  /** Monotonic save number within the directory (newest is highest). */
  seq: number;
  epoch: number;
  step: number;
  metrics: Record<string, number>;
  tags: string[];
  reason: CheckpointReason;
  createdAt: string;
  bytes: number;
  compression: 'none' | 'gzip';
}

export interface SavedCheckpoint {
  path: string;
  record: CheckpointRecord;
  /** Milliseconds spent writing (serialization excluded). */
  ms: number;
  /** Checkpoints removed by the retention policy after this save. */
  removed: string[];
}

export interface LoadedCheckpoint {
  path: string;
  model: Record<string, tf.Tensor>;
  optimizer?: Record<string, tf.Tensor>;
  state: Record<string, unknown>;
  info: CheckpointInfo;
  /** Newer checkpoints that failed verification and were passed over (latestValid / resume). */
  skipped?: { path: string; error: CheckpointCorruptError }[];
  /** After resume(): how many times this run has now been resumed. */
  resumeCount?: number;
}

export const CheckpointPolicySchema = z.object({
  /** Always keep the newest N regular (non-emergency) checkpoints. */
  keepLast: z.number().int().min(1).default(3),
  /** Keep the best k checkpoints by each monitored metric. */
  keepBest: z
    .array(
      z.object({
        monitor: z.string().min(1),
        mode: z.enum(['min', 'max']),
        k: z.number().int().min(1).default(1),
      }),
    )
    .default([]),
  /** Keep every checkpoint saved at the end of an epoch divisible by N (reason 'epoch'). */
  everyNEpochs: z.number().int().min(1).optional(),
  /** `dueReason` asks for an emergency checkpoint every N steps. */
  emergencyEverySteps: z.number().int().min(1).optional(),
  /** resume() refuses once the run has been resumed this many times. */
  maxResumes: z.number().int().min(0).optional(),
  compression: z.enum(['none', 'gzip']).default('none'),
  gzipLevel: z.number().int().min(1).max(9).default(6),
});
export type CheckpointPolicy = z.input<typeof CheckpointPolicySchema>;
type Policy = z.output<typeof CheckpointPolicySchema>;

const ManifestSchema = z.object({
  format: z.literal('meddl-checkpoint'),
  version: z.literal(1),
  name: z.string(),
  seq: z.number().int(),
  createdAt: z.string(),
  info: z.object({
    epoch: z.number(),
    step: z.number(),
    metrics: z.record(z.string(), z.number()),
    tags: z.array(z.string()),
    reason: z.enum(['periodic', 'epoch', 'best', 'emergency', 'manual']),
  }),
  compression: z.enum(['none', 'gzip']),
  files: z.record(
    z.string(),
    z.object({
      size: z.number().int().min(0),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      compression: z.enum(['none', 'gzip']),
      rawSize: z.number().int().min(0),
    }),
  ),
});
export type CheckpointManifest = z.infer<typeof ManifestSchema>;

const NAME_RE = /^ckpt-(\d{6,})-e(-?\d+)-s(-?\d+)$/;
/** Leftovers of an interrupted save or deletion, with the pid of the process that made them. */
const LEFTOVER_RES = [/^\.(?:tmp|trash)-.*-(\d+)-[0-9a-f]+$/, /^\.latest-(\d+)$/, /\.json\.tmp-(\d+)$/];
const INDEX = 'index.json';
const RESUMES = 'resume.json';

function checkpointName(seq: number, epoch: number, step: number): string {
  return `ckpt-${String(seq).padStart(6, '0')}-e${epoch}-s${step}`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes a small file atomically and durably. */
function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function osHint(code: string | undefined): string {
  switch (code) {
    case 'ENOSPC':
      return 'the disk is full';
    case 'EDQUOT':
      return 'the disk quota is exceeded';
    case 'EFBIG':
      return 'the file is larger than the file-size limit allows';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
    case 'ENOENT':
      return 'a parent of the checkpoint directory is missing or not a directory';
    case 'EEXIST':
      return 'a checkpoint with this name already exists';
    default:
      return 'I/O error';
  }
}

function toCheckpointError(err: unknown, target: string): CheckpointError {
  if (err instanceof CheckpointError) return err;
  const e = err as { code?: string; message?: string; path?: string };
  return new CheckpointError(
    `cannot write checkpoint ${target}: ${osHint(e.code)} (${e.message ?? String(err)}); earlier checkpoints are untouched`,
    target,
    e.code,
  );
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function disposeAll(d: Record<string, tf.Tensor> | undefined): void {
  if (d) for (const t of Object.values(d)) t.dispose();
}

/** Disposes every tensor a LoadedCheckpoint holds. */
export function disposeCheckpoint(c: LoadedCheckpoint): void {
  disposeAll(c.model);
  disposeAll(c.optimizer);
}

/**
 * Saves, verifies, lists, prunes and restores the checkpoints of one run (one directory).
 * See docs/checkpoint.md for the on-disk layout and the guarantees.
 */
export class CheckpointManager {
  readonly dir: string;
  readonly policy: Policy;
  private seq: number;
  private worker: CommitWorker | null = null;
  private inflight: Promise<void> | null = null;
  /** Called for each corrupt checkpoint that latestValid() passes over (default: console.warn). */
  onCorrupt: (err: CheckpointCorruptError) => void = (err) =>
    console.warn(`[meddl/checkpoint] ${err.message}`);

  constructor(dir: string, policy: CheckpointPolicy = {}) {
    this.dir = resolve(dir);
    const parsed = CheckpointPolicySchema.safeParse(policy);
    if (!parsed.success) {
      throw new CheckpointError(
        `invalid checkpoint policy for ${this.dir}: ${parsed.error.message}`,
        this.dir,
      );
    }
    this.policy = parsed.data;
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CheckpointError(
        `cannot create checkpoint directory ${this.dir}: ${osHint(code)} (${code})`,
        this.dir,
        code,
      );
    }
    this.cleanStale();
    this.seq = this.scanNames().reduce((m, n) => Math.max(m, n.seq), 0);
  }

  /** Removes temporary / trash directories left by processes that no longer exist. */
  private cleanStale(): void {
    for (const entry of readdirSync(this.dir)) {
      const m = LEFTOVER_RES.map((re) => re.exec(entry)).find((x) => x !== null);
      if (!m || pidAlive(Number(m[1]))) continue;
      rmSync(join(this.dir, entry), { recursive: true, force: true });
    }
  }

  private scanNames(): { name: string; seq: number }[] {
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: { name: string; seq: number }[] = [];
    for (const e of entries) {
      const m = NAME_RE.exec(e);
      if (m) out.push({ name: e, seq: Number(m[1]) });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Which kind of checkpoint the policy asks for at this point of training, if any. */
  dueReason(at: { epoch: number; step: number; epochEnd?: boolean }): CheckpointReason | null {
    if (at.epochEnd) return 'epoch';
    const n = this.policy.emergencyEverySteps;
    if (n && at.step > 0 && at.step % n === 0) return 'emergency';
    return null;
  }

  /** Copies the payload into the files of a commit job (tensors are read now). */
  private prepare(payload: CheckpointPayload, info: CheckpointInfo): CommitJob {
    const seq = ++this.seq;
    const name = checkpointName(seq, info.epoch, info.step);
    const gzip = this.policy.compression === 'gzip';
    const createdAt = new Date().toISOString();
    const normalized = {
      epoch: info.epoch,
      step: info.step,
      metrics: { ...info.metrics },
      tags: [...(info.tags ?? [])],
      reason: info.reason ?? 'periodic',
    };
    let stateJson: string;
    try {
      const checkpoint = { name, seq, createdAt, resumeCount: this.resumeCount(), ...normalized };
      stateJson = `${JSON.stringify({ ...payload.state, checkpoint }, null, 2)}\n`;
    } catch (err) {
      throw new CheckpointError(
        `state for checkpoint ${name} is not JSON-serializable: ${(err as Error).message}`,
        name,
      );
    }
    const meta = { format: 'meddl', epoch: String(info.epoch), step: String(info.step) };
    const files = [];
    try {
      files.push({ name: 'model.safetensors', data: serializeSafetensors(payload.model, meta), gzip });
      if (payload.optimizer) {
        files.push({
          name: 'optimizer.safetensors',
          data: serializeSafetensors(payload.optimizer, meta),
          gzip,
        });
      }
    } catch (err) {
      if (err instanceof SafetensorsError)
        throw new CheckpointError(`checkpoint ${name}: ${err.message}`, name);
      throw err;
    }
    files.push({ name: 'state.json', data: Buffer.from(stateJson, 'utf8'), gzip: false });
    return {
      dir: this.dir,
      name,
      files,
      gzipLevel: this.policy.gzipLevel,
      manifest: {
        format: 'meddl-checkpoint',
        version: 1,
        name,
        seq,
        createdAt,
        info: normalized,
        compression: this.policy.compression,
      },
    };
  }

  private recordOf(job: CommitJob, result: CommitResult): CheckpointRecord {
    const m = job.manifest as Pick<CheckpointManifest, 'seq' | 'createdAt' | 'info' | 'compression'>;
    return {
      name: job.name,
      seq: m.seq,
      ...m.info,
      createdAt: m.createdAt,
      bytes: result.bytes,
      compression: m.compression,
    };
  }

  /** After a commit: registry update and retention. Metadata only, cheap. */
  private async finish(job: CommitJob, result: CommitResult): Promise<SavedCheckpoint> {
    const record = this.recordOf(job, result);
    let records = this.list();
    if (!records.some((r) => r.name === record.name)) records.push(record);
    records.sort((a, b) => a.seq - b.seq);
    const keep = this.retained(records, record);
    const removed = records.filter((r) => !keep.has(r.name)).map((r) => r.name);
    records = records.filter((r) => keep.has(r.name));
    try {
      writeJsonAtomic(join(this.dir, INDEX), { version: 1, checkpoints: records });
    } catch (err) {
      throw toCheckpointError(err, join(this.dir, INDEX));
    }
    for (const name of removed) {
      // Rename first so a half-deleted directory never looks like a checkpoint.
      const trash = join(this.dir, `.trash-${name}-${process.pid}-0`);
      try {
        await rename(join(this.dir, name), trash);
        await rm(trash, { recursive: true, force: true });
      } catch {
        // Retention is best effort; the checkpoint stays listed by the next scan.
      }
    }
    return { path: result.path, record, ms: result.ms, removed };
  }

  /** The names the policy keeps. */
  private retained(records: CheckpointRecord[], newest: CheckpointRecord): Set<string> {
    const keep = new Set<string>([newest.name]);
    const regular = records.filter((r) => r.reason !== 'emergency');
    for (const r of regular.slice(-this.policy.keepLast)) keep.add(r.name);
    // An emergency checkpoint is superseded by any later checkpoint.
    const last = records[records.length - 1];
    if (last && last.reason === 'emergency') keep.add(last.name);
    for (const { monitor, mode, k } of this.policy.keepBest) {
      const scored = records.filter((r) => Number.isFinite(r.metrics[monitor]));
      scored.sort(
        (a, b) => (mode === 'min' ? 1 : -1) * (a.metrics[monitor] - b.metrics[monitor]) || a.seq - b.seq,
      );
      for (const r of scored.slice(0, k)) keep.add(r.name);
    }
    const n = this.policy.everyNEpochs;
    if (n) for (const r of records) if (r.reason === 'epoch' && r.epoch % n === 0) keep.add(r.name);
    for (const r of records) if (r.reason === 'manual' || r.tags.includes('keep')) keep.add(r.name);
    return keep;
  }

  /** Saves in the calling thread; resolves once the checkpoint is durable, renamed and registered. */
  async save(payload: CheckpointPayload, info: CheckpointInfo): Promise<SavedCheckpoint> {
    try {
      await this.flush();
    } catch (err) {
      // The failed asynchronous save left nothing behind; this save goes ahead.
      console.warn(`[meddl/checkpoint] an earlier asynchronous save failed: ${(err as Error).message}`);
    }
    const job = this.prepare(payload, info);
    let result: CommitResult;
    try {
      result = commitSync(job);
    } catch (err) {
      throw toCheckpointError(err, join(this.dir, job.name));
    }
    return this.finish(job, result);
  }

  /**
   * Copies the tensors out now (the caller may dispose or update them once this returns a promise),
   * then writes in a worker thread. At most one save is in flight: this awaits the previous one,
   * and a failure of the previous save is thrown here (or from flush()).
   */
  async saveAsync(payload: CheckpointPayload, info: CheckpointInfo): Promise<void> {
    const job = this.prepare(payload, info);
    await this.flush();
    this.worker ??= new CommitWorker();
    const worker = this.worker;
    const run = worker.run(job).then(
      (result) => this.finish(job, result).then(() => undefined),
      (err) => {
        throw toCheckpointError(err, join(this.dir, job.name));
      },
    );
    run.catch(() => {}); // reported by the next flush()/saveAsync()
    this.inflight = run;
  }

  /** Waits for the in-flight asynchronous save; throws its error if it failed. */
  async flush(): Promise<void> {
    const p = this.inflight;
    if (!p) return;
    try {
      await p;
    } finally {
      if (this.inflight === p) this.inflight = null;
    }
  }

  /** Waits for pending saves and stops the writer thread. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.worker?.terminate();
      this.worker = null;
    }
  }

  /**
   * The registry: checkpoints/index.json reconciled with the directory (a checkpoint renamed into
   * place just before a crash is added from its manifest; one deleted by hand is dropped). Oldest first.
   */
  list(): CheckpointRecord[] {
    let indexed: CheckpointRecord[] = [];
    try {
      const parsed = JSON.parse(readFileSync(join(this.dir, INDEX), 'utf8')) as {
        checkpoints?: CheckpointRecord[];
      };
      if (Array.isArray(parsed.checkpoints)) indexed = parsed.checkpoints;
    } catch {
      // Missing or damaged index: rebuilt from the manifests below.
    }
    const byName = new Map(indexed.map((r) => [r.name, r]));
    const out: CheckpointRecord[] = [];
    for (const { name, seq } of this.scanNames()) {
      const known = byName.get(name);
      if (known) {
        out.push(known);
        continue;
      }
      try {
        const m = ManifestSchema.parse(
          JSON.parse(readFileSync(join(this.dir, name, 'manifest.json'), 'utf8')),
        );
        const bytes = Object.values(m.files).reduce((s, f) => s + f.size, 0);
        out.push({ name, seq, ...m.info, createdAt: m.createdAt, bytes, compression: m.compression });
      } catch {
        // Unreadable manifest: list it so latestValid() tries and reports it.
        const match = NAME_RE.exec(name)!;
        out.push({
          name,
          seq,
          epoch: Number(match[2]),
          step: Number(match[3]),
          metrics: {},
          tags: [],
          reason: 'periodic',
          createdAt: '',
          bytes: 0,
          compression: 'none',
        });
      }
    }
    return out;
  }

  /** Best checkpoint by a metric among those on disk (not verified; load() it to verify). */
  best(monitor: string, mode: 'min' | 'max'): CheckpointRecord | null {
    const scored = this.list().filter((r) => Number.isFinite(r.metrics[monitor]));
    scored.sort(
      (a, b) => (mode === 'min' ? 1 : -1) * (a.metrics[monitor] - b.metrics[monitor]) || a.seq - b.seq,
    );
    return scored[0] ?? null;
  }

  /** Checks sizes and sha256 of every file against the manifest; returns the manifest. */
  async verify(path: string): Promise<CheckpointManifest> {
    const dir = resolve(this.dir, path);
    const corrupt = (file: string, what: string) =>
      new CheckpointCorruptError(`checkpoint ${dir}: ${file} ${what}`, dir, join(dir, file));
    let text: string;
    try {
      text = await readFile(join(dir, 'manifest.json'), 'utf8');
    } catch (err) {
      throw corrupt(
        'manifest.json',
        `cannot be read (${(err as NodeJS.ErrnoException).code}); the save did not complete`,
      );
    }
    let manifest: CheckpointManifest;
    try {
      manifest = ManifestSchema.parse(JSON.parse(text));
    } catch (err) {
      throw corrupt('manifest.json', `is not a valid manifest (${(err as Error).message.slice(0, 200)})`);
    }
    const names = Object.keys(manifest.files);
    if (!names.some((n) => n.startsWith('model.safetensors')))
      throw corrupt('manifest.json', 'lists no model file');
    if (!names.includes('state.json')) throw corrupt('manifest.json', 'lists no state.json');
    for (const [name, entry] of Object.entries(manifest.files)) {
      if (name.includes('/') || name.includes('\\') || name.startsWith('.'))
        throw corrupt('manifest.json', `names a bad file '${name}'`);
      const file = join(dir, name);
      let size: number;
      try {
        size = (await stat(file)).size;
      } catch {
        throw corrupt(name, 'is missing');
      }
      if (size !== entry.size) throw corrupt(name, `has ${size} bytes, the manifest says ${entry.size}`);
      const sha = await sha256File(file);
      if (sha !== entry.sha256)
        throw corrupt(
          name,
          `has sha256 ${sha.slice(0, 12)}…, the manifest says ${entry.sha256.slice(0, 12)}…`,
        );
    }
    return manifest;
  }

  private async readTensors(
    dir: string,
    name: string,
    entry: ManifestFile,
  ): Promise<Record<string, tf.Tensor>> {
    const file = join(dir, name);
    try {
      let f: SafetensorsFile;
      if (entry.compression === 'gzip') {
        const raw = await gunzipAsync(await readFile(file));
        f = SafetensorsFile.fromBuffer(raw, file);
      } else {
        f = SafetensorsFile.open(file);
      }
      try {
        return f.readAllTensors();
      } finally {
        f.close();
      }
    } catch (err) {
      throw new CheckpointCorruptError(
        `checkpoint ${dir}: ${name} cannot be decoded (${(err as Error).message})`,
        dir,
        file,
      );
    }
  }

  /** Verifies and loads one checkpoint (a name in this directory or a path). */
  async load(path: string): Promise<LoadedCheckpoint> {
    const dir = resolve(this.dir, path);
    const manifest = await this.verify(dir);
    const fileOf = (base: string) =>
      Object.keys(manifest.files).find((n) => n === base || n === `${base}.gz`);
    const modelName = fileOf('model.safetensors')!;
    const optName = fileOf('optimizer.safetensors');
    let state: Record<string, unknown>;
    try {
      state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new CheckpointCorruptError(
        `checkpoint ${dir}: state.json is not valid JSON (${(err as Error).message})`,
        dir,
        join(dir, 'state.json'),
      );
    }
    const model = await this.readTensors(dir, modelName, manifest.files[modelName]);
    let optimizer: Record<string, tf.Tensor> | undefined;
    if (optName) {
      try {
        optimizer = await this.readTensors(dir, optName, manifest.files[optName]);
      } catch (err) {
        disposeAll(model);
        throw err;
      }
    }
    const { epoch, step, metrics, tags, reason } = manifest.info;
    return { path: dir, model, optimizer, state, info: { epoch, step, metrics, tags, reason } };
  }

  /** The newest checkpoint that verifies; corrupt newer ones are reported (onCorrupt) and skipped. */
  async latestValid(): Promise<LoadedCheckpoint | null> {
    const skipped: { path: string; error: CheckpointCorruptError }[] = [];
    const records = this.list();
    for (let i = records.length - 1; i >= 0; i--) {
      const path = join(this.dir, records[i].name);
      try {
        const loaded = await this.load(path);
        return { ...loaded, skipped };
      } catch (err) {
        if (!(err instanceof CheckpointCorruptError)) throw err;
        skipped.push({ path, error: err });
        this.onCorrupt(err);
      }
    }
    return null;
  }

  /** How many times this run has been resumed (checkpoints/resume.json). */
  resumeCount(): number {
    try {
      const r = JSON.parse(readFileSync(join(this.dir, RESUMES), 'utf8')) as { count?: unknown };
      return typeof r.count === 'number' ? r.count : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Restores the newest valid checkpoint and counts the resume. Returns null when there is nothing
   * to resume from (a fresh run). Throws CheckpointError past `maxResumes`, or when checkpoints
   * exist but none verifies (starting over silently would throw away the run).
   */
  async resume(opts: { maxResumes?: number } = {}): Promise<LoadedCheckpoint | null> {
    const max = opts.maxResumes ?? this.policy.maxResumes;
    const records = this.list();
    if (records.length === 0) return null;
    const count = this.resumeCount();
    if (max !== undefined && count >= max) {
      throw new CheckpointError(
        `refusing to resume ${this.dir}: it has already been resumed ${count} time(s) and the limit (maxResumes) is ${max}; ` +
          'inspect the run for a crash loop, or raise maxResumes',
        this.dir,
      );
    }
    const loaded = await this.latestValid();
    if (!loaded) {
      throw new CheckpointError(
        `cannot resume ${this.dir}: none of its ${records.length} checkpoint(s) verifies (see the warnings above)`,
        this.dir,
      );
    }
    const history = (() => {
      try {
        const r = JSON.parse(readFileSync(join(this.dir, RESUMES), 'utf8')) as { history?: unknown[] };
        return Array.isArray(r.history) ? r.history : [];
      } catch {
        return [];
      }
    })();
    history.push({
      at: new Date().toISOString(),
      checkpoint: loaded.path,
      step: loaded.info.step,
      pid: process.pid,
    });
    try {
      writeJsonAtomic(join(this.dir, RESUMES), { count: count + 1, history });
    } catch (err) {
      disposeCheckpoint(loaded);
      throw toCheckpointError(err, join(this.dir, RESUMES));
    }
    return { ...loaded, resumeCount: count + 1 };
  }

  /**
   * On SIGINT/SIGTERM: waits for any in-flight save, writes an emergency checkpoint from
   * `getPayload()`, then re-raises the signal so the process ends as it would have. Returns a
   * function that removes the handlers.
   */
  installSignalHandlers(
    getPayload: () => { payload: CheckpointPayload; info: CheckpointInfo },
    signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
  ): () => void {
    const handler = (signal: NodeJS.Signals) => {
      uninstall();
      void (async () => {
        try {
          await this.flush().catch((err) =>
            console.error(`[meddl/checkpoint] pending save failed: ${(err as Error).message}`),
          );
          const { payload, info } = getPayload();
          const saved = await this.save(payload, { ...info, reason: 'emergency' });
          console.error(`[meddl/checkpoint] ${signal}: emergency checkpoint written to ${saved.path}`);
        } catch (err) {
          console.error(
            `[meddl/checkpoint] ${signal}: emergency checkpoint failed: ${(err as Error).message}`,
          );
        } finally {
          process.kill(process.pid, signal);
        }
      })();
    };
    const uninstall = () => {
      for (const s of signals) process.off(s, handler);
    };
    for (const s of signals) process.on(s, handler);
    return uninstall;
  }
}

/** The checkpoints directory of a run directory (`<runDir>/checkpoints`), or runDir itself if it is one. */
export function checkpointsDir(runDir: string): string {
  const sub = join(runDir, 'checkpoints');
  if (existsSync(sub) && statSync(sub).isDirectory()) return sub;
  if (existsSync(join(runDir, INDEX)) || existsSync(join(runDir, 'latest'))) return runDir;
  return sub;
}

/**
 * Resumes a run: loads the newest valid checkpoint of `<runDir>/checkpoints`, increments the resume
 * counter (checkpoints/resume.json) and refuses beyond `maxResumes`. Null for a run with no checkpoints.
 */
export async function resume(
  runDir: string,
  opts: { maxResumes?: number } = {},
): Promise<LoadedCheckpoint | null> {
  const dir = checkpointsDir(runDir);
  if (!existsSync(dir)) return null;
  return new CheckpointManager(dir, {}).resume(opts);
}
