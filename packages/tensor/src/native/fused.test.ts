import { afterAll, describe, expect, it } from 'vitest';
import {
  fusedAdamStep,
  fusedGelu,
  fusedKernelsActive,
  fusedLayerNorm,
  fusedSoftmax,
  Generator,
  initBackend,
  nativeStatus,
  tf,
} from '../index';

// Each fused kernel against the composed tfjs ops it replaces (values and gradients), on the
// native backend and against tfjs's pure-JS cpu backend, on seeded tiny inputs.
const status = nativeStatus();

const composedLayerNorm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
};
const composedGelu = (x: tf.Tensor) => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));

/** Values of f(...xs) and of the gradient of sum(f(...xs) * w) for every input. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], w: tf.Tensor) {
  return tf.tidy(() => {
    const y = f(...xs);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), w)))(xs);
    return { y: Array.from(y.dataSync()), grads: grads.map((g) => Array.from(g.dataSync())) };
  });
}

function close(got: number[], want: number[], tol: number) {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe.runIf(status.available)('fused native kernels (need the compiled addon)', () => {
  const rng = new Generator(1414);
  const t = (shape: number[], scale = 1, shift = 0) =>
    tf.tensor(
      rng.normalArray(shape.reduce((a, b) => a * b, 1)).map((v) => v * scale + shift),
      shape,
    );
  const useNative = async () => {
    await initBackend('native');
    await tf.setBackend('meddl-native');
  };
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('are active only on the native backend', async () => {
    await tf.setBackend('cpu');
    expect(fusedKernelsActive()).toBe(false);
    expect(() => fusedGelu(tf.zeros([2]))).toThrow(/native backend/);
    await useNative();
    expect(fusedKernelsActive()).toBe(true);
  });

  it('LayerNorm: forward bit-identical to the composed ops, gradients within float tolerance', async () => {
    await useNative();
    const x = t([3, 5, 16], 2, 0.5);
    const g = t([16], 0.3, 1);
    const b = t([16], 0.2);
    const w = t([3, 5, 16]);
    const fused = valueAndGrads((a, c, d) => fusedLayerNorm(a, c, d, 1e-5), [x, g, b], w);
    const comp = valueAndGrads((a, c, d) => composedLayerNorm(a, c, d, 1e-5), [x, g, b], w);
    expect(fused.y).toEqual(comp.y);
    for (const [i, gr] of fused.grads.entries()) close(gr, comp.grads[i], 2e-5);
    const xv = x.arraySync();
    const args = [g, b, w].map((z) => z.arraySync());
    await tf.setBackend('cpu');
    const cpu = tf.tidy(() =>
      valueAndGrads(
        (a, c, d) => composedLayerNorm(a, c, d, 1e-5),
        [tf.tensor(xv), tf.tensor(args[0]), tf.tensor(args[1])],
        tf.tensor(args[2]),
      ),
    );
    close(fused.y, cpu.y, 1e-5);
    for (const [i, gr] of fused.grads.entries()) close(gr, cpu.grads[i], 2e-5);
    await useNative();
  });

  it('LayerNorm over two trailing dims and with a large mean', async () => {
    await useNative();
    const x = t([4, 3, 8], 0.5, 100);
    const g = t([3, 8], 0.3, 1);
    const b = t([3, 8], 0.2);
    const w = t([4, 3, 8]);
    const composed = (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [1, 2], true);
      return tf.add(tf.mul(tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, 1e-6))), c), d);
    };
    const fused = valueAndGrads((a, c, d) => fusedLayerNorm(a, c, d, 1e-6), [x, g, b], w);
    const ref = valueAndGrads(composed, [x, g, b], w);
    close(fused.y, ref.y, 1e-5);
    for (const [i, gr] of fused.grads.entries()) close(gr, ref.grads[i], 1e-4);
  });

  it('GELU: forward and gradient match the composed erf form within float tolerance', async () => {
    await useNative();
    const x = t([6, 33], 2);
    const w = t([6, 33]);
    const fused = valueAndGrads((a) => fusedGelu(a), [x], w);
    const comp = valueAndGrads(composedGelu, [x], w);
    close(fused.y, comp.y, 1e-6);
    close(fused.grads[0], comp.grads[0], 1e-5);
  });

  it('softmax: same values as tf.softmax, one-kernel gradient within float tolerance', async () => {
    await useNative();
    const x = t([2, 3, 7, 9], 3);
    const w = t([2, 3, 7, 9]);
    const fused = valueAndGrads((a) => fusedSoftmax(a), [x], w);
    const ref = valueAndGrads((a) => tf.softmax(a), [x], w);
    expect(fused.y).toEqual(ref.y);
    close(fused.grads[0], ref.grads[0], 1e-5);
  });

  it('Adam/AdamW step: bit-identical to the composed torch.optim update over several steps', async () => {
    await useNative();
    const composed = (
      p: tf.Tensor,
      g: tf.Tensor,
      m: tf.Tensor | null,
      v: tf.Tensor | null,
      h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean },
      step: number,
    ) => {
      const base = h.decoupled && h.weightDecay !== 0 ? tf.mul(p, 1 - h.lr * h.weightDecay) : p;
      const gr = !h.decoupled && h.weightDecay !== 0 ? tf.add(g, tf.mul(p, h.weightDecay)) : g;
      const m2 = m ? tf.add(tf.mul(m, h.beta1), tf.mul(gr, 1 - h.beta1)) : tf.mul(gr, 1 - h.beta1);
      const v2 = v
        ? tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(gr), 1 - h.beta2))
        : tf.mul(tf.square(gr), 1 - h.beta2);
      const bc1 = 1 - h.beta1 ** step;
      const bc2 = 1 - h.beta2 ** step;
      const denom = tf.add(tf.div(tf.sqrt(v2), Math.sqrt(bc2)), h.eps);
      return { param: tf.sub(base, tf.mul(tf.div(m2, denom), h.lr / bc1)), m: m2, v: v2 };
    };
    for (const h of [
      { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false },
      { lr: 3e-2, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1, decoupled: false },
      { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05, decoupled: true },
    ]) {
      let a = { param: t([5, 7]), m: null as tf.Tensor | null, v: null as tf.Tensor | null };
      let c = { param: a.param.clone(), m: null as tf.Tensor | null, v: null as tf.Tensor | null };
      for (let step = 1; step <= 4; step++) {
        const g = t([5, 7], step);
        a = fusedAdamStep(a.param, g, a.m, a.v, h, step);
        c = composed(c.param, g, c.m, c.v, h, step);
        expect(Array.from(a.param.dataSync())).toEqual(Array.from(c.param.dataSync()));
        expect(Array.from(a.m?.dataSync() ?? [])).toEqual(Array.from(c.m?.dataSync() ?? []));
        expect(Array.from(a.v?.dataSync() ?? [])).toEqual(Array.from(c.v?.dataSync() ?? []));
      }
    }
  });
});
