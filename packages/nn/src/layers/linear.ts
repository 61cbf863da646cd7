import { defaultRng, type Generator, tf } from '@meddl/tensor';
import * as init from '../init';
import { Module } from '../module';

export interface LinearOptions {
  bias?: boolean;
  rng?: Generator;
}

/** y = x Wᵀ + b over the last axis; weight is [out, in] as in torch.nn.Linear. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    const rng = options.rng ?? defaultRng();
    this.weight = this.registerParameter(
      'weight',
      init.kaimingUniformDefault([outFeatures, inFeatures], rng),
    );
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias =
      options.bias === false
        ? null
        : this.registerParameter('bias', init.uniform([outFeatures], -bound, bound, rng));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = x.reshape([-1, this.inFeatures]) as tf.Tensor2D;
      const y = tf.matMul(x2, this.weight as tf.Tensor2D, false, true);
      const yb = this.bias ? tf.add(y, this.bias) : y;
      return yb.reshape([...lead, this.outFeatures]);
    });
  }
}
