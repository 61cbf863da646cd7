import { defaultRng, type Generator, tf } from '@meddl/tensor';
import { Module, ModuleList } from '../module';
import { activationFn } from './activation';
import { MultiheadAttention } from './attention';
import { Dropout } from './dropout';
import { LayerNorm } from './layernorm';
import { Linear } from './linear';

export interface TransformerEncoderLayerOptions {
  dimFeedforward?: number;
  dropout?: number;
  activation?: 'relu' | 'gelu';
  /** Pre-norm (LayerNorm before attention and feed-forward) when true; post-norm otherwise. */
  normFirst?: boolean;
  layerNormEps?: number;
  rng?: Generator;
}

export interface EncoderCallOptions {
  /** [B, S], nonzero / true at padding positions (PyTorch's src_key_padding_mask). */
  srcKeyPaddingMask?: tf.Tensor;
  /** [S, S] or [B·nhead, S, S]; see MultiheadAttention. */
  mask?: tf.Tensor;
}

/**
 * One encoder block of torch.nn.TransformerEncoderLayer (batch_first), with its parameter names:
 * self_attn, linear1, linear2, norm1, norm2. Defaults are PyTorch's.
 */
export class TransformerEncoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly normFirst: boolean;
  private readonly dropout: Dropout;
  private readonly dropout1: Dropout;
  private readonly dropout2: Dropout;
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  /** The feed-forward activation's name (read by exporters such as @meddl/onnx). */
  readonly activation: 'relu' | 'gelu';

  constructor(
    readonly dModel: number,
    readonly nhead: number,
    options: TransformerEncoderLayerOptions = {},
  ) {
    super();
    const rng = options.rng ?? defaultRng();
    const p = options.dropout ?? 0.1;
    const ff = options.dimFeedforward ?? 2048;
    const eps = options.layerNormEps ?? 1e-5;
    this.normFirst = options.normFirst ?? false;
    this.activation = options.activation ?? 'relu';
    this.act = activationFn(this.activation);
    // Registration order is PyTorch's, so state-dict keys come out in the same order.
    this.selfAttn = this.registerModule(
      'self_attn',
      new MultiheadAttention(dModel, nhead, { dropout: p, rng }),
    );
    this.linear1 = this.registerModule('linear1', new Linear(dModel, ff, { rng }));
    this.dropout = this.registerModule('dropout', new Dropout(p, rng));
    this.linear2 = this.registerModule('linear2', new Linear(ff, dModel, { rng }));
    this.norm1 = this.registerModule('norm1', new LayerNorm(dModel, { eps }));
    this.norm2 = this.registerModule('norm2', new LayerNorm(dModel, { eps }));
    this.dropout1 = this.registerModule('dropout1', new Dropout(p, rng));
    this.dropout2 = this.registerModule('dropout2', new Dropout(p, rng));
  }

  /** src: [B, S, dModel] → [B, S, dModel]. */
  forward(src: tf.Tensor, options: EncoderCallOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const sa = (x: tf.Tensor) =>
        this.dropout1.forward(
          this.selfAttn.forward(x, x, x, {
            keyPaddingMask: options.srcKeyPaddingMask,
            attnMask: options.mask,
            needWeights: false,
          }).output,
        );
      const ffn = (x: tf.Tensor) =>
        this.dropout2.forward(this.linear2.forward(this.dropout.forward(this.act(this.linear1.forward(x)))));
      let x = src;
      if (this.normFirst) {
        x = tf.add(x, sa(this.norm1.forward(x)));
        x = tf.add(x, ffn(this.norm2.forward(x)));
      } else {
        x = this.norm1.forward(tf.add(x, sa(x)));
        x = this.norm2.forward(tf.add(x, ffn(x)));
      }
      return x;
    });
  }
}

export interface TransformerEncoderLayerConfig extends TransformerEncoderLayerOptions {
  dModel: number;
  nhead: number;
}

export interface TransformerEncoderOptions {
  /** A final LayerNorm (usual with pre-norm layers); saved under `norm.*`. */
  norm?: LayerNorm;
}

/**
 * A stack of encoder layers (torch.nn.TransformerEncoder): keys `layers.N.*`, then `norm.*`.
 * Give either a config (each layer is built from it, with its own random init drawn from the
 * config's rng in turn) or a factory called with the layer index.
 */
export class TransformerEncoder extends Module {
  readonly layers: ModuleList<TransformerEncoderLayer>;
  readonly norm: LayerNorm | null;

  constructor(
    layer: TransformerEncoderLayerConfig | ((index: number) => TransformerEncoderLayer),
    readonly numLayers: number,
    options: TransformerEncoderOptions = {},
  ) {
    super();
    const make =
      typeof layer === 'function'
        ? layer
        : () => {
            const { dModel, nhead, ...rest } = layer;
            return new TransformerEncoderLayer(dModel, nhead, rest);
          };
    this.layers = this.registerModule(
      'layers',
      new ModuleList(Array.from({ length: numLayers }, (_, i) => make(i))),
    );
    this.norm = options.norm ? this.registerModule('norm', options.norm) : null;
  }

  forward(src: tf.Tensor, options: EncoderCallOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      let x = src;
      for (const layer of this.layers) x = layer.forward(x, options);
      return this.norm ? this.norm.forward(x) : x;
    });
  }
}
