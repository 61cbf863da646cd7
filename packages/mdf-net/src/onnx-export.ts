/**
 * ONNX export of MDF-Net with any subset of modalities (see model.ts for the forward it mirrors).
 * Graph inputs, for the enabled modalities in this order:
 *   image:    `images` [batch, S, S] float32 (normalized as in training)
 *   text:     `tokens` [batch, tokens] int32, `attention` [batch, tokens] int32 (1 = token, 0 = pad)
 *   clinical: `clinical` [batch, CLINICAL_NUMERIC_DIM] float32, `sex` [batch] int32, `acuity` [batch] int32
 *   a model on external encoder embeddings reads `image_embeddings` [batch, D] / `text_embeddings`
 *   [batch, D] in place of images / tokens + attention.
 * Output: `logits` [batch, numLabels] (sigmoid → probability per finding).
 * Registered as 'mdf-net' in @meddl/onnx's exportRegistry.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readSafetensors } from '@meddl/checkpoint';
import {
  type ExportedModel,
  exportModule,
  exportRegistry,
  type GraphBuilder,
  lowerEmbedding,
  lowerLayerNorm,
  lowerLinear,
  lowerModule,
  lowerMultiheadAttention,
  type OnnxValue,
  type TensorSignature,
} from '@meddl/onnx';
import { Generator } from '@meddl/tensor';
import { CLINICAL_NUMERIC_DIM } from './clinical';
import { MdfNetArgumentError } from './errors';
import { FINDINGS } from './labels';
import type {
  ClinicalEncoder,
  Conv2d,
  EmbeddingAdapter,
  Fusion,
  Head,
  ImageEncoder,
  MdfNet,
  TextEncoder,
} from './model';

/** Conv2d on NCHW values (PyTorch layout weight, symmetric zero padding) + bias. */
export function lowerConv2d(b: GraphBuilder, m: Conv2d, x: OnnxValue): OnnxValue {
  const s = m.options.stride ?? 1;
  const p = m.options.padding ?? 0;
  return b.conv(x, b.param(m.weight), b.param(m.bias), {
    kernel: [m.kernelSize, m.kernelSize],
    strides: [s, s],
    pads: [p, p],
  });
}

/** images [B, H, W] → [B, embedDim]: conv/ReLU stages, global average pool, projection. */
export function lowerImageEncoder(b: GraphBuilder, m: ImageEncoder, images: OnnxValue): OnnxValue {
  let x = b.unsqueeze(images, [1]); // [B, 1, H, W]
  for (const conv of m.convs) x = b.node('Relu', [lowerConv2d(b, conv, x)]);
  return lowerLinear(b, m.proj, b.reduce('ReduceMean', x, [2, 3], false));
}

/** tokens, attention [B, L] → [B, embedDim] (masked mean of the encoder output). */
export function lowerTextEncoder(
  b: GraphBuilder,
  m: TextEncoder,
  tokens: OnnxValue,
  attention: OnnxValue,
): OnnxValue {
  const positions = b.slice(b.param(m.positions), [0], b.shape(tokens, 1, 2), [0]); // [L, E]
  const x = b.add(lowerEmbedding(b, m.tokens, tokens), positions);
  const padding = b.equal(b.cast(attention, 'float32'), b.scalar(0));
  const h = lowerModule(b, m.encoder, [lowerLayerNorm(b, m.embedNorm, x)], {
    srcKeyPaddingMask: padding,
  })[0];
  const mask = b.unsqueeze(b.cast(attention, 'float32'), [2]); // [B, L, 1]
  const summed = b.reduce('ReduceSum', b.mul(h, mask), [1], false);
  const count = b.reduce('ReduceSum', mask, [1], false);
  return b.div(summed, b.max(count, b.scalar(1)));
}

