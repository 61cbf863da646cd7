// What to compute for crc-mil training (the MilTask) and one training run on a set of patients:
// @meddl/trainer runs the loop, @meddl/checkpoint keeps the best checkpoint by validation loss,
// and temperature scaling (Guo et al. 2017) is fitted on the validation patients' logits.
import { join } from 'node:path';
import { CheckpointManager, disposeCheckpoint } from '@meddl/checkpoint';
import { groupRatioSplit } from '@meddl/data';
import { accuracy, argmaxRows, fitTemperature, ovrAuroc } from '@meddl/metrics';
import { Generator, tf } from '@meddl/tensor';
import {
  crossEntropy,
  DataLoader,
  type FitSummary,
  type StepContext,
  Trainer,
  type TrainingTask,
  type ValidationOutput,
} from '@meddl/trainer';
import { featureStats, type PatientBag } from './bags';
import type { CrcMilRunConfig } from './config';
import { evidentialMseLoss, GatedAttentionMil, MIL_PRESETS } from './model';

export interface MilBatchItem {
  features: Float32Array;
  count: number;
  dim: number;
  label: number;
  /** Scale (magnification) index per patch, for the multi-scale model. */
  scaleIndex?: Int32Array;
}

export class MilTask implements TrainingTask<MilBatchItem[]> {
  readonly module: GatedAttentionMil;
  constructor(
    model: GatedAttentionMil,
    private readonly options: { maxPatchesPerBag: number; klAnnealEpochs: number; numClasses: number },
  ) {
    this.module = model;
  }

  /** Forward of one bag, on a random subset of `maxPatchesPerBag` patches when training. */
  private forwardBag(item: MilBatchItem, rng: Generator | null): tf.Tensor2D {
    const max = this.options.maxPatchesPerBag;
    if (!rng || max <= 0 || item.count <= max)
      return this.module.forward(tf.tensor2d(item.features, [item.count, item.dim]), item.scaleIndex).logits;
    const idx = rng.permutation(item.count).slice(0, max);
    const sub = new Float32Array(max * item.dim);
    for (const [i, r] of idx.entries())
      sub.set(item.features.subarray(r * item.dim, (r + 1) * item.dim), i * item.dim);
    const scales = item.scaleIndex ? Int32Array.from(idx, (r) => item.scaleIndex?.[r] as number) : undefined;
    return this.module.forward(tf.tensor2d(sub, [max, item.dim]), scales).logits;
  }

  private loss(logits: tf.Tensor2D, labels: number[], epoch: number): tf.Scalar {
    if (this.module.config.head === 'evidential') {
      const kl = Math.min(1, epoch / this.options.klAnnealEpochs);
      return evidentialMseLoss(logits, labels, kl);
    }
    return crossEntropy(logits, tf.tensor1d(labels, 'int32')) as tf.Scalar;
  }

  trainingStep(batch: MilBatchItem[], ctx: StepContext): tf.Scalar {
    const logits = tf.concat(batch.map((b) => this.forwardBag(b, ctx.rng))) as tf.Tensor2D;
    return this.loss(
      logits,
      batch.map((b) => b.label),
      ctx.epoch,
    );
  }

  validationStep(batch: MilBatchItem[], ctx: StepContext): ValidationOutput {
    return tf.tidy(() => {
      const logits = tf.concat(batch.map((b) => this.forwardBag(b, null))) as tf.Tensor2D;
      const loss = this.loss(
        logits,
        batch.map((b) => b.label),
        ctx.epoch,
      ).dataSync()[0] as number;
      const pl = this.module.predictiveLogits(logits);
      return { loss, logits: Array.from(pl.dataSync()), labels: batch.map((b) => b.label) };
    });
  }

  validationEpochEnd(outputs: ValidationOutput[]): Record<string, number> {
    const k = this.options.numClasses;
    if (outputs.length === 0) return {};
    const logits = outputs.flatMap((o) => o.logits as number[]);
    const labels = outputs.flatMap((o) => o.labels as number[]);
    const scores = { data: Float64Array.from(logits), cols: k };
    const pred = argmaxRows(scores);
    const metrics: Record<string, number> = { val_accuracy: accuracy(labels, pred, k) };
    const auc = ovrAuroc(labels, scores).macro;
    if (auc.defined) metrics.val_macro_auroc = auc.value;
    return metrics;
  }
}

