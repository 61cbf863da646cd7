/**
 * What to compute for MDF-Net training: batches from prepared studies, the masked
 * 0.7·BCE + 0.3·focal loss, and validation metrics (mean and worst-class AUROC over labels
 * with certain ground truth). How to train is @meddl/trainer's.
 */
import { auroc } from '@meddl/metrics';
import { Generator, tf } from '@meddl/tensor';
import type { ParamGroupSpec } from '@meddl/trainer';
import {
  bceWithLogits,
  type Dataset,
  sigmoidFocalLoss,
  type TrainingTask,
  type ValidationOutput,
} from '@meddl/trainer';
import type { PreparedStudy } from './data';
import { augmentImage, type Normalization, normalizeImage } from './image';
import { applyUncertainPolicy, FINDINGS, type UncertainPolicy } from './labels';
import type { MdfNet, MdfNetInputs } from './model';

export interface MdfNetBatch {
  size: number;
  imageSize: number;
  /** [B·S·S] in [0, 1] (zeros where a study has no image). */
  images: Float32Array;
  tokens: Int32Array;
  attention: Int32Array;
  maxTokens: number;
  clinical: Float32Array;
  sex: Int32Array;
  acuity: Int32Array;
  /** Targets and loss mask under the uncertainty policy. */
  target: Float32Array;
  mask: Float32Array;
  /** 1 where the recorded label is 0 or 1 (what metrics are computed on). */
  certain: Float32Array;
  certainTarget: Float32Array;
  /** [B·D] cached embeddings of frozen ONNX encoders (null when the run has none). */
  imageEmbeddings: Float32Array | null;
  textEmbeddings: Float32Array | null;
}

export function studyDataset(
  studies: readonly PreparedStudy[],
  indices: readonly number[],
): Dataset<PreparedStudy> {
  return { length: indices.length, get: (i: number) => studies[indices[i]] };
}

function embeddingsOf(items: PreparedStudy[], key: 'imageEmbedding' | 'textEmbedding'): Float32Array | null {
  const first = items[0]?.[key];
  if (!first) return null;
  const D = first.length;
  const out = new Float32Array(items.length * D);
  items.forEach((s, i) => {
    const e = s[key];
    if (!e || e.length !== D) throw new RangeError(`study ${s.studyId} has no ${key} of width ${D}`);
    out.set(e, i * D);
  });
  return out;
}

export function collateStudies(
  items: PreparedStudy[],
  o: { imageSize: number; maxTokens: number; policy: UncertainPolicy; clinicalDim: number },
): MdfNetBatch {
  const B = items.length;
  const S = o.imageSize;
  const L = o.maxTokens;
  const K = FINDINGS.length;
  const b: MdfNetBatch = {
    size: B,
    imageSize: S,
    images: new Float32Array(B * S * S),
    tokens: new Int32Array(B * L),
    attention: new Int32Array(B * L),
    maxTokens: L,
    clinical: new Float32Array(B * o.clinicalDim),
    sex: new Int32Array(B),
    acuity: new Int32Array(B),
    target: new Float32Array(B * K),
    mask: new Float32Array(B * K),
    certain: new Float32Array(B * K),
    certainTarget: new Float32Array(B * K),
    imageEmbeddings: embeddingsOf(items, 'imageEmbedding'),
    textEmbeddings: embeddingsOf(items, 'textEmbedding'),
  };
  items.forEach((s, i) => {
    if (s.image) b.images.set(s.image, i * S * S);
    if (s.tokens && s.attention) {
      b.tokens.set(s.tokens.subarray(0, L), i * L);
      b.attention.set(s.attention.subarray(0, L), i * L);
    } else {
      b.attention[i * L] = 1; // an empty report: one [PAD] position attended, so pooling is defined
    }
    b.clinical.set(s.clinicalNumeric, i * o.clinicalDim);
    b.sex[i] = s.sex;
    b.acuity[i] = s.acuity;
    const { target, mask } = applyUncertainPolicy(s.labels, o.policy);
    b.target.set(target, i * K);
    b.mask.set(mask, i * K);
    s.labels.forEach((l, k) => {
      if (l === 0 || l === 1) {
        b.certain[i * K + k] = 1;
        b.certainTarget[i * K + k] = l;
      }
    });
  });
  return b;
}

export interface LossWeights {
  bceWeight: number;
  focalWeight: number;
  focalAlpha: number;
  focalGamma: number;
}

/** 0.7·BCE + 0.3·focal by default, both averaged over unmasked label cells. */
export function mdfNetLoss(logits: tf.Tensor, target: tf.Tensor, mask: tf.Tensor, w: LossWeights): tf.Scalar {
  return tf.tidy(() => {
    const bce = bceWithLogits(logits, target, { mask });
    const focal = sigmoidFocalLoss(logits, target, { alpha: w.focalAlpha, gamma: w.focalGamma, mask });
    return tf.add(tf.mul(bce, w.bceWeight), tf.mul(focal, w.focalWeight)) as tf.Scalar;
  });
}

