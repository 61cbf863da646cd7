import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, TissueBert } from './model';
import { PAD_ID } from './tokenizer';

beforeAll(async () => {
  await initBackend();
});

const HYBRID = { stemKernel: 3, positionEmbeddings: false, normFirst: true, pooling: 'max' } as const;

function inputs(rng: Generator, batch: number, length: number, padFrom = length) {
  const tok: number[] = [];
  const meth: number[] = [];
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < length; i++) {
      const pad = b === 1 && i >= padFrom;
      tok.push(pad ? PAD_ID : 5 + rng.int(64));
      meth.push(pad ? 2 : rng.int(3));
    }
  return {
    tok: tf.tensor2d(tok, [batch, length], 'int32'),
    meth: tf.tensor2d(meth, [batch, length], 'int32'),
  };
}

describe('TissueBERT hybrid layout', () => {
  it('the stem equals a convolution (tf.conv1d) over one-hot token ⊕ state, outside = [PAD] with no CpG', () => {
    const rng = new Generator(3);
    const m = new TissueBert({ ...HYBRID, hidden: 8, layers: 1, heads: 2, ffn: 16, dropout: 0 }, rng);
    const stem = m.embeddings.stem;
    if (!stem) throw new Error('no stem');
    const { tok, meth } = inputs(rng, 2, 6);
    const got = stem.forward(tok, meth);
    const V = 69;
    const S = 3;
    const k = 3;
    const want = tf.tidy(() => {
      // One-hot inputs [B, L + 2, V + S] padded with [PAD] / no-CpG one-hots; filter [k, V + S, H].
      const pt = tf.pad(
        tok,
        [
          [0, 0],
          [1, 1],
        ],
        PAD_ID,
      );
      const pm = tf.pad(
        meth,
        [
          [0, 0],
          [1, 1],
        ],
        2,
      );
      const x = tf.concat([tf.oneHot(pt, V), tf.oneHot(pm, S)], 2).toFloat() as tf.Tensor3D;
      const wt = stem.tokens.weight.reshape([k, V, 8]);
      const wm = stem.methylation.weight.reshape([k, S, 8]);
      const filter = tf.concat([wt, wm], 1) as tf.Tensor3D;
      return tf.relu(tf.add(tf.conv1d(x, filter, 1, 'valid'), stem.bias));
    });
    expect(got.shape).toEqual([2, 6, 8]);
    const a = got.dataSync();
    const b = want.dataSync();
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThan(1e-5);
    expect(Math.max(...a)).toBeGreaterThan(0);
    tf.dispose([got, want, tok, meth]);
    m.dispose();
  });

  it('max pooling takes the largest hidden state over non-padding tokens only', () => {
    const rng = new Generator(4);
    const m = new TissueBert({ ...HYBRID, hidden: 8, layers: 1, heads: 2, ffn: 16, dropout: 0 }, rng);
    const { tok, meth } = inputs(rng, 2, 7, 4);
    const pooled = m.encode(tok, meth).arraySync();
    const hidden = tf.tidy(() =>
      m.encoder.forward(m.embeddings.forward(tok, meth), { srcKeyPaddingMask: tf.equal(tok, PAD_ID) }),
    );
    const h = hidden.arraySync() as number[][][];
    const ids = tok.arraySync();
    for (let b = 0; b < 2; b++)
      for (let d = 0; d < 8; d++) {
        const rows = h[b].filter((_, i) => ids[b][i] !== PAD_ID).map((r) => r[d]);
        expect(pooled[b][d]).toBeCloseTo(Math.max(...rows), 5);
      }
    tf.dispose([hidden, tok, meth]);
    m.dispose();
  });

  it('trains: a few AdamW steps on one batch lower its loss, and the stem gets gradients', () => {
    const rng = new Generator(5);
    const m = createModel('tissuebert-tiny', HYBRID, rng);
    const { tok, meth } = inputs(rng, 8, 20);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 22);
    const opt = tf.train.adam(3e-3);
    const vars = m.trainableParameters();
    const lossOf = () => tf.losses.softmaxCrossEntropy(labels, m.forward(tok, meth)).asScalar() as tf.Scalar;
    const first = tf.tidy(() => lossOf().dataSync()[0]);
    let stemGrad = 0;
    for (let i = 0; i < 20; i++) {
      const { grads } = tf.variableGrads(lossOf, vars);
      const g = grads[m.embeddings.stem?.tokens.weight.name as string];
      if (i === 0) stemGrad = tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]);
      opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose(grads);
    }
    const last = tf.tidy(() => lossOf().dataSync()[0]);
    expect(stemGrad).toBeGreaterThan(0);
    expect(last).toBeLessThan(first * 0.8);
    tf.dispose([tok, meth, labels]);
    opt.dispose();
    m.dispose();
  });

  it('rejects an even stem kernel', () => {
    expect(() => new TissueBert({ stemKernel: 4 })).toThrow(/stemKernel must be 0 or odd/);
  });
});
