import { defaultRng, type Generator, tf } from '@meddl/tensor';
import * as init from '../init';
import { Module } from '../module';

export interface EmbeddingOptions {
  /** Row that stays fixed (zero at init, never receives gradient); negative counts from the end. */
  paddingIdx?: number;
  rng?: Generator;
}

/** A lookup table [numEmbeddings, embeddingDim] indexed by integer ids, as torch.nn.Embedding. */
export class Embedding extends Module {
  readonly weight: tf.Variable;
  readonly paddingIdx: number | null;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: EmbeddingOptions = {},
  ) {
    super();
    const p = options.paddingIdx;
    if (p !== undefined && (p >= numEmbeddings || p < -numEmbeddings)) {
      throw new RangeError(`Embedding paddingIdx ${p} is outside [-${numEmbeddings}, ${numEmbeddings})`);
    }
    this.paddingIdx = p === undefined ? null : p < 0 ? numEmbeddings + p : p;
    const w = init.normal([numEmbeddings, embeddingDim], 0, 1, options.rng ?? defaultRng());
    const weight = this.paddingIdx === null ? w : zeroRow(w, this.paddingIdx);
    this.weight = this.registerParameter('weight', weight);
  }

  /** ids: an int32 tensor of any shape; returns [...ids.shape, embeddingDim]. */
  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const flat = tf.cast(ids.reshape([-1]), 'int32') as tf.Tensor1D;
      const rows = this.lookup(flat);
      return rows.reshape([...ids.shape, this.embeddingDim]);
    });
  }

  private lookup(flat: tf.Tensor1D): tf.Tensor {
    const n = this.numEmbeddings;
    const pad = this.paddingIdx;
    // The gradient of a gather is a segment sum, which some backends (wasm) lack; fall back to
    // a one-hot product there. The padding row gets no gradient, as in PyTorch. The ids are
    // saved for the backward pass, which may run after this forward's tidy has ended.
    const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [weight, ids, save] = args as [tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
      save([ids]);
      return {
        value: tf.gather(weight, ids),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const dy2 = dy as tf.Tensor2D;
          const idx = saved[0] as tf.Tensor1D;
          let dw = tf.getKernel('UnsortedSegmentSum', tf.getBackend())
            ? tf.unsortedSegmentSum(dy2, idx, n)
            : tf.matMul(oneHotFloat(idx, n), dy2, true, false);
          if (pad !== null) dw = tf.mul(dw, allRowsBut(n, pad));
          // ids are integers: no gradient flows to them
          return [dw, tf.zeros(idx.shape)];
        },
      };
    });
    return lookup(this.weight, flat);
  }
}

function zeroRow(w: tf.Tensor, row: number): tf.Tensor {
  const out = tf.tidy(() => tf.mul(w, allRowsBut(w.shape[0] as number, row)));
  w.dispose();
  return out;
}

// tfjs-backend-wasm 4.22's OneHot writes wrong values for a float32 output dtype, so one-hots
// are made as int32 (which it computes correctly) and cast.
function oneHotFloat(ids: tf.Tensor1D, n: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(ids, n), 'float32') as tf.Tensor2D;
}

/** [n, 1]: 1 for every row except `row`, which is 0. */
function allRowsBut(n: number, row: number): tf.Tensor {
  return tf.sub(1, oneHotFloat(tf.tensor1d([row], 'int32'), n).reshape([n, 1]));
}