export function batchItems(patients: readonly PatientBag[]): MilBatchItem[] {
  return patients.map((p) => ({
    features: p.features,
    count: p.count,
    dim: p.dim,
    label: p.label,
    scaleIndex: p.scaleIndex,
  }));
}

/** The run's magnifications: the primary one, then preprocess.extraMagnifications. */
export function scaleList(cfg: CrcMilRunConfig): number[] {
  const pre = (cfg.preprocess ?? {}) as { magnification?: number; extraMagnifications?: number[] };
  return [pre.magnification ?? -1, ...(pre.extraMagnifications ?? [])];
}

/** Scale index of each patch: the nearest listed magnification. */
export function scaleIndexOf(magnifications: Float32Array, scales: readonly number[]): Int32Array {
  return Int32Array.from(magnifications, (m) => {
    let best = 0;
    for (let i = 1; i < scales.length; i++)
      if (Math.abs((scales[i] as number) - m) < Math.abs((scales[best] as number) - m)) best = i;
    return best;
  });
}

export function createMilModel(cfg: CrcMilRunConfig, inDim: number, seed: number): GatedAttentionMil {
  const preset = MIL_PRESETS[cfg.model.preset];
  return new GatedAttentionMil(
    {
      inDim,
      numClasses: cfg.classes.length,
      head: cfg.model.head,
      hidden: cfg.model.hidden ?? preset.hidden,
      attnDim: cfg.model.attnDim ?? preset.attnDim,
      dropout: cfg.model.dropout ?? preset.dropout,
      scales: cfg.model.multiScale ? scaleList(cfg).length : 1,
      aggregator: cfg.model.aggregator,
      heads: cfg.model.heads,
      layers: cfg.model.layers,
    },
    new Generator(seed),
  );
}

export interface TrainedModel {
  model: GatedAttentionMil;
  temperature: number;
  temperatureFit: { fitted: number; nllBefore: number; nllAfter: number; converged: boolean } | null;
  summary: FitSummary;
  runDir: string;
  bestCheckpoint: string | null;
  trainPatients: string[];
  valPatients: string[];
}

/** Splits patients into train / validation by patient, stratified by subtype. */
export function innerSplit(
  patients: readonly PatientBag[],
  valFraction: number,
  seed: number,
): { train: PatientBag[]; val: PatientBag[] } {
  const parts = groupRatioSplit(patients, {
    ratios: { train: 1 - valFraction, val: valFraction },
    group: (p) => p.patientId,
    stratify: (p) => p.subtype,
    generator: new Generator(seed),
  });
  const train = patients.filter((_, i) => parts[i] === 'train');
  const val = patients.filter((_, i) => parts[i] === 'val');
  // Small cohorts: keep at least one validation patient (for the best epoch and the temperature).
  if (val.length === 0 && train.length >= 2) val.push(train.pop() as PatientBag);
  return { train, val };
}

