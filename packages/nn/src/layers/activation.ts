import { fusedGelu, fusedKernelsActive, tf } from '@meddl/tensor';
import { Module } from '../module';

export type GeluApproximate = 'none' | 'tanh';

/**
 * Gaussian error linear unit (Hendrycks & Gimpel 2016): x·Φ(x). `approximate: 'none'` is the
 * exact erf form (PyTorch's default), `'tanh'` is 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
 */
export function gelu(x: tf.Tensor, approximate: GeluApproximate = 'none'): tf.Tensor {
  // On the native backend the erf form is one fused kernel (vectorized erf, within ~1 ulp; one-kernel gradient).
  if (approximate === 'none' && x.dtype === 'float32' && fusedKernelsActive()) return fusedGelu(x);
  return tf.tidy(() => {
    if (approximate === 'tanh') {
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
    }
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  });
}

export class GELU extends Module {
  readonly approximate: GeluApproximate;
  constructor(options: { approximate?: GeluApproximate } = {}) {
    super();
    this.approximate = options.approximate ?? 'none';
  }
  forward(x: tf.Tensor): tf.Tensor {
    return gelu(x, this.approximate);
  }
}

export class ReLU extends Module {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}

export type ActivationName = 'relu' | 'gelu' | 'gelu_tanh';

/** The activation function for a name used in configs (PyTorch's / timm's spelling). */
export function activationFn(name: ActivationName): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'relu':
      return (x) => tf.relu(x);
    case 'gelu':
      return (x) => gelu(x, 'none');
    case 'gelu_tanh':
      return (x) => gelu(x, 'tanh');
    default:
      throw new RangeError(`Unknown activation '${name as string}' (expected relu, gelu or gelu_tanh)`);
  }
}
