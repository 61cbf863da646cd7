import {
  Dropout,
  Embedding,
  GELU,
  LayerNorm,
  Linear,
  MLP,
  Module,
  MultiheadAttention,
  ReLU,
  Sequential,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '@meddl/nn';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GraphBuilder, OnnxValue } from './builder';
import { OnnxExportError } from './errors';
import { exportModule } from './export';
import { lowerModule, lowerUnary, maskedMeanPool, type OnnxLowerable } from './lower';
import { decodeModelProto } from './proto';
import { expectMatches, feed, paddingMask, randn, session } from './test-utils';

beforeAll(async () => {
  await initBackend();
});

/** (batch, sequence) sizes each exported graph is run on: one export, dynamic axes. */
const SIZES: Array<[number, number]> = [
  [1, 1],
  [2, 5],
  [3, 9],
];

/** Exports a [B, S, F] → [B, S, G] module and compares it with forward on every size. */
async function checkUnary(module: Module & { forward(x: tf.Tensor): tf.Tensor }, inF: number, outF: number) {
  module.eval();
  const exported = exportModule(module, {
    inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 'sequence', inF] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 'sequence', outF] }],
  });
  const s = await session(exported);
  for (const [i, [b, l]] of SIZES.entries()) {
    const x = randn([b, l, inF], 10 + i);
    const ref = module.forward(x);
    const out = await s.run({ x: feed(x) });
    expectMatches(out.y, ref);
    tf.dispose([x, ref]);
  }
  await s.release();
  return exported;
}