/** Trains one model on `train` (best epoch by val loss on `val`), then fits the temperature on `val`. */
export async function trainModel(
  cfg: CrcMilRunConfig,
  train: readonly PatientBag[],
  val: readonly PatientBag[],
  runsDir: string,
  name: string,
  seed: number,
): Promise<TrainedModel> {
  const dim = (train[0] as PatientBag).dim;
  const model = createMilModel(cfg, dim, seed);
  const stats = featureStats(train);
  model.setFeatureStats(stats.mean, stats.std);
  const collate = (items: MilBatchItem[]) => items;
  const trainLoader = new DataLoader(
    { length: train.length, get: (i: number) => batchItems([train[i] as PatientBag])[0] as MilBatchItem },
    { batchSize: cfg.training.batchSize, shuffle: true, seed, collate },
  );
  const valLoader = new DataLoader(
    { length: val.length, get: (i: number) => batchItems([val[i] as PatientBag])[0] as MilBatchItem },
    { batchSize: 1, collate },
  );
  const runDir = join(runsDir, name);
  const manager = new CheckpointManager(join(runDir, 'checkpoints'), {
    keepLast: 1,
    keepBest: [{ monitor: 'val_loss', mode: 'min', k: 1 }],
  });
  const task = new MilTask(model, {
    maxPatchesPerBag: cfg.training.maxPatchesPerBag,
    klAnnealEpochs: cfg.training.klAnnealEpochs,
    numClasses: cfg.classes.length,
  });
  const trainer = new Trainer(
    {
      name,
      runsDir,
      seed,
      maxEpochs: cfg.training.maxEpochs,
      optimizer: { name: 'adamw', lr: cfg.training.lr, weightDecay: cfg.training.weightDecay },
      checkpoint: { everyNEpochs: 1, monitor: 'val_loss', mode: 'min' },
      ...(cfg.training.earlyStoppingPatience > 0
        ? {
            earlyStopping: { monitor: 'val_loss', mode: 'min', patience: cfg.training.earlyStoppingPatience },
          }
        : {}),
      loggers: { console: false, csv: true, jsonl: true, tensorboard: false },
      handleSignals: false,
    },
    { checkpointSink: manager },
  );
  let summary: FitSummary;
  let bestCheckpoint: string | null = null;
  try {
    summary = await trainer.fit(task, { train: trainLoader, val: valLoader }, { resume: true });
    await manager.flush();
    const best = manager.best('val_loss', 'min');
    if (best) {
      const ck = await manager.load(best.name);
      model.loadStateDict(ck.model);
      disposeCheckpoint(ck);
      bestCheckpoint = best.name;
    }
  } finally {
    await manager.close();
  }
  model.eval();
  // Temperature on the validation patients.
  const valLogits = predictiveLogits(model, val);
  let temperature = 1;
  let temperatureFit: TrainedModel['temperatureFit'] = null;
  if (val.length >= 2) {
    const fit = fitTemperature(
      { data: valLogits, cols: cfg.classes.length },
      val.map((p) => p.label),
    );
    // Clipped: a separable validation set drives T → 0, one without signal to Infinity.
    const [lo, hi] = cfg.training.temperatureBounds;
    if (fit.temperature > 0) temperature = Math.min(hi, Math.max(lo, fit.temperature));
    temperatureFit = {
      fitted: fit.temperature,
      nllBefore: fit.nllBefore,
      nllAfter: fit.nllAfter,
      converged: fit.converged,
    };
  }
  return {
    model,
    temperature,
    temperatureFit,
    summary,
    runDir,
    bestCheckpoint,
    trainPatients: train.map((p) => p.patientId),
    valPatients: val.map((p) => p.patientId),
  };
}

/** Predictive logits (see GatedAttentionMil.predictiveLogits), row-major [patients, K]. */
export function predictiveLogits(model: GatedAttentionMil, patients: readonly PatientBag[]): Float64Array {
  const k = model.config.numClasses;
  const out = new Float64Array(patients.length * k);
  patients.forEach((p, i) => {
    const pl = tf.tidy(() =>
      model.predictiveLogits(model.forward(tf.tensor2d(p.features, [p.count, p.dim]), p.scaleIndex).logits),
    );
    out.set(pl.dataSync(), i * k);
    pl.dispose();
  });
  return out;
}

/** Raw head outputs and attention of one bag. */
export function inferBag(
  model: GatedAttentionMil,
  features: Float32Array,
  count: number,
  dim: number,
  scaleIndex?: Int32Array,
): { logits: Float32Array; attention: Float32Array } {
  const input = tf.tensor2d(features, [count, dim]);
  const { logits, attention } = model.forward(input, scaleIndex);
  input.dispose();
  const out = {
    logits: Float32Array.from(logits.dataSync()),
    attention: Float32Array.from(attention.dataSync()),
  };
  logits.dispose();
  attention.dispose();
  return out;
}
