// Helpers shared by this package's tests (not exported from the package).
import { readFileSync } from 'node:fs';
import { Generator, tf } from '@meddl/tensor';
import { expect } from 'vitest';

export interface TensorJson {
  shape: number[];
  data: number[];
}
export type Fixture = Record<string, unknown>;

let cache: Record<string, Fixture> | null = null;

/** The PyTorch reference fixtures written by fixtures/make_fixtures.py. */
export function fixture(name: string): Fixture {
  if (!cache) {
    const url = new URL('../fixtures/layers.json', import.meta.url);
    cache = (JSON.parse(readFileSync(url, 'utf8')) as { fixtures: Record<string, Fixture> }).fixtures;
  }
  const f = cache[name];
  if (!f) throw new Error(`no fixture '${name}'`);
  return f;
}

export function toTensor(t: unknown, dtype: 'float32' | 'int32' | 'bool' = 'float32'): tf.Tensor {
  const { shape, data } = t as TensorJson;
  return tf.tensor(data, shape, dtype);
}

export function stateOf(f: Fixture): Record<string, tf.Tensor> {
  const s = f.state as Record<string, TensorJson>;
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, toTensor(v)]));
}

export function disposeAll(d: Record<string, tf.Tensor>): void {
  for (const t of Object.values(d)) t.dispose();
}

/** Asserts same shape and max |a - b| <= tol; returns that max. */
export function expectClose(actual: tf.Tensor, expected: unknown, tol: number): number {
  const { shape, data } = expected as TensorJson;
  expect(actual.shape).toEqual(shape);
  const a = actual.dataSync();
  let worst = 0;
  for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(a[i] - data[i]));
  expect(worst).toBeLessThanOrEqual(tol);
  return worst;
}

/**
 * Compares analytic gradients of `loss` wrt `vars` with central finite differences at a few
 * seeded-random entries of each variable. float32 limits the accuracy, so the step is large
 * (eps) and the tolerance relative: |num - ana| <= atol + rtol·max(|num|, |ana|).
 */
export function gradcheck(
  loss: () => tf.Scalar,
  vars: tf.Variable[],
  { eps = 1e-2, rtol = 2e-2, atol = 2e-3, samples = 6, seed = 0 } = {},
): void {
  const rng = new Generator(seed);
  const { grads } = tf.variableGrads(loss, vars);
  try {
    for (const v of vars) {
      const g = grads[v.name];
      expect(g, `gradient for ${v.name}`).toBeDefined();
      const ana = g!.dataSync();
      const base = v.dataSync().slice();
      const picks = Array.from({ length: Math.min(samples, v.size) }, () =>
        Math.floor(rng.random() * v.size),
      );
      for (const i of picks) {
        const at = (delta: number) => {
          const vals = base.slice();
          vals[i] += delta;
          tf.tidy(() => v.assign(tf.tensor(vals, v.shape, v.dtype)));
          return tf.tidy(() => loss().dataSync()[0]);
        };
        const num = (at(eps) - at(-eps)) / (2 * eps);
        tf.tidy(() => v.assign(tf.tensor(base, v.shape, v.dtype)));
        const err = Math.abs(num - ana[i]);
        expect(err, `d loss / d ${v.name}[${i}]: numeric ${num}, analytic ${ana[i]}`).toBeLessThanOrEqual(
          atol + rtol * Math.max(Math.abs(num), Math.abs(ana[i])),
        );
      }
    }
  } finally {
    for (const g of Object.values(grads)) g.dispose();
  }
}

/** A fixed random projection, so that sum(out · r) exercises every output element. */
export function projectionLoss(out: tf.Tensor, seed = 1): tf.Scalar {
  const r = tf.tensor(new Generator(seed).normalArray(out.size, 0, 1), out.shape);
  return tf.sum(tf.mul(out, r));
}
