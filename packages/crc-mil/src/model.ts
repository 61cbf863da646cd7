// Gated-attention MIL (Ilse, Tomczak & Welling 2018, "Attention-based Deep Multiple Instance
// Learning", eq. 9; the CLAM_SB layout of Lu et al. 2021) over patch features, with a softmax or an
// evidential (Dirichlet; Sensoy, Kaplan & Kandemir 2018) head. Read top to bottom:
//   h = dropout(relu(fc(standardize(x))))            [N, hidden]
//   a = attention_c(tanh(attention_a(h)) ⊙ sigmoid(attention_b(h)))   [N, 1] → softmax over N
//   z = aᵀ h                                           [1, hidden]
//   logits = classifier(z)                              [1, K]
// Evidential head: evidence = softplus(logits), α = evidence + 1, p = α / Σα, vacuity u = K / Σα.
// State-dict keys are PyTorch's for the same layers: fc.weight, attention_a.weight, …, classifier.bias,
// plus the feature standardization buffers feature_mean / feature_std.
// `aggregator: 'transformer'` replaces the gated attention pooling with a TransMIL-like aggregator (Shao et
// al. 2021, without its Nyström approximation and PPEG): a learned class token is prepended to h, a
// pre-norm transformer encoder (@meddl/nn, torch.nn.TransformerEncoder keys `encoder.layers.N.*`) lets every
// patch attend to every other, and the class token's output goes to the classifier. The attention returned
// for heatmaps is the class token's attention over the patches in the last layer (mean over heads,
// renormalized over the patches).
import { Dropout, LayerNorm, Linear, Module, TransformerEncoder } from '@meddl/nn';
import type { GraphBuilder, OnnxLowerable, OnnxValue } from '@meddl/onnx';
import { Generator, tf } from '@meddl/tensor';
import { z } from 'zod';
import { lowerGatedAttentionMil } from './onnx-export';

/** Auxiliary task names: they become state-dict keys (`aux_<name>.weight`). */
export const AUX_NAME = /^[a-z][a-z0-9_]*$/;

export const MilModelConfigSchema = z.object({
  inDim: z.number().int().min(1).default(64),
  hidden: z.number().int().min(1).default(64),
  attnDim: z.number().int().min(1).default(32),
  numClasses: z.number().int().min(2).default(3),
  dropout: z.number().min(0).max(1).default(0.25),
  head: z.enum(['softmax', 'evidential']).default('softmax'),
  /**
   * Number of magnifications in the bags. With more than one, attention runs within each scale
   * (shared attention_a/b/c) and then across the pooled scale vectors (scale_attention_a/b/c).
   */
  scales: z.number().int().min(1).default(1),
  /** 'gated' (Ilse et al.; CLAM) or 'transformer' (TransMIL-like multi-head attention between patches). */
  aggregator: z.enum(['gated', 'transformer']).default('gated'),
  /** Transformer aggregator: heads (must divide hidden) and encoder layers. */
  heads: z.number().int().min(1).default(4),
  layers: z.number().int().min(1).default(2),
  /**
   * Auxiliary heads on the bag embedding (the one the classifier reads), one output each, in this order:
   * `aux_<name>.weight` / `.bias` (a Linear(hidden, 1)). Regression heads predict the (standardized)
   * value, binary heads a logit.
   */
  auxiliary: z.array(z.string().regex(AUX_NAME)).default([]),
});
export type MilModelConfig = z.infer<typeof MilModelConfigSchema>;
export type MilModelConfigInput = z.input<typeof MilModelConfigSchema>;

export const MIL_PRESETS = {
  tiny: { hidden: 32, attnDim: 16, dropout: 0.1 },
  base: { hidden: 256, attnDim: 128, dropout: 0.25 },
} as const satisfies Record<string, Partial<MilModelConfigInput>>;

export type MilOutput = {
  logits: tf.Tensor2D;
  /** Softmax attention over the bag's patches, [N]. */
  attention: tf.Tensor1D;
  /** Auxiliary head outputs [1, A] (config.auxiliary order); absent without auxiliary heads. */
  aux?: tf.Tensor2D;
};

export class GatedAttentionMil extends Module implements OnnxLowerable {
  readonly config: MilModelConfig;
  readonly fc: Linear;
  /** Gated attention (aggregator 'gated'); null for the transformer aggregator. */
  readonly attentionA: Linear | null = null;
  readonly attentionB: Linear | null = null;
  readonly attentionC: Linear | null = null;
  /** Transformer aggregator: class token [1, hidden] and the encoder; null for 'gated'. */
  readonly clsToken: tf.Variable | null = null;
  readonly encoder: TransformerEncoder | null = null;
  readonly classifier: Linear;
  /** One Linear(hidden, 1) per auxiliary task, in config.auxiliary order. */
  readonly auxHeads: Linear[] = [];
  readonly drop: Dropout;
  readonly scaleAttentionA: Linear | null = null;
  readonly scaleAttentionB: Linear | null = null;
  readonly scaleAttentionC: Linear | null = null;
  readonly featureMean: tf.Variable;
  readonly featureStd: tf.Variable;

