import { initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder';
import { OnnxExportError } from './errors';
import { decodeModelProto } from './proto';
import { OnnxSession } from './runtime';
import { expectMatches, feed, randn } from './test-utils';

beforeAll(async () => {
  await initBackend();
});

async function run(b: GraphBuilder, feeds: Record<string, tf.Tensor>) {
  const s = await OnnxSession.create(b.toBytes(), { executionProviders: ['cpu'], threads: 1 });
  const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, feed(t)])));
  await s.release();
  return out;
}

describe('GraphBuilder', () => {
  it('a 3-D patch-embedding Conv (stride = kernel) matches tf.conv3d', async () => {
    const [C, K, P] = [2, 5, 2];
    const weight = randn([K, C, P, P, P], 1); // PyTorch layout [out, in, kd, kh, kw]
    const bias = randn([K], 2);
    const b = new GraphBuilder();
    const x = b.input('video', 'float32', ['batch', C, 'depth', 'height', 'width']);
    const y = b.conv(x, b.param(weight, 'patch_embed.proj.weight'), b.param(bias, 'patch_embed.proj.bias'), {
      kernel: [P, P, P],
      strides: [P, P, P],
    });
    b.output(y, 'tokens', 'float32', ['batch', K, 'd', 'h', 'w']);
    for (const [n, d, h, w] of [
      [1, 2, 4, 4],
      [2, 4, 6, 2],
    ]) {
      const video = randn([n, C, d, h, w], 3 + n);
      const ref = tf.tidy(() => {
        const ndhwc = tf.transpose(video, [0, 2, 3, 4, 1]) as tf.Tensor5D;
        const filter = tf.transpose(weight, [2, 3, 4, 1, 0]) as tf.Tensor5D; // [kd, kh, kw, in, out]
        const conv = tf.add(tf.conv3d(ndhwc, filter, [P, P, P], 'valid'), bias);
        return tf.transpose(conv, [0, 4, 1, 2, 3]);
      });
      expectMatches((await run(b, { video })).tokens, ref);
      tf.dispose([video, ref]);
    }
    tf.dispose([weight, bias]);
  });

  it('a padded, strided 2-D Conv without bias matches tf.conv2d', async () => {
    const weight = randn([4, 3, 3, 3], 5);
    const b = new GraphBuilder();
    const x = b.input('image', 'float32', ['batch', 3, 'height', 'width']);
    b.output(
      b.conv(x, b.param(weight), null, { kernel: [3, 3], strides: [2, 2], pads: [1, 1] }),
      'y',
      'float32',
      ['batch', 4, 'h', 'w'],
    );
    const image = randn([2, 3, 8, 8], 6);
    const ref = tf.tidy(() => {
      const padded = tf.pad(tf.transpose(image, [0, 2, 3, 1]), [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]) as tf.Tensor4D;
      const filter = tf.transpose(weight, [2, 3, 1, 0]) as tf.Tensor4D;
      return tf.transpose(tf.conv2d(padded, filter, 2, 'valid'), [0, 3, 1, 2]);
    });
    expectMatches((await run(b, { image })).y, ref);
    tf.dispose([weight, image, ref]);
  });

  it('reductions use the axes attribute before opset 18 and the axes input from 18', () => {
    for (const opset of [17, 18]) {
      const b = new GraphBuilder({ opset });
      const x = b.input('x', 'float32', ['n', 4]);
      b.output(b.reduce('ReduceMean', x, [1]), 'y', 'float32', ['n']);
      const node = decodeModelProto(b.toBytes()).graph?.node?.find((n) => n.op_type === 'ReduceMean');
      expect(node?.input?.length).toBe(opset === 17 ? 1 : 2);
      expect(node?.attribute?.some((a) => a.name === 'axes')).toBe(opset === 17);
    }
  });

  it('masked mean pooling, softmax with temperature, concat and slice run as expected', async () => {
    const { maskedMeanPool, temperatureSoftmax } = await import('./lower');
    const b = new GraphBuilder();
    const h = b.input('hidden', 'float32', ['batch', 'sequence', 3]);
    const pad = b.input('padding', 'int32', ['batch', 'sequence']);
    const pooled = maskedMeanPool(b, h, pad); // [B, 3]
    const both = b.concat([pooled, b.slice(pooled, [0], [2], [1])], 1); // [B, 5]
    b.output(temperatureSoftmax(b, both, 2), 'p', 'float32', ['batch', 5]);
    const hidden = randn([2, 4, 3], 9);
    const padding = tf.tensor2d(
      [
        [0, 0, 1, 1],
        [0, 0, 0, 0],
      ],
      [2, 4],
      'int32',
    );
    const ref = tf.tidy(() => {
      const keep = tf.expandDims(tf.sub(1, tf.cast(padding, 'float32')), -1);
      const mean = tf.div(tf.sum(tf.mul(hidden, keep), 1), tf.sum(keep, 1));
      return tf.softmax(tf.div(tf.concat([mean, tf.slice(mean, [0, 0], [-1, 2])], 1), 2));
    });
    expectMatches((await run(b, { hidden, padding })).p, ref);
    tf.dispose([hidden, padding, ref]);
  });

  it('rejects unsupported opsets, duplicate names and empty graphs', () => {
    expect(() => new GraphBuilder({ opset: 13 })).toThrow(OnnxExportError);
    const b = new GraphBuilder();
    b.input('x', 'float32', [1]);
    expect(() => b.input('x', 'float32', [1])).toThrow(/already used/);
    expect(() => b.toBytes()).toThrow(/no outputs/);
    expect(() => b.initializer('w', 'float32', [2, 2], new Float32Array(3))).toThrow(
      /3 values for dims \[2,2\]/,
    );
  });

  it('the same tensor becomes one initializer; identical constants are shared', () => {
    const b = new GraphBuilder();
    const w = tf.tensor1d([1, 2, 3]);
    expect(b.param(w, 'w').name).toBe(b.param(w, 'other').name);
    expect(b.scalar(0.5).name).toBe(b.scalar(0.5).name);
    expect(b.stats().initializers).toBe(2);
    w.dispose();
  });
});
