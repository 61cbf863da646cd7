import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { Embedding, gelu, LayerNorm, Linear, MultiheadAttention, TransformerEncoderLayer } from './index';
import { gradcheck, projectionLoss } from './test-utils';

// Analytic gradients (tfjs autodiff) against central finite differences in float32.

beforeAll(async () => {
  await initBackend('cpu');
});

function input(shape: number[], seed: number, std = 1): tf.Variable {
  return tf.variable(
    tf.tensor(
      new Generator(seed).normalArray(
        shape.reduce((a, b) => a * b, 1),
        0,
        std,
      ),
      shape,
    ),
  );
}

describe('gradients against finite differences', () => {
  it('the check itself catches a gradient that is 5% off', () => {
    const x = input([6], 11);
    const wrong = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const t = args[0] as tf.Tensor;
      return { value: tf.square(t), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.mul(t, 2.1)) };
    });
    expect(() => gradcheck(() => projectionLoss(wrong(x)), [x])).toThrow(/numeric/);
    x.dispose();
  });

  it('Linear (weight, bias, input)', () => {
    const m = new Linear(4, 3, { rng: new Generator(0) });
    const x = input([2, 4], 1);
    gradcheck(() => projectionLoss(m.forward(x)), [m.weight, m.bias!, x]);
    m.dispose();
    x.dispose();
  });

  it('LayerNorm (weight, bias, input)', () => {
    const m = new LayerNorm(5);
    tf.tidy(() => {
      m.weight!.assign(tf.tensor1d([0.5, 1.5, -1, 2, 0.8]));
      m.bias!.assign(tf.tensor1d([0.1, -0.2, 0.3, 0, 1]));
    });
    const x = input([3, 5], 2, 2);
    gradcheck(() => projectionLoss(m.forward(x)), [m.weight!, m.bias!, x], { samples: 10 });
    m.dispose();
    x.dispose();
  });

  it.each(['none', 'tanh'] as const)('GELU (%s)', (approximate) => {
    const x = input([12], 3, 2);
    gradcheck(() => projectionLoss(gelu(x, approximate)), [x], { samples: 12, eps: 1e-3 });
    x.dispose();
  });

  it('MultiheadAttention with a key padding mask (all parameters, query and key)', () => {
    const m = new MultiheadAttention(8, 2, { rng: new Generator(4) });
    tf.tidy(() => m.inProjBias!.assign(tf.tensor(new Generator(5).normalArray(24, 0, 0.2), [24])));
    const q = input([2, 3, 8], 6);
    const kv = input([2, 4, 8], 7);
    const mask = tf.tensor2d([
      [0, 0, 1, 1],
      [0, 0, 0, 0],
    ]);
    gradcheck(
      () => projectionLoss(m.forward(q, kv, kv, { keyPaddingMask: mask }).output),
      [m.inProjWeight, m.inProjBias!, m.outProj.weight, m.outProj.bias!, q, kv],
      { samples: 8 },
    );
    m.dispose();
    tf.dispose([q, kv, mask]);
  });

  it.each([false, true])('TransformerEncoderLayer (normFirst=%s, gelu, padding mask)', (normFirst) => {
    const m = new TransformerEncoderLayer(8, 2, {
      dimFeedforward: 12,
      dropout: 0,
      activation: 'gelu',
      normFirst,
      rng: new Generator(8),
    });
    const x = input([2, 3, 8], 9);
    const mask = tf.tensor2d([
      [0, 0, 1],
      [0, 0, 0],
    ]);
    gradcheck(() => projectionLoss(m.forward(x, { srcKeyPaddingMask: mask })), [...m.parameters(), x], {
      samples: 3,
    });
    m.dispose();
    tf.dispose([x, mask]);
  });

  it('Embedding (weight); the padding row gets no gradient', () => {
    const ids = tf.tensor2d(
      [
        [0, 3, 3, 1],
        [5, 1, 0, 2],
      ],
      undefined,
      'int32',
    );
    const plain = new Embedding(6, 3, { rng: new Generator(10) });
    gradcheck(() => projectionLoss(plain.forward(ids)), [plain.weight], { samples: 18 });
    plain.dispose();

    const padded = new Embedding(6, 3, { paddingIdx: 1, rng: new Generator(10) });
    const { grads } = tf.variableGrads(() => projectionLoss(padded.forward(ids)), [padded.weight]);
    const g = grads[padded.weight.name].arraySync() as number[][];
    expect(g[1].every((v) => v === 0)).toBe(true);
    expect(g[4].every((v) => v === 0)).toBe(true); // never looked up
    expect(g[3].some((v) => v !== 0)).toBe(true);
    tf.dispose(grads);
    padded.dispose();
    ids.dispose();
  });
});
