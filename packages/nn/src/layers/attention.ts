import { defaultRng, fusedKernelsActive, fusedSoftmax, type Generator, tf } from '@meddl/tensor';
import { ShapeError } from '../errors';
import * as init from '../init';
import { Module } from '../module';
import { dropout } from './dropout';
import { Linear } from './linear';

export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights in training mode (default 0). */
  dropout?: number;
  /** Biases on the input and output projections (default true). */
  bias?: boolean;
  rng?: Generator;
}

export interface AttentionCallOptions {
  /**
   * [B, S]: which keys are padding and must not be attended to. Any dtype; nonzero / true means
   * padding (PyTorch's boolean key_padding_mask; PyTorch's additive float form is not used here).
   */
  keyPaddingMask?: tf.Tensor;
  /**
   * [L, S] or [B·numHeads, L, S]. Boolean: true means "may not attend" (PyTorch); float: added
   * to the attention logits (use -Infinity to block).
   */
  attnMask?: tf.Tensor;
  /** Return the attention weights (default true, as in PyTorch). */
  needWeights?: boolean;
  /** Average the weights over heads to [B, L, S] (default true); else [B, numHeads, L, S]. */
  averageAttnWeights?: boolean;
}

export interface AttentionResult {
  /** [B, L, embedDim] */
  output: tf.Tensor;
  /** [B, L, S] or [B, numHeads, L, S], or null when not asked for. */
  weights: tf.Tensor | null;
}

/**
 * Multi-head scaled dot-product attention (Vaswani et al. 2017) with torch.nn.MultiheadAttention's
 * parameters: the packed `in_proj_weight` [3E, E] (query, key, value rows in that order),
 * `in_proj_bias` [3E] and `out_proj`. Inputs are batch-first: [B, L, E] queries, [B, S, E] keys
 * and values.
 */
export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly inProjWeight: tf.Variable;
  readonly inProjBias: tf.Variable | null;
  readonly outProj: Linear;
  readonly dropout: number;
  private readonly rng: Generator;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    options: MultiheadAttentionOptions = {},
  ) {
    super();
    if (embedDim % numHeads !== 0) {
      throw new RangeError(
        `MultiheadAttention embedDim ${embedDim} is not divisible by numHeads ${numHeads}`,
      );
    }
    this.headDim = embedDim / numHeads;
    this.dropout = options.dropout ?? 0;
    this.rng = options.rng ?? defaultRng();
    const bias = options.bias ?? true;
    // PyTorch's _reset_parameters: xavier_uniform_ on the packed weight, zero biases.
    this.inProjWeight = this.registerParameter(
      'in_proj_weight',
      init.xavierUniform([3 * embedDim, embedDim], 1, this.rng),
    );
    this.inProjBias = bias ? this.registerParameter('in_proj_bias', init.zeros([3 * embedDim])) : null;
    this.outProj = this.registerModule('out_proj', new Linear(embedDim, embedDim, { bias, rng: this.rng }));
    const outBias = this.outProj.bias;
    if (outBias) tf.tidy(() => outBias.assign(tf.zerosLike(outBias)));
  }

  forward(
    query: tf.Tensor,
    key: tf.Tensor,
    value: tf.Tensor,
    options: AttentionCallOptions = {},
  ): AttentionResult {
    const E = this.embedDim;
    if (query.rank !== 3 || key.rank !== 3 || value.rank !== 3 || query.shape[2] !== E) {
      throw new ShapeError(
        `MultiheadAttention.forward expects batch-first [B, L, ${E}] inputs, got query [${query.shape}], key [${key.shape}], value [${value.shape}]`,
      );
    }
    const [B, L] = query.shape as [number, number, number];
    const S = key.shape[1] as number;
    const H = this.numHeads;
    const D = this.headDim;
    const needWeights = options.needWeights ?? true;
    const result = tf.tidy(() => {
      const [wq, wk, wv] = tf.split(this.inProjWeight, 3, 0);
      const [bq, bk, bv] = this.inProjBias ? tf.split(this.inProjBias, 3, 0) : [null, null, null];
      const heads = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, len: number) => {
        const y = tf.matMul(x.reshape([-1, E]) as tf.Tensor2D, w as tf.Tensor2D, false, true);
        const yb = b ? tf.add(y, b) : y;
        return tf.transpose(yb.reshape([B, len, H, D]), [0, 2, 1, 3]);
      };
      const q = tf.mul(heads(query, wq, bq, L), 1 / Math.sqrt(D));
      const k = heads(key, wk, bk, S);
      const v = heads(value, wv, bv, S);
      let logits = tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true); // [B, H, L, S]

      let blocked: tf.Tensor | null = null;
      const { attnMask, keyPaddingMask } = options;
      if (attnMask) {
        const m = attnMask.rank === 3 ? attnMask.reshape([B, H, L, S]) : attnMask;
        if (attnMask.dtype === 'bool') blocked = m;
        else logits = tf.add(logits, m);
      }
      if (keyPaddingMask) {
        if (keyPaddingMask.shape[0] !== B || keyPaddingMask.shape[1] !== S) {
          throw new ShapeError(
            `MultiheadAttention.forward: keyPaddingMask must be [${B}, ${S}], got [${keyPaddingMask.shape}]`,
          );
        }
        const pad = tf.notEqual(keyPaddingMask, 0).reshape([B, 1, 1, S]);
        blocked = blocked ? tf.logicalOr(blocked, pad) : pad;
      }
      if (blocked) {
        // An additive -inf bias at the mask's own (broadcastable) shape: no full-size tile/select.
        const bias = tf.where(
          blocked,
          tf.fill(blocked.shape, Number.NEGATIVE_INFINITY),
          tf.zerosLike(blocked).cast('float32'),
        );
        logits = tf.add(logits, bias);
      }
      // The native backend's fused softmax has a one-kernel gradient (same forward values).
      let weights = fusedKernelsActive() ? fusedSoftmax(logits) : tf.softmax(logits, -1);
      if (this.training && this.dropout > 0) weights = dropout(weights, this.dropout, this.rng);
      const ctx = tf.matMul(weights as tf.Tensor4D, v as tf.Tensor4D); // [B, H, L, D]
      const merged = tf.transpose(ctx, [0, 2, 1, 3]).reshape([B, L, E]);
      const output = this.outProj.forward(merged);
      if (!needWeights) return { output };
      return { output, weights: (options.averageAttnWeights ?? true) ? tf.mean(weights, 1) : weights };
    });
    return { output: result.output, weights: result.weights ?? null };
  }
}
