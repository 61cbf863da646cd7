/**
 * MDF-Net (Hsieh et al., "MDF-Net for abnormality detection by fusing X-rays with clinical data",
 * Sci Rep 2023) with the Enhanced MDF-Net's report-text branch: three encoders, a fusion layer and
 * a two-layer head with 14 logits. Any subset of modalities can be built. Read top to bottom:
 * config, image encoder, text encoder, clinical encoder, fusion, head, the whole model.
 * Parameter names follow PyTorch conventions (Conv2d weight [out, in, kh, kw]).
 */
import {
  Dropout,
  Embedding,
  init,
  LayerNorm,
  Linear,
  MLP,
  Module,
  ModuleList,
  MultiheadAttention,
  TransformerEncoder,
} from '@meddl/nn';
import type { GraphBuilder, OnnxLowerable, OnnxValue } from '@meddl/onnx';
import { defaultRng, type Generator, tf } from '@meddl/tensor';
import { z } from 'zod';
import { ACUITY_CATEGORIES, CLINICAL_NUMERIC_DIM, SEX_CATEGORIES } from './clinical';
import { NUM_FINDINGS } from './labels';
import { lowerMdfNet } from './onnx-export';

export const MODALITIES = ['image', 'text', 'clinical'] as const;
export type Modality = (typeof MODALITIES)[number];

export const MdfNetModelConfig = z.object({
  modalities: z.array(z.enum(MODALITIES)).min(1).default(['image', 'text', 'clinical']),
  imageSize: z.number().int().min(16).default(64),
  /** CNN widths of the four stride-2 stages. */
  imageChannels: z.array(z.number().int().positive()).min(1).default([16, 32, 64, 64]),
  vocabSize: z.number().int().positive().default(512),
  maxTokens: z.number().int().positive().default(64),
  textLayers: z.number().int().positive().default(2),
  textHeads: z.number().int().positive().default(4),
  textFfn: z.number().int().positive().default(128),
  textDropout: z.number().min(0).lt(1).default(0.1),
  /** Width of every modality embedding. */
  embedDim: z.number().int().positive().default(64),
  clinicalHidden: z.number().int().positive().default(64),
  clinicalDropout: z.number().min(0).lt(1).default(0.1),
  categoricalDim: z.number().int().positive().default(4),
  fusion: z.enum(['concat', 'attention']).default('concat'),
  fusionDim: z.number().int().positive().default(128),
  fusionDropout: z.number().min(0).lt(1).default(0.3),
  attentionHeads: z.number().int().positive().default(4),
  headHidden: z.number().int().positive().default(64),
  headDropouts: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.3, 0.2]),
  numLabels: z.number().int().positive().default(NUM_FINDINGS),
  /**
   * Width of precomputed image embeddings from a frozen ONNX encoder (encoders.ts). When set, the
   * CNN is not built: an adapter (Linear → embedDim) reads `imageEmbeddings` instead of `images`.
   */
  imageEmbeddingDim: z.number().int().positive().nullable().default(null),
  /** Same for report text: the transformer is replaced by an adapter on `textEmbeddings`. */
  textEmbeddingDim: z.number().int().positive().nullable().default(null),
});
export type MdfNetModelConfig = z.infer<typeof MdfNetModelConfig>;
export type MdfNetModelConfigInput = z.input<typeof MdfNetModelConfig>;

/** torch.nn.Conv2d for NHWC inputs; weight [out, in, kh, kw] and PyTorch's symmetric zero padding. */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly options: { stride?: number; padding?: number; rng?: Generator } = {},
  ) {
    super();
    const rng = options.rng ?? defaultRng();
    this.weight = this.registerParameter(
      'weight',
      init.kaimingUniformDefault([outChannels, inChannels, kernelSize, kernelSize], rng),
    );
    const bound = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
    this.bias = this.registerParameter('bias', init.uniform([outChannels], -bound, bound, rng));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const w = tf.transpose(this.weight, [2, 3, 1, 0]) as tf.Tensor4D;
      const s = this.options.stride ?? 1;
      const y = tf.conv2d(x, w, [s, s], this.options.padding ?? 0);
      return tf.add(y, this.bias) as tf.Tensor4D;
    });
  }
}

