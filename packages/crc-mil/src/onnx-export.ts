// ONNX export of the gated-attention MIL model (see model.ts for the forward it mirrors).
// Inputs: `bag` [N, D] float32 (N = dynamic 'patches'), and for the multi-scale model `scale_index`
// [N] int32 (each patch's magnification, 0..scales−1). Outputs: `logits` [1, K] and `attention` [N].
// Registered as 'crc-mil' in @meddl/onnx's exportRegistry (`meddl export crc-mil --checkpoint
// <run>/final --out crc-mil.onnx`).
import { resolve } from 'node:path';
import {
  type ExportedModel,
  exportModule,
  exportRegistry,
  type GraphBuilder,
  lowerLayerNorm,
  lowerLinear,
  lowerMultiheadAttention,
  lowerTransformerEncoderLayer,
  type OnnxValue,
  type TensorSignature,
} from '@meddl/onnx';
import type { GatedAttentionMil } from './model';

/** Gated attention scores of rows h [R, hidden] → [R] (tanh(a(h)) ⊙ sigmoid(b(h)) → c). */
function gatedScores(
  b: GraphBuilder,
  h: OnnxValue,
  a: NonNullable<GatedAttentionMil['attentionA']>,
  g: NonNullable<GatedAttentionMil['attentionB']>,
  c: NonNullable<GatedAttentionMil['attentionC']>,
): OnnxValue {
  const gate = b.mul(b.node('Tanh', [lowerLinear(b, a, h)]), b.node('Sigmoid', [lowerLinear(b, g, h)]));
  return b.reshape(lowerLinear(b, c, gate), [-1]);
}

/**
 * The MIL forward as ONNX nodes: `[bag]` (single scale) or `[bag, scaleIndex]` (multi-scale) →
 * `[logits [1, K], attention [N]]`. The multi-scale model's within-scale softmax is the same
 * masked softmax as `forward` (scores − 1e9 outside the scale); scales with no patch in the bag
 * get −1e9 in the scale softmax, i.e. weight 0, as `forward` leaves them out.
 */
export function lowerGatedAttentionMil(
  b: GraphBuilder,
  model: GatedAttentionMil,
  bag: OnnxValue,
  scaleIndex?: OnnxValue,
): OnnxValue[] {
  const x = b.div(b.sub(bag, b.param(model.featureMean)), b.param(model.featureStd));
  const h = b.node('Relu', [lowerLinear(b, model.fc, x)]); // dropout: identity in eval
  if (model.encoder && model.clsToken) return lowerTransformerMil(b, model, h);
  const scores = gatedScores(
    b,
    h,
    model.attentionA as NonNullable<GatedAttentionMil['attentionA']>,
    model.attentionB as NonNullable<GatedAttentionMil['attentionB']>,
    model.attentionC as NonNullable<GatedAttentionMil['attentionC']>,
  ); // [N]
  const multi = model.config.scales > 1 && model.scaleAttentionA !== null;
  if (!multi || !scaleIndex) {
    const attention = b.softmax(scores, 0);
    const pooled = b.matmul(b.unsqueeze(attention, [0]), h); // [1, hidden]
    return headsOut(b, model, pooled, attention);
  }
  const S = model.config.scales;
  const levels = b.constant(
    'int32',
    [S, 1],
    Array.from({ length: S }, (_, i) => i),
  );
  const member = b.cast(b.equal(b.unsqueeze(b.cast(scaleIndex, 'int32'), [0]), levels), 'float32'); // [S, N]
  const outside = b.sub(b.scalar(1), member);
  const masked = b.add(b.unsqueeze(scores, [0]), b.mul(outside, b.scalar(-1e9))); // [S, N]
  const within = b.mul(b.softmax(masked, 1), member); // [S, N]
  const perScale = b.matmul(within, h); // [S, hidden]
  const present = b.reduce('ReduceMax', member, [1], false); // [S]
  const scaleScores = gatedScores(
    b,
    perScale,
    model.scaleAttentionA as NonNullable<GatedAttentionMil['scaleAttentionA']>,
    model.scaleAttentionB as NonNullable<GatedAttentionMil['scaleAttentionB']>,
    model.scaleAttentionC as NonNullable<GatedAttentionMil['scaleAttentionC']>,
  );
  const scaleWeights = b.softmax(b.add(scaleScores, b.mul(b.sub(b.scalar(1), present), b.scalar(-1e9))), 0);
  const w = b.unsqueeze(scaleWeights, [0]); // [1, S]
  const pooled = b.matmul(w, perScale); // [1, hidden]
  const attention = b.reshape(b.matmul(w, within), [-1]); // [N]
  return headsOut(b, model, pooled, attention);
}