/** Builds the model inputs of a batch (augmenting images when an rng is given). */
export function batchInputs(
  b: MdfNetBatch,
  normalization: Normalization,
  augmentRng?: Generator,
): MdfNetInputs {
  const S = b.imageSize;
  let images = b.images;
  if (augmentRng) {
    images = new Float32Array(b.images.length);
    for (let i = 0; i < b.size; i++)
      images.set(augmentImage(b.images.subarray(i * S * S, (i + 1) * S * S), S, augmentRng), i * S * S);
  }
  return {
    images: tf.tensor3d(normalizeImage(images, normalization), [b.size, S, S]),
    tokens: tf.tensor2d(b.tokens, [b.size, b.maxTokens], 'int32'),
    attention: tf.tensor2d(b.attention, [b.size, b.maxTokens], 'int32'),
    clinical: tf.tensor2d(b.clinical, [b.size, b.clinical.length / b.size]),
    sex: tf.tensor1d(b.sex, 'int32'),
    acuity: tf.tensor1d(b.acuity, 'int32'),
    ...(b.imageEmbeddings
      ? { imageEmbeddings: tf.tensor2d(b.imageEmbeddings, [b.size, b.imageEmbeddings.length / b.size]) }
      : {}),
    ...(b.textEmbeddings
      ? { textEmbeddings: tf.tensor2d(b.textEmbeddings, [b.size, b.textEmbeddings.length / b.size]) }
      : {}),
  };
}

/** Per-label AUROC over certain labels; NaN where a label has one class only. */
export function perLabelAuroc(
  probs: Float32Array,
  target: Float32Array,
  certain: Float32Array,
  K: number,
): number[] {
  const n = probs.length / K;
  return Array.from({ length: K }, (_, k) => {
    const y: number[] = [];
    const s: number[] = [];
    for (let i = 0; i < n; i++) {
      if (certain[i * K + k]) {
        y.push(target[i * K + k]);
        s.push(probs[i * K + k]);
      }
    }
    if (y.length === 0) return Number.NaN;
    const r = auroc(y, s);
    return r.defined ? r.value : Number.NaN;
  });
}

export interface GroupLearningRates {
  encoders: number;
  fusion: number;
  head: number;
}

export class MdfNetTask implements TrainingTask<MdfNetBatch> {
  lastPerLabel: number[] = [];
  constructor(
    readonly module: MdfNet,
    readonly options: {
      loss: LossWeights;
      normalization: Normalization;
      augment: boolean;
      /** Per-group learning rates; encoders are skipped while frozen. */
      lrs: GroupLearningRates;
      weightDecay: number;
    },
    private readonly augmentRng = new Generator(0),
  ) {}

  trainingStep(b: MdfNetBatch): tf.Scalar {
    const x = batchInputs(b, this.options.normalization, this.options.augment ? this.augmentRng : undefined);
    const logits = this.module.forward(x);
    const K = FINDINGS.length;
    return mdfNetLoss(
      logits,
      tf.tensor2d(b.target, [b.size, K]),
      tf.tensor2d(b.mask, [b.size, K]),
      this.options.loss,
    );
  }

  validationStep(b: MdfNetBatch): ValidationOutput {
    return tf.tidy(() => {
      const K = FINDINGS.length;
      const logits = this.module.forward(batchInputs(b, this.options.normalization));
      const loss = mdfNetLoss(
        logits,
        tf.tensor2d(b.target, [b.size, K]),
        tf.tensor2d(b.mask, [b.size, K]),
        this.options.loss,
      );
      return {
        loss: loss.dataSync()[0],
        probs: Float32Array.from(tf.sigmoid(logits).dataSync()),
        target: b.certainTarget,
        certain: b.certain,
      };
    });
  }

  validationEpochEnd(outputs: ValidationOutput[]): Record<string, number> {
    const cat = (key: string) => {
      const parts = outputs.map((o) => o[key] as Float32Array);
      const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      let off = 0;
      for (const p of parts) {
        out.set(p, off);
        off += p.length;
      }
      return out;
    };
    const per = perLabelAuroc(cat('probs'), cat('target'), cat('certain'), FINDINGS.length);
    this.lastPerLabel = per;
    const defined = per.filter((v) => !Number.isNaN(v));
    return {
      val_mean_auroc: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : Number.NaN,
      val_min_auroc: defined.length ? Math.min(...defined) : Number.NaN,
    };
  }

  paramGroups(): ParamGroupSpec[] {
    const m = this.module;
    const groups: ParamGroupSpec[] = [];
    const enc = m.encoders().flatMap((e) => e.trainableParameters());
    if (enc.length)
      groups.push({
        name: 'encoders',
        params: enc,
        lr: this.options.lrs.encoders,
        weightDecay: this.options.weightDecay,
      });
    groups.push({
      name: 'fusion',
      params: [...m.adapters().flatMap((a) => a.trainableParameters()), ...m.fusion.trainableParameters()],
      lr: this.options.lrs.fusion,
      weightDecay: this.options.weightDecay,
    });
    groups.push({
      name: 'head',
      params: m.head.trainableParameters(),
      lr: this.options.lrs.head,
      weightDecay: this.options.weightDecay,
    });
    return groups;
  }

  generators(): Generator[] {
    return [this.augmentRng];
  }
}