/** A small CNN: stride-2 3×3 conv + ReLU stages, global average pool, projection to embedDim. */
export class ImageEncoder extends Module {
  readonly convs: ModuleList<Conv2d>;
  readonly proj: Linear;
  constructor(c: MdfNetModelConfig, rng: Generator) {
    super();
    const widths = [1, ...c.imageChannels];
    this.convs = this.registerModule(
      'convs',
      new ModuleList(
        c.imageChannels.map((w, i) => new Conv2d(widths[i], w, 3, { stride: 2, padding: 1, rng })),
      ),
    );
    this.proj = this.registerModule('proj', new Linear(widths[widths.length - 1], c.embedDim, { rng }));
  }
  /** images [B, H, W] (normalized) → [B, embedDim]. */
  forward(images: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      let x = tf.expandDims(images, -1) as tf.Tensor4D;
      for (const conv of this.convs) x = tf.relu(conv.forward(x));
      return this.proj.forward(tf.mean(x, [1, 2])) as tf.Tensor2D;
    });
  }
}

/** BERT-style: token + learned position embeddings, LayerNorm, pre-norm encoder, masked mean pool. */
export class TextEncoder extends Module {
  readonly tokens: Embedding;
  readonly positions: tf.Variable;
  readonly embedNorm: LayerNorm;
  readonly encoder: TransformerEncoder;
  constructor(c: MdfNetModelConfig, rng: Generator) {
    super();
    this.tokens = this.registerModule(
      'token_embeddings',
      new Embedding(c.vocabSize, c.embedDim, { paddingIdx: 0, rng }),
    );
    this.positions = this.registerParameter(
      'position_embeddings',
      init.truncNormal([c.maxTokens, c.embedDim], 0.02, rng),
    );
    this.embedNorm = this.registerModule('embed_norm', new LayerNorm(c.embedDim));
    this.encoder = this.registerModule(
      'encoder',
      new TransformerEncoder(
        {
          dModel: c.embedDim,
          nhead: c.textHeads,
          dimFeedforward: c.textFfn,
          dropout: c.textDropout,
          activation: 'gelu',
          normFirst: true,
          rng,
        },
        c.textLayers,
        { norm: new LayerNorm(c.embedDim) },
      ),
    );
  }
  /** ids [B, L] int32, attention [B, L] (1 = token) → [B, embedDim]. */
  forward(ids: tf.Tensor2D, attention: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const L = ids.shape[1];
      const x = tf.add(this.tokens.forward(ids), tf.slice(this.positions, [0, 0], [L, -1]));
      const padding = tf.equal(attention, 0);
      const h = this.encoder.forward(this.embedNorm.forward(x), { srcKeyPaddingMask: padding });
      const m = tf.expandDims(tf.cast(attention, 'float32'), -1);
      return tf.div(tf.sum(tf.mul(h, m), 1), tf.maximum(tf.sum(m, 1), 1)) as tf.Tensor2D;
    });
  }
}

/** Vitals + missing indicators and sex/acuity embeddings through an MLP. */
export class ClinicalEncoder extends Module {
  readonly sex: Embedding;
  readonly acuity: Embedding;
  readonly mlp: MLP;
  constructor(c: MdfNetModelConfig, rng: Generator) {
    super();
    this.sex = this.registerModule(
      'sex_embedding',
      new Embedding(SEX_CATEGORIES.length, c.categoricalDim, { rng }),
    );
    this.acuity = this.registerModule(
      'acuity_embedding',
      new Embedding(ACUITY_CATEGORIES, c.categoricalDim, { rng }),
    );
    this.mlp = this.registerModule(
      'mlp',
      new MLP(CLINICAL_NUMERIC_DIM + 2 * c.categoricalDim, c.clinicalHidden, c.embedDim, {
        activation: 'relu',
        dropout: c.clinicalDropout,
        rng,
      }),
    );
  }
  forward(numeric: tf.Tensor2D, sex: tf.Tensor1D, acuity: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(
      () =>
        this.mlp.forward(
          tf.concat([numeric, this.sex.forward(sex), this.acuity.forward(acuity)], 1),
        ) as tf.Tensor2D,
    );
  }
}

