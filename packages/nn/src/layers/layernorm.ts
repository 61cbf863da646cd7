import { fusedKernelsActive, fusedLayerNorm, tf } from '@meddl/tensor';
import { ShapeError } from '../errors';
import * as init from '../init';
import { Module } from '../module';

export interface LayerNormOptions {
  eps?: number;
  /** Learn a per-element scale (`weight`) and shift (`bias`); default true. */
  elementwiseAffine?: boolean;
}

/**
 * Normalizes over the trailing `normalizedShape` axes with the biased variance, then scales and
 * shifts elementwise, as torch.nn.LayerNorm (Ba et al. 2016).
 */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly weight: tf.Variable | null;
  readonly bias: tf.Variable | null;

  constructor(normalizedShape: number | number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.eps = options.eps ?? 1e-5;
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? this.registerParameter('weight', init.ones(this.normalizedShape)) : null;
    this.bias = affine ? this.registerParameter('bias', init.zeros(this.normalizedShape)) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(-k);
    if (tail.length !== k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new ShapeError(
        `LayerNorm.forward: input must end in dims [${this.normalizedShape}], got input [${x.shape}]`,
      );
    }
    if (this.weight && this.bias && x.dtype === 'float32' && fusedKernelsActive()) {
      // One native kernel forward and one backward (bit-identical forward to the ops below).
      return fusedLayerNorm(x, this.weight, this.bias, this.eps);
    }
    return tf.tidy(() => {
      const axes = Array.from({ length: k }, (_, i) => x.rank - k + i);
      const { mean, variance } = tf.moments(x, axes, true);
      let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      if (this.weight) y = tf.mul(y, this.weight);
      if (this.bias) y = tf.add(y, this.bias);
      return y;
    });
  }
}
