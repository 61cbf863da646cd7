import { describe, expect, it } from 'vitest';
import { Generator, initBackend, nativeStatus, profileKernels, tf } from '../index';

// Independent reference: the same ops on tfjs's pure-JS cpu backend, on random data with
// broadcasting, transposes and batch dimensions.
const status = nativeStatus();

type Op = (...xs: tf.Tensor[]) => tf.Tensor;

async function compare(
  op: Op,
  inputs: { shape: number[]; dtype?: 'float32' | 'int32'; data: number[] | Float32Array }[],
  tol = 1e-4,
) {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const xs = inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype ?? 'float32'));
      const y = op(...xs);
      return { shape: y.shape, dtype: y.dtype, values: Array.from(y.dataSync()) };
    });
  };
  const ref = await run('cpu');
  const got = await run('meddl-native');
  expect(got.shape).toEqual(ref.shape);
  expect(got.dtype).toEqual(ref.dtype);
  expect(got.values.length).toBe(ref.values.length);
  for (let i = 0; i < ref.values.length; i++) {
    const r = ref.values[i];
    const g = got.values[i];
    if (Number.isNaN(r)) expect(g).toBeNaN();
    else expect(Math.abs(g - r)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(r)));
  }
}

describe.runIf(status.available)('native backend (needs the compiled addon and OpenBLAS)', () => {
  const rng = new Generator(14);
  const rand = (shape: number[]) => ({ shape, data: rng.normalArray(shape.reduce((a, b) => a * b, 1)) });

  it('loads and reports threads and the BLAS build', async () => {
    const info = await initBackend('native');
    expect(info.tfjsName).toBe('meddl-native');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(status.blas).toMatch(/OpenBLAS/i);
    expect(status.kernels).toContain('BatchMatMul');
  });

  it('matMul with transposes and broadcast batches matches the cpu backend', async () => {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const a = rand(ta ? [7, 5] : [5, 7]);
      const b = rand(tb ? [3, 7] : [7, 3]);
      await compare((x, y) => tf.matMul(x, y, ta, tb), [a, b]);
    }
    await compare((x, y) => tf.matMul(x, y), [rand([1, 4, 6]), rand([3, 6, 5])]);
    await compare((x, y) => tf.matMul(x, y), [rand([2, 3, 4, 6]), rand([6, 5])]);
    await compare((x, y) => tf.matMul(x, y, false, true), [rand([2, 3, 4, 6]), rand([2, 3, 5, 6])]);
  });

  it('fused matMul with bias and activations matches the cpu backend', async () => {
    for (const activation of ['linear', 'relu', 'elu', 'sigmoid', 'relu6', 'leakyrelu'] as const) {
      await compare(
        (x, w, bias) => tf.fused.matMul({ a: x, b: w, bias, activation, transposeB: true }),
        [rand([2, 4, 6]), rand([5, 6]), rand([5])],
      );
    }
  });

  it('binary ops broadcast like the cpu backend', async () => {
    const shapes: [number[], number[]][] = [
      [
        [3, 4],
        [3, 4],
      ],
      [[3, 4], [4]],
      [
        [3, 1],
        [1, 4],
      ],
      [
        [2, 3, 4],
        [3, 1],
      ],
      [[], [2, 2]],
      [
        [2, 1, 4, 1],
        [3, 1, 5],
      ],
    ];
    for (const op of [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.minimum, tf.squaredDifference]) {
      for (const [sa, sb] of shapes) await compare(op as Op, [rand(sa), rand(sb)]);
    }
    await compare((x, y) => tf.add(x, y), [{ shape: [3], data: [1, Number.NaN, 3] }, rand([3])]);
    await compare((...xs) => tf.addN(xs), [rand([2, 3]), rand([2, 3]), rand([2, 3])]);
  });

  it('unary ops match the cpu backend', async () => {
    const x = rand([4, 33]);
    const pos = { shape: [4, 33], data: x.data.map((v) => Math.abs(v) + 0.01) };
    for (const op of [
      tf.exp,
      tf.tanh,
      tf.sigmoid,
      tf.relu,
      tf.relu6,
      tf.neg,
      tf.abs,
      tf.square,
      tf.elu,
      tf.sin,
      tf.cos,
      tf.step,
    ]) {
      await compare(op as unknown as Op, [x]);
    }
    for (const op of [tf.log, tf.sqrt, tf.rsqrt, tf.reciprocal]) await compare(op as Op, [pos]);
    await compare((t) => tf.leakyRelu(t, 0.1), [x]);
    await compare(tf.erf as Op, [x], 1e-3); // tfjs cpu uses a 1e-7-accurate polynomial; the addon std::erf
  });

  it('reductions, softmax, transpose, gather and segment sums match the cpu backend', async () => {
    const x = rand([3, 4, 5]);
    for (const axis of [0, 1, 2, -1, [0, 2], [1, 2], undefined]) {
      for (const keepDims of [false, true]) {
        await compare((t) => tf.sum(t, axis, keepDims), [x]);
        await compare((t) => tf.mean(t, axis, keepDims), [x]);
        await compare((t) => tf.max(t, axis, keepDims), [x]);
        await compare((t) => tf.min(t, axis, keepDims), [x]);
      }
    }
    await compare((t) => tf.softmax(t), [x]);
    await compare((t) => tf.transpose(t, [2, 0, 1]), [x]);
    await compare((t) => tf.transpose(t, [1, 0, 2]), [x]);
    await compare((t) => tf.transpose(t), [{ shape: [2, 3], dtype: 'int32', data: [1, 2, 3, 4, 5, 6] }]);
    const idx = { shape: [2, 2], dtype: 'int32' as const, data: [2, 0, 1, 2] };
    await compare((t, i) => tf.gather(t, i, 1), [x, idx]);
    await compare((t, i) => tf.gather(t, i, 0), [x, idx]);
    const seg = { shape: [3], dtype: 'int32' as const, data: [1, 1, 0] };
    await compare((t, s) => tf.unsortedSegmentSum(t, s as tf.Tensor1D, 3), [x, seg]);
  });

  it('conv2d/conv3d and their gradients match the cpu backend', async () => {
    const x = rand([2, 7, 6, 3]);
    const w = rand([3, 2, 3, 4]);
    for (const [strides, pad, dil] of [
      [1, 'same', 1],
      [2, 'valid', 1],
      [[2, 1], 'same', 1],
      [1, 'valid', 2],
    ] as [number | [number, number], 'same' | 'valid', number][]) {
      await compare(
        (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, strides, pad, 'NHWC', dil),
        [x, w],
      );
    }
    for (const [strides, pad] of [
      [1, 'same'],
      [2, 'valid'],
    ] as const) {
      const grads = (a: tf.Tensor, f: tf.Tensor) =>
        tf.concat(
          tf
            .grads((p: tf.Tensor, q: tf.Tensor) =>
              tf.sum(tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, strides, pad))),
            )([a, f])
            .map((g) => tf.reshape(g, [-1])),
        );
      await compare(grads as Op, [x, w]);
      const grads3 = (a: tf.Tensor, f: tf.Tensor) =>
        tf.concat(
          tf
            .grads((p: tf.Tensor, q: tf.Tensor) =>
              tf.sum(tf.square(tf.conv3d(p as tf.Tensor5D, q as tf.Tensor5D, strides, pad))),
            )([a, f])
            .map((g) => tf.reshape(g, [-1])),
        );
      await compare(grads3 as Op, [rand([1, 5, 4, 6, 2]), rand([2, 3, 2, 2, 3])]);
    }
  });

  it('gradients of a small MLP match the cpu backend', async () => {
    const w = rand([6, 5]);
    const b = rand([5]);
    const xin = rand([4, 6]);
    const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.softmax(tf.tanh(tf.add(tf.matMul(xx, a), c)))))([
        ww,
        bb,
      ])[0];
    await compare(f as Op, [xin, w, b]);
  });

  it('is deterministic for a fixed thread count (threaded kernels)', async () => {
    await initBackend('native');
    const x = tf.tensor(rng.normalArray(300_000), [600, 500]);
    const run = () =>
      tf.tidy(() => {
        const y = tf.add(tf.mul(tf.exp(tf.mul(x, 0.1)), x), tf.sum(x, 0));
        return [
          ...Array.from(tf.sum(y, 1).dataSync()),
          ...Array.from(tf.softmax(y).dataSync().slice(0, 1000)),
        ];
      });
    expect(run()).toEqual(run());
    x.dispose();
  });

  it('profileKernels reports time per kernel', async () => {
    await initBackend('native');
    const p = await profileKernels(() =>
      tf.tidy(() => tf.sum(tf.matMul(tf.ones([32, 32]), tf.ones([32, 32])))),
    );
    expect(p.kernels.map((k) => k.name)).toContain('BatchMatMul');
    expect(p.kernelMs).toBeGreaterThanOrEqual(0);
    await initBackend('cpu');
  });
});
