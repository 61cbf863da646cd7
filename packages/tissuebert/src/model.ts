/**
 * TissueBERT: a BERT-style encoder over overlapping 3-mer tokens of a 150 bp region, with a
 * methylation-state embedding aligned to the tokens (MethylBERT passes the same states as
 * token-type ids) and learned position embeddings. Read top to bottom: config, embeddings,
 * encoder, pooling, head.
 */

import {
  Dropout,
  Embedding,
  init,
  LayerNorm,
  Linear,
  Module,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '@meddl/nn';
import type { GraphBuilder, OnnxLowerable, OnnxValue } from '@meddl/onnx';
import { defaultRng, type Generator, tf } from '@meddl/tensor';
import { z } from 'zod';
import { METH_NONE } from './formats/pat';
import { lowerTissueBert } from './onnx';
import { PAD_ID } from './tokenizer';

export const TissueBertModelConfig = z.object({
  /** 64 k-mers + 5 special tokens ([PAD]=0, [UNK], [CLS], [SEP], [MASK]). */
  vocabSize: z.number().int().positive().default(69),
  /** 0 unmethylated, 1 methylated, 2 no CpG / not covered. */
  methylationStates: z.number().int().positive().default(3),
  /** Longest token sequence: 148 3-mers of a 150 bp region + [CLS] + [SEP]. */
  maxPositions: z.number().int().positive().default(150),
  hidden: z.number().int().positive().default(512),
  layers: z.number().int().positive().default(6),
  heads: z.number().int().positive().default(8),
  ffn: z.number().int().positive().default(2048),
  dropout: z.number().min(0).max(0.9).default(0.1),
  numClasses: z.number().int().positive().default(22),
  layerNormEps: z.number().positive().default(1e-12),
  /**
   * 0 (the specified layout): token and methylation embeddings summed. An odd k: a k-token-wide
   * convolution over one-hot (token ⊕ methylation state), then ReLU, in their place — a local
   * detector of k-mers next to a CpG's state (docs/tissuebert.md, "the hybrid").
   */
  stemKernel: z
    .number()
    .int()
    .min(0)
    .default(0)
    .refine((k) => k === 0 || k % 2 === 1, 'stemKernel must be 0 or odd'),
  /** Add learned absolute position embeddings (off in the hybrid: they swamp a max-pooled detector). */
  positionEmbeddings: z.boolean().default(true),
  /** Pre-LN encoder layers (false: post-LN, as BERT and the specified layout). */
  normFirst: z.boolean().default(false),
  /** Pooling of the last hidden states over non-padding tokens. */
  pooling: z.enum(['mean', 'max']).default('mean'),
});
export type TissueBertModelConfig = z.infer<typeof TissueBertModelConfig>;

/** Named sizes (timm-style presets). `base` is the paper's size. */
export const PRESETS = {
  'tissuebert-tiny': { hidden: 32, layers: 2, heads: 4, ffn: 64 },
  'tissuebert-small': { hidden: 128, layers: 2, heads: 4, ffn: 512 },
  'tissuebert-base': { hidden: 512, layers: 6, heads: 8, ffn: 2048 },
} as const satisfies Record<string, Partial<TissueBertModelConfig>>;
export type TissueBertPreset = keyof typeof PRESETS;

/**
 * A k-wide 1-D convolution over one-hot (token ⊕ methylation state) with 'same' padding, then
 * ReLU, computed as lookups: row j·V + t of `tokens` is the weight of token t at window offset j
 * (PyTorch Conv1d(V + S, H, k) weight[h, t, j]; `methylation` likewise with row j·S + s). Outside
 * the sequence counts as [PAD] with no CpG (a learned row, where PyTorch's zero padding adds
 * nothing). Initialised as PyTorch's Conv1d: U(±1/√((V + S)·k)).
 */
class OneHotConvStem extends Module {
  readonly tokens: Embedding;
  readonly methylation: Embedding;
  readonly bias: tf.Variable;

  constructor(
    readonly kernel: number,
    readonly vocabSize: number,
    readonly states: number,
    hidden: number,
    rng: Generator,
  ) {
    super();
    const bound = 1 / Math.sqrt((vocabSize + states) * kernel);
    this.tokens = this.registerModule('tokens', new Embedding(kernel * vocabSize, hidden, { rng }));
    this.methylation = this.registerModule('methylation', new Embedding(kernel * states, hidden, { rng }));
    for (const e of [this.tokens, this.methylation]) {
      const w = init.uniform(e.weight.shape, -bound, bound, rng);
      e.weight.assign(w);
      w.dispose();
    }
    this.bias = this.registerParameter('bias', init.uniform([hidden], -bound, bound, rng));
  }

  /** tokenIds, methylation: int32 [B, L] → [B, L, H]. */
  forward(tokenIds: tf.Tensor2D, methylation: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, length] = tokenIds.shape;
      const half = (this.kernel - 1) / 2;
      // [B, L, k]: the id at offset j of each window, shifted into row block j.
      const windows = (ids: tf.Tensor2D, fill: number, n: number) => {
        const padded = tf.pad(
          ids,
          [
            [0, 0],
            [half, half],
          ],
          fill,
        );
        const cols = Array.from({ length: this.kernel }, (_, j) =>
          tf.add(tf.slice(padded, [0, j], [batch, length]), tf.scalar(j * n, 'int32')),
        );
        return tf.stack(cols, 2);
      };
      const rows = tf.add(
        this.tokens.forward(windows(tokenIds, PAD_ID, this.vocabSize)),
        this.methylation.forward(windows(methylation, METH_NONE, this.states)),
      );
      return tf.relu(tf.add(tf.sum(rows, 2), this.bias)) as tf.Tensor3D;
    });
  }
}

