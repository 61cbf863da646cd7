/**
 * Inference off the event loop: a Predictor whose `predict` runs in a pool of worker threads
 * (node:worker_threads), each holding its own copy of the model (loaded from the same config
 * entry). The main thread keeps a copy too, for the model card and the cheap input validation.
 * A request goes to the thread with the fewest in flight; an abort signal is forwarded; a thread
 * that dies is replaced and its in-flight requests fail (a job is then retried by BullMQ).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { z } from 'zod';
import type { ModelEntry } from './config';
import { ServeConfigError, ServeError } from './errors';
import type { SerializedError, ToWorker, WorkerInit } from './predict-worker';
import type {
  InputKind,
  ModelCard,
  PredictInput,
  Prediction,
  Predictor,
  PredictorContext,
} from './predictor';

/** The built worker script: beside this module in dist/, or dist/ when running from src/ (tests). */
export function workerScript(): string {
  for (const rel of ['./predict-worker.js', '../dist/predict-worker.js']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new ServeConfigError(
    'models[].threads',
    'the worker thread script (dist/predict-worker.js) is not built; run `pnpm --filter @meddl/serve build`',
  );
}

function revive(e: SerializedError): Error {
  if (e.statusCode !== undefined) {
    const err = new ServeError(e.statusCode, e.message, e.code);
    err.name = e.name;
    return err;
  }
  const err = new Error(e.message) as Error & { meddl?: boolean };
  err.name = e.name;
  if (e.meddl) err.meddl = true;
  return err;
}

interface Pending {
  resolve(p: Prediction): void;
  reject(e: Error): void;
}

class Thread {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  readonly ready: Promise<void>;
  dead = false;

  constructor(init: WorkerInit, onExit: (t: Thread) => void) {
    this.worker = new Worker(workerScript(), { workerData: init });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on(
        'message',
        (m: { type: string; id?: number; prediction?: Prediction; error?: SerializedError }) => {
          if (m.type === 'ready') return resolve();
          if (m.id === undefined) {
            if (m.error) reject(revive(m.error));
            return;
          }
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          if (m.type === 'result') p.resolve(m.prediction as Prediction);
          else p.reject(revive(m.error as SerializedError));
        },
      );
      this.worker.once('error', (e) => reject(e));
      this.worker.once('exit', (code) => {
        this.dead = true;
        reject(new Error(`worker thread exited with code ${code} while loading`));
        for (const p of this.pending.values())
          p.reject(new Error(`the inference thread exited (code ${code})`));
        this.pending.clear();
        onExit(this);
      });
    });
  }
}

export class ThreadedPredictor implements Predictor {
  private threads: Thread[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly front: Predictor,
    private readonly init: WorkerInit,
    private readonly size: number,
  ) {}

  /** Starts `size` threads loading `entry`; resolves when all are ready. */
  static async start(
    front: Predictor,
    entry: ModelEntry,
    ctx: PredictorContext,
    size: number,
  ): Promise<ThreadedPredictor> {
    const t = new ThreadedPredictor(front, { entry, ctx }, size);
    for (let i = 0; i < size; i++) t.threads.push(t.spawn());
    try {
      await Promise.all(t.threads.map((th) => th.ready));
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  private spawn(): Thread {
    return new Thread(this.init, (dead) => {
      if (this.closed) return;
      // Replace a thread that died after start-up (out of memory, a native crash).
      const i = this.threads.indexOf(dead);
      if (i >= 0) {
        const fresh = this.spawn();
        fresh.ready.catch(() => {});
        this.threads[i] = fresh;
      }
    });
  }

  get name(): string {
    return this.front.name;
  }
  get version(): string {
    return this.front.version;
  }
  get inputs(): InputKind[] {
    return this.front.inputs;
  }
  get optionsSchema(): z.ZodType<Record<string, unknown>> {
    return this.front.optionsSchema;
  }

  card(): ModelCard {
    return { ...this.front.card(), execution: { threads: this.size } };
  }

  async validate(file: string): Promise<void> {
    await this.front.validate?.(file);
  }

  async predict(input: PredictInput): Promise<Prediction> {
    if (this.closed) throw new ServeError(503, 'the model is shutting down', 'shutting_down');
    const alive = this.threads.filter((t) => !t.dead);
    if (alive.length === 0) throw new Error('no inference thread is running');
    const thread = alive.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    await thread.ready;
    const id = this.nextId++;
    return new Promise<Prediction>((resolve, reject) => {
      const onAbort = () => {
        const reason = input.signal?.reason;
        thread.worker.postMessage({
          type: 'abort',
          id,
          reason: reason instanceof Error ? reason.message : 'aborted',
        } satisfies ToWorker);
      };
      input.signal?.addEventListener('abort', onAbort, { once: true });
      thread.pending.set(id, {
        resolve: (p) => {
          input.signal?.removeEventListener('abort', onAbort);
          resolve(p);
        },
        reject: (e) => {
          input.signal?.removeEventListener('abort', onAbort);
          // Keep the caller's own abort reason (cancellation / timeout) when that is why it stopped.
          reject(input.signal?.aborted && input.signal.reason instanceof Error ? input.signal.reason : e);
        },
      });
      thread.worker.postMessage({
        type: 'predict',
        id,
        file: input.file,
        options: input.options,
      } satisfies ToWorker);
    });
  }

  /** Threads in this pool (for tests and metrics). */
  get threadCount(): number {
    return this.threads.filter((t) => !t.dead).length;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.threads = [];
  }

  dispose(): void {
    void this.close();
    this.front.dispose?.();
  }
}