/**
 * The trainable bridge from a frozen external encoder's embeddings [B, D] to the fusion width:
 * LayerNorm (external embeddings come at any scale) then Linear D → embedDim.
 */
export class EmbeddingAdapter extends Module {
  readonly norm: LayerNorm;
  readonly proj: Linear;
  constructor(inDim: number, c: MdfNetModelConfig, rng: Generator) {
    super();
    this.norm = this.registerModule('norm', new LayerNorm(inDim));
    this.proj = this.registerModule('proj', new Linear(inDim, c.embedDim, { rng }));
  }
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.proj.forward(this.norm.forward(x)) as tf.Tensor2D);
  }
}

/** Concatenation + Linear/ReLU/Dropout (MDF-Net), or self-attention over the modality tokens. */
export class Fusion extends Module {
  readonly proj: Linear;
  readonly attn: MultiheadAttention | null = null;
  readonly modalityEmbeddings: tf.Variable | null = null;
  readonly drop: Dropout;
  constructor(
    readonly c: MdfNetModelConfig,
    rng: Generator,
  ) {
    super();
    const k = c.modalities.length;
    if (c.fusion === 'attention') {
      this.modalityEmbeddings = this.registerParameter(
        'modality_embeddings',
        init.truncNormal([k, c.embedDim], 0.02, rng),
      );
      this.attn = this.registerModule('attn', new MultiheadAttention(c.embedDim, c.attentionHeads, { rng }));
    }
    this.proj = this.registerModule(
      'proj',
      new Linear(c.fusion === 'attention' ? c.embedDim : k * c.embedDim, c.fusionDim, { rng }),
    );
    this.drop = this.registerModule('drop', new Dropout(c.fusionDropout, rng));
  }
  forward(features: tf.Tensor2D[]): tf.Tensor2D {
    return tf.tidy(() => {
      let z: tf.Tensor;
      if (this.attn && this.modalityEmbeddings) {
        const tokens = tf.add(tf.stack(features, 1), this.modalityEmbeddings);
        z = tf.mean(this.attn.forward(tokens, tokens, tokens, { needWeights: false }).output, 1);
      } else z = tf.concat(features, 1);
      return this.drop.forward(tf.relu(this.proj.forward(z))) as tf.Tensor2D;
    });
  }
}

/** Dropout → Linear → ReLU → Dropout → Linear (14 logits). */
export class Head extends Module {
  readonly drop1: Dropout;
  readonly fc1: Linear;
  readonly drop2: Dropout;
  readonly fc2: Linear;
  constructor(c: MdfNetModelConfig, rng: Generator) {
    super();
    this.drop1 = this.registerModule('drop1', new Dropout(c.headDropouts[0], rng));
    this.fc1 = this.registerModule('fc1', new Linear(c.fusionDim, c.headHidden, { rng }));
    this.drop2 = this.registerModule('drop2', new Dropout(c.headDropouts[1], rng));
    this.fc2 = this.registerModule('fc2', new Linear(c.headHidden, c.numLabels, { rng }));
  }
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(
      () =>
        this.fc2.forward(this.drop2.forward(tf.relu(this.fc1.forward(this.drop1.forward(x))))) as tf.Tensor2D,
    );
  }
}

/** What the model reads; only the enabled modalities' fields are needed. */
export interface MdfNetInputs {
  images?: tf.Tensor3D;
  tokens?: tf.Tensor2D;
  attention?: tf.Tensor2D;
  clinical?: tf.Tensor2D;
  sex?: tf.Tensor1D;
  acuity?: tf.Tensor1D;
  /** [B, imageEmbeddingDim] from a frozen ONNX image encoder (models with imageEmbeddingDim). */
  imageEmbeddings?: tf.Tensor2D;
  /** [B, textEmbeddingDim] from a frozen ONNX text encoder (models with textEmbeddingDim). */
  textEmbeddings?: tf.Tensor2D;
}

