// V-JEPA for 3D OCT volumes (Bardes et al. 2024, "Revisiting Feature Prediction for Learning Visual
// Representations from Video"; reference code facebookresearch/jepa). Read top to bottom:
//   volume [D, H, W] → tubelets (patchify, in JS) → TubeletEmbed3d (Conv3d with kernel = stride,
//   stored as PyTorch's [dim, 1, t, p, p] weight) → + fixed 3D sin-cos positions → context encoder
//   on the visible tokens → predictor (narrow transformer: context tokens + a learned mask token
//   with the position embedding at every target position) → predictions at the targets only;
//   target encoder (EMA copy, no gradients) on all tokens → layer norm → gather at the targets → L1.
import {
  gelu,
  init,
  LayerNorm,
  Linear,
  Module,
  sinusoidalPositionEmbedding3d,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '@meddl/nn';
import type { GraphBuilder, OnnxLowerable, OnnxValue } from '@meddl/onnx';
import { Generator, noGrad, tf } from '@meddl/tensor';
import { z } from 'zod';
import { VJepaArgumentError } from './errors';
import type { TokenGrid } from './masking';
import { lowerTubeletEmbed, lowerVisionTransformer3d } from './onnx-export';

export const ModelConfigSchema = z.object({
  /** Input volume [frames, rows, columns] after preprocessing. */
  inputShape: z.tuple([
    z.number().int().positive(),
    z.number().int().positive(),
    z.number().int().positive(),
  ]),
  /** Tubelet size [frames, rows, columns]. */
  tubelet: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
  embedDim: z.number().int().positive(),
  depth: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  mlpRatio: z.number().positive().default(4),
  predictorType: z.enum(['transformer', 'mlp']).default('transformer'),
  predictorDim: z.number().int().positive(),
  predictorDepth: z.number().int().positive(),
  predictorHeads: z.number().int().positive(),
  /** V-JEPA's uniform_power split of the sin-cos dims over the three axes. */
  uniformPower: z.boolean().default(true),
});
export type ModelConfig = z.output<typeof ModelConfigSchema>;
export type ModelConfigInput = z.input<typeof ModelConfigSchema>;

/** Named sizes (timm-style). V-JEPA's predictor is 384 wide; ViT-S/B widths and depths as in ViT. */
export const PRESETS = {
  'vit3d-tiny': {
    inputShape: [16, 32, 32],
    tubelet: [2, 8, 8],
    embedDim: 48,
    depth: 2,
    numHeads: 3,
    mlpRatio: 2,
    predictorDim: 32,
    predictorDepth: 1,
    predictorHeads: 2,
  },
  'vit3d-small': {
    inputShape: [32, 128, 128],
    tubelet: [2, 16, 16],
    embedDim: 384,
    depth: 12,
    numHeads: 6,
    mlpRatio: 4,
    predictorDim: 384,
    predictorDepth: 6,
    predictorHeads: 6,
  },
  'vit3d-base': {
    inputShape: [32, 128, 128],
    tubelet: [2, 16, 16],
    embedDim: 768,
    depth: 12,
    numHeads: 12,
    mlpRatio: 4,
    predictorDim: 384,
    predictorDepth: 12,
    predictorHeads: 12,
  },
} as const satisfies Record<string, ModelConfigInput>;
export type Vit3dPreset = keyof typeof PRESETS;

export function resolveModelConfig(
  preset: Vit3dPreset,
  overrides: Partial<ModelConfigInput> = {},
): ModelConfig {
  const base = PRESETS[preset];
  if (!base)
    throw new VJepaArgumentError(
      'model.preset',
      `unknown preset '${preset}' (${Object.keys(PRESETS).join(', ')})`,
    );
  const parsed = ModelConfigSchema.safeParse({ ...base, ...overrides });
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new VJepaArgumentError(`model.${i?.path.join('.')}`, i?.message ?? 'invalid');
  }
  const c = parsed.data;
  c.inputShape.forEach((n, k) => {
    if (n % c.tubelet[k]! !== 0)
      throw new VJepaArgumentError(
        'model.inputShape',
        `[${c.inputShape}] is not divisible by the tubelet [${c.tubelet}]`,
      );
  });
  if (c.embedDim % c.numHeads || c.predictorDim % c.predictorHeads)
    throw new VJepaArgumentError('model', 'embedDim/predictorDim must be divisible by their head counts');
  return c;
}

export function tokenGrid(c: ModelConfig): TokenGrid {
  return c.inputShape.map((n, k) => n / c.tubelet[k]!) as TokenGrid;
}

