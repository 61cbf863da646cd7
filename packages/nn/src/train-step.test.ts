import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Embedding,
  LayerNorm,
  Linear,
  Module,
  sinusoidalPositionEmbedding1d,
  TransformerEncoder,
} from './index';

beforeAll(async () => {
  await initBackend('cpu');
});

/** Tokens → embedding + fixed positions → pre-norm encoder → mean over real tokens → class logits. */
class TinyClassifier extends Module {
  readonly embed: Embedding;
  readonly encoder: TransformerEncoder;
  readonly head: Linear;
  private readonly pos: tf.Variable;

  constructor(rng: Generator) {
    super();
    this.embed = this.registerModule('embed', new Embedding(11, 16, { paddingIdx: 0, rng }));
    this.pos = this.registerBuffer('pos', sinusoidalPositionEmbedding1d(6, 16), false);
    const layer = { dModel: 16, nhead: 4, dimFeedforward: 32, dropout: 0.1, normFirst: true, rng };
    this.encoder = this.registerModule(
      'encoder',
      new TransformerEncoder(layer, 2, { norm: new LayerNorm(16) }),
    );
    this.head = this.registerModule('head', new Linear(16, 3, { rng }));
  }

  forward(tokens: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const pad = tf.equal(tokens, 0);
      const h = this.encoder.forward(tf.add(this.embed.forward(tokens), this.pos), {
        srcKeyPaddingMask: pad,
      });
      const keep = tf.expandDims(tf.cast(tf.logicalNot(pad), 'float32'), -1);
      const pooled = tf.div(tf.sum(tf.mul(h, keep), 1), tf.sum(keep, 1));
      return this.head.forward(pooled);
    });
  }
}

describe('a training step', () => {
  it('leaves tf.memory().numTensors unchanged and lowers the loss', () => {
    const model = new TinyClassifier(new Generator(0));
    model.train();
    const tokens = tf.tensor2d(
      [
        [1, 2, 3, 4, 0, 0],
        [5, 6, 7, 8, 9, 10],
        [2, 4, 6, 0, 0, 0],
        [10, 9, 8, 7, 0, 0],
      ],
      undefined,
      'int32',
    );
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
    const params = model.trainableParameters();
    const step = (lr: number): number => {
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(labels, model.forward(tokens)) as tf.Scalar,
        params,
      );
      tf.tidy(() => {
        for (const p of params) p.assign(tf.sub(p, tf.mul(grads[p.name], lr)));
      });
      tf.dispose(grads);
      const loss = value.dataSync()[0];
      value.dispose();
      return loss;
    };
    const first = step(0.05);
    const count = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 5; i++) {
      last = step(0.05);
      expect(tf.memory().numTensors).toBe(count);
    }
    expect(last).toBeLessThan(first);
    // the padding row of the embedding received no update
    const padRow = tf.tidy(() => model.embed.weight.slice([0, 0], [1, 16]).abs().sum().dataSync()[0]);
    expect(padRow).toBe(0);
    model.dispose();
    tf.dispose([tokens, labels]);
  });
});
