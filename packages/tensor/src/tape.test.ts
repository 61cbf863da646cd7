import { describe, expect, it } from 'vitest';
import { initBackend, noGrad, tf } from './index';

describe('noGrad', () => {
  it('gives fn(x), keeps none of its intermediates on the tape, and passes no gradient', async () => {
    await initBackend('cpu');
    const w = tf.variable(
      tf.tensor2d([
        [0.5, -1],
        [2, 0.25],
      ]),
      true,
      'nograd_w',
    );
    const frozen = tf.variable(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      false,
      'nograd_frozen',
    );
    const x = tf.tensor2d([
      [1, -2],
      [0.5, 3],
    ]);
    // A deep frozen branch: 20 chained ops, each of which the tape would keep inputs of.
    const branch = (t: tf.Tensor) => {
      let h = t;
      for (let i = 0; i < 10; i++) h = tf.tanh(tf.matMul(h, frozen));
      return h;
    };
    const kept: Record<string, number> = {};
    const grads: Record<string, tf.Tensor> = {};
    for (const mode of ['plain', 'noGrad'] as const) {
      const { value, grads: g } = tf.variableGrads(() => {
        const before = tf.memory().numTensors;
        const h = mode === 'plain' ? branch(x) : noGrad(branch, x);
        kept[mode] = tf.memory().numTensors - before;
        return tf.sum(tf.mul(tf.matMul(h, w), tf.matMul(x, w)));
      }, [w]);
      grads[mode] = g.nograd_w;
      expect(value.dataSync()[0]).toBeCloseTo(
        tf.tidy(() => tf.sum(tf.mul(tf.matMul(branch(x), w), tf.matMul(x, w))).dataSync()[0]),
        5,
      );
      value.dispose();
    }
    // Same gradient for w; the plain branch left its 20 intermediates (and tape copies) alive.
    expect(Array.from(grads.noGrad.dataSync())).toEqual(Array.from(grads.plain.dataSync()));
    expect(kept.plain).toBeGreaterThanOrEqual(20);
    expect(kept.noGrad).toBe(1);
    // No gradient flows into x through the branch.
    const gx = tf.grad((t: tf.Tensor) => tf.sum(noGrad(branch, t)))(x);
    expect(Array.from(gx.dataSync())).toEqual([0, 0, 0, 0]);
    for (const t of [w, frozen, x, gx, ...Object.values(grads)]) t.dispose();
  });
});
