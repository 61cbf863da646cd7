import { defaultRng, type Generator, tf } from '@meddl/tensor';
import { Module } from '../module';

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
 * The mask seed comes from the Generator, so it is reproducible.
 */
export function dropout(x: tf.Tensor, p: number, rng: Generator): tf.Tensor {
  if (p === 0) return x;
  return tf.tidy(() => {
    const keep = tf.randomUniform(x.shape, 0, 1, 'float32', rng.nextUint32());
    const mask = tf.cast(tf.greaterEqual(keep, p), 'float32');
    return tf.mul(x, tf.mul(mask, 1 / (1 - p)));
  });
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