/** numeric [B, F], sex [B], acuity [B] → [B, embedDim]. */
export function lowerClinicalEncoder(
  b: GraphBuilder,
  m: ClinicalEncoder,
  numeric: OnnxValue,
  sex: OnnxValue,
  acuity: OnnxValue,
): OnnxValue {
  const x = b.concat([numeric, lowerEmbedding(b, m.sex, sex), lowerEmbedding(b, m.acuity, acuity)], 1);
  return lowerModule(b, m.mlp, [x])[0];
}

/** External embeddings [B, D] → [B, embedDim]: LayerNorm, Linear. */
export function lowerEmbeddingAdapter(b: GraphBuilder, m: EmbeddingAdapter, x: OnnxValue): OnnxValue {
  return lowerLinear(b, m.proj, lowerLayerNorm(b, m.norm, x));
}

/** Modality features (each [B, E]) → [B, fusionDim]. */
export function lowerFusion(b: GraphBuilder, m: Fusion, features: OnnxValue[]): OnnxValue {
  let z: OnnxValue;
  if (m.attn && m.modalityEmbeddings) {
    const tokens = b.add(
      b.concat(
        features.map((f) => b.unsqueeze(f, [1])),
        1,
      ),
      b.param(m.modalityEmbeddings),
    ); // [B, K, E]
    const out = lowerMultiheadAttention(b, m.attn, tokens, tokens, tokens, { needWeights: false }).output;
    z = b.reduce('ReduceMean', out, [1], false);
  } else z = features.length === 1 ? features[0] : b.concat(features, 1);
  return b.node('Relu', [lowerLinear(b, m.proj, z)]);
}

/** [B, fusionDim] → logits [B, numLabels] (dropouts are the identity in eval). */
export function lowerHead(b: GraphBuilder, m: Head, x: OnnxValue): OnnxValue {
  return lowerLinear(b, m.fc2, b.node('Relu', [lowerLinear(b, m.fc1, x)]));
}