/**
 * Cuts volumes [B, D, H, W] (row-major Float32Array) into tubelets: [B, N, t·p·p] with tokens in
 * (t, h, w) order and each tubelet's voxels in (dt, dy, dx) order (as Conv3d's weight is laid out).
 */
export function patchify(
  volumes: Float32Array,
  batch: number,
  inputShape: TokenGrid,
  tubelet: TokenGrid,
): Float32Array {
  const [D, H, W] = inputShape;
  const [t, p, q] = tubelet;
  const [gt, gh, gw] = [D / t, H / p, W / q];
  const k = t * p * q;
  const out = new Float32Array(volumes.length);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * D * H * W;
    for (let it = 0; it < gt; it++)
      for (let ih = 0; ih < gh; ih++)
        for (let iw = 0; iw < gw; iw++) {
          for (let dt = 0; dt < t; dt++)
            for (let dy = 0; dy < p; dy++) {
              const src = base + ((it * t + dt) * H + ih * p + dy) * W + iw * q;
              out.set(volumes.subarray(src, src + q), o);
              o += q;
            }
        }
  }
  if (o !== batch * gt * gh * gw * k) throw new Error('patchify: size mismatch');
  return out;
}

/** Conv3d(1, dim, kernel = stride = tubelet) applied to pre-cut tubelets: a matrix product. */
export class TubeletEmbed3d extends Module implements OnnxLowerable {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    readonly tubelet: TokenGrid,
    readonly dim: number,
    rng: Generator,
  ) {
    super();
    // PyTorch Conv3d default init: kaiming_uniform(a=√5) → U(±1/√fan_in), fan_in = t·p·p.
    const fanIn = tubelet[0] * tubelet[1] * tubelet[2];
    const bound = 1 / Math.sqrt(fanIn);
    this.weight = this.registerParameter('weight', init.uniform([dim, 1, ...tubelet], -bound, bound, rng));
    this.bias = this.registerParameter('bias', init.uniform([dim], -bound, bound, rng));
  }
  /** ONNX lowering (@meddl/onnx protocol): tubelets [B, N, t·p·p] → [B, N, dim]. */
  toOnnx(b: GraphBuilder, inputs: readonly OnnxValue[]): OnnxValue[] {
    return [lowerTubeletEmbed(b, this, inputs[0] as OnnxValue)];
  }
  /** tubelets [B, N, t·p·p] → [B, N, dim] */
  forward(tubelets: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [B, N, K] = tubelets.shape as [number, number, number];
      const w = this.weight.reshape([this.dim, K]) as tf.Tensor2D;
      const y = tf.matMul(tubelets.reshape([B * N, K]) as tf.Tensor2D, w, false, true);
      return tf.add(y, this.bias).reshape([B, N, this.dim]);
    });
  }
}

/**
 * Rows of `x` [B, N, D] at per-sample indices [B, M] (flat Int32Array) → [B, M, D]. Uses `gather`
 * where the backend has its gradient kernel (UnsortedSegmentSum); else (wasm) a one-hot selection
 * matrix product, which has the same value and gradient.
 */
export function gatherTokens(x: tf.Tensor, indices: Int32Array, m: number): tf.Tensor {
  return tf.tidy(() => {
    const [B, N, D] = x.shape as [number, number, number];
    if (tf.getKernel('UnsortedSegmentSum', tf.getBackend())) {
      const flat = new Int32Array(B * m);
      for (let b = 0; b < B; b++) for (let j = 0; j < m; j++) flat[b * m + j] = b * N + indices[b * m + j]!;
      return tf.gather(x.reshape([B * N, D]), tf.tensor1d(flat, 'int32')).reshape([B, m, D]);
    }
    const select = new Float32Array(B * m * N);
    for (let b = 0; b < B; b++) for (let j = 0; j < m; j++) select[(b * m + j) * N + indices[b * m + j]!] = 1;
    return tf.matMul(tf.tensor3d(select, [B, m, N]), x as tf.Tensor3D);
  });
}

function encoderStack(
  dim: number,
  depth: number,
  heads: number,
  mlpRatio: number,
  rng: Generator,
): TransformerEncoder {
  return new TransformerEncoder(
    () =>
      new TransformerEncoderLayer(dim, heads, {
        dimFeedforward: Math.round(dim * mlpRatio),
        dropout: 0,
        activation: 'gelu',
        normFirst: true,
        layerNormEps: 1e-6,
        rng,
      }),
    depth,
    { norm: new LayerNorm(dim, { eps: 1e-6 }) },
  );
}

