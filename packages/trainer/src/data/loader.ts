import { Worker } from 'node:worker_threads';
import { TrainerError } from '../errors';
import { type Collated, defaultCollate } from './collate';
import { RandomSampler, type Sampler, SequentialSampler } from './samplers';

/**
 * A map-style dataset. Datasets whose examples are expensive to decode declare `workerSpec`:
 * an ES module (URL or absolute path) whose factory, given `args` (structured-cloneable),
 * builds the same dataset inside a worker thread.
 */
export interface Dataset<T> {
  readonly length: number;
  get(index: number): T | Promise<T>;
  readonly workerSpec?: WorkerDatasetSpec;
}

export interface WorkerDatasetSpec {
  /** file: URL or absolute path of an ES module. */
  module: string;
  /** Exported factory name, default `createDataset`; it receives `args` and returns a Dataset (or a promise). */
  factory?: string;
  args?: unknown;
}

export interface LoaderBatch<B> {
  data: B;
  /** Examples in the batch (for throughput and loss averaging). */
  size: number;
  /** Batch index within the epoch. */
  index: number;
}

/** What the trainer iterates: batches of one epoch, resumable at a batch index. */
export interface BatchSource<B> {
  /** Batches per epoch. */
  readonly length: number;
  batches(epoch: number, startBatch?: number): AsyncIterable<LoaderBatch<B>>;
}

export interface DataLoaderOptions<T, B> {
  batchSize: number;
  /** Index order per epoch; default sequential, or random when shuffle is true. */
  sampler?: Sampler;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
  collate?: (items: T[]) => B;
  /** Batches loaded ahead of the consumer (default 2). */
  prefetch?: number;
  /** Worker threads decoding examples (needs dataset.workerSpec); 0 loads on the main thread. */
  workers?: number;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
(async () => {
  const spec = workerData;
  const url = spec.module.startsWith('file:') ? spec.module : pathToFileURL(spec.module).href;
  const mod = await import(url);
  const factory = mod[spec.factory || 'createDataset'];
  if (typeof factory !== 'function') throw new Error('worker dataset module ' + spec.module + ' has no export ' + (spec.factory || 'createDataset'));
  const ds = await factory(spec.args);
  parentPort.on('message', async (msg) => {
    try {
      const items = await Promise.all(msg.indices.map((i) => ds.get(i)));
      const transfer = [];
      for (const it of items) if (it && typeof it === 'object') for (const v of Object.values(it)) {
        if (ArrayBuffer.isView(v) && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && !transfer.includes(v.buffer)) transfer.push(v.buffer);
      }
      parentPort.postMessage({ id: msg.id, items }, transfer);
    } catch (e) {
      parentPort.postMessage({ id: msg.id, error: String((e && e.stack) || e) });
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((e) => parentPort.postMessage({ fatal: String((e && e.stack) || e) }));
`;

type Pending = { resolve: (items: unknown[]) => void; reject: (e: Error) => void };

/** A pool of worker threads that each hold a copy of the dataset. */
class WorkerPool<T> {
  private readonly workers: Worker[] = [];
  private readonly ready: Promise<void>[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private turn = 0;

  constructor(spec: WorkerDatasetSpec, n: number) {
    for (let w = 0; w < n; w++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: spec });
      worker.unref();
      this.ready.push(
        new Promise<void>((resolve, reject) => {
          worker.on(
            'message',
            (msg: { ready?: boolean; fatal?: string; id?: number; items?: unknown[]; error?: string }) => {
              if (msg.ready) return resolve();
              if (msg.fatal) return reject(new TrainerError(`Dataset worker failed to start: ${msg.fatal}`));
              const p = this.pending.get(msg.id as number);
              if (!p) return;
              this.pending.delete(msg.id as number);
              if (msg.error) p.reject(new TrainerError(`Dataset worker failed: ${msg.error}`));
              else p.resolve(msg.items as unknown[]);
            },
          );
          worker.on('error', (e) => {
            reject(e);
            for (const p of this.pending.values()) p.reject(e);
            this.pending.clear();
          });
        }),
      );
      this.workers.push(worker);
    }
  }

  async load(indices: number[]): Promise<T[]> {
    const w = this.turn++ % this.workers.length;
    await this.ready[w];
    const id = this.nextId++;
    return new Promise<T[]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (items: unknown[]) => void, reject });
      this.workers[w].postMessage({ id, indices });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

/**
 * Batches of a dataset in sampler order, with `prefetch` batches loaded ahead so that
 * decoding overlaps the consumer's compute; with `workers` > 0 the examples are decoded in
 * worker threads (each with its own copy of the dataset built from `workerSpec`).
 */
export class DataLoader<T, B = Record<string, Collated>> implements BatchSource<B> {
  readonly sampler: Sampler;
  private pool: WorkerPool<T> | null = null;
  private readonly o: DataLoaderOptions<T, B>;

  constructor(
    readonly dataset: Dataset<T>,
    options: DataLoaderOptions<T, B>,
  ) {
    if (!(options.batchSize >= 1))
      throw new TrainerError(`DataLoader batchSize must be >= 1, got ${options.batchSize}`);
    if ((options.workers ?? 0) > 0 && !dataset.workerSpec) {
      throw new TrainerError(
        `DataLoader workers=${options.workers} needs a dataset with workerSpec (a module that rebuilds it in a worker)`,
      );
    }
    this.o = options;
    this.sampler =
      options.sampler ??
      (options.shuffle
        ? new RandomSampler(dataset.length, options.seed ?? 0)
        : new SequentialSampler(dataset.length));
  }

  get batchSize(): number {
    return this.o.batchSize;
  }

  get length(): number {
    const n = this.sampler.length;
    return this.o.dropLast ? Math.floor(n / this.o.batchSize) : Math.ceil(n / this.o.batchSize);
  }

  /** The index lists of one epoch's batches. */
  epochBatches(epoch: number): number[][] {
    const idx = this.sampler.epochIndices(epoch);
    const out: number[][] = [];
    for (let i = 0; i < this.length; i++)
      out.push(idx.slice(i * this.o.batchSize, (i + 1) * this.o.batchSize));
    return out;
  }

  private async loadItems(indices: number[]): Promise<T[]> {
    const workers = this.o.workers ?? 0;
    if (workers > 0) {
      this.pool ??= new WorkerPool<T>(this.dataset.workerSpec as WorkerDatasetSpec, workers);
      return this.pool.load(indices);
    }
    return Promise.all(indices.map((i) => this.dataset.get(i)));
  }

  private collate(items: T[]): B {
    return this.o.collate ? this.o.collate(items) : (defaultCollate(items as object[]) as B);
  }

  async *batches(epoch: number, startBatch = 0): AsyncGenerator<LoaderBatch<B>> {
    const lists = this.epochBatches(epoch);
    const ahead = Math.max(1, (this.o.prefetch ?? 2) + 0);
    const queue: Promise<T[]>[] = [];
    let next = startBatch;
    const fill = () => {
      while (next < lists.length && queue.length < ahead) {
        const p = this.loadItems(lists[next++]);
        p.catch(() => {}); // surfaced when awaited
        queue.push(p);
      }
    };
    fill();
    for (let b = startBatch; b < lists.length; b++) {
      const items = await (queue.shift() as Promise<T[]>);
      fill();
      yield { data: this.collate(items), size: items.length, index: b };
    }
  }

  /** Stops worker threads. */
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}