describe('layer lowerings match forward within 1e-4', () => {
  it('Linear (with and without bias) names initializers by state-dict key', async () => {
    const lin = new Linear(6, 4, { rng: new Generator(1) });
    const exported = await checkUnary(lin, 6, 4);
    const model = decodeModelProto(exported.bytes);
    expect(model.graph?.initializer?.map((t) => t.name).sort()).toEqual(['bias', 'weight']);
    expect(model.opset_import?.[0].version).toBe(17);
    const dims = model.graph?.input?.[0].type?.tensor_type?.shape?.dim;
    expect(dims).toEqual([{ dim_param: 'batch' }, { dim_param: 'sequence' }, { dim_value: 6 }]);
    await checkUnary(new Linear(5, 3, { bias: false, rng: new Generator(2) }), 5, 3);
  });

  it('LayerNorm with a trained-looking affine and without', async () => {
    const ln = new LayerNorm(8, { eps: 1e-6 });
    tf.tidy(() => {
      ln.weight?.assign(randn([8], 3));
      ln.bias?.assign(randn([8], 4));
    });
    await checkUnary(ln, 8, 8);
    await checkUnary(new LayerNorm(8, { elementwiseAffine: false }), 8, 8);
  });

  it('GELU exact and tanh, ReLU, Dropout (identity in eval)', async () => {
    await checkUnary(new GELU(), 5, 5);
    await checkUnary(new GELU({ approximate: 'tanh' }), 5, 5);
    await checkUnary(new ReLU(), 5, 5);
    await checkUnary(new Dropout(0.5, new Generator(0)), 5, 5);
  });

  it('MLP and Sequential', async () => {
    const rng = new Generator(5);
    await checkUnary(new MLP(6, 12, 4, { rng }), 6, 4);
    await checkUnary(new MLP(6, 12, 4, { activation: 'gelu_tanh', rng }), 6, 4);
    await checkUnary(
      new Sequential(
        new Linear(6, 10, { rng }),
        new ReLU(),
        new Dropout(0.1, rng),
        new Linear(10, 3, { rng }),
      ),
      6,
      3,
    );
  });

  it('GELU through the opset-20 Gelu operator', async () => {
    const gelu = new GELU();
    const exported = exportModule(gelu, {
      opset: 20,
      inputs: [{ name: 'x', dtype: 'float32', dims: ['n'] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['n'] }],
    });
    expect(decodeModelProto(exported.bytes).graph?.node?.map((n) => n.op_type)).toContain('Gelu');
    const s = await session(exported);
    const x = randn([17], 7);
    const ref = gelu.forward(x);
    expectMatches((await s.run({ x: feed(x) })).y, ref);
    tf.dispose([x, ref]);
    await s.release();
  });

  it('Embedding gathers int32 ids of any batch shape', async () => {
    const emb = new Embedding(11, 6, { paddingIdx: 0, rng: new Generator(8) });
    const exported = exportModule(emb, {
      inputs: [{ name: 'ids', dtype: 'int32', dims: ['batch', 'sequence'] }],
      outputs: [{ name: 'vectors', dtype: 'float32', dims: ['batch', 'sequence', 6] }],
    });
    const s = await session(exported);
    for (const [b, l] of SIZES) {
      const g = new Generator(b * 31 + l);
      const ids = tf.tensor2d(
        Int32Array.from({ length: b * l }, () => g.int(11)),
        [b, l],
        'int32',
      );
      const ref = emb.forward(ids);
      expectMatches((await s.run({ ids: feed(ids) })).vectors, ref);
      tf.dispose([ids, ref]);
    }
    await s.release();
    // int64 ids, as most ONNX exporters use
    const wide = exportModule(emb, {
      inputs: [{ name: 'ids', dtype: 'int64', dims: ['n'] }],
      outputs: [{ name: 'vectors', dtype: 'float32', dims: ['n', 6] }],
    });
    const s64 = await session(wide);
    const ids = tf.tensor1d([3, 0, 10, 7], 'int32');
    const ref = emb.forward(ids);
    const out = await s64.run({ ids: { data: BigInt64Array.from([3n, 0n, 10n, 7n]), dims: [4] } });
    expectMatches(out.vectors, ref);
    tf.dispose([ids, ref]);
    await s64.release();
  });

  it('MultiheadAttention with a key padding mask, cross-attention lengths and averaged weights', async () => {
    const E = 8;
    const mha = new MultiheadAttention(E, 2, { rng: new Generator(9) });
    // non-zero in_proj bias so the split of the packed bias is exercised
    tf.tidy(() => mha.inProjBias?.assign(tf.mul(randn([3 * E], 10), 0.1)));
    mha.eval();
    const exported = exportModule(mha, {
      inputs: [
        { name: 'query', dtype: 'float32', dims: ['batch', 'target', E] },
        { name: 'memory', dtype: 'float32', dims: ['batch', 'source', E] },
        { name: 'key_padding_mask', dtype: 'int32', dims: ['batch', 'source'] },
      ],
      outputs: [
        { name: 'output', dtype: 'float32', dims: ['batch', 'target', E] },
        { name: 'weights', dtype: 'float32', dims: ['batch', 'target', 'source'] },
      ],
      forward: (b, [q, mem, mask]) =>
        lowerModule(b, mha, [q, mem, mem], { keyPaddingMask: mask, needWeights: true }),
    });
    const s = await session(exported);
    for (const [i, [b, l]] of SIZES.entries()) {
      const srcLen = l + 2;
      const q = randn([b, l, E], 20 + i);
      const mem = randn([b, srcLen, E], 30 + i);
      const mask = paddingMask(b, srcLen, 40 + i);
      const ref = mha.forward(q, mem, mem, { keyPaddingMask: mask });
      const out = await s.run({ query: feed(q), memory: feed(mem), key_padding_mask: feed(mask) });
      expectMatches(out.output, ref.output);
      expectMatches(out.weights, ref.weights as tf.Tensor);
      tf.dispose([q, mem, mask, ref.output, ref.weights as tf.Tensor]);
    }
    await s.release();
  });

  it('MultiheadAttention with a causal bool attnMask and with an additive float mask', async () => {
    const E = 8;
    const mha = new MultiheadAttention(E, 4, { rng: new Generator(11) }).eval();
    for (const kind of ['bool', 'float32'] as const) {
      const exported = exportModule(mha, {
        inputs: [
          { name: 'x', dtype: 'float32', dims: ['batch', 'sequence', E] },
          { name: 'attn_mask', dtype: kind, dims: ['sequence', 'sequence'] },
        ],
        outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 'sequence', E] }],
        forward: (b, [x, m]) => lowerModule(b, mha, [x, x, x], { attnMask: m }),
      });
      const s = await session(exported);
      for (const [i, [b, l]] of SIZES.entries()) {
        const x = randn([b, l, E], 50 + i);
        const upper = tf.tidy(() => tf.greater(tf.range(0, l).expandDims(0), tf.range(0, l).expandDims(1)));
        const mask =
          kind === 'bool'
            ? upper
            : tf.tidy(() => tf.mul(tf.cast(upper, 'float32'), -3).add(randn([l, l], 60 + i)));
        const ref = mha.forward(x, x, x, { attnMask: mask, needWeights: false });
        const maskFeed =
          kind === 'bool' ? { data: Uint8Array.from(mask.dataSync()), dims: [l, l] } : feed(mask);
        expectMatches((await s.run({ x: feed(x), attn_mask: maskFeed })).y, ref.output);
        tf.dispose([x, upper, mask, ref.output]);
      }
      await s.release();
    }
  });

  for (const normFirst of [false, true]) {
    for (const activation of ['relu', 'gelu'] as const) {
      it(`TransformerEncoder (${normFirst ? 'pre' : 'post'}-norm, ${activation}) with padding`, async () => {
        const rng = new Generator(normFirst ? 12 : 13);
        const encoder = new TransformerEncoder(
          { dModel: 16, nhead: 4, dimFeedforward: 24, activation, normFirst, dropout: 0.1, rng },
          2,
          normFirst ? { norm: new LayerNorm(16) } : {},
        ).eval();
        const exported = exportModule(encoder, {
          inputs: [
            { name: 'src', dtype: 'float32', dims: ['batch', 'sequence', 16] },
            { name: 'padding', dtype: 'bool', dims: ['batch', 'sequence'] },
          ],
          outputs: [{ name: 'hidden', dtype: 'float32', dims: ['batch', 'sequence', 16] }],
          forward: (b, [src, pad]) => lowerModule(b, encoder, [src], { srcKeyPaddingMask: pad }),
        });
        const names = decodeModelProto(exported.bytes).graph?.initializer?.map((t) => t.name) ?? [];
        expect(names).toContain('layers.1.self_attn.in_proj_weight');
        expect(names).toContain('layers.0.linear2.bias');
        const s = await session(exported);
        for (const [i, [b, l]] of SIZES.entries()) {
          const src = randn([b, l, 16], 70 + i);
          const pad = paddingMask(b, l, 80 + i);
          const padBool = tf.cast(pad, 'bool');
          const ref = encoder.forward(src, { srcKeyPaddingMask: padBool });
          const out = await s.run({
            src: feed(src),
            padding: { data: Uint8Array.from(pad.dataSync()), dims: [b, l] },
          });
          expectMatches(out.hidden, ref);
          tf.dispose([src, pad, padBool, ref]);
        }
        await s.release();
      });
    }
  }
});

