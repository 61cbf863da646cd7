// Helpers shared by this package's tests (not exported from the package).
import { Generator, tf } from '@meddl/tensor';
import { expect } from 'vitest';
import type { ExportedModel } from './export';
import { OnnxSession, type TensorData } from './runtime';

export function randn(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, d) => a * d, 1);
  return tf.tensor(new Generator(seed).normalArray(n), shape, 'float32');
}

export function feed(t: tf.Tensor): TensorData {
  const data = t.dtype === 'int32' ? Int32Array.from(t.dataSync()) : Float32Array.from(t.dataSync());
  return { data, dims: t.shape };
}

/** Padding masks [B, S] with 1 at padding: row b keeps a random prefix of length ≥ 1. */
export function paddingMask(batch: number, seq: number, seed: number): tf.Tensor {
  const g = new Generator(seed);
  const data = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const keep = 1 + g.int(seq);
    for (let s = keep; s < seq; s++) data[b * seq + s] = 1;
  }
  return tf.tensor2d(data, [batch, seq], 'int32');
}

export async function session(exported: ExportedModel): Promise<OnnxSession> {
  return OnnxSession.create(exported.bytes, { threads: 1, executionProviders: ['cpu'] });
}

/** Largest absolute difference; fails when shapes differ or any value is further than tol. */
export function expectMatches(onnx: TensorData, reference: tf.Tensor, tol = 1e-4): number {
  expect([...onnx.dims]).toEqual(reference.shape);
  const ref = reference.dataSync();
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(Number(onnx.data[i]) - ref[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  expect(worst).toBeLessThanOrEqual(tol);
  return worst;
}