/** `[logits, attention]`, plus `aux` [1, A] (the auxiliary heads on the same embedding) when the model has any. */
function headsOut(
  b: GraphBuilder,
  model: GatedAttentionMil,
  z: OnnxValue,
  attention: OnnxValue,
): OnnxValue[] {
  const out = [lowerLinear(b, model.classifier, z), attention];
  if (model.auxHeads.length > 0)
    out.push(
      b.concat(
        model.auxHeads.map((h) => lowerLinear(b, h, z)),
        1,
      ),
    );
  return out;
}

/** The transformer aggregator (see model.ts): class token + encoder; attention from the last layer. */
function lowerTransformerMil(b: GraphBuilder, model: GatedAttentionMil, h: OnnxValue): OnnxValue[] {
  const encoder = model.encoder as NonNullable<GatedAttentionMil['encoder']>;
  let x = b.unsqueeze(
    b.concat([b.param(model.clsToken as NonNullable<GatedAttentionMil['clsToken']>), h], 0),
    [0],
  );
  const layers = [...encoder.layers];
  let weights: OnnxValue | undefined;
  layers.forEach((layer, i) => {
    const src = x;
    x = b.scope(`encoder.layers.${i}`, () => {
      if (i === layers.length - 1) {
        const xn = b.scope('norm1', () => lowerLayerNorm(b, layer.norm1, src));
        weights = b.scope(
          'self_attn',
          () => lowerMultiheadAttention(b, layer.selfAttn, xn, xn, xn, { needWeights: true }).weights,
        );
      }
      return lowerTransformerEncoderLayer(b, layer, src);
    });
  });
  const norm = encoder.norm;
  if (norm) x = b.scope('encoder.norm', () => lowerLayerNorm(b, norm, x));
  const token = b.reshape(b.slice(x, [0, 0, 0], [1, 1, BIG], [0, 1, 2]), [1, -1]);
  const w = b.reshape(b.slice(weights as OnnxValue, [0, 0, 1], [1, 1, BIG], [0, 1, 2]), [-1]); // [N]
  const attention = b.div(w, b.reduce('ReduceSum', w, [0], true));
  return headsOut(b, model, token, attention);
}

const BIG = 2 ** 31 - 1;

/** The graph signature of the exported MIL model. */
export function milOnnxSignature(model: GatedAttentionMil): {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
} {
  const c = model.config;
  const inputs: TensorSignature[] = [{ name: 'bag', dtype: 'float32', dims: ['patches', c.inDim] }];
  if (c.scales > 1) inputs.push({ name: 'scale_index', dtype: 'int32', dims: ['patches'] });
  return {
    inputs,
    outputs: [
      { name: 'logits', dtype: 'float32', dims: [1, c.numClasses] },
      { name: 'attention', dtype: 'float32', dims: ['patches'] },
      ...(c.auxiliary.length > 0
        ? [{ name: 'aux', dtype: 'float32' as const, dims: [1, c.auxiliary.length] }]
        : []),
    ],
  };
}

/**
 * Exports a (trained) MIL model: `bag` [N, D] (+ `scale_index` [N]) → `logits` [1, K], `attention` [N],
 * and with auxiliary heads `aux` [1, A] (raw head outputs: standardized regression values, binary logits).
 */
export function exportGatedAttentionMil(
  model: GatedAttentionMil,
  options: { opset?: number } = {},
): ExportedModel {
  return exportModule(model, {
    ...milOnnxSignature(model),
    opset: options.opset,
    model: { metadata: { model: 'crc-mil', head: model.config.head } },
  });
}

let registered = false;
/** Registers 'crc-mil' in @meddl/onnx's export registry (idempotent; done on import of the package). */
export function registerCrcMilExporter(): void {
  if (registered || exportRegistry.names().includes('crc-mil')) return;
  registered = true;
  exportRegistry.register('crc-mil', {
    description: 'crc-mil gated-attention MIL head (logits + attention over the bag)',
    async export({ checkpoint, opset }) {
      // Imported here: predict.ts pulls in the whole slide pipeline.
      const { loadSavedModel } = await import('./predict');
      const { model, info } = loadSavedModel(resolve(checkpoint));
      try {
        return {
          exported: exportGatedAttentionMil(model, { opset }),
          sidecar: {
            labels: info.classes,
            temperature: info.temperature,
            head: info.model.head,
            config: info.model,
            ...(info.auxiliary ? { auxiliary: info.auxiliary } : {}),
            preprocessing: {
              ...info.preprocess,
              note: 'bag = patch features [N, inDim] from the crc-mil preprocessing (feature standardization is inside the graph)',
            },
          },
        };
      } finally {
        model.dispose();
      }
    },
  });
}
