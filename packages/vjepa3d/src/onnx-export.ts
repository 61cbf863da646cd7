// ONNX export of the V-JEPA 3D encoder (see model.ts). The exported graph reads whole volumes:
//   `volumes` [batch, 1, D, H, W] float32 (preprocessed: resampled to inputShape, intensity-normalized)
//   → Conv3d with kernel = stride = tubelet (the TubeletEmbed3d weight [dim, 1, t, p, p] as is)
//   → [batch, N, dim] tokens in (t, h, w) order → + fixed 3D sin-cos positions → pre-norm blocks
//   → final norm → `tokens` [batch, N, dim] and `embedding` [batch, dim] (mean over tokens, what
//   `VJepa3d.embed(…, 'mean')` returns). Registered as 'vjepa3d' in @meddl/onnx's exportRegistry.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readSafetensors } from '@meddl/checkpoint';
import {
  type ExportedModel,
  exportModule,
  exportRegistry,
  type GraphBuilder,
  lowerModule,
  type OnnxValue,
  type TensorSignature,
} from '@meddl/onnx';
import { Generator } from '@meddl/tensor';
import { VJepaArgumentError } from './errors';
import type { TubeletEmbed3d, VisionTransformer3d, VJepa3d } from './model';

/** TubeletEmbed3d on pre-cut tubelets [B, N, t·p·p] → [B, N, dim] (MatMul with the flattened weight). */
export function lowerTubeletEmbed(b: GraphBuilder, m: TubeletEmbed3d, tubelets: OnnxValue): OnnxValue {
  const k = m.tubelet[0] * m.tubelet[1] * m.tubelet[2];
  const w = b.transpose(b.reshape(b.param(m.weight), [m.dim, k]), [1, 0]); // [K, dim]
  return b.add(b.matmul(tubelets, w), b.param(m.bias));
}

/** TubeletEmbed3d on volumes [B, 1, D, H, W] → [B, N, dim] (Conv3d, kernel = stride = tubelet). */
export function lowerTubeletConv(b: GraphBuilder, m: TubeletEmbed3d, volumes: OnnxValue): OnnxValue {
  const y = b.conv(volumes, b.param(m.weight), b.param(m.bias), {
    kernel: [...m.tubelet],
    strides: [...m.tubelet],
  }); // [B, dim, gt, gh, gw]
  return b.transpose(b.reshape(y, [0, m.dim, -1]), [0, 2, 1]);
}

/** Positions and blocks after the tubelet embedding: [B, N, dim] → [B, N, dim]. */
function lowerBlocks(b: GraphBuilder, m: VisionTransformer3d, embedded: OnnxValue): OnnxValue {
  const x = b.add(embedded, b.param(m.posEmbed, 'pos_embed'));
  return b.scope('blocks', () => lowerModule(b, m.blocks, [x])[0]);
}

/** `VisionTransformer3d.forward(tubelets)` (all tokens): tubelets [B, N, K] → [B, N, dim]. */
export function lowerVisionTransformer3d(
  b: GraphBuilder,
  m: VisionTransformer3d,
  tubelets: OnnxValue,
): OnnxValue {
  return lowerBlocks(
    b,
    m,
    b.scope('patch_embed', () => lowerTubeletEmbed(b, m.patchEmbed, tubelets)),
  );
}

/** The volume encoder: volumes [B, 1, D, H, W] → [tokens [B, N, dim], embedding [B, dim]]. */
export function lowerVolumeEncoder(b: GraphBuilder, m: VisionTransformer3d, volumes: OnnxValue): OnnxValue[] {
  const tokens = lowerBlocks(
    b,
    m,
    b.scope('patch_embed', () => lowerTubeletConv(b, m.patchEmbed, volumes)),
  );
  return [tokens, b.reduce('ReduceMean', tokens, [1], false)];
}

export function vjepaOnnxSignature(m: VisionTransformer3d): {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
} {
  const [D, H, W] = m.config.inputShape;
  const d = m.config.embedDim;
  return {
    inputs: [{ name: 'volumes', dtype: 'float32', dims: ['batch', 1, D, H, W] }],
    outputs: [
      { name: 'tokens', dtype: 'float32', dims: ['batch', m.numTokens, d] },
      { name: 'embedding', dtype: 'float32', dims: ['batch', d] },
    ],
  };
}

/**
 * Exports one of the model's encoders ('context' = `encoder`, default; 'target' = the EMA
 * `target_encoder` that `embed` uses by default) as a volume → tokens + embedding graph.
 * Initializers are named by the encoder's own state-dict keys (patch_embed.weight, blocks.…).
 */
export function exportVJepaEncoder(
  model: VJepa3d,
  options: { opset?: number; encoder?: 'context' | 'target' } = {},
): ExportedModel {
  const which = options.encoder ?? 'context';
  const enc = which === 'target' ? model.targetEncoder : model.encoder;
  return exportModule(enc, {
    ...vjepaOnnxSignature(enc),
    forward: (b, [volumes]) => lowerVolumeEncoder(b, enc, volumes as OnnxValue),
    opset: options.opset,
    model: { metadata: { model: 'vjepa3d', encoder: which } },
  });
}

function runDirOf(dir: string): string {
  for (let d = dir, k = 0; k < 3; k++, d = dirname(d)) if (existsSync(join(d, 'vjepa3d.json'))) return d;
  throw new VJepaArgumentError(
    '--checkpoint',
    `${dir}: neither it nor its parents hold vjepa3d.json (give a vjepa3d run directory or one of its checkpoints)`,
  );
}

let registered = false;
/** Registers 'vjepa3d' in @meddl/onnx's export registry (idempotent; done on import of the package). */
export function registerVJepaExporter(): void {
  if (registered || exportRegistry.names().includes('vjepa3d')) return;
  registered = true;
  exportRegistry.register('vjepa3d', {
    description: 'V-JEPA 3D encoder (volumes → token features + mean embedding); --encoder context|target',
    async export({ checkpoint, opset, options }) {
      const encoder = options.encoder === undefined ? 'context' : String(options.encoder);
      if (encoder !== 'context' && encoder !== 'target')
        throw new VJepaArgumentError('--encoder', `expected 'context' or 'target', got '${encoder}'`);
      const { createModel } = await import('./model');
      const { loadPretrained, PretrainConfigSchema } = await import('./train');
      const dir = resolve(checkpoint);
      const runDir = runDirOf(dir);
      let model: VJepa3d;
      let config: ReturnType<typeof PretrainConfigSchema.parse>;
      if (existsSync(join(dir, 'model.safetensors'))) {
        config = PretrainConfigSchema.parse(JSON.parse(readFileSync(join(runDir, 'vjepa3d.json'), 'utf8')));
        model = createModel(config.model.preset, config.model.overrides, new Generator(0));
        model.loadStateDict(readSafetensors(join(dir, 'model.safetensors')).tensors as never);
      } else ({ model, config } = await loadPretrained(runDir));
      try {
        return {
          exported: exportVJepaEncoder(model, { opset, encoder }),
          sidecar: {
            encoder,
            config: model.config,
            preprocessing: {
              inputShape: model.config.inputShape,
              tubelet: model.config.tubelet,
              layout: '[batch, 1, frames, rows, columns] float32',
              data: config.data,
              note: 'volumes resampled to inputShape and intensity-normalized as in training (normalizeIntensity)',
            },
          },
        };
      } finally {
        model.dispose();
      }
    },
  });
}