class TissueBertEmbeddings extends Module {
  readonly tokens: Embedding | null;
  readonly methylation: Embedding | null;
  readonly stem: OneHotConvStem | null;
  readonly positions: Embedding | null;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;

  constructor(c: TissueBertModelConfig, rng: Generator) {
    super();
    if (c.stemKernel > 0) {
      this.tokens = null;
      this.methylation = null;
      this.stem = this.registerModule(
        'stem',
        new OneHotConvStem(c.stemKernel, c.vocabSize, c.methylationStates, c.hidden, rng),
      );
    } else {
      this.stem = null;
      this.tokens = this.registerModule(
        'token_embeddings',
        new Embedding(c.vocabSize, c.hidden, { paddingIdx: PAD_ID, rng }),
      );
      this.methylation = this.registerModule(
        'methylation_embeddings',
        new Embedding(c.methylationStates, c.hidden, { rng }),
      );
    }
    this.positions = c.positionEmbeddings
      ? this.registerModule('position_embeddings', new Embedding(c.maxPositions, c.hidden, { rng }))
      : null;
    this.norm = this.registerModule('norm', new LayerNorm(c.hidden, { eps: c.layerNormEps }));
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout, rng));
  }

  /** tokenIds, methylation: int32 [B, L] → [B, L, H]. */
  forward(tokenIds: tf.Tensor2D, methylation: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      let x: tf.Tensor = this.stem
        ? this.stem.forward(tokenIds, methylation)
        : tf.add(
            (this.tokens as Embedding).forward(tokenIds),
            (this.methylation as Embedding).forward(methylation),
          );
      if (this.positions) {
        const length = tokenIds.shape[1];
        x = tf.add(x, this.positions.forward(tf.range(0, length, 1, 'int32')));
      }
      return this.dropout.forward(this.norm.forward(x)) as tf.Tensor3D;
    });
  }
}

export class TissueBert extends Module implements OnnxLowerable {
  readonly config: TissueBertModelConfig;
  readonly embeddings: TissueBertEmbeddings;
  readonly encoder: TransformerEncoder;
  readonly head: Linear;

  constructor(config: Partial<TissueBertModelConfig> = {}, rng: Generator = defaultRng()) {
    super();
    const c = TissueBertModelConfig.parse(config);
    this.config = c;
    this.embeddings = this.registerModule('embeddings', new TissueBertEmbeddings(c, rng));
    this.encoder = this.registerModule(
      'encoder',
      new TransformerEncoder(
        () =>
          new TransformerEncoderLayer(c.hidden, c.heads, {
            dimFeedforward: c.ffn,
            dropout: c.dropout,
            activation: 'gelu',
            normFirst: c.normFirst,
            layerNormEps: c.layerNormEps,
            rng,
          }),
        c.layers,
      ),
    );
    this.head = this.registerModule('head', new Linear(c.hidden, c.numClasses, { rng }));
  }

  /** Mean (or max, `pooling`) over non-padding tokens of the last hidden states: [B, H]. */
  encode(tokenIds: tf.Tensor2D, methylation: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const padding = tf.equal(tokenIds, PAD_ID);
      const hidden = this.encoder.forward(this.embeddings.forward(tokenIds, methylation), {
        srcKeyPaddingMask: padding,
      });
      const keep = tf.expandDims(tf.cast(tf.logicalNot(padding), 'float32'), -1);
      if (this.config.pooling === 'max')
        return tf.max(tf.add(hidden, tf.mul(tf.sub(keep, 1), 1e9)), 1) as tf.Tensor2D;
      const summed = tf.sum(tf.mul(hidden, keep), 1);
      return tf.div(summed, tf.maximum(tf.sum(keep, 1), 1)) as tf.Tensor2D;
    });
  }

  /** Class logits [B, numClasses]. */
  forward(tokenIds: tf.Tensor2D, methylation: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.head.forward(this.encode(tokenIds, methylation)) as tf.Tensor2D);
  }

  /** The ONNX protocol of @meddl/onnx: token ids and methylation states [B, L] int32 → logits. */
  toOnnx(b: GraphBuilder, [tokenIds, methylation]: readonly OnnxValue[]): OnnxValue[] {
    return [lowerTissueBert(b, this, tokenIds, methylation, { padId: PAD_ID }).logits];
  }
}

export function createModel(
  preset: TissueBertPreset,
  overrides: Partial<TissueBertModelConfig> = {},
  rng?: Generator,
): TissueBert {
  return new TissueBert({ ...PRESETS[preset], ...overrides }, rng);
}
