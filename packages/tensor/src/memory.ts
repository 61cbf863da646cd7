import * as tf from '@tensorflow/tfjs-core';

export interface MemoryReport {
  /** Live tensors held by the tfjs engine. */
  numTensors: number;
  /** Bytes held by live tensors, as tfjs accounts them. */
  tensorBytes: number;
  /** Resident set size of the process in bytes. */
  rss: number;
  /** V8 heap in use. */
  heapUsed: number;
  /** ArrayBuffers outside the V8 heap (typed-array storage of the cpu backend lives here). */
  arrayBuffers: number;
}

export function memoryReport(): MemoryReport {
  const m = tf.memory();
  const p = process.memoryUsage();
  return {
    numTensors: m.numTensors,
    tensorBytes: m.numBytes,
    rss: p.rss,
    heapUsed: p.heapUsed,
    arrayBuffers: p.arrayBuffers,
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * Runs fn and reports how many tensors it left behind. Used by tests and by the trainer's
 * leak monitor: a training step must leave numTensors unchanged.
 */
export async function tensorLeak<T>(fn: () => T | Promise<T>): Promise<{ result: T; leaked: number }> {
  const before = tf.memory().numTensors;
  const result = await fn();
  return { result, leaked: tf.memory().numTensors - before };
}
