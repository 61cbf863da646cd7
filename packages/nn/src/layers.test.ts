import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Embedding,
  GELU,
  LayerNorm,
  Linear,
  MLP,
  MultiheadAttention,
  ReLU,
  Sequential,
  ShapeError,
  sinusoidalPositionEmbedding1d,
  sinusoidalPositionEmbedding3d,
} from './index';
import { disposeAll, expectClose, fixture, stateOf, toTensor } from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

let before = 0;
beforeAll(() => {
  before = tf.memory().numTensors;
});
afterEach(() => {
  // every test disposes what it made
  expect(tf.memory().numTensors).toBe(before);
});

/** Loads a fixture's state strictly into a module, runs fn, and cleans up. */
function withState<M extends { loadStateDict: Linear['loadStateDict']; dispose(): void }>(
  name: string,
  module: M,
  fn: (m: M) => void,
): void {
  const sd = stateOf(fixture(name));
  module.loadStateDict(sd);
  disposeAll(sd);
  try {
    fn(module);
  } finally {
    module.dispose();
  }
}

describe('layers against PyTorch 1.13', () => {
  it('Linear', () => {
    const f = fixture('linear');
    withState('linear', new Linear(5, 3, { rng: new Generator(0) }), (m) => {
      tf.tidy(() => {
        expectClose(m.forward(toTensor(f.input)), f.output, 1e-5);
      });
    });
  });

  it.each(['layernorm', 'layernorm2d'])('LayerNorm (%s)', (name) => {
    const f = fixture(name);
    withState(name, new LayerNorm(f.normalizedShape as number[]), (m) => {
      expect(Object.keys(m.stateDict())).toEqual(['weight', 'bias']);
      tf.tidy(() => {
        expectClose(m.forward(toTensor(f.input)), f.output, 1e-5);
      });
    });
  });

  it('Embedding with paddingIdx', () => {
    const f = fixture('embedding');
    const fresh = new Embedding(10, 4, { paddingIdx: 1, rng: new Generator(3) });
    // the padding row starts at zero, as in PyTorch
    const padRow = tf.tidy(() => fresh.weight.slice([1, 0], [1, 4]).abs().sum().dataSync()[0]);
    fresh.dispose();
    expect(padRow).toBe(0);
    withState('embedding', new Embedding(10, 4, { paddingIdx: 1 }), (m) => {
      tf.tidy(() => {
        expectClose(m.forward(toTensor(f.input, 'int32')), f.output, 1e-7);
      });
    });
  });

  it('GELU (exact erf and tanh forms) and ReLU', () => {
    const f = fixture('gelu');
    tf.tidy(() => {
      const x = toTensor(f.input);
      expectClose(new GELU().forward(x), f.none, 1e-5);
      expectClose(new GELU({ approximate: 'tanh' }).forward(x), f.tanh, 1e-5);
      expectClose(new ReLU().forward(x), f.relu, 1e-7);
    });
  });

  it('MLP with timm key names', () => {
    const f = fixture('mlp');
    withState('mlp', new MLP(6, 10, 4), (m) => {
      expect(Object.keys(m.stateDict())).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
      tf.tidy(() => {
        expectClose(m.forward(toTensor(f.input)), f.output, 1e-5);
      });
    });
  });

  it('MultiheadAttention with key padding mask, attention mask and weights', () => {
    const f = fixture('mha');
    const m = new MultiheadAttention(f.embedDim as number, f.numHeads as number, { rng: new Generator(0) });
    expect(Object.keys(m.stateDict())).toEqual(Object.keys(f.state as object));
    withState('mha', m, () => {
      tf.tidy(() => {
        const [q, k, v] = [toTensor(f.query), toTensor(f.key), toTensor(f.value)];
        const opts = {
          keyPaddingMask: toTensor(f.keyPaddingMask, 'bool'),
          attnMask: toTensor(f.attnMask, 'bool'),
        };
        const avg = m.forward(q, k, v, opts);
        expectClose(avg.output, f.output, 1e-5);
        expectClose(avg.weights!, f.weightsAvg, 1e-5);
        const perHead = m.forward(q, k, v, { ...opts, averageAttnWeights: false });
        expectClose(perHead.weights!, f.weightsPerHead, 1e-5);
        // a 0/1 int mask means the same as a boolean one
        const intMask = m.forward(q, k, v, { ...opts, keyPaddingMask: toTensor(f.keyPaddingMask, 'int32') });
        expectClose(intMask.output, f.output, 1e-5);
        // an additive float attention mask (-inf where blocked) means the same as a boolean one
        const additive = tf.where(toTensor(f.attnMask, 'bool'), tf.scalar(-Infinity), tf.scalar(0));
        expectClose(m.forward(q, k, v, { ...opts, attnMask: additive }).output, f.output, 1e-5);
        const self = m.forward(q, q, q);
        expectClose(self.output, f.selfOutput, 1e-5);
        expectClose(self.weights!, f.selfWeights, 1e-5);
        expect(m.forward(q, q, q, { needWeights: false }).weights).toBeNull();
      });
    });
  });

  it('Sequential chains children named 0, 1, …', () => {
    const rng = new Generator(2);
    const a = new Linear(3, 4, { rng });
    const b = new Linear(4, 2, { rng });
    const seq = new Sequential(a, new ReLU(), b);
    expect(Object.keys(seq.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    tf.tidy(() => {
      const x = tf.tensor2d([[1, -2, 3]]);
      const want = b.forward(tf.relu(a.forward(x)));
      expect(Array.from(seq.forward(x).dataSync())).toEqual(Array.from(want.dataSync()));
    });
    seq.dispose();
  });
});

describe('sin-cos position embeddings against numpy', () => {
  it('1-D', () => {
    const f = fixture('sincos1d');
    const pe = sinusoidalPositionEmbedding1d(f.length as number, f.dim as number);
    expectClose(pe, f.output, 1e-6);
    pe.dispose();
  });

  it('3-D (V-JEPA split: half time, quarter height, quarter width)', () => {
    const f = fixture('sincos3d');
    const [t, h, w] = f.grid as number[];
    const pe = sinusoidalPositionEmbedding3d(t, h, w, f.dim as number);
    expectClose(pe, f.output, 1e-6);
    pe.dispose();
  });

  it('3-D with uniform power', () => {
    const f = fixture('sincos3d_uniform');
    const [t, h, w] = f.grid as number[];
    const pe = sinusoidalPositionEmbedding3d(t, h, w, f.dim as number, { uniformPower: true });
    expectClose(pe, f.output, 1e-6);
    pe.dispose();
  });
});

describe('shape errors', () => {
  it('name the layer, the argument and the expected shape', () => {
    const ln = new LayerNorm(4);
    const mha = new MultiheadAttention(4, 2, { rng: new Generator(0) });
    tf.tidy(() => {
      expect(() => ln.forward(tf.zeros([2, 3]))).toThrow(ShapeError);
      expect(() => ln.forward(tf.zeros([2, 3]))).toThrow(
        /LayerNorm.forward: input must end in dims \[4\], got input \[2,3\]/,
      );
      const x = tf.zeros([2, 3, 4]);
      expect(() => mha.forward(x, x, x, { keyPaddingMask: tf.zeros([2, 4]) })).toThrow(
        /keyPaddingMask must be \[2, 3\], got \[2,4\]/,
      );
    });
    ln.dispose();
    mha.dispose();
  });
});
