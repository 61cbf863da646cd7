import type { Module } from '@meddl/nn';
import { tf } from '@meddl/tensor';
import type { CheckpointInfo, CheckpointPayload, CheckpointSink, NamedGrads } from '@meddl/trainer';
import { DistributedError } from './errors';
import type { ProcessGroup } from './process-group';

export interface DDPOptions {
  /** Upper bound of one gradient bucket in MiB (PyTorch's bucket_cap_mb, default 25). */
  bucketCapMB?: number;
  /** 'fp16' halves the bytes on the wire (PyTorch's fp16_compress_hook); default none. */
  compression?: 'none' | 'fp16';
}

export interface DDPStats {
  buckets: number;
  /** Gradient bytes reduced per optimizer step (float32 values, before compression). */
  bytesPerStep: number;
  /** Wall time of the last reduceGradients call. */
  lastReduceMs: number;
  steps: number;
}

/**
 * Data-parallel training: every rank holds a replica of `module`; `syncParameters` copies rank
 * 0's weights everywhere, and `reduceGradients` (plugged into the Trainer as its
 * `reduceGradients` option) replaces each rank's gradients with their mean across ranks, bucket
 * by bucket. With equal per-rank batches the result equals one process on the global batch.
 *
 * Unlike PyTorch's DDP nothing overlaps with the backward pass: tfjs computes all gradients in
 * one `variableGrads` call, so buckets only bound the size of each exchange.
 */
export class DistributedDataParallel {
  readonly stats: DDPStats = { buckets: 0, bytesPerStep: 0, lastReduceMs: 0, steps: 0 };
  private readonly capBytes: number;
  private readonly compression: 'none' | 'fp16';

  constructor(
    readonly group: ProcessGroup,
    readonly module: Module,
    options: DDPOptions = {},
  ) {
    this.capBytes = Math.max(4, (options.bucketCapMB ?? 25) * 1024 * 1024);
    this.compression = options.compression ?? 'none';
  }

  /** Consecutive runs of variables whose float32 size stays within the bucket cap. */
  private buckets(vars: tf.Variable[]): tf.Variable[][] {
    const out: tf.Variable[][] = [];
    let cur: tf.Variable[] = [];
    let bytes = 0;
    for (const v of vars) {
      if (cur.length > 0 && bytes + v.size * 4 > this.capBytes) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(v);
      bytes += v.size * 4;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  /** Copies every parameter (trainable or not) from `root` to all ranks. Call before training. */
  async syncParameters(root = 0): Promise<void> {
    const named = Array.from(this.module.namedParameters());
    const shapes = named.map(([k, v]) => `${k}:${v.shape.join('x')}`);
    const all = await this.group.allGatherObject(shapes);
    for (const [r, s] of all.entries())
      if (s.join(',') !== shapes.join(','))
        throw new DistributedError(
          `rank ${r} has a different model than rank ${this.group.rank}: parameters ${s.length} vs ${shapes.length} ` +
            `(first difference: ${s.find((x, i) => x !== shapes[i]) ?? shapes[s.length]})`,
        );
    for (const bucket of this.buckets(named.map(([, v]) => v))) {
      const flat = new Float32Array(bucket.reduce((n, v) => n + v.size, 0));
      let off = 0;
      for (const v of bucket) {
        flat.set(v.dataSync() as Float32Array, off);
        off += v.size;
      }
      await this.group.broadcast(flat, root);
      off = 0;
      for (const v of bucket) {
        const t = tf.tensor(flat.subarray(off, off + v.size), v.shape, v.dtype);
        v.assign(t);
        t.dispose();
        off += v.size;
      }
    }
  }

  /**
   * Averages gradients across ranks (the Trainer's `reduceGradients` hook). Takes ownership of
   * `grads`; a trainable variable without a gradient contributes zeros so buckets line up.
   */
  reduceGradients = async (grads: NamedGrads): Promise<NamedGrads> => {
    const t0 = performance.now();
    const vars = this.module.trainableParameters();
    const out: NamedGrads = {};
    let bytes = 0;
    const buckets = this.buckets(vars);
    for (const bucket of buckets) {
      const flat = new Float32Array(bucket.reduce((n, v) => n + v.size, 0));
      let off = 0;
      for (const v of bucket) {
        const g = grads[v.name];
        if (g) flat.set(g.dataSync() as Float32Array, off);
        off += v.size;
      }
      bytes += flat.byteLength;
      await this.group.allReduce(flat, { op: 'mean', compression: this.compression });
      off = 0;
      for (const v of bucket) {
        out[v.name] = tf.tensor(flat.subarray(off, off + v.size), v.shape, 'float32');
        off += v.size;
      }
    }
    tf.dispose(Object.values(grads));
    this.stats.buckets = buckets.length;
    this.stats.bytesPerStep = bytes;
    this.stats.lastReduceMs = performance.now() - t0;
    this.stats.steps++;
    return out;
  };

  /** Options to spread into `new Trainer(config, { ...ddp.trainerOptions(), ... })`. */
  trainerOptions(): { reduceGradients: (grads: NamedGrads) => Promise<NamedGrads> } {
    return { reduceGradients: this.reduceGradients };
  }
}

/**
 * Wraps a checkpoint sink so only rank 0 writes; every rank reads (a shared filesystem, as with
 * torchrun) and the ranks check that they resume from the same checkpoint.
 */
export function rankZeroSink(group: ProcessGroup, sink: CheckpointSink): CheckpointSink {
  return {
    async save(payload: CheckpointPayload, info: CheckpointInfo): Promise<unknown> {
      if (group.rank !== 0) return null;
      return sink.save(payload, info);
    },
    async latestValid() {
      const ck = await sink.latestValid();
      const paths = await group.allGatherObject(ck?.path ?? null);
      if (paths.some((p) => p !== paths[0]))
        throw new DistributedError(
          `ranks would resume from different checkpoints (${paths.map((p, r) => `rank ${r}: ${p ?? 'none'}`).join('; ')}); ` +
            'checkpoints must be on a filesystem every rank sees',
        );
      return ck;
    },
  };
}