  constructor(input: MilModelConfigInput, rng: Generator = new Generator(0)) {
    super();
    const c = MilModelConfigSchema.parse(input);
    this.config = c;
    this.featureMean = this.registerBuffer('feature_mean', tf.zeros([c.inDim]));
    this.featureStd = this.registerBuffer('feature_std', tf.ones([c.inDim]));
    this.fc = this.registerModule('fc', new Linear(c.inDim, c.hidden, { rng }));
    if (c.aggregator === 'transformer') {
      if (c.scales > 1)
        throw new Error('MilModelConfig: the transformer aggregator takes single-scale bags (scales = 1)');
      if (c.hidden % c.heads !== 0)
        throw new Error(`MilModelConfig: heads (${c.heads}) must divide hidden (${c.hidden})`);
      this.clsToken = this.registerParameter(
        'cls_token',
        tf.tensor2d(
          Float32Array.from(rng.normalArray(c.hidden), (v) => 0.02 * v),
          [1, c.hidden],
        ),
      );
      this.encoder = this.registerModule(
        'encoder',
        new TransformerEncoder(
          {
            dModel: c.hidden,
            nhead: c.heads,
            dimFeedforward: 2 * c.hidden,
            dropout: c.dropout,
            normFirst: true,
            rng,
          },
          c.layers,
          { norm: new LayerNorm(c.hidden) },
        ),
      );
    } else {
      this.attentionA = this.registerModule('attention_a', new Linear(c.hidden, c.attnDim, { rng }));
      this.attentionB = this.registerModule('attention_b', new Linear(c.hidden, c.attnDim, { rng }));
      this.attentionC = this.registerModule('attention_c', new Linear(c.attnDim, 1, { rng }));
    }
    if (c.scales > 1) {
      this.scaleAttentionA = this.registerModule(
        'scale_attention_a',
        new Linear(c.hidden, c.attnDim, { rng }),
      );
      this.scaleAttentionB = this.registerModule(
        'scale_attention_b',
        new Linear(c.hidden, c.attnDim, { rng }),
      );
      this.scaleAttentionC = this.registerModule('scale_attention_c', new Linear(c.attnDim, 1, { rng }));
    }
    this.classifier = this.registerModule('classifier', new Linear(c.hidden, c.numClasses, { rng }));
    if (new Set(c.auxiliary).size !== c.auxiliary.length)
      throw new Error(`MilModelConfig: auxiliary head names must be unique (${c.auxiliary.join(', ')})`);
    for (const name of c.auxiliary)
      this.auxHeads.push(this.registerModule(`aux_${name}`, new Linear(c.hidden, 1, { rng })));
    this.drop = this.registerModule('drop', new Dropout(c.dropout, rng));
  }

  /** Sets the standardization buffers (training-set feature mean and std). */
  setFeatureStats(mean: Float32Array, std: Float32Array): void {
    this.featureMean.assign(tf.tensor1d(mean));
    this.featureStd.assign(tf.tensor1d(std.map((s) => (s > 1e-6 ? s : 1))));
  }

  /** Classifier and auxiliary heads on the bag embedding z [1, hidden]. */
  private heads(z: tf.Tensor2D, attention: tf.Tensor1D): MilOutput {
    const logits = this.classifier.forward(z) as tf.Tensor2D;
    if (this.auxHeads.length === 0) return { logits, attention };
    const aux = tf.concat(
      this.auxHeads.map((h) => h.forward(z)),
      1,
    ) as tf.Tensor2D;
    return { logits, attention, aux };
  }

  /** Gated attention scores (pre-softmax) of rows h [N, hidden] → [N]. */
  private scores(h: tf.Tensor2D, a: Linear, b: Linear, c: Linear): tf.Tensor1D {
    const gate = tf.mul(tf.tanh(a.forward(h)), tf.sigmoid(b.forward(h)));
    return tf.reshape(c.forward(gate), [-1]) as tf.Tensor1D;
  }

