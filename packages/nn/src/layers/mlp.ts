import { defaultRng, type Generator, tf } from '@meddl/tensor';
import { Module } from '../module';
import { type ActivationName, activationFn } from './activation';
import { Dropout } from './dropout';
import { Linear } from './linear';

export interface MLPOptions {
  /** Default 'gelu' (exact), as timm's Mlp. */
  activation?: ActivationName;
  dropout?: number;
  bias?: boolean;
  rng?: Generator;
}

/** fc1 → activation → dropout → fc2 → dropout, with timm's Mlp parameter names (fc1, fc2). */
export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly drop: Dropout;
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  /** The activation's config name (read by exporters such as @meddl/onnx). */
  readonly activation: ActivationName;

  constructor(inFeatures: number, hiddenFeatures: number, outFeatures: number, options: MLPOptions = {}) {
    super();
    const rng = options.rng ?? defaultRng();
    this.activation = options.activation ?? 'gelu';
    this.act = activationFn(this.activation);
    this.fc1 = this.registerModule(
      'fc1',
      new Linear(inFeatures, hiddenFeatures, { bias: options.bias, rng }),
    );
    this.drop = this.registerModule('drop', new Dropout(options.dropout ?? 0, rng));
    this.fc2 = this.registerModule(
      'fc2',
      new Linear(hiddenFeatures, outFeatures, { bias: options.bias, rng }),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.drop.forward(this.fc2.forward(this.drop.forward(this.act(this.fc1.forward(x))))),
    );
  }
}
