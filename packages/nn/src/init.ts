import { defaultRng, type Generator, tf } from '@meddl/tensor';

/** Parameter initializers drawing from a seeded Generator (PyTorch's torch.nn.init names). */
export function uniform(
  shape: number[],
  low: number,
  high: number,
  rng: Generator = defaultRng(),
): tf.Tensor {
  return tf.tensor(rng.uniformArray(sizeOf(shape), low, high), shape);
}

export function normal(shape: number[], mean = 0, std = 1, rng: Generator = defaultRng()): tf.Tensor {
  return tf.tensor(rng.normalArray(sizeOf(shape), mean, std), shape);
}

/** Normal truncated to [mean-2std, mean+2std] by redrawing (timm's trunc_normal_). */
export function truncNormal(shape: number[], std = 0.02, rng: Generator = defaultRng()): tf.Tensor {
  const n = sizeOf(shape);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal();
    while (v < -2 || v > 2) v = rng.normal();
    out[i] = v * std;
  }
  return tf.tensor(out, shape);
}

/** Glorot/Xavier uniform for a weight whose last two dims are [fanOut, fanIn] (PyTorch layout). */
export function xavierUniform(shape: number[], gain = 1, rng: Generator = defaultRng()): tf.Tensor {
  const { fanIn, fanOut } = fans(shape);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(shape, -a, a, rng);
}

/**
 * PyTorch's default for Linear and Conv weights: kaiming_uniform_(a=sqrt(5)), which is
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
 */
export function kaimingUniformDefault(shape: number[], rng: Generator = defaultRng()): tf.Tensor {
  const { fanIn } = fans(shape);
  const bound = 1 / Math.sqrt(fanIn);
  return uniform(shape, -bound, bound, rng);
}

export function zeros(shape: number[]): tf.Tensor {
  return tf.zeros(shape);
}

export function ones(shape: number[]): tf.Tensor {
  return tf.ones(shape);
}

/** Fan-in and fan-out of a PyTorch-layout weight: [out, in, ...kernel]. */
export function fans(shape: number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`fans() needs a weight of rank >= 2, got [${shape}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
