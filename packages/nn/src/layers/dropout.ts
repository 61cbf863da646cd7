import { defaultRng, type Generator, tf } from '@meddl/tensor';
import { Module } from '../module';

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
 * The mask seed comes from the Generator, so it is reproducible.
 */
export function dropout(x: tf.Tensor, p: number, rng: Generator): tf.Tensor {
  if (p === 0) return x;
  // The keep mask (already scaled by 1/(1-p)) is drawn in JS from the Generator: one tensor
  // upload and one multiply, instead of randomUniform + compare + cast + two multiplies.
  const scale = 1 / (1 - p);
  const mask = rng.fillDropoutMask(new Float32Array(x.size), p, scale);
  return tf.tidy(() => tf.mul(x, tf.tensor(mask, x.shape, 'float32')));
}

/** Dropout as a module: active in training mode, the identity in eval mode. */
export class Dropout extends Module {
  private readonly rng: Generator;

  constructor(
    readonly p = 0.5,
    rng?: Generator,
  ) {
    super();
    if (p < 0 || p >= 1) throw new RangeError(`Dropout p must be in [0, 1), got ${p}`);
    this.rng = rng ?? defaultRng();
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, this.rng);
  }
}
