import * as tf from '@tensorflow/tfjs-core';

/**
 * `fn(x)` evaluated off the gradient tape: inside `tf.variableGrads` / `tf.grad` its intermediate
 * tensors are neither recorded nor kept for backprop (tfjs records nothing while a kernel runs,
 * and `tf.customGrad`'s forward runs as one kernel), and no gradient flows through it — to `x`
 * it is zero, to variables `fn` reads none. For frozen sub-networks inside a loss, e.g. the EMA
 * target encoder of a JEPA, whose activations would otherwise stay alive until the backward pass.
 */
export function noGrad<T extends tf.Tensor>(fn: (x: tf.Tensor) => T, x: tf.Tensor): T {
  const wrapped = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    return { value: fn(input), gradFunc: (_dy: tf.Tensor) => tf.zerosLike(input) };
  });
  return wrapped(x) as T;
}
