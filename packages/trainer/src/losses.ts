import { tf } from '@meddl/tensor';
import { TrainerError } from './errors';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(t: tf.Tensor, reduction: Reduction): tf.Tensor {
  if (reduction === 'mean') return tf.mean(t);
  if (reduction === 'sum') return tf.sum(t);
  return t;
}

export interface CrossEntropyOptions {
  /** Per-class weights, length C. */
  weight?: tf.Tensor1D | number[];
  ignoreIndex?: number;
  reduction?: Reduction;
  labelSmoothing?: number;
}

/**
 * torch.nn.functional.cross_entropy for logits [N, C] and integer targets [N], including its
 * label-smoothing semantics (1.13): loss = (1-ε)·nll + ε/C·smooth, where smooth = -Σ_c w_c·log p_c;
 * 'mean' divides both terms by Σ w[target] over non-ignored samples (their count without weights);
 * ignored samples contribute 0 in 'none'.
 */
export function crossEntropy(
  logits: tf.Tensor,
  target: tf.Tensor | ArrayLike<number>,
  options: CrossEntropyOptions = {},
): tf.Tensor {
  const { ignoreIndex = -100, reduction = 'mean', labelSmoothing = 0 } = options;
  if (logits.rank !== 2)
    throw new TrainerError(`crossEntropy expects logits [N, C], got shape [${logits.shape}]`);
  if (labelSmoothing < 0 || labelSmoothing > 1) {
    throw new TrainerError(`crossEntropy labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  }
  return tf.tidy(() => {
    const [, C] = logits.shape;
    const t =
      target instanceof tf.Tensor ? tf.cast(target, 'int32') : tf.tensor1d(Array.from(target), 'int32');
    const valid = tf.notEqual(t, ignoreIndex);
    const validF = tf.cast(valid, 'float32');
    const safeT = tf.where(valid, t, tf.zerosLike(t));
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(safeT, C);
    const w =
      options.weight === undefined
        ? null
        : options.weight instanceof tf.Tensor
          ? options.weight
          : tf.tensor1d(options.weight);
    const wt = w ? tf.mul(tf.sum(tf.mul(onehot, w), 1), validF) : validF; // w[target], 0 if ignored
    const nll = tf.mul(tf.neg(tf.sum(tf.mul(onehot, logp), 1)), wt);
    let nllR: tf.Tensor;
    if (reduction === 'mean') nllR = tf.div(tf.sum(nll), tf.sum(wt));
    else nllR = reduce(nll, reduction);
    if (labelSmoothing === 0) return nllR;
    const smooth = tf.mul(tf.neg(tf.sum(w ? tf.mul(logp, w) : logp, 1)), validF);
    let smoothR: tf.Tensor;
    if (reduction === 'mean') smoothR = tf.div(tf.sum(smooth), tf.sum(wt));
    else smoothR = reduce(smooth, reduction);
    return tf.add(tf.mul(nllR, 1 - labelSmoothing), tf.mul(smoothR, labelSmoothing / C));
  });
}

export interface BCEOptions {
  /** Weight of positives per class (broadcast over the last axis), torch's pos_weight. */
  posWeight?: tf.Tensor | number[];
  /** Element weights (torch's weight), broadcast to the input. */
  weight?: tf.Tensor;
  /** 1 where the element counts; 'mean' then averages over the mask's sum. */
  mask?: tf.Tensor;
  reduction?: Reduction;
}

/** Numerically stable log(1 + e^{-|x|}) + max(-x, 0) = softplus(-x). */
function softplusNeg(x: tf.Tensor): tf.Tensor {
  const maxVal = tf.relu(tf.neg(x));
  return tf.add(tf.log(tf.add(tf.exp(tf.neg(maxVal)), tf.exp(tf.sub(tf.neg(x), maxVal)))), maxVal);
}

function maskedReduce(loss: tf.Tensor, mask: tf.Tensor | undefined, reduction: Reduction): tf.Tensor {
  if (!mask) return reduce(loss, reduction);
  const m = tf.cast(mask, 'float32');
  const l = tf.mul(loss, m);
  if (reduction === 'mean') return tf.div(tf.sum(l), tf.maximum(tf.sum(tf.mul(tf.onesLike(loss), m)), 1e-12));
  return reduce(l, reduction);
}

/** torch.nn.functional.binary_cross_entropy_with_logits, plus an optional element mask. */
export function bceWithLogits(logits: tf.Tensor, target: tf.Tensor, options: BCEOptions = {}): tf.Tensor {
  const { reduction = 'mean' } = options;
  return tf.tidy(() => {
    const t = tf.cast(target, 'float32');
    let loss: tf.Tensor;
    if (options.posWeight !== undefined) {
      const pw = options.posWeight instanceof tf.Tensor ? options.posWeight : tf.tensor1d(options.posWeight);
      const logWeight = tf.add(tf.mul(tf.sub(pw, 1), t), 1);
      loss = tf.add(tf.mul(tf.sub(1, t), logits), tf.mul(logWeight, softplusNeg(logits)));
    } else {
      loss = tf.add(tf.mul(tf.sub(1, t), logits), softplusNeg(logits));
    }
    if (options.weight) loss = tf.mul(loss, options.weight);
    return maskedReduce(loss, options.mask, reduction);
  });
}

export interface FocalOptions {
  /** Weight of positives in (0,1); negative disables α weighting (torchvision). Default 0.25. */
  alpha?: number;
  gamma?: number;
  mask?: tf.Tensor;
  reduction?: Reduction;
}

/**
 * Sigmoid focal loss (Lin et al. 2017) with torchvision.ops.sigmoid_focal_loss semantics:
 * BCE·(1-p_t)^γ, times α_t when α ≥ 0. Note torchvision's default reduction is 'none'; ours is 'mean'.
 */
export function sigmoidFocalLoss(
  logits: tf.Tensor,
  target: tf.Tensor,
  options: FocalOptions = {},
): tf.Tensor {
  const { alpha = 0.25, gamma = 2, reduction = 'mean' } = options;
  return tf.tidy(() => {
    const t = tf.cast(target, 'float32');
    const p = tf.sigmoid(logits);
    const ce = tf.add(tf.mul(tf.sub(1, t), logits), softplusNeg(logits));
    const pT = tf.add(tf.mul(p, t), tf.mul(tf.sub(1, p), tf.sub(1, t)));
    let loss = gamma === 0 ? ce : tf.mul(ce, tf.pow(tf.sub(1, pT), gamma));
    if (alpha >= 0) loss = tf.mul(loss, tf.add(tf.mul(t, alpha), tf.mul(tf.sub(1, t), 1 - alpha)));
    return maskedReduce(loss, options.mask, reduction);
  });
}

/** A loss term of a weighted sum. */
export interface LossTerm<P, T> {
  name: string;
  weight: number;
  fn: (pred: P, target: T) => tf.Tensor;
}

/** Σ wᵢ·lossᵢ over terms that each reduce to a scalar (e.g. 0.7·BCE + 0.3·focal). */
export function weightedLoss<P, T>(terms: LossTerm<P, T>[]): (pred: P, target: T) => tf.Scalar {
  if (terms.length === 0) throw new TrainerError('weightedLoss needs at least one term');
  return (pred, target) =>
    tf.tidy(() => {
      let acc: tf.Tensor = tf.scalar(0);
      for (const term of terms) acc = tf.add(acc, tf.mul(term.fn(pred, target), term.weight));
      return acc as tf.Scalar;
    });
}
