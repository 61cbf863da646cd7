/**
 * Lowerings of the @meddl/nn layers to standard ONNX operators, and the protocol by which any
 * other module (a domain model, a custom block) describes its own forward pass to the exporter.
 *
 * Every lowering computes what the layer's `forward` computes in eval mode (dropout is the
 * identity), with the same parameter tensors written as initializers named by state-dict key.
 */

import {
  Dropout,
  Embedding,
  GELU,
  type GeluApproximate,
  LayerNorm,
  Linear,
  MLP,
  type Module,
  MultiheadAttention,
  ReLU,
  Sequential,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '@meddl/nn';
import { floatAttr, type GraphBuilder, type OnnxValue } from './builder';
import { OnnxExportError } from './errors';

/**
 * The protocol for modules that lower themselves: given the builder and graph values for the
 * arguments of `forward`, add nodes and return the values of its results. Parameters are
 * written with `b.param(this.someVariable)`; submodules with `lowerModule(b, this.child, [x])`.
 */
export interface OnnxLowerable {
  toOnnx(b: GraphBuilder, inputs: readonly OnnxValue[], options?: LowerOptions): OnnxValue[];
}

/**
 * Extra graph values a lowering may take: the masks of attention and encoder layers
 * (`keyPaddingMask` / `srcKeyPaddingMask`: nonzero or true at padding; `attnMask` / `mask`:
 * bool blocks, float adds; [L, S] or [B, H, L, S]), and `needWeights` for attention weights as a second output.
 */
export interface LowerOptions {
  keyPaddingMask?: OnnxValue;
  srcKeyPaddingMask?: OnnxValue;
  attnMask?: OnnxValue;
  mask?: OnnxValue;
  needWeights?: boolean;
  averageAttnWeights?: boolean;
}

/** A lowering for a module class registered from outside the class (see `registerLowering`). */
export type Lowering<M extends Module = Module> = (
  b: GraphBuilder,
  module: M,
  inputs: readonly OnnxValue[],
  options: LowerOptions,
) => OnnxValue[];

type Ctor<M> = abstract new (...args: never[]) => M;
const registry = new Map<Ctor<Module>, Lowering>();

/**
 * Registers a lowering for a module class you cannot (or prefer not to) give a `toOnnx` method.
 * Subclasses inherit it unless they register their own or define `toOnnx`.
 */
export function registerLowering<M extends Module>(ctor: Ctor<M>, lowering: Lowering<M>): void {
  registry.set(ctor as Ctor<Module>, lowering as Lowering);
}

export function isOnnxLowerable(m: unknown): m is OnnxLowerable {
  return typeof (m as { toOnnx?: unknown } | null)?.toOnnx === 'function';
}

/**
 * Lowers `module` applied to `inputs`: its own `toOnnx` if it has one, else the registered
 * lowering of its class (or nearest registered base class). Node names are scoped by the
 * module's state-dict path when the builder was bound to the root module.
 */
export function lowerModule(
  b: GraphBuilder,
  module: Module,
  inputs: readonly OnnxValue[],
  options: LowerOptions = {},
): OnnxValue[] {
  if (isOnnxLowerable(module)) return module.toOnnx(b, inputs, options);
  for (let proto = Object.getPrototypeOf(module); proto; proto = Object.getPrototypeOf(proto)) {
    const lowering = registry.get(proto.constructor as Ctor<Module>);
    if (lowering) return lowering(b, module, inputs, options);
  }
  throw new OnnxExportError(
    `${module.constructor.name} has no ONNX lowering: give it a toOnnx(builder, inputs) method or call registerLowering(${module.constructor.name}, fn)`,
  );
}

/** `lowerModule` for a module with one input and one output. */
export function lowerUnary(
  b: GraphBuilder,
  module: Module,
  x: OnnxValue,
  options: LowerOptions = {},
): OnnxValue {
  const out = lowerModule(b, module, [x], options);
  if (out.length < 1) throw new OnnxExportError(`${module.constructor.name} lowering returned no output`);
  return out[0];
}

function one(inputs: readonly OnnxValue[], what: string): OnnxValue {
  if (inputs.length !== 1) throw new OnnxExportError(`${what} takes 1 input, got ${inputs.length}`);
  return inputs[0];
}

// ---- layers --------------------------------------------------------------------------------

/** y = x·Wᵀ + b over the last axis (MatMul with the transposed weight, Add). */
export function lowerLinear(b: GraphBuilder, m: Linear, x: OnnxValue): OnnxValue {
  const wT = b.transpose(b.param(m.weight), [1, 0]);
  const y = b.matmul(x, wT);
  return m.bias ? b.add(y, b.param(m.bias)) : y;
}

/** LayerNormalization over the trailing normalizedShape axes (opset 17). */
export function lowerLayerNorm(b: GraphBuilder, m: LayerNorm, x: OnnxValue): OnnxValue {
  const k = m.normalizedShape.length;
  const count = m.normalizedShape.reduce((a, d) => a * d, 1);
  const scale = m.weight ? b.param(m.weight) : b.constant('float32', m.normalizedShape, Array(count).fill(1));
  const bias = m.bias ? b.param(m.bias) : b.constant('float32', m.normalizedShape, Array(count).fill(0));
  return b.node('LayerNormalization', [x, scale, bias], { axis: -k, epsilon: floatAttr(m.eps) }, x.dtype);
}

/** Gather rows of the table (ids of any integer dtype: int32 or int64). */
export function lowerEmbedding(b: GraphBuilder, m: Embedding, ids: OnnxValue): OnnxValue {
  return b.gather(b.param(m.weight), ids, 0);
}

/**
 * GELU: the `Gelu` operator from opset 20, else its decomposition — exact 0.5·x·(1 + erf(x/√2)),
 * or the tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 */
export function lowerGelu(b: GraphBuilder, x: OnnxValue, approximate: GeluApproximate = 'none'): OnnxValue {
  if (b.opset >= 20) return b.node('Gelu', [x], { approximate }, x.dtype);
  const half = b.mul(b.scalar(0.5), x);
  if (approximate === 'tanh') {
    const cube = b.mul(b.mul(x, x), x);
    const inner = b.mul(b.scalar(Math.sqrt(2 / Math.PI)), b.add(x, b.mul(b.scalar(0.044715), cube)));
    return b.mul(half, b.add(b.scalar(1), b.node('Tanh', [inner], {}, x.dtype)));
  }
  const erf = b.node('Erf', [b.mul(x, b.scalar(Math.SQRT1_2))], {}, x.dtype);
  return b.mul(half, b.add(b.scalar(1), erf));
}

/** An activation by its config name (see @meddl/nn's activationFn). */
export function lowerActivation(
  b: GraphBuilder,
  name: 'relu' | 'gelu' | 'gelu_tanh',
  x: OnnxValue,
): OnnxValue {
  switch (name) {
    case 'relu':
      return b.node('Relu', [x], {}, x.dtype);
    case 'gelu':
      return lowerGelu(b, x, 'none');
    case 'gelu_tanh':
      return lowerGelu(b, x, 'tanh');
    default:
      throw new OnnxExportError(`unknown activation '${name as string}'`);
  }
}

/** fc1 → activation → fc2 (dropouts are the identity at inference). */
export function lowerMLP(b: GraphBuilder, m: MLP, x: OnnxValue): OnnxValue {
  const h = lowerActivation(
    b,
    m.activation,
    b.scope('fc1', () => lowerLinear(b, m.fc1, x)),
  );
  return b.scope('fc2', () => lowerLinear(b, m.fc2, h));
}

export function lowerSequential(b: GraphBuilder, m: Sequential, x: OnnxValue): OnnxValue {
  let h = x;
  for (let i = 0; i < m.length; i++) {
    const child = m.at(i);
    h = b.scope(String(i), () => lowerUnary(b, child, h));
  }
  return h;
}

export interface AttentionOutputs {
  /** [B, L, E] */
  output: OnnxValue;
  /** [B, L, S] averaged over heads, or [B, H, L, S]; present when `needWeights`. */
  weights?: OnnxValue;
}

/**
 * Batch-first multi-head attention with torch.nn.MultiheadAttention's packed in_proj: the packed
 * weight and bias are Split into q/k/v, heads are Reshape [B, L, H, D] + Transpose, logits are
 * q·kᵀ/√D; blocked keys (key padding mask, bool attnMask) are set to -inf with Where, a float
 * attnMask is added; Softmax over keys; context · out_proj.
 */
export function lowerMultiheadAttention(
  b: GraphBuilder,
  m: MultiheadAttention,
  query: OnnxValue,
  key: OnnxValue,
  value: OnnxValue,
  options: LowerOptions = {},
): AttentionOutputs {
  const E = m.embedDim;
  const H = m.numHeads;
  const D = m.headDim;
  const [wq, wk, wv] = b.op(
    'Split',
    [b.param(m.inProjWeight)],
    { axis: 0 },
    { outputs: 3, dtype: 'float32' },
  );
  const [bq, bk, bv] = m.inProjBias
    ? b.op('Split', [b.param(m.inProjBias)], { axis: 0 }, { outputs: 3, dtype: 'float32' })
    : [null, null, null];
  const heads = (x: OnnxValue, w: OnnxValue, bias: OnnxValue | null) => {
    const y = b.matmul(x, b.transpose(w, [1, 0]));
    const yb = bias ? b.add(y, bias) : y;
    return b.transpose(b.reshape(yb, [0, 0, H, D]), [0, 2, 1, 3]); // [B, H, len, D]
  };
  const q = b.mul(heads(query, wq, bq), b.scalar(1 / Math.sqrt(D)));
  const k = heads(key, wk, bk);
  const v = heads(value, wv, bv);
  let logits = b.matmul(q, b.transpose(k, [0, 1, 3, 2])); // [B, H, L, S]

  let blocked: OnnxValue | null = null;
  if (options.attnMask) {
    // [L, S] or [B, H, L, S] (anything that broadcasts to the logits); regroup a PyTorch-style
    // [B·H, L, S] mask to [B, H, L, S] with b.reshape before passing it.
    const mask = options.attnMask;
    if (mask.dtype === 'bool') blocked = mask;
    else logits = b.add(logits, mask);
  }
  if (options.keyPaddingMask) {
    const pad = b.unsqueeze(b.toBool(options.keyPaddingMask), [1, 2]); // [B, 1, 1, S]
    blocked = blocked ? b.or(blocked, pad) : pad;
  }
  if (blocked) logits = b.where(blocked, b.scalar(Number.NEGATIVE_INFINITY), logits);
  const weights = b.softmax(logits, -1);
  const ctx = b.matmul(weights, v); // [B, H, L, D]
  const merged = b.reshape(b.transpose(ctx, [0, 2, 1, 3]), [0, 0, E]);
  const output = b.scope('out_proj', () => lowerLinear(b, m.outProj, merged));
  if (!options.needWeights) return { output };
  const avg = options.averageAttnWeights ?? true;
  return { output, weights: avg ? b.reduce('ReduceMean', weights, [1], false) : weights };
}

/** One encoder block, pre-norm or post-norm, as TransformerEncoderLayer.forward in eval mode. */
export function lowerTransformerEncoderLayer(
  b: GraphBuilder,
  m: TransformerEncoderLayer,
  src: OnnxValue,
  options: LowerOptions = {},
): OnnxValue {
  const sa = (x: OnnxValue) =>
    b.scope(
      'self_attn',
      () =>
        lowerMultiheadAttention(b, m.selfAttn, x, x, x, {
          keyPaddingMask: options.srcKeyPaddingMask,
          attnMask: options.mask,
        }).output,
    );
  const ffn = (x: OnnxValue) => {
    const h = lowerActivation(
      b,
      m.activation,
      b.scope('linear1', () => lowerLinear(b, m.linear1, x)),
    );
    return b.scope('linear2', () => lowerLinear(b, m.linear2, h));
  };
  const norm1 = (x: OnnxValue) => b.scope('norm1', () => lowerLayerNorm(b, m.norm1, x));
  const norm2 = (x: OnnxValue) => b.scope('norm2', () => lowerLayerNorm(b, m.norm2, x));
  let x = src;
  if (m.normFirst) {
    x = b.add(x, sa(norm1(x)));
    x = b.add(x, ffn(norm2(x)));
  } else {
    x = norm1(b.add(x, sa(x)));
    x = norm2(b.add(x, ffn(x)));
  }
  return x;
}

export function lowerTransformerEncoder(
  b: GraphBuilder,
  m: TransformerEncoder,
  src: OnnxValue,
  options: LowerOptions = {},
): OnnxValue {
  let x = src;
  let i = 0;
  for (const layer of m.layers) {
    const h = x;
    x = b.scope(`layers.${i++}`, () => lowerTransformerEncoderLayer(b, layer, h, options));
  }
  const norm = m.norm;
  return norm ? b.scope('norm', () => lowerLayerNorm(b, norm, x)) : x;
}

// ---- common graph patterns -----------------------------------------------------------------

/**
 * Mean over axis 1 of `hidden` [B, S, H] counting only positions where `padding` [B, S] is false
 * (padding: nonzero / true = ignore); a row with no kept position divides by 1 (gives zeros).
 */
export function maskedMeanPool(b: GraphBuilder, hidden: OnnxValue, padding: OnnxValue): OnnxValue {
  const keep = b.unsqueeze(b.cast(b.not(b.toBool(padding)), 'float32'), [2]); // [B, S, 1]
  const summed = b.reduce('ReduceSum', b.mul(hidden, keep), [1], false);
  const count = b.reduce('ReduceSum', keep, [1], false);
  return b.div(summed, b.max(count, b.scalar(1)));
}

/** Softmax with a temperature: softmax(logits / T) over `axis`. */
export function temperatureSoftmax(
  b: GraphBuilder,
  logits: OnnxValue,
  temperature = 1,
  axis = -1,
): OnnxValue {
  const scaled = temperature === 1 ? logits : b.div(logits, b.scalar(temperature));
  return b.softmax(scaled, axis);
}

// ---- built-in registrations ----------------------------------------------------------------

registerLowering(Linear, (b, m, inputs) => [lowerLinear(b, m, one(inputs, 'Linear'))]);
registerLowering(LayerNorm, (b, m, inputs) => [lowerLayerNorm(b, m, one(inputs, 'LayerNorm'))]);
registerLowering(Embedding, (b, m, inputs) => [lowerEmbedding(b, m, one(inputs, 'Embedding'))]);
registerLowering(GELU, (b, m, inputs) => [lowerGelu(b, one(inputs, 'GELU'), m.approximate)]);
registerLowering(ReLU, (b, _m, inputs) => [lowerActivation(b, 'relu', one(inputs, 'ReLU'))]);
registerLowering(Dropout, (_b, _m, inputs) => [one(inputs, 'Dropout')]);
registerLowering(MLP, (b, m, inputs) => [lowerMLP(b, m, one(inputs, 'MLP'))]);
registerLowering(Sequential, (b, m, inputs) => [lowerSequential(b, m, one(inputs, 'Sequential'))]);
registerLowering(MultiheadAttention, (b, m, inputs, options) => {
  if (inputs.length !== 3)
    throw new OnnxExportError(`MultiheadAttention takes 3 inputs, got ${inputs.length}`);
  const r = lowerMultiheadAttention(b, m, inputs[0], inputs[1], inputs[2], options);
  return r.weights ? [r.output, r.weights] : [r.output];
});
registerLowering(TransformerEncoderLayer, (b, m, inputs, options) => [
  lowerTransformerEncoderLayer(b, m, one(inputs, 'TransformerEncoderLayer'), options),
]);
registerLowering(TransformerEncoder, (b, m, inputs, options) => [
  lowerTransformerEncoder(b, m, one(inputs, 'TransformerEncoder'), options),
]);
