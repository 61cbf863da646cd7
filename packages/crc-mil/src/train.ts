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
import type { AuxiliaryTask, CrcMilRunConfig } from './config';
import { CrcMilDataError } from './errors';
import { evidentialMseLoss, GatedAttentionMil, MIL_PRESETS, type MilOutput, maskedAuxLoss } from './model';

export interface MilBatchItem {
  features: Float32Array;
  count: number;
  dim: number;
  label: number;
  /** Scale (magnification) index per patch, for the multi-scale model. */
  scaleIndex?: Int32Array;
  /** Auxiliary targets in config order (regression: training-standardized; NaN = missing). */
  aux?: Float32Array;
}

export class MilTask implements TrainingTask<MilBatchItem[]> {
  readonly module: GatedAttentionMil;
  constructor(
    model: GatedAttentionMil,
    private readonly options: {
      maxPatchesPerBag: number;
      klAnnealEpochs: number;
      numClasses: number;
      /** Kind and loss weight of each auxiliary head, in the model's order. */
      auxiliary?: readonly Pick<AuxiliaryTask, 'kind' | 'weight'>[];
    },
  ) {
    this.module = model;
  }

  /** Forward of one bag, on a random subset of `maxPatchesPerBag` patches when training. */
  private forwardBag(item: MilBatchItem, rng: Generator | null): MilOutput {
    const max = this.options.maxPatchesPerBag;
    if (!rng || max <= 0 || item.count <= max)
      return this.module.forward(tf.tensor2d(item.features, [item.count, item.dim]), item.scaleIndex);
    const idx = rng.permutation(item.count).slice(0, max);
    const sub = new Float32Array(max * item.dim);
    for (const [i, r] of idx.entries())
      sub.set(item.features.subarray(r * item.dim, (r + 1) * item.dim), i * item.dim);
    const scales = item.scaleIndex ? Int32Array.from(idx, (r) => item.scaleIndex?.[r] as number) : undefined;
    return this.module.forward(tf.tensor2d(sub, [max, item.dim]), scales);
  }

  /** Subtype loss + Σ weight · masked auxiliary loss (MSE or BCE over the rows whose target is present). */
  private loss(outs: MilOutput[], batch: MilBatchItem[], epoch: number): tf.Scalar {
    return tf.tidy(() => {
      const logits = tf.concat(outs.map((o) => o.logits)) as tf.Tensor2D;
      const labels = batch.map((b) => b.label);
      let loss: tf.Scalar;
      if (this.module.config.head === 'evidential') {
        const kl = Math.min(1, epoch / this.options.klAnnealEpochs);
        loss = evidentialMseLoss(logits, labels, kl);
      } else loss = crossEntropy(logits, tf.tensor1d(labels, 'int32')) as tf.Scalar;
      const tasks = this.options.auxiliary ?? [];
      if (tasks.length === 0) return loss;
      const aux = tf.concat(outs.map((o) => o.aux as tf.Tensor2D)) as tf.Tensor2D; // [B, A]
      tasks.forEach((t, j) => {
        if (t.weight === 0) return;
        const pred = tf.reshape(tf.slice(aux, [0, j], [-1, 1]), [-1]) as tf.Tensor1D;
        const targets = batch.map((b) => (b.aux ? (b.aux[j] as number) : Number.NaN));
        loss = tf.add(loss, tf.mul(t.weight, maskedAuxLoss(pred, targets, t.kind))) as tf.Scalar;
      });
      return loss;
    });
  }

  trainingStep(batch: MilBatchItem[], ctx: StepContext): tf.Scalar {
    return this.loss(
      batch.map((b) => this.forwardBag(b, ctx.rng)),
      batch,
      ctx.epoch,
    );
  }

