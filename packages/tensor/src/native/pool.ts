import { totalmem } from 'node:os';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type * as tf from '@tensorflow/tfjs-core';

// Reuse of the Float32Arrays that native kernels write their outputs into. A training step
// allocates hundreds of MB of short-lived typed arrays; left to V8, every ~64 MB of them
// triggers a full mark-compact ("external memory pressure") and each fresh array is zeroed.
// Here a disposed tensor's array goes back to a pool keyed by length and the next kernel
// output of that length reuses it.
//
// Safety: an array is pooled only if nothing but the native kernels ever read it. Native
// outputs are stored in a record whose `values` getter marks the record as exposed; the cpu
// backend's own kernels, readSync/dataSync and any other reader go through that getter (so
// an array that may be aliased — a dataSync() result, a subarray view from a cpu Slice — is
// never reused), while the native kernels read the array through `rawValues`.

const RAW = Symbol('meddl.native.raw');
const MIN_POOLED = 1024; // elements; smaller arrays are cheap for V8

class PooledRecord {
  [RAW]: Float32Array;
  exposed = false;
  readonly dtype = 'float32';
  refCount: number;
  constructor(values: Float32Array, refCount: number) {
    this[RAW] = values;
    this.refCount = refCount;
  }
  get values(): Float32Array {
    this.exposed = true;
    return this[RAW];
  }
  set values(v: Float32Array) {
    this.exposed = true;
    this[RAW] = v;
  }
}

/** MEDDL_POOL_MB, else 2 GiB or 1/8 of the machine's memory, whichever is less. */
function poolLimitBytes(): number {
  const dflt = Math.min(2048 * 1024 * 1024, Math.floor(totalmem() / 8));
  const env = process.env.MEDDL_POOL_MB;
  if (env === undefined || env.trim() === '') return dflt;
  const mb = Number(env);
  return Number.isFinite(mb) && mb >= 0 ? mb * 1024 * 1024 : dflt;
}

class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private bytes = 0;
  limit = poolLimitBytes();
  hits = 0;
  misses = 0;

  take(n: number): Float32Array {
    if (n >= MIN_POOLED) {
      const a = this.free.get(n)?.pop();
      if (a) {
        this.bytes -= a.byteLength;
        this.hits++;
        return a;
      }
      this.misses++;
    }
    return new Float32Array(n);
  }

  give(a: Float32Array): void {
    if (a.length < MIN_POOLED || this.bytes + a.byteLength > this.limit) return;
    if (a.byteOffset !== 0 || a.buffer.byteLength !== a.byteLength) return;
    let list = this.free.get(a.length);
    if (!list) {
      list = [];
      this.free.set(a.length, list);
    }
    list.push(a);
    this.bytes += a.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.bytes = 0;
  }

  stats(): { pooledBytes: number; hits: number; misses: number; limitBytes: number } {
    return { pooledBytes: this.bytes, hits: this.hits, misses: this.misses, limitBytes: this.limit };
  }
}

/** The process-wide pool of native output arrays. */
export const pool = new BufferPool();

type Store = {
  get(id: tf.DataId): { values?: unknown; refCount: number };
  set(id: tf.DataId, v: unknown): void;
  has(id: tf.DataId): boolean;
};

/** The values of a tensor for a native kernel, without marking a pooled array as exposed. */
export function rawValues(backend: MathBackendCPU, dataId: tf.DataId): unknown {
  const rec = (backend.data as unknown as Store).get(dataId);
  return rec instanceof PooledRecord ? rec[RAW] : rec.values;
}

/** A float32 output array for a native kernel (from the pool: contents are arbitrary). */
export function outArray(n: number): Float32Array {
  return pool.take(n);
}

/** Wraps a native kernel's float32 output array (from outArray) as a tensor of the backend. */
export function outTensor(backend: MathBackendCPU, shape: number[], values: Float32Array): tf.TensorInfo {
  const info = backend.makeTensorInfo(shape, 'float32', values);
  const store = backend.data as unknown as Store;
  if (values.length >= MIN_POOLED && backend instanceof NativeCpuBackend) {
    store.set(info.dataId, new PooledRecord(values, store.get(info.dataId).refCount));
  }
  return info;
}

/** tfjs's cpu backend, returning unexposed native output arrays to the pool when disposed. */
export class NativeCpuBackend extends MathBackendCPU {
  override disposeData(dataId: tf.DataId, force = false): boolean {
    const store = this.data as unknown as Store;
    const rec = store.has(dataId) ? store.get(dataId) : null;
    const done = super.disposeData(dataId, force);
    if (rec instanceof PooledRecord && !rec.exposed && !store.has(dataId)) pool.give(rec[RAW]);
    return done;
  }

  override dispose(): void {
    pool.clear();
    super.dispose();
  }
}

/** Pool counters (for benchmarks and tests). */
export function nativePoolStats(): { pooledBytes: number; hits: number; misses: number; limitBytes: number } {
  return pool.stats();
}