describe('the toOnnx protocol', () => {
  /** A composite domain-style module: encoder → masked mean pool → linear head. */
  class PooledClassifier extends Module implements OnnxLowerable {
    readonly encoder: TransformerEncoderLayer;
    readonly head: Linear;
    constructor(rng: Generator) {
      super();
      this.encoder = this.registerModule(
        'encoder',
        new TransformerEncoderLayer(8, 2, { dimFeedforward: 16, rng }),
      );
      this.head = this.registerModule('head', new Linear(8, 3, { rng }));
    }
    forward(x: tf.Tensor, padding: tf.Tensor): tf.Tensor {
      return tf.tidy(() => {
        const h = this.encoder.forward(x, { srcKeyPaddingMask: padding });
        const keep = tf.expandDims(tf.cast(tf.logicalNot(tf.cast(padding, 'bool')), 'float32'), -1);
        const pooled = tf.div(tf.sum(tf.mul(h, keep), 1), tf.maximum(tf.sum(keep, 1), 1));
        return this.head.forward(pooled);
      });
    }
    toOnnx(b: GraphBuilder, [x, padding]: readonly OnnxValue[]): OnnxValue[] {
      const h = b.scope(
        'encoder',
        () => lowerModule(b, this.encoder, [x], { srcKeyPaddingMask: padding })[0],
      );
      return [b.scope('head', () => lowerUnary(b, this.head, maskedMeanPool(b, h, padding)))];
    }
  }

  it('a module with toOnnx exports through exportModule and matches forward', async () => {
    const model = new PooledClassifier(new Generator(21)).eval();
    const exported = exportModule(model, {
      inputs: [
        { name: 'x', dtype: 'float32', dims: ['batch', 'sequence', 8] },
        { name: 'padding', dtype: 'int32', dims: ['batch', 'sequence'] },
      ],
      outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', 3] }],
    });
    const s = await session(exported);
    for (const [i, [b, l]] of SIZES.entries()) {
      const x = randn([b, l, 8], 90 + i);
      const pad = paddingMask(b, l, 95 + i);
      const ref = model.forward(x, pad);
      expectMatches((await s.run({ x: feed(x), padding: feed(pad) })).logits, ref);
      tf.dispose([x, pad, ref]);
    }
    await s.release();
  });

  it('a module without a lowering is a typed error naming the class', () => {
    class Opaque extends Module {}
    expect(() =>
      exportModule(new Opaque(), {
        inputs: [{ name: 'x', dtype: 'float32', dims: [2] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
      }),
    ).toThrow(OnnxExportError);
    expect(() =>
      exportModule(new Opaque(), {
        inputs: [{ name: 'x', dtype: 'float32', dims: [2] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
      }),
    ).toThrow(/Opaque has no ONNX lowering/);
  });
});