/** The 3D ViT: tubelet embedding, fixed sin-cos positions, pre-norm blocks, final norm. */
export class VisionTransformer3d extends Module implements OnnxLowerable {
  readonly patchEmbed: TubeletEmbed3d;
  readonly blocks: TransformerEncoder;
  readonly posEmbed: tf.Tensor2D;
  readonly grid: TokenGrid;
  constructor(
    readonly config: ModelConfig,
    rng: Generator,
  ) {
    super();
    this.grid = tokenGrid(config);
    this.patchEmbed = this.registerModule(
      'patch_embed',
      new TubeletEmbed3d(config.tubelet, config.embedDim, rng),
    );
    this.blocks = this.registerModule(
      'blocks',
      encoderStack(config.embedDim, config.depth, config.numHeads, config.mlpRatio, rng),
    );
    this.posEmbed = tf.keep(
      sinusoidalPositionEmbedding3d(...this.grid, config.embedDim, { uniformPower: config.uniformPower }),
    );
  }
  get numTokens(): number {
    return this.grid[0] * this.grid[1] * this.grid[2];
  }
  /**
   * ONNX lowering (@meddl/onnx protocol) of `forward(tubelets)` on all tokens: [B, N, K] → [B, N, D].
   * `exportVJepaEncoder` exports the volume form ([B, 1, D, H, W] through a Conv3d) instead.
   */
  toOnnx(b: GraphBuilder, inputs: readonly OnnxValue[]): OnnxValue[] {
    return [lowerVisionTransformer3d(b, this, inputs[0] as OnnxValue)];
  }
  /**
   * tubelets [B, N, K] → features [B, N or M, D]. With `keep` (flat [B, M] token indices), only
   * those tokens are encoded; positions are added before they are gathered (as V-JEPA does).
   */
  forward(tubelets: tf.Tensor, keep?: { indices: Int32Array; count: number }): tf.Tensor {
    return tf.tidy(() => {
      let x = tf.add(this.patchEmbed.forward(tubelets), this.posEmbed);
      if (keep) x = gatherTokens(x, keep.indices, keep.count);
      return this.blocks.forward(x);
    });
  }
  override dispose(): void {
    super.dispose();
    this.posEmbed.dispose();
  }
}

/**
 * The predictor. 'transformer' (V-JEPA): embed context to predictorDim, add positions, append a
 * learned mask token + position at every target, run the blocks, project the target tokens back.
 * 'mlp' (a 2-layer MLP, as in the original OCT prototype): each target is predicted from the mean
 * context token plus that target's position embedding.
 */
export class Predictor3d extends Module {
  readonly embed: Linear;
  readonly maskToken: tf.Variable;
  readonly blocks: TransformerEncoder | null;
  readonly hidden: Linear | null;
  readonly proj: Linear;
  readonly posEmbed: tf.Tensor2D;
  constructor(
    readonly config: ModelConfig,
    rng: Generator,
  ) {
    super();
    const pd = config.predictorDim;
    this.embed = this.registerModule('predictor_embed', new Linear(config.embedDim, pd, { rng }));
    this.maskToken = this.registerParameter('mask_token', init.truncNormal([1, 1, pd], 0.02, rng));
    if (config.predictorType === 'transformer') {
      this.blocks = this.registerModule(
        'predictor_blocks',
        encoderStack(pd, config.predictorDepth, config.predictorHeads, config.mlpRatio, rng),
      );
      this.hidden = null;
    } else {
      this.blocks = null;
      this.hidden = this.registerModule('predictor_hidden', new Linear(pd, pd, { rng }));
    }
    this.proj = this.registerModule('predictor_proj', new Linear(pd, config.embedDim, { rng }));
    this.posEmbed = tf.keep(
      sinusoidalPositionEmbedding3d(...tokenGrid(config), pd, { uniformPower: config.uniformPower }),
    );
  }
  /** context [B, Nc, D] at `contextIdx`, predictions [B, Nt, D] at `targetIdx`. */
  forward(
    context: tf.Tensor,
    contextIdx: { indices: Int32Array; count: number },
    targetIdx: { indices: Int32Array; count: number },
  ): tf.Tensor {
    return tf.tidy(() => {
      const B = context.shape[0] as number;
      const pd = this.config.predictorDim;
      const posAt = (idx: { indices: Int32Array; count: number }) =>
        tf.gather(this.posEmbed, tf.tensor2d(idx.indices, [B, idx.count], 'int32'));
      const ctx = tf.add(this.embed.forward(context), posAt(contextIdx));
      const masks = tf.add(tf.broadcastTo(this.maskToken, [B, targetIdx.count, pd]), posAt(targetIdx));
      let out: tf.Tensor;
      if (this.blocks) {
        const x = this.blocks.forward(tf.concat([ctx, masks], 1));
        out = x.slice([0, contextIdx.count, 0], [B, targetIdx.count, pd]);
      } else {
        const pooled = tf.mean(ctx, 1, true);
        out = tf.add(masks, pooled);
        out = gelu(out, 'none');
        out = (this.hidden as Linear).forward(out);
      }
      return this.proj.forward(out);
    });
  }
  override dispose(): void {
    super.dispose();
    this.posEmbed.dispose();
  }
}