export class MdfNet extends Module implements OnnxLowerable {
  readonly imageEncoder: ImageEncoder | null = null;
  readonly textEncoder: TextEncoder | null = null;
  readonly clinicalEncoder: ClinicalEncoder | null = null;
  readonly imageAdapter: EmbeddingAdapter | null = null;
  readonly textAdapter: EmbeddingAdapter | null = null;
  readonly fusion: Fusion;
  readonly head: Head;
  constructor(
    readonly config: MdfNetModelConfig,
    rng: Generator = defaultRng(),
  ) {
    super();
    const has = (m: Modality) => config.modalities.includes(m);
    if (has('image')) {
      if (config.imageEmbeddingDim !== null)
        this.imageAdapter = this.registerModule(
          'image_adapter',
          new EmbeddingAdapter(config.imageEmbeddingDim, config, rng),
        );
      else this.imageEncoder = this.registerModule('image_encoder', new ImageEncoder(config, rng));
    }
    if (has('text')) {
      if (config.textEmbeddingDim !== null)
        this.textAdapter = this.registerModule(
          'text_adapter',
          new EmbeddingAdapter(config.textEmbeddingDim, config, rng),
        );
      else this.textEncoder = this.registerModule('text_encoder', new TextEncoder(config, rng));
    }
    if (has('clinical'))
      this.clinicalEncoder = this.registerModule('clinical_encoder', new ClinicalEncoder(config, rng));
    this.fusion = this.registerModule('fusion', new Fusion(config, rng));
    this.head = this.registerModule('head', new Head(config, rng));
  }

  /** Adapters on external (ONNX) encoder embeddings; trained with the fusion layer in both stages. */
  adapters(): EmbeddingAdapter[] {
    return [this.imageAdapter, this.textAdapter].filter((m): m is EmbeddingAdapter => m !== null);
  }

  /** The in-model encoders that exist, in modality order (external ONNX encoders are not here). */
  encoders(): Module[] {
    return [this.imageEncoder, this.textEncoder, this.clinicalEncoder].filter(
      (m): m is NonNullable<typeof m> => m !== null,
    );
  }

  /**
   * ONNX lowering (@meddl/onnx protocol). The inputs are `forward`'s fields flattened for the
   * enabled modalities, in order: images; tokens, attention; clinical, sex, acuity → `[logits]`.
   */
  toOnnx(b: GraphBuilder, inputs: readonly OnnxValue[]): OnnxValue[] {
    return lowerMdfNet(b, this, inputs);
  }

  /** Logits [B, numLabels]. */
  forward(x: MdfNetInputs): tf.Tensor2D {
    return tf.tidy(() => {
      const features: tf.Tensor2D[] = [];
      const need = <T>(v: T | undefined, name: string): T => {
        if (v === undefined)
          throw new RangeError(`MdfNet.forward: the ${name} input is required by this model`);
        return v;
      };
      for (const m of this.config.modalities) {
        if (m === 'image')
          features.push(
            this.imageAdapter
              ? this.imageAdapter.forward(need(x.imageEmbeddings, 'imageEmbeddings'))
              : (this.imageEncoder as ImageEncoder).forward(need(x.images, 'images')),
          );
        else if (m === 'text' && this.textAdapter)
          features.push(this.textAdapter.forward(need(x.textEmbeddings, 'textEmbeddings')));
        else if (m === 'text')
          features.push(
            (this.textEncoder as TextEncoder).forward(
              need(x.tokens, 'tokens'),
              need(x.attention, 'attention'),
            ),
          );
        else
          features.push(
            (this.clinicalEncoder as ClinicalEncoder).forward(
              need(x.clinical, 'clinical'),
              need(x.sex, 'sex'),
              need(x.acuity, 'acuity'),
            ),
          );
      }
      return this.head.forward(this.fusion.forward(features));
    });
  }
}

export const PRESETS = {
  'mdf-net-tiny': {
    imageSize: 32,
    imageChannels: [8, 16, 16],
    embedDim: 16,
    textLayers: 1,
    textHeads: 2,
    textFfn: 32,
    clinicalHidden: 16,
    fusionDim: 32,
    headHidden: 16,
    maxTokens: 48,
  },
  'mdf-net-small': {},
} as const satisfies Record<string, Partial<MdfNetModelConfigInput>>;
export type MdfNetPreset = keyof typeof PRESETS;

export function createModel(overrides: MdfNetModelConfigInput = {}, rng?: Generator): MdfNet {
  return new MdfNet(MdfNetModelConfig.parse(overrides), rng);
}