  /**
   * `scaleIndex` [N] (0..scales−1) gives each patch's magnification for the multi-scale model.
   * The returned attention is per patch: within-scale attention × that scale's weight (sums to 1).
   */
  forward(bag: tf.Tensor2D, scaleIndex?: Int32Array): MilOutput {
    return tf.tidy(() => {
      const x = tf.div(tf.sub(bag, this.featureMean), this.featureStd);
      const h = this.drop.forward(tf.relu(this.fc.forward(x))) as tf.Tensor2D;
      if (this.encoder && this.clsToken) {
        return this.transformerForward(h, this.encoder, this.clsToken);
      }
      const scores = this.scores(
        h,
        this.attentionA as Linear,
        this.attentionB as Linear,
        this.attentionC as Linear,
      );
      if (this.config.scales === 1 || !scaleIndex || !this.scaleAttentionA) {
        const attention = tf.softmax(scores) as tf.Tensor1D;
        const pooled = tf.matMul(tf.reshape(attention, [1, -1]), h);
        return this.heads(pooled as tf.Tensor2D, attention);
      }
      // Within-scale softmax as a masked softmax over the whole bag (no gather: wasm-safe gradients).
      const present: number[] = [];
      const pooledRows: tf.Tensor2D[] = [];
      const within: tf.Tensor1D[] = [];
      for (let sIdx = 0; sIdx < this.config.scales; sIdx++) {
        const maskArr = Float32Array.from(scaleIndex, (v) => (v === sIdx ? 1 : 0));
        if (!maskArr.some((v) => v > 0)) continue;
        const mask = tf.tensor1d(maskArr);
        const masked = tf.add(scores, tf.mul(tf.sub(1, mask), -1e9));
        const a = tf.mul(tf.softmax(masked), mask) as tf.Tensor1D;
        within.push(a);
        pooledRows.push(tf.matMul(tf.reshape(a, [1, -1]), h));
        present.push(sIdx);
      }
      const perScale = tf.concat(pooledRows, 0) as tf.Tensor2D; // [S', hidden]
      const scaleWeights = tf.softmax(
        this.scores(
          perScale,
          this.scaleAttentionA,
          this.scaleAttentionB as Linear,
          this.scaleAttentionC as Linear,
        ),
      ) as tf.Tensor1D;
      const pooled = tf.matMul(tf.reshape(scaleWeights, [1, -1]), perScale);
      const w = scaleWeights.unstack();
      let attention = tf.zerosLike(scores) as tf.Tensor1D;
      within.forEach((a, i) => {
        attention = tf.add(attention, tf.mul(a, w[i] as tf.Tensor)) as tf.Tensor1D;
      });
      return this.heads(pooled as tf.Tensor2D, attention);
    });
  }

  /** Class token + patches through the encoder; logits from the class token, attention from the last layer. */
  private transformerForward(h: tf.Tensor2D, encoder: TransformerEncoder, cls: tf.Variable): MilOutput {
    const n = h.shape[0];
    let x: tf.Tensor = tf.expandDims(tf.concat([cls, h], 0), 0); // [1, N+1, hidden]
    const layers = [...encoder.layers];
    let weights: tf.Tensor | null = null;
    layers.forEach((layer, i) => {
      if (i === layers.length - 1) {
        // The last layer's self-attention weights: the same computation as its forward (pre-norm).
        const xn = layer.norm1.forward(x);
        weights = layer.selfAttn.forward(xn, xn, xn, { needWeights: true }).weights; // [1, N+1, N+1]
      }
      x = layer.forward(x);
    });
    if (encoder.norm) x = encoder.norm.forward(x);
    const token = tf.reshape(tf.slice(x, [0, 0, 0], [1, 1, -1]), [1, -1]);
    const w = tf.reshape(tf.slice(weights as unknown as tf.Tensor, [0, 0, 1], [1, 1, n]), [n]);
    const attention = tf.div(w, tf.sum(w)) as tf.Tensor1D;
    return this.heads(token as tf.Tensor2D, attention);
  }

  /**
   * ONNX lowering (@meddl/onnx protocol): `[bag]` or, multi-scale, `[bag, scaleIndex]` →
   * `[logits [1, K], attention [N]]`, what `forward` returns in eval mode.
   */
  toOnnx(b: GraphBuilder, inputs: readonly OnnxValue[]): OnnxValue[] {
    return lowerGatedAttentionMil(b, this, inputs[0], inputs[1]);
  }

  /**
   * Logits whose softmax is the head's predictive distribution: the raw logits for the softmax head,
   * log α for the evidential head (softmax(log α) = α / Σα). Temperature scaling divides these.
   */
  predictiveLogits(logits: tf.Tensor2D): tf.Tensor2D {
    if (this.config.head === 'softmax') return tf.clone(logits);
    return tf.tidy(() => tf.log(tf.add(tf.softplus(logits), 1)) as tf.Tensor2D);
  }
}

// ---- Auxiliary losses -------------------------------------------------------------------------------

/**
 * Masked loss of one auxiliary head: predictions [B] against targets (NaN = missing, masked out).
 * 'regression': mean squared error; 'binary': binary cross-entropy on the logit (numerically stable form
 * max(x, 0) − x·y + log(1 + e^−|x|)). The mean is over the present rows; 0 when none is present.
 */
