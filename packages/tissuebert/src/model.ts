/**
 * TissueBERT: a BERT-style encoder over overlapping 3-mer tokens of a 150 bp region, with a
 * methylation-state embedding aligned to the tokens (MethylBERT passes the same states as
 * token-type ids) and learned position embeddings. Read top to bottom: config, embeddings,
 * encoder, pooling, head.
 */

import {
  Dropout,
  Embedding,
  LayerNorm,
  Linear,
  Module,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '@meddl/nn';
import type { GraphBuilder, OnnxLowerable, OnnxValue } from '@meddl/onnx';
import { defaultRng, type Generator, tf } from '@meddl/tensor';
import { z } from 'zod';
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
});
export type TissueBertModelConfig = z.infer<typeof TissueBertModelConfig>;

/** Named sizes (timm-style presets). `base` is the paper's size. */
export const PRESETS = {
  'tissuebert-tiny': { hidden: 32, layers: 2, heads: 4, ffn: 64 },
  'tissuebert-small': { hidden: 128, layers: 2, heads: 4, ffn: 512 },
  'tissuebert-base': { hidden: 512, layers: 6, heads: 8, ffn: 2048 },
} as const satisfies Record<string, Partial<TissueBertModelConfig>>;
export type TissueBertPreset = keyof typeof PRESETS;

class TissueBertEmbeddings extends Module {
  readonly tokens: Embedding;
  readonly methylation: Embedding;
  readonly positions: Embedding;
  readonly norm: LayerNorm;
  readonly dropout: Dropout;

  constructor(c: TissueBertModelConfig, rng: Generator) {
    super();
    this.tokens = this.registerModule(
      'token_embeddings',
      new Embedding(c.vocabSize, c.hidden, { paddingIdx: PAD_ID, rng }),
    );
    this.methylation = this.registerModule(
      'methylation_embeddings',
      new Embedding(c.methylationStates, c.hidden, { rng }),
    );
    this.positions = this.registerModule(
      'position_embeddings',
      new Embedding(c.maxPositions, c.hidden, { rng }),
    );
    this.norm = this.registerModule('norm', new LayerNorm(c.hidden, { eps: c.layerNormEps }));
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout, rng));
  }

  /** tokenIds, methylation: int32 [B, L] → [B, L, H]. */
  forward(tokenIds: tf.Tensor2D, methylation: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const length = tokenIds.shape[1];
      const positions = tf.range(0, length, 1, 'int32');
      const sum = tf.add(
        tf.add(this.tokens.forward(tokenIds), this.methylation.forward(methylation)),
        this.positions.forward(positions),
      );
      return this.dropout.forward(this.norm.forward(sum)) as tf.Tensor3D;
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
            normFirst: false,
            layerNormEps: c.layerNormEps,
            rng,
          }),
        c.layers,
      ),
    );
    this.head = this.registerModule('head', new Linear(c.hidden, c.numClasses, { rng }));
  }

  /** Mean over non-padding tokens of the last hidden states: [B, H]. */
  encode(tokenIds: tf.Tensor2D, methylation: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const padding = tf.equal(tokenIds, PAD_ID);
      const hidden = this.encoder.forward(this.embeddings.forward(tokenIds, methylation), {
        srcKeyPaddingMask: padding,
      });
      const keep = tf.expandDims(tf.cast(tf.logicalNot(padding), 'float32'), -1);
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