export interface MaskSet {
  context: Int32Array;
  target: Int32Array;
  nContext: number;
  nTarget: number;
}

/** Layer norm without affine parameters over the last axis (F.layer_norm(h, (D,)), eps 1e-5). */
export function layerNormFeatures(h: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(h, -1, true);
    return tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, eps)));
  });
}

export type JepaLoss = 'l1' | 'normalized-mse';
export type Pooling = 'mean' | 'mean-max';

/** V-JEPA with context encoder, EMA target encoder (frozen) and predictor. */
export class VJepa3d extends Module {
  readonly encoder: VisionTransformer3d;
  readonly targetEncoder: VisionTransformer3d;
  readonly predictor: Predictor3d;
  constructor(
    readonly config: ModelConfig,
    rng: Generator,
  ) {
    super();
    this.encoder = this.registerModule('encoder', new VisionTransformer3d(config, rng));
    this.predictor = this.registerModule('predictor', new Predictor3d(config, rng));
    this.targetEncoder = this.registerModule(
      'target_encoder',
      new VisionTransformer3d(config, new Generator(0)),
    );
    this.targetEncoder.loadStateDict(this.encoder.stateDict());
    this.targetEncoder.freeze();
  }

  /**
   * Target features for all tokens, layer-normalised [B, N, D]. No gradient reaches them: the
   * target encoder is frozen and its input is data, so the tape has nothing to differentiate.
   */
  targets(tubelets: tf.Tensor): tf.Tensor {
    return tf.tidy(() => layerNormFeatures(this.targetEncoder.forward(tubelets)));
  }

  /**
   * The JEPA loss of a batch of tubelets [B, N, K], averaged over the mask sets (V-JEPA averages
   * the short- and long-range mask losses). 'l1': mean |ẑ − h|; 'normalized-mse': mean over
   * tokens of ‖ẑ/‖ẑ‖ − h/‖h‖‖² (= 2 − 2·cos).
   */
  loss(tubelets: tf.Tensor, maskSets: MaskSet[], kind: JepaLoss = 'l1'): tf.Scalar {
    return tf.tidy(() => {
      // The target encoder is frozen (EMA): off the gradient tape, so none of its activations
      // are kept for the backward pass (at vit3d-base they exhausted 24 GB).
      const h = noGrad((x) => this.targets(x), tubelets);
      const losses = maskSets.map((m) => {
        const ctxIdx = { indices: m.context, count: m.nContext };
        const tgtIdx = { indices: m.target, count: m.nTarget };
        const z = this.encoder.forward(tubelets, ctxIdx);
        const pred = this.predictor.forward(z, ctxIdx, tgtIdx);
        const target = gatherTokens(h, m.target, m.nTarget);
        if (kind === 'l1') return tf.mean(tf.abs(tf.sub(pred, target)));
        const unit = (x: tf.Tensor) => tf.div(x, tf.add(tf.norm(x, 'euclidean', -1, true), 1e-6));
        return tf.mean(tf.sum(tf.square(tf.sub(unit(pred), unit(target))), -1));
      });
      return tf.div(tf.addN(losses), losses.length) as tf.Scalar;
    });
  }

  /**
   * Pooled encoder features per volume (what probes and `predict` use): 'mean' [B, D], or
   * 'mean-max' [B, 2D] (mean and max over tokens, concatenated: small lesions move the max).
   */
  embed(tubelets: tf.Tensor, which: 'target' | 'context' = 'target', pooling: Pooling = 'mean'): tf.Tensor2D {
    return tf.tidy(() => {
      const enc = which === 'target' ? this.targetEncoder : this.encoder;
      const tokens = enc.forward(tubelets);
      const mean = tf.mean(tokens, 1) as tf.Tensor2D;
      return pooling === 'mean' ? mean : (tf.concat([mean, tf.max(tokens, 1)], 1) as tf.Tensor2D);
    });
  }
}

/** createModel('vit3d-tiny', overrides, rng). */
export function createModel(
  preset: Vit3dPreset,
  overrides: Partial<ModelConfigInput> = {},
  rng = new Generator(0),
): VJepa3d {
  return new VJepa3d(resolveModelConfig(preset, overrides), rng);
}