export function maskedAuxLoss(
  pred: tf.Tensor1D,
  targets: ArrayLike<number>,
  kind: 'regression' | 'binary',
): tf.Scalar {
  return tf.tidy(() => {
    const n = targets.length;
    const mask = Float32Array.from({ length: n }, (_, i) => (Number.isFinite(targets[i]) ? 1 : 0));
    const present = mask.reduce((a, v) => a + v, 0);
    if (present === 0) return tf.mul(tf.sum(pred), 0) as tf.Scalar;
    const y = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => (mask[i] ? (targets[i] as number) : 0)));
    const per =
      kind === 'regression'
        ? tf.square(tf.sub(pred, y))
        : tf.add(tf.sub(tf.relu(pred), tf.mul(pred, y)), tf.log1p(tf.exp(tf.neg(tf.abs(pred)))));
    return tf.div(tf.sum(tf.mul(per, tf.tensor1d(mask))), present) as tf.Scalar;
  });
}

// ---- Evidential loss (Sensoy et al. 2018, eq. 5 + annealed KL term) -------------------------------

/** log Γ(x) for x > 0: shift by 6 with the recurrence, then Stirling's series (error < 1e-10). */
export function lgamma(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let shiftLog = tf.zerosLike(x);
    let z = x;
    for (let i = 0; i < 6; i++) {
      shiftLog = tf.add(shiftLog, tf.log(z));
      z = tf.add(z, 1);
    }
    const inv = tf.reciprocal(z);
    const inv2 = tf.square(inv);
    const series = tf.mul(
      inv,
      tf.add(1 / 12, tf.mul(inv2, tf.add(-1 / 360, tf.mul(inv2, tf.add(1 / 1260, tf.mul(inv2, -1 / 1680)))))),
    );
    const stirling = tf.add(
      tf.sub(tf.mul(tf.sub(z, 0.5), tf.log(z)), z),
      tf.add(0.5 * Math.log(2 * Math.PI), series),
    );
    return tf.sub(stirling, shiftLog);
  });
}

/** ψ(x) for x > 0: recurrence to x + 6, then the asymptotic series. */
export function digamma(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let acc = tf.zerosLike(x);
    let z = x;
    for (let i = 0; i < 6; i++) {
      acc = tf.add(acc, tf.reciprocal(z));
      z = tf.add(z, 1);
    }
    const inv = tf.reciprocal(z);
    const inv2 = tf.square(inv);
    const series = tf.mul(inv2, tf.add(1 / 12, tf.mul(inv2, tf.add(-1 / 120, tf.mul(inv2, 1 / 252)))));
    return tf.sub(tf.sub(tf.sub(tf.log(z), tf.mul(0.5, inv)), series), acc);
  });
}

/** KL( Dir(α) ‖ Dir(1,…,1) ) per row. */
export function dirichletKlToUniform(alpha: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = alpha.shape[1];
    const s = tf.sum(alpha, 1, true);
    const t1 = tf.sub(lgamma(s), tf.sum(lgamma(alpha), 1, true));
    const lgK = lgammaNumber(k);
    const t2 = tf.sum(tf.mul(tf.sub(alpha, 1), tf.sub(digamma(alpha), digamma(s))), 1, true);
    return tf.reshape(tf.add(tf.sub(t1, lgK), t2), [-1]) as tf.Tensor1D;
  });
}

function lgammaNumber(n: number): number {
  let s = 0;
  for (let i = 2; i < n; i++) s += Math.log(i);
  return s;
}

/**
 * Sensoy et al.'s expected-MSE evidential loss for logits [B, K] and class targets, with the KL
 * regularizer on the misleading evidence weighted by `klWeight` (annealed min(1, epoch / T)).
 */
export function evidentialMseLoss(logits: tf.Tensor2D, targets: number[], klWeight: number): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const y = tf.oneHot(tf.tensor1d(targets, 'int32'), k).toFloat();
    const alpha = tf.add(tf.softplus(logits), 1) as tf.Tensor2D;
    const s = tf.sum(alpha, 1, true);
    const p = tf.div(alpha, s);
    const err = tf.sum(tf.square(tf.sub(y, p)), 1);
    const variance = tf.sum(tf.div(tf.mul(p, tf.sub(1, p)), tf.add(s, 1)), 1);
    const alphaTilde = tf.add(y, tf.mul(tf.sub(1, y), alpha)) as tf.Tensor2D;
    const kl = dirichletKlToUniform(alphaTilde);
    return tf.mean(tf.add(tf.add(err, variance), tf.mul(klWeight, kl))) as tf.Scalar;
  });
}
