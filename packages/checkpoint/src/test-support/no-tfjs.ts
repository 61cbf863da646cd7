/**
 * Stands in for @meddl/tensor in the kill-test child (see kill-child.ts), which only ever passes raw
 * typed arrays: `instanceof tf.Tensor` is then false, and anything that would compute throws.
 */
class Tensor {}

function unavailable(): never {
  throw new Error('tfjs is not loaded in the kill-test child');
}

export const tf = { Tensor, tensor: unavailable };