/** The graph inputs the model reads, in `lowerMdfNet`'s order (only enabled modalities). */
export function mdfNetOnnxSignature(model: MdfNet): {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
} {
  const c = model.config;
  const inputs: TensorSignature[] = [];
  for (const m of c.modalities) {
    if (m === 'image' && c.imageEmbeddingDim !== null)
      inputs.push({ name: 'image_embeddings', dtype: 'float32', dims: ['batch', c.imageEmbeddingDim] });
    else if (m === 'image')
      inputs.push({ name: 'images', dtype: 'float32', dims: ['batch', c.imageSize, c.imageSize] });
    else if (m === 'text' && c.textEmbeddingDim !== null)
      inputs.push({ name: 'text_embeddings', dtype: 'float32', dims: ['batch', c.textEmbeddingDim] });
    else if (m === 'text')
      inputs.push(
        { name: 'tokens', dtype: 'int32', dims: ['batch', 'tokens'] },
        { name: 'attention', dtype: 'int32', dims: ['batch', 'tokens'] },
      );
    else
      inputs.push(
        { name: 'clinical', dtype: 'float32', dims: ['batch', CLINICAL_NUMERIC_DIM] },
        { name: 'sex', dtype: 'int32', dims: ['batch'] },
        { name: 'acuity', dtype: 'int32', dims: ['batch'] },
      );
  }
  return { inputs, outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', c.numLabels] }] };
}

/** The whole model: `inputs` as in `mdfNetOnnxSignature` → `[logits]`. */
export function lowerMdfNet(b: GraphBuilder, model: MdfNet, inputs: readonly OnnxValue[]): OnnxValue[] {
  const features: OnnxValue[] = [];
  let i = 0;
  const next = () => {
    const v = inputs[i++];
    if (!v)
      throw new MdfNetArgumentError('onnx', `MdfNet.toOnnx: expected more inputs (got ${inputs.length})`);
    return v;
  };
  for (const m of model.config.modalities) {
    if (m === 'image' && model.imageAdapter) {
      const adapter = model.imageAdapter;
      features.push(b.scope('image_adapter', () => lowerEmbeddingAdapter(b, adapter, next())));
    } else if (m === 'text' && model.textAdapter) {
      const adapter = model.textAdapter;
      features.push(b.scope('text_adapter', () => lowerEmbeddingAdapter(b, adapter, next())));
    } else if (m === 'image')
      features.push(
        b.scope('image_encoder', () => lowerImageEncoder(b, model.imageEncoder as ImageEncoder, next())),
      );
    else if (m === 'text') {
      const tokens = next();
      const attention = next();
      features.push(
        b.scope('text_encoder', () =>
          lowerTextEncoder(b, model.textEncoder as TextEncoder, tokens, attention),
        ),
      );
    } else {
      const numeric = next();
      const sex = next();
      const acuity = next();
      features.push(
        b.scope('clinical_encoder', () =>
          lowerClinicalEncoder(b, model.clinicalEncoder as ClinicalEncoder, numeric, sex, acuity),
        ),
      );
    }
  }
  const fused = b.scope('fusion', () => lowerFusion(b, model.fusion, features));
  return [b.scope('head', () => lowerHead(b, model.head, fused))];
}

export function exportMdfNet(model: MdfNet, options: { opset?: number } = {}): ExportedModel {
  return exportModule(model, {
    ...mdfNetOnnxSignature(model),
    opset: options.opset,
    model: { metadata: { model: 'mdf-net', modalities: model.config.modalities.join(',') } },
  });
}

/** Finds the run directory (with mdf-net.json) of a run or checkpoint directory. */
function runDirOf(dir: string): string {
  for (let d = dir, k = 0; k < 4; k++, d = dirname(d)) if (existsSync(join(d, 'mdf-net.json'))) return d;
  throw new MdfNetArgumentError(
    '--checkpoint',
    `${dir}: neither it nor its parents hold mdf-net.json (give an mdf-net run directory or one of its checkpoints)`,
  );
}

let registered = false;
/** Registers 'mdf-net' in @meddl/onnx's export registry (idempotent; done on import of the package). */
export function registerMdfNetExporter(): void {
  if (registered || exportRegistry.names().includes('mdf-net')) return;
  registered = true;
  exportRegistry.register('mdf-net', {
    description: 'MDF-Net fusion model (its modalities → 14 finding logits)',
    async export({ checkpoint, opset }) {
      const { createModel } = await import('./model');
      const { loadBestCheckpoint, readRunFiles } = await import('./train');
      const { readCalibration } = await import('./evaluate');
      const dir = resolve(checkpoint);
      const runDir = runDirOf(dir);
      const files = readRunFiles(runDir);
      const model = createModel(files.modelConfig, new Generator(0));
      try {
        let loadedFrom: string;
        if (existsSync(join(dir, 'model.safetensors'))) {
          model.loadStateDict(readSafetensors(join(dir, 'model.safetensors')).tensors as never);
          loadedFrom = dir;
        } else {
          const stage = files.config.stage2.enabled ? 'stage2' : 'stage1';
          loadedFrom = await loadBestCheckpoint(model, join(runDir, stage));
        }
        return {
          exported: exportMdfNet(model, { opset }),
          sidecar: {
            labels: [...FINDINGS].slice(0, model.config.numLabels),
            loadedFrom,
            config: files.modelConfig,
            preprocessing: {
              modalities: model.config.modalities,
              imageSize: model.config.imageSize,
              imageNormalization: files.config.normalization,
              maxTokens: model.config.maxTokens,
              tokenizer: files.tokenizer,
              clinicalStats: files.clinicalStats,
              encoders: files.config.encoders,
              encoderSha256: files.encoderSha256,
              output: 'sigmoid(logits / calibration.temperatures) = probability per finding',
            },
            calibration: { temperatures: readCalibration(runDir) },
          },
        };
      } finally {
        model.dispose();
      }
    },
  });
}