  validationStep(batch: MilBatchItem[], ctx: StepContext): ValidationOutput {
    return tf.tidy(() => {
      const outs = batch.map((b) => this.forwardBag(b, null));
      const logits = tf.concat(outs.map((o) => o.logits)) as tf.Tensor2D;
      const loss = this.loss(outs, batch, ctx.epoch).dataSync()[0] as number;
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

export function batchItems(
  patients: readonly PatientBag[],
  aux?: { tasks: readonly AuxiliaryTask[]; stats: readonly AuxStats[]; source?: string },
): MilBatchItem[] {
  return patients.map((p) => ({
    features: p.features,
    count: p.count,
    dim: p.dim,
    label: p.label,
    scaleIndex: p.scaleIndex,
    ...(aux && aux.tasks.length > 0 ? { aux: auxTargets(p, aux.tasks, aux.stats, aux.source) } : {}),
  }));
}

/** Standardization of a regression target (training patients' mean and std); identity for binary. */
export interface AuxStats {
  mean: number;
  std: number;
}

/** The raw value of an auxiliary column for a patient: NaN when empty; binary values must be 0 or 1. */
export function auxValue(p: PatientBag, task: AuxiliaryTask, source = 'clinical table'): number {
  const cell = p.clinical[task.column];
  if (cell === undefined || cell === null || String(cell).trim() === '') return Number.NaN;
  const v = Number(cell);
  if (!Number.isFinite(v) || (task.kind === 'binary' && v !== 0 && v !== 1))
    throw new CrcMilDataError(
      source,
      `patient ${p.patientId}: column '${task.column}' (auxiliary task ${task.name}) has '${String(cell)}', expected ${task.kind === 'binary' ? '0 or 1' : 'a number'} or an empty cell`,
    );
  return v;
}

/** Mean and std of each regression task over `patients` (present values only); binary: {0, 1}. */
export function auxStatsOf(
  patients: readonly PatientBag[],
  tasks: readonly AuxiliaryTask[],
  source?: string,
): AuxStats[] {
  return tasks.map((t) => {
    if (t.kind === 'binary') return { mean: 0, std: 1 };
    const v = patients.map((p) => auxValue(p, t, source)).filter(Number.isFinite);
    if (v.length === 0) return { mean: 0, std: 1 };
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    return { mean, std: sd > 1e-8 ? sd : 1 };
  });
}

function auxTargets(
  p: PatientBag,
  tasks: readonly AuxiliaryTask[],
  stats: readonly AuxStats[],
  source?: string,
): Float32Array {
  return Float32Array.from(tasks, (t, j) => {
    const s = stats[j] as AuxStats;
    return (auxValue(p, t, source) - s.mean) / s.std;
  });
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
      auxiliary: cfg.model.auxiliary.map((t) => t.name),
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
  /** Standardization of each auxiliary target (config order), from the training patients. */
  auxStats: AuxStats[];
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
  const tasks = cfg.model.auxiliary;
  const auxStats = auxStatsOf(train, tasks, cfg.data.clinical);
  const aux = { tasks, stats: auxStats, source: cfg.data.clinical };
  const trainLoader = new DataLoader(
    {
      length: train.length,
      get: (i: number) => batchItems([train[i] as PatientBag], aux)[0] as MilBatchItem,
    },
    { batchSize: cfg.training.batchSize, shuffle: true, seed, collate },
  );
  const valLoader = new DataLoader(
    { length: val.length, get: (i: number) => batchItems([val[i] as PatientBag], aux)[0] as MilBatchItem },
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
    auxiliary: tasks,
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
    auxStats,
  };
}

/**
 * Auxiliary head outputs in the targets' units, row-major [patients, A]: regression heads
 * de-standardized with the training stats, binary heads as probabilities (sigmoid of the logit).
 */
export function predictAux(
  model: GatedAttentionMil,
  patients: readonly PatientBag[],
  tasks: readonly Pick<AuxiliaryTask, 'kind'>[],
  stats: readonly AuxStats[],
): Float64Array {
  const a = tasks.length;
  const out = new Float64Array(patients.length * a);
  if (a === 0) return out;
  patients.forEach((p, i) => {
    const y = tf.tidy(() => {
      const o = model.forward(tf.tensor2d(p.features, [p.count, p.dim]), p.scaleIndex);
      return o.aux as tf.Tensor2D;
    });
    const v = y.dataSync();
    y.dispose();
    tasks.forEach((t, j) => {
      const s = stats[j] as AuxStats;
      const x = v[j] as number;
      out[i * a + j] = t.kind === 'binary' ? 1 / (1 + Math.exp(-x)) : x * s.std + s.mean;
    });
  });
  return out;
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
