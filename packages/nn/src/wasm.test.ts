import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { Embedding, GELU, LayerNorm, TransformerEncoder, TransformerEncoderLayer } from './index';
import { disposeAll, expectClose, fixture, gradcheck, projectionLoss, stateOf, toTensor } from './test-utils';

// The wasm backend has no UnsortedSegmentSum kernel, so a gather's gradient needs Embedding's
// one-hot fallback there; everything else a transformer needs has wasm gradient kernels.

beforeAll(async () => {
  await initBackend('wasm');
});

describe('on the wasm backend', () => {
  it('lacks UnsortedSegmentSum, and Embedding gradients still match finite differences', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeUndefined();
    const ids = tf.tensor2d(
      [
        [0, 3, 3, 1],
        [5, 1, 0, 2],
      ],
      undefined,
      'int32',
    );
    const emb = new Embedding(6, 3, { rng: new Generator(10) });
    gradcheck(() => projectionLoss(emb.forward(ids)), [emb.weight], { samples: 18 });
    emb.dispose();
    // with a padding row: zero at init and no gradient, the other rows untouched
    const padded = new Embedding(6, 3, { paddingIdx: 1, rng: new Generator(10) });
    const w = padded.weight.arraySync() as number[][];
    expect(w[1].every((v) => v === 0)).toBe(true);
    expect(w[2].every((v) => v !== 0)).toBe(true);
    const { grads } = tf.variableGrads(() => projectionLoss(padded.forward(ids)), [padded.weight]);
    const g = grads[padded.weight.name].arraySync() as number[][];
    expect(g[1].every((v) => v === 0)).toBe(true);
    expect(g[3].every((v) => v !== 0)).toBe(true);
    tf.dispose(grads);
    padded.dispose();
    ids.dispose();
  });

  it('TransformerEncoderLayer gradients match finite differences', () => {
    const m = new TransformerEncoderLayer(8, 2, {
      dimFeedforward: 12,
      dropout: 0,
      activation: 'gelu',
      rng: new Generator(8),
    });
    const x = tf.variable(tf.tensor(new Generator(9).normalArray(2 * 3 * 8), [2, 3, 8]));
    const mask = tf.tensor2d([0, 0, 1, 0, 0, 0], [2, 3]);
    gradcheck(() => projectionLoss(m.forward(x, { srcKeyPaddingMask: mask })), [...m.parameters(), x], {
      samples: 2,
    });
    m.dispose();
    tf.dispose([x, mask]);
  });

  it('reproduces PyTorch: GELU both forms, and the pre-norm GELU encoder with padding mask', () => {
    const g = fixture('gelu');
    tf.tidy(() => {
      expectClose(new GELU().forward(toTensor(g.input)), g.none, 1e-5);
      expectClose(new GELU({ approximate: 'tanh' }).forward(toTensor(g.input)), g.tanh, 1e-5);
    });
    const f = fixture('encoder_prenorm_gelu');
    const layer = {
      dModel: 16,
      nhead: 4,
      dimFeedforward: 32,
      dropout: 0,
      activation: 'gelu' as const,
      normFirst: true,
    };
    const enc = new TransformerEncoder(layer, 2, { norm: new LayerNorm(16) });
    const sd = stateOf(f);
    enc.loadStateDict(sd);
    disposeAll(sd);
    tf.tidy(() => {
      const y = enc.forward(toTensor(f.input), { srcKeyPaddingMask: toTensor(f.keyPaddingMask, 'bool') });
      expectClose(y, f.output, 1e-4);
    });
    enc.dispose();
  });
});
