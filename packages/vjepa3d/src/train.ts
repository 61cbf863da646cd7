// Pretraining, probing and embedding export. The model says what to compute (model.ts); the
// trainer (@meddl/trainer) says how: AdamW, warmup + cosine, gradient clipping/accumulation,
// checkpoints (@meddl/checkpoint), resume, loggers. Here: data, the task, the EMA target and
// weight-decay schedule callbacks, health metrics each epoch, and the probes.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CheckpointManager, disposeCheckpoint } from '@meddl/checkpoint';
import { groupRatioSplit, Hdf5File } from '@meddl/data';
import {
  DistributedDataParallel,
  DistributedSampler,
  ProcessGroup,
  rankZeroSink,
  resolveDistributedEnv,
} from '@meddl/distributed';
import { embeddingSection, headline, writeEvalArtifact } from '@meddl/report';
import { Generator, initBackend, tf } from '@meddl/tensor';
import {
  type Callback,
  DataLoader,
  EMA,
  type FitSummary,
  type StepContext,
  type StepRecord,
  Trainer,
  TrainerConfigSchema,
  type TrainingTask,
  type ValidationOutput,
} from '@meddl/trainer';
import { z } from 'zod';
import { type ManifestRow, scanManifest } from './data/manifest';
import { readOctVolume, type Volume3d } from './data/read';
import { VJepaArgumentError, VJepaDataError } from './errors';
import { representationHealth } from './health';
import { MaskConfigSchema, sampleBatchMasks, type TokenGrid, VJEPA_MASKS } from './masking';
import {
  createModel,
  type MaskSet,
  type ModelConfig,
  ModelConfigSchema,
  type Pooling,
  PRESETS,
  patchify,
  resolveModelConfig,
  tokenGrid,
  type Vit3dPreset,
  type VJepa3d,
} from './model';
import { type ProbeResult, probeFeatures } from './probe';
import { PATHOLOGY_LABELS, SynthConfigSchema, synthesize } from './synth/oct';
import {
  centerCrop,
  compose,
  intensityJitter,
  normalizeIntensity,
  randomCrop,
  randomFlip,
  randomResizedCrop,
  resample,
  type Shape3,
} from './transforms';

const shape3 = z.tuple([
  z.number().int().positive(),
  z.number().int().positive(),
  z.number().int().positive(),
]);

export const PretrainConfigSchema = z.object({
  data: z
    .object({
      /** A folder of OCT DICOMs (scanned recursively). */
      dir: z.string().default('data/vjepa3d-synth'),
      /** CSV with columns path,label_index (relative paths) for the probe; default <dir>/labels.csv if present. */
      labels: z.string().optional(),
      /** Generate synthetic volumes into `dir` first when it has no labels.csv. */
      synth: SynthConfigSchema.optional(),
      /** Fraction of patients held out (health monitor + probe test split). */
      valFraction: z.number().min(0.05).max(0.9).default(0.3),
      /** Shape volumes are resampled to before cropping; default 1.125 × the model input. */
      resampleShape: shape3.optional(),
    })
    .prefault({}),
  model: z
    .object({
      preset: z.enum(Object.keys(PRESETS) as [Vit3dPreset, ...Vit3dPreset[]]).default('vit3d-tiny'),
      overrides: z.record(z.string(), z.unknown()).default({}),
    })
    .prefault({}),
  masks: z
    .array(MaskConfigSchema)
    .min(1)
    .default(VJEPA_MASKS.map((m) => MaskConfigSchema.parse(m))),
  /**
   * Which token-grid axis the masks treat as V-JEPA's time axis. 'frames' (V-JEPA's layout: the
   * B-scan axis is time, blocks lie in the depth × A-scan plane); 'depth': blocks lie in the en-face
   * plane (B-scans × A-scans) and, with temporalScale 1, span the full depth — whole A-scan bundles
   * are hidden and predicted from their en-face neighbours, so a lesion partly visible in the
   * context is predictable (with 'frames' and temporalScale 1 a masked tube hides a focal lesion
   * in every B-scan at once).
   */
  maskTimeAxis: z.enum(['frames', 'depth']).default('frames'),
  loss: z.enum(['l1', 'normalized-mse']).default('l1'),
  batchSize: z.number().int().positive().default(4),
  /** Target-encoder EMA momentum, ramped linearly over training (V-JEPA: 0.998 → 1.0). */
  ema: z
    .object({ start: z.number().min(0).max(1).default(0.998), end: z.number().min(0).max(1).default(1) })
    .prefault({}),
  /** Weight decay, cosine-ramped over training (V-JEPA: 0.04 → 0.4). */
  weightDecay: z
    .object({ start: z.number().min(0).default(0.04), end: z.number().min(0).default(0.4) })
    .prefault({}),
  augment: z
    .object({
      /**
       * Random resized crop (V-JEPA's RandomResizedCrop, per axis): each axis of the box spans
       * U(min, max) of the preprocessed volume, resampled to the model input. null: a plain random
       * crop of the input shape.
       */
      resizedCrop: z
        .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
        .nullable()
        .default(null),
      flip: z.boolean().default(true),
      jitterScale: z.number().min(0).default(0.1),
      jitterShift: z.number().min(0).default(0.1),
    })
    .prefault({}),
  /** Run the linear / k-NN probe (pretrained vs random init) at the end when labels exist. */
  probe: z.boolean().default(true),
  /** Which encoder the probes and `predict` read: the EMA target (V-JEPA's choice) or the context encoder. */
  probeEncoder: z.enum(['target', 'context']).default('target'),
  /** Patient splits the probes are repeated over (1 = only the run's own train/val split). */
  probeRepeats: z.number().int().min(1).max(31).default(1),
  /**
   * L2 penalty of the linear probe on standardised features, or 'cv': chosen per training split by
   * inner 3-fold CV (folds by patient) from `L2_GRID`, the same procedure for pretrained and random init.
   */
  probeL2: z.union([z.number().positive(), z.literal('cv')]).default(1e-2),
  /** Token pooling for probes and `predict`: mean [D] or mean ‖ max [2D]. */
  pooling: z.enum(['mean', 'mean-max']).default('mean'),
  autoResume: z.boolean().default(true),
  backend: z.enum(['auto', 'native', 'cpu', 'wasm', 'node', 'node-gpu']).default('auto'),
  /**
   * Data-parallel training through @meddl/distributed: 'auto' joins a process group when the
   * environment names one (`meddl launch`, torchrun/SLURM variables, WORLD_SIZE > 1); 'off' never.
   * `batchSize` is per rank (global batch = batchSize × world size).
   */
  distributed: z.enum(['auto', 'off']).default('auto'),
  trainer: TrainerConfigSchema.prefault({}),
});
export type PretrainConfig = z.output<typeof PretrainConfigSchema>;
export type PretrainConfigInput = z.input<typeof PretrainConfigSchema>;

export interface OctDataset {
  rows: ManifestRow[];
  /** Preprocessed volumes (resampled, z-scored), one per row. */
  volumes: Volume3d[];
  /** Label index per row, or -1. */
  labels: number[];
  numClasses: number;
  labelNames: string[];
}

function parseLabels(path: string): Map<string, number> {
  const text = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const header = (text[0] ?? '').split(',');
  const pi = header.indexOf('path');
  const li = header.indexOf('label_index');
  if (pi < 0 || li < 0)
    throw new VJepaDataError(path, `expected columns 'path' and 'label_index', got ${header.join(',')}`);
  const out = new Map<string, number>();
  text.slice(1).forEach((line, k) => {
    const cells = line.split(',');
    const v = Number(cells[li]);
    if (!Number.isInteger(v) || v < 0)
      throw new VJepaDataError(path, `line ${k + 2}: label_index '${cells[li]}' is not a class index`);
    out.set(cells[pi] as string, v);
  });
  return out;
}

/** Scans a folder, reads every volume through @meddl/data and preprocesses it for the model. */
export async function loadOctDataset(
  dir: string,
  resampleShape: Shape3,
  labelsPath?: string,
): Promise<OctDataset> {
  const manifest = await scanManifest(dir, { volumesOnly: true });
  if (manifest.rows.length === 0) {
    const why = manifest.rejected
      .slice(0, 3)
      .map((r) => `${r.path}: ${r.error}`)
      .join('; ');
    throw new VJepaDataError(dir, `no readable DICOM volumes${why ? ` (${why})` : ''}`);
  }
  const lp = labelsPath ?? (existsSync(join(dir, 'labels.csv')) ? join(dir, 'labels.csv') : undefined);
  const labelMap = lp ? parseLabels(lp) : new Map<string, number>();
  const volumes: Volume3d[] = [];
  for (const row of manifest.rows) {
    const v = await readOctVolume(join(manifest.root, row.path));
    volumes.push(normalizeIntensity(resample(v, resampleShape)));
  }
  const labels = manifest.rows.map((r) => labelMap.get(r.path) ?? -1);
  const numClasses = Math.max(0, ...labels) + 1;
  const labelNames = Array.from({ length: numClasses }, (_, i) => PATHOLOGY_LABELS[i] ?? `class_${i}`);
  return { rows: manifest.rows, volumes, labels, numClasses, labelNames };
}

/** Patient-level train/val split, stratified by device and label, reproducible for a seed. */
export function splitDataset(
  ds: OctDataset,
  valFraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  const rows = ds.rows.map((r, i) => ({
    patient: r.patientId || r.path,
    device: r.device,
    label: String(ds.labels[i]),
  }));
  const split = groupRatioSplit(rows, {
    ratios: { train: 1 - valFraction, val: valFraction },
    group: 'patient',
    stratify: ['device', 'label'],
    generator: new Generator(seed),
  });
  return {
    train: rows.flatMap((_, i) => (split[i] === 'train' ? [i] : [])),
    val: rows.flatMap((_, i) => (split[i] === 'val' ? [i] : [])),
  };
}

function defaultResampleShape(c: ModelConfig): Shape3 {
  return c.inputShape.map((n) => Math.round(n * 1.125)) as Shape3;
}

/** Volumes → tubelets tensor [B, N, K]. */
function tubeletsOf(volumes: Volume3d[], c: ModelConfig): tf.Tensor3D {
  const [D, H, W] = c.inputShape;
  const flat = new Float32Array(volumes.length * D * H * W);
  volumes.forEach((v, b) => {
    flat.set(v.data, b * D * H * W);
  });
  const grid = tokenGrid(c);
  const n = grid[0] * grid[1] * grid[2];
  const k = c.tubelet[0] * c.tubelet[1] * c.tubelet[2];
  return tf.tensor3d(patchify(flat, volumes.length, c.inputShape, c.tubelet), [volumes.length, n, k]);
}

/**
 * Masks sampled on the grid [depth, frames, columns] (depth as V-JEPA's time axis) → token indices
 * of the model's [frames, depth, columns] grid, each row sorted.
 */
export function depthAsTime<M extends MaskSet>(m: M, grid: TokenGrid): M {
  const [F, D, C] = grid;
  const remap = (list: Int32Array, count: number) => {
    const out = new Int32Array(list.length);
    for (let r = 0; r * count < list.length; r++) {
      const row = list.subarray(r * count, (r + 1) * count).map((i) => {
        const d = Math.floor(i / (F * C));
        const f = Math.floor((i % (F * C)) / C);
        return (f * D + d) * C + (i % C);
      });
      out.set(row.sort(), r * count);
    }
    return out;
  };
  return { ...m, context: remap(m.context, m.nContext), target: remap(m.target, m.nTarget) };
}

/** The pretraining task: augment, mask, JEPA loss; validation: loss on fixed masks + embeddings. */
export class VJepaTask implements TrainingTask<number[]> {
  readonly rng: Generator;
  readonly augment;
  lastHealth: ReturnType<typeof representationHealth> | null = null;
  constructor(
    readonly module: VJepa3d,
    readonly data: OctDataset,
    readonly config: PretrainConfig,
    seed: number,
  ) {
    this.rng = new Generator(seed);
    const c = module.config;
    const a = config.augment;
    this.augment = compose(
      a.resizedCrop ? randomResizedCrop(c.inputShape, a.resizedCrop) : randomCrop(c.inputShape),
      ...(a.flip ? [randomFlip([2])] : []),
      intensityJitter({ scale: a.jitterScale, shift: a.jitterShift }),
    );
  }
  private masks(rng: Generator, batch: number): MaskSet[] {
    const grid = tokenGrid(this.module.config);
    if (this.config.maskTimeAxis === 'frames')
      return this.config.masks.map((m) => sampleBatchMasks(rng, grid, m, batch));
    const [F, D, C] = grid;
    return this.config.masks.map((m) => depthAsTime(sampleBatchMasks(rng, [D, F, C], m, batch), grid));
  }
  trainingStep(batch: number[], _ctx: StepContext): tf.Scalar {
    const vols = batch.map((i) => this.augment(this.data.volumes[i] as Volume3d, this.rng));
    const x = tubeletsOf(vols, this.module.config);
    return this.module.loss(x, this.masks(this.rng, batch.length), this.config.loss);
  }
  validationStep(batch: number[], ctx: StepContext): ValidationOutput {
    const c = this.module.config;
    const vols = batch.map((i) => centerCrop(this.data.volumes[i] as Volume3d, c.inputShape));
    // Same masks every epoch for the same batch, so val_loss is comparable across epochs.
    const rng = new Generator(10_000 + ctx.batchIndex);
    return tf.tidy(() => {
      const x = tubeletsOf(vols, c);
      const loss = this.module
        .loss(x, this.masks(rng, batch.length), this.config.loss)
        .dataSync()[0] as number;
      const emb = this.module.embed(x).dataSync() as Float32Array;
      return { loss, embeddings: Float32Array.from(emb) };
    });
  }
  validationEpochEnd(outputs: ValidationOutput[]): Record<string, number> {
    const d = this.module.config.embedDim;
    const all = outputs.flatMap((o) => Array.from(o.embeddings as Float32Array));
    const h = representationHealth(all, all.length / d, d);
    this.lastHealth = h;
    return {
      val_emb_std_mean: h.stdMean,
      val_emb_std_min: h.stdMin,
      val_emb_dead_fraction: h.deadFraction,
      val_effective_rank: h.effectiveRank,
    };
  }
  generators(): Generator[] {
    return [this.rng];
  }
}

/** Drives the target encoder as an EMA of the context encoder, momentum ramped over training. */
export class TargetEmaCallback implements Callback {
  readonly name = 'target-ema';
  ema: EMA | null = null;
  private pendingStep = 0;
  constructor(
    readonly model: VJepa3d,
    readonly momentum: { start: number; end: number },
  ) {}
  onFitStart(t: Trainer): void {
    this.ema = new EMA(this.model.encoder, {
      momentum: this.momentum.start,
      endMomentum: this.momentum.end,
      totalSteps: t.totalSteps,
      target: this.model.targetEncoder,
    });
    this.ema.step = this.pendingStep;
  }
  onTrainStepEnd(_t: Trainer, r: StepRecord): void {
    if (!r.skipped && this.ema) {
      r.scalars.ema_momentum = this.ema.momentumAt(this.ema.step);
      this.ema.update();
    }
  }
  // The target weights are in the model's state dict; only the step count needs saving.
  stateDict() {
    return { step: this.ema?.step ?? this.pendingStep };
  }
  loadStateDict(s: Record<string, unknown>) {
    this.pendingStep = Number(s.step ?? 0);
    if (this.ema) this.ema.step = this.pendingStep;
  }
}

/** Cosine weight-decay schedule for the decayed parameter groups (V-JEPA's wd_scheduler). */
export class WeightDecayScheduleCallback implements Callback {
  readonly name = 'wd-schedule';
  private groups: number[] = [];
  constructor(readonly wd: { start: number; end: number }) {}
  valueAt(step: number, total: number): number {
    const p = total > 0 ? Math.min(1, step / total) : 1;
    return this.wd.end + 0.5 * (this.wd.start - this.wd.end) * (1 + Math.cos(Math.PI * p));
  }
  private apply(t: Trainer): number {
    const v = this.valueAt(t.globalStep, t.totalSteps);
    for (const g of this.groups) (t.optimizer?.paramGroups[g] as { weightDecay: number }).weightDecay = v;
    return v;
  }
  onFitStart(t: Trainer): void {
    this.groups = (t.optimizer?.paramGroups ?? []).flatMap((g, i) => (g.weightDecay > 0 ? [i] : []));
    this.apply(t);
  }
  onTrainStepEnd(t: Trainer, r: StepRecord): void {
    r.scalars.weight_decay = this.apply(t);
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Mean-pooled target-encoder embeddings of the given volumes (centre crop), [n, D]. */
export function embedVolumes(
  model: VJepa3d,
  volumes: Volume3d[],
  which: 'target' | 'context' = 'target',
  pooling: Pooling = 'mean',
  batchSize = 8,
): { embeddings: Float32Array; dim: number } {
  const c = model.config;
  const dim = pooling === 'mean' ? c.embedDim : 2 * c.embedDim;
  const out = new Float32Array(volumes.length * dim);
  model.eval();
  for (let s = 0; s < volumes.length; s += batchSize) {
    const vols = volumes.slice(s, s + batchSize).map((v) => centerCrop(v, c.inputShape));
    const emb = tf.tidy(() => model.embed(tubeletsOf(vols, c), which, pooling).dataSync() as Float32Array);
    out.set(emb, s * dim);
  }
  model.train();
  return { embeddings: out, dim };
}

/** Probe accuracies over several patient splits of all labelled volumes (one value per split). */
export interface RepeatedProbe {
  /** Seeds of the patient splits (the run's own split seed first). */
  splitSeeds: number[];
  pretrained: { linear: number[]; knn: number[] };
  randomInit: { linear: number[]; knn: number[] };
  /**
   * Paired difference pretrained − random init of the linear-probe accuracy: mean and a 95 % interval
   * (Nadeau–Bengio corrected resampled t, `correctedPairedGain`: the splits overlap).
   */
  linearGain: { mean: number; lower: number; upper: number };
  knnGain: { mean: number; lower: number; upper: number };
}

export interface ProbeComparison {
  pretrained: ProbeResult;
  randomInit: ProbeResult;
  labelNames: string[];
  /** Present when `probeRepeats` > 1. */
  repeated?: RepeatedProbe;
}

// Two-sided 95 % Student t quantiles for 1..30 degrees of freedom.
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Mean and 95 % t interval of paired differences a[i] − b[i]. */
export function pairedGain(a: number[], b: number[]): { mean: number; lower: number; upper: number } {
  const d = a.map((x, i) => x - (b[i] as number));
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { mean, lower: Number.NaN, upper: Number.NaN };
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (T95[Math.min(n - 1, 30) - 1] as number) * (sd / Math.sqrt(n));
  return { mean, lower: mean - half, upper: mean + half };
}

/**
 * Mean and 95 % interval of paired differences a[i] − b[i] over repeated random train/test splits,
 * with Nadeau & Bengio's (2003) corrected resampled t: the variance s²/J is replaced by
 * (1/J + nTest/nTrain)·s², because splits of one data set overlap and their scores are correlated
 * (the plain t interval is then too narrow).
 */
export function correctedPairedGain(
  a: number[],
  b: number[],
  testTrainRatio: number,
): { mean: number; lower: number; upper: number; sd: number } {
  const d = a.map((x, i) => x - (b[i] as number));
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { mean, lower: Number.NaN, upper: Number.NaN, sd: Number.NaN };
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (T95[Math.min(n - 1, 30) - 1] as number) * sd * Math.sqrt(1 / n + testTrainRatio);
  return { mean, lower: mean - half, upper: mean + half, sd };
}

/**
 * Probes the pretrained model and a randomly initialised one (same preset and seed) on the same split.
 * With `repeats` > 1, also on `repeats` patient splits (seeds seed, seed+1, …) of all labelled
 * volumes: pretraining never sees labels, so its train patients may serve as probe test patients in
 * the other splits. The paired gain over those splits comes with a 95 % t interval.
 */
export function compareProbes(
  model: VJepa3d,
  data: OctDataset,
  split: { train: number[]; val: number[] },
  seed: number,
  which: 'target' | 'context' = 'target',
  pooling: Pooling = 'mean',
  repeats = 1,
  valFraction = 0.3,
  l2: number | 'cv' = 1e-2,
): ProbeComparison {
  const groups = data.rows.map((r) => r.patientId || r.path);
  const labelled = (ix: number[]) => ix.filter((i) => (data.labels[i] as number) >= 0);
  const s = { train: labelled(split.train), test: labelled(split.val) };
  if (s.train.length === 0 || s.test.length === 0 || data.numClasses < 2)
    throw new VJepaDataError(
      'labels',
      'the probe needs labelled volumes of at least two classes in both splits',
    );
  const random = new (model.constructor as typeof VJepa3d)(model.config, new Generator(seed));
  try {
    const ePre = embedVolumes(model, data.volumes, which, pooling);
    const eRnd = embedVolumes(random, data.volumes, which, pooling);
    const probe = (e: { embeddings: Float32Array; dim: number }, sp: { train: number[]; test: number[] }) =>
      probeFeatures(e.embeddings, e.dim, data.labels, sp, data.numClasses, 5, { l2, groups });
    const out: ProbeComparison = {
      pretrained: probe(ePre, s),
      randomInit: probe(eRnd, s),
      labelNames: data.labelNames,
    };
    if (repeats > 1) {
      const splitSeeds = Array.from({ length: repeats }, (_, k) => seed + k);
      const r: RepeatedProbe = {
        splitSeeds,
        pretrained: { linear: [], knn: [] },
        randomInit: { linear: [], knn: [] },
        linearGain: { mean: 0, lower: 0, upper: 0 },
        knnGain: { mean: 0, lower: 0, upper: 0 },
      };
      for (const k of splitSeeds) {
        const sp = k === seed ? split : splitDataset(data, valFraction, k);
        const sk = { train: labelled(sp.train), test: labelled(sp.val) };
        if (sk.train.length === 0 || sk.test.length === 0) continue;
        for (const [name, e] of [
          ['pretrained', ePre],
          ['randomInit', eRnd],
        ] as const) {
          const p = probe(e, sk);
          r[name].linear.push(p.linear.accuracy);
          r[name].knn.push(p.knn.accuracy);
        }
      }
      const ratio = valFraction / (1 - valFraction);
      const strip = ({ mean, lower, upper }: { mean: number; lower: number; upper: number }) => ({
        mean,
        lower,
        upper,
      });
      r.linearGain = strip(correctedPairedGain(r.pretrained.linear, r.randomInit.linear, ratio));
      r.knnGain = strip(correctedPairedGain(r.pretrained.knn, r.randomInit.knn, ratio));
      out.repeated = r;
    }
    return out;
  } finally {
    random.dispose();
  }
}

export interface PretrainResult {
  runDir: string;
  summary: FitSummary;
  metrics: Record<string, number>;
  probe: ProbeComparison | null;
  data: { volumes: number; train: number; val: number; devices: Record<string, number> };
}

/**
 * Pretrains V-JEPA on a folder of OCT DICOMs (auto-resuming), then probes. Data-parallel when a
 * process group is given or the environment names one (`distributed: 'auto'`): gradients are
 * averaged across ranks before clipping and the step (`DistributedDataParallel`), each rank reads
 * its `DistributedSampler` share of the training volumes with its own augmentation and masks, every
 * rank updates its EMA target from identical weights (no exchange needed), only rank 0 writes logs,
 * checkpoints, metrics and probes (other ranks return `probe: null`).
 */
export async function pretrain(
  input: PretrainConfigInput,
  options: { group?: ProcessGroup } = {},
): Promise<PretrainResult> {
  const config = PretrainConfigSchema.parse(input);
  await initBackend(config.backend);
  let group = options.group ?? null;
  let ownGroup = false;
  if (!group && config.distributed === 'auto') {
    const env = resolveDistributedEnv();
    if (env.worldSize > 1) {
      group = await ProcessGroup.init(env);
      ownGroup = true;
    }
  }
  try {
    return await pretrainOn(config, group);
  } finally {
    if (ownGroup) await group?.destroy();
  }
}

async function pretrainOn(config: PretrainConfig, group: ProcessGroup | null): Promise<PretrainResult> {
  const rank = group?.rank ?? 0;
  const worldSize = group?.worldSize ?? 1;
  const dataDir = resolve(config.data.dir);
  if (rank === 0 && config.data.synth && !existsSync(join(dataDir, 'labels.csv')))
    synthesize(dataDir, config.data.synth);
  await group?.barrier(); // the other ranks read what rank 0 synthesized
  const seed = config.trainer.seed;
  const model = createModel(config.model.preset, config.model.overrides, new Generator(seed));
  try {
    const c = model.config;
    const data = await loadOctDataset(
      dataDir,
      config.data.resampleShape ?? defaultResampleShape(c),
      config.data.labels,
    );
    const split = splitDataset(data, config.data.valFraction, seed);
    if (split.train.length === 0 || split.val.length === 0)
      throw new VJepaDataError(dataDir, `${data.rows.length} volume(s) cannot be split into train and val`);
    const dataset = (ix: number[]) => ({ length: ix.length, get: (i: number) => ix[i] as number });
    const collate = (items: number[]) => items;
    const train = new DataLoader(dataset(split.train), {
      batchSize: config.batchSize,
      ...(group
        ? {
            sampler: new DistributedSampler(split.train.length, {
              rank,
              worldSize,
              seed,
              dropLast: split.train.length >= worldSize,
            }),
          }
        : { shuffle: true, seed }),
      dropLast: Math.ceil(split.train.length / worldSize) >= config.batchSize,
      collate,
    });
    const val = new DataLoader(dataset(split.val), { batchSize: config.batchSize, collate });
    const runsDir = config.trainer.runsDir ?? 'runs';
    const runDir = resolve(runsDir, config.trainer.name);
    if (rank === 0)
      writeJsonAtomic(join(runDir, 'vjepa3d.json'), {
        ...config,
        data: { ...config.data, dir: dataDir },
        modelConfig: c,
      });
    let ddp: DistributedDataParallel | null = null;
    if (group) {
      ddp = new DistributedDataParallel(group, model);
      await ddp.syncParameters();
    }
    const manager = new CheckpointManager(join(runDir, 'checkpoints'), {
      keepLast: 2,
      keepBest: [{ monitor: 'val_loss', mode: 'min', k: 1 }],
    });
    const task = new VJepaTask(model, data, config, seed + 1 + 7919 * rank);
    const trainer = new Trainer(
      {
        ...config.trainer,
        runsDir: rank === 0 ? runsDir : null,
        ...(rank === 0 ? {} : { loggers: { console: false, csv: false, jsonl: false, tensorboard: false } }),
        optimizer: { ...config.trainer.optimizer, name: 'adamw', weightDecay: config.weightDecay.start },
        checkpoint: config.trainer.checkpoint ?? { everyNEpochs: 1, mode: 'min' },
      },
      {
        ...(ddp ? ddp.trainerOptions() : {}),
        checkpointSink: group ? rankZeroSink(group, manager) : manager,
        callbacks: [
          new TargetEmaCallback(model, config.ema),
          new WeightDecayScheduleCallback(config.weightDecay),
        ],
      },
    );
    try {
      const summary = await trainer.fit(task, { train, val }, { resume: config.autoResume });
      const metrics = summary.history.at(-1)?.metrics ?? {};
      let probe: ProbeComparison | null = null;
      const devices: Record<string, number> = {};
      for (const r of data.rows) devices[r.device] = (devices[r.device] ?? 0) + 1;
      const dataFacts = {
        volumes: data.rows.length,
        train: split.train.length,
        val: split.val.length,
        devices,
      };
      if (rank !== 0) return { runDir, summary, metrics, probe, data: dataFacts };
      if (config.probe && data.numClasses >= 2)
        probe = compareProbes(
          model,
          data,
          split,
          seed,
          config.probeEncoder,
          config.pooling,
          config.probeRepeats,
          config.data.valFraction,
          config.probeL2,
        );
      const result = { runDir, summary, metrics, probe, data: dataFacts };
      writeJsonAtomic(join(runDir, 'metrics.json'), {
        status: summary.status,
        epochs: summary.epochs,
        steps: summary.steps,
        durationSec: summary.durationSec,
        trainLoss: summary.history.map((h) => h.trainLoss),
        metrics,
        probe,
        data: result.data,
      });
      writeReportArtifact(runDir, summary.history, probe, result.data);
      return result;
    } finally {
      await manager.close();
    }
  } finally {
    model.dispose();
  }
}

/** Loads a run's model: its config (vjepa3d.json) and its newest valid checkpoint. */
export async function loadPretrained(runDir: string): Promise<{ model: VJepa3d; config: PretrainConfig }> {
  const cfgPath = join(resolve(runDir), 'vjepa3d.json');
  if (!existsSync(cfgPath))
    throw new VJepaArgumentError('--run', `${runDir} has no vjepa3d.json (not a vjepa3d run)`);
  const config = PretrainConfigSchema.parse(JSON.parse(readFileSync(cfgPath, 'utf8')));
  const manager = new CheckpointManager(join(resolve(runDir), 'checkpoints'));
  try {
    // The newest valid checkpoint: a JEPA's val_loss says how well it predicts its own targets,
    // not how good its features are, so "best val_loss" is no better a choice than "last".
    const ck = await manager.latestValid();
    if (!ck) throw new VJepaArgumentError('--run', `${runDir} has no valid checkpoint`);
    const model = createModel(
      config.model.preset,
      config.model.overrides,
      new Generator(config.trainer.seed),
    );
    model.loadStateDict(ck.model);
    disposeCheckpoint(ck);
    return { model, config };
  } finally {
    await manager.close();
  }
}

/** Frozen-feature probe of a pretrained run vs a random-init encoder on a labelled folder. */
export async function evaluate(options: {
  run: string;
  dataDir?: string;
  labels?: string;
  /** Override the run's probeEncoder / pooling. */
  encoder?: 'target' | 'context';
  pooling?: Pooling;
  /** Override the run's probeRepeats. */
  repeats?: number;
  /** Override the run's probeL2 (a penalty, or 'cv'). */
  l2?: number | 'cv';
}): Promise<ProbeComparison> {
  const { model, config } = await loadPretrained(options.run);
  try {
    await initBackend(config.backend);
    const dir = resolve(options.dataDir ?? config.data.dir);
    const data = await loadOctDataset(
      dir,
      config.data.resampleShape ?? defaultResampleShape(model.config),
      options.labels,
    );
    const split = splitDataset(data, config.data.valFraction, config.trainer.seed);
    return compareProbes(
      model,
      data,
      split,
      config.trainer.seed,
      options.encoder ?? config.probeEncoder,
      options.pooling ?? config.pooling,
      options.repeats ?? config.probeRepeats,
      config.data.valFraction,
      options.l2 ?? config.probeL2,
    );
  } finally {
    model.dispose();
  }
}

/**
 * Writes per-volume embeddings to HDF5: `embeddings` [N, D] float32 (pooled encoder tokens) with
 * attributes `files` (JSON list of paths relative to the input folder), `devices`, `patients`
 * (JSON), `model_preset`, `run`; `labels` [N] int32 when a labels CSV is found (-1 = none).
 * With `onnx` (an encoder exported by `meddl export vjepa3d`), the embeddings come from that graph
 * through onnxruntime instead of the checkpoint; the preprocessing comes from `run` when given,
 * else from the export's sidecar (<file>.json).
 */
export async function predict(options: {
  run?: string;
  input: string;
  out: string;
  labels?: string;
  onnx?: string;
}): Promise<{ count: number; dim: number; source: 'checkpoint' | 'onnx' }> {
  const dir = resolve(options.input);
  let emb: Float32Array;
  let dim: number;
  let data: OctDataset;
  let attrs: Record<string, string>;
  if (options.onnx) {
    const onnxPath = resolve(options.onnx);
    const { openOnnxEncoder, embedVolumesOnnx, readOnnxSidecar } = await import('./onnx-embed');
    const sidecar = readOnnxSidecar(onnxPath);
    let modelConfig: ModelConfig;
    let resampleShape: Shape3 | undefined;
    let pooling: Pooling = 'mean';
    let preset = 'unknown';
    if (options.run) {
      const cfgPath = join(resolve(options.run), 'vjepa3d.json');
      if (!existsSync(cfgPath))
        throw new VJepaArgumentError('--run', `${options.run} has no vjepa3d.json (not a vjepa3d run)`);
      const cfg = PretrainConfigSchema.parse(JSON.parse(readFileSync(cfgPath, 'utf8')));
      modelConfig = resolveModelConfig(cfg.model.preset, cfg.model.overrides as Partial<ModelConfig>);
      resampleShape = cfg.data.resampleShape;
      pooling = cfg.pooling;
      preset = cfg.model.preset;
    } else if (sidecar?.config) {
      modelConfig = ModelConfigSchema.parse(sidecar.config);
      resampleShape = sidecar.preprocessing?.data?.resampleShape;
    } else
      throw new VJepaArgumentError(
        '--onnx',
        `${onnxPath}: no sidecar ${onnxPath}.json with the model config; give --run as well`,
      );
    data = await loadOctDataset(dir, resampleShape ?? defaultResampleShape(modelConfig), options.labels);
    const session = await openOnnxEncoder(onnxPath, modelConfig.inputShape);
    try {
      ({ embeddings: emb, dim } = await embedVolumesOnnx(
        session,
        data.volumes,
        modelConfig.inputShape,
        pooling,
      ));
    } finally {
      await session.release();
    }
    attrs = {
      model_preset: preset,
      encoder: sidecar?.encoder ?? 'unknown',
      pooling,
      onnx: onnxPath,
      ...(options.run ? { run: resolve(options.run) } : {}),
    };
  } else {
    if (!options.run) throw new VJepaArgumentError('--run', 'a run directory (or --onnx) is required');
    const { model, config } = await loadPretrained(options.run);
    try {
      await initBackend(config.backend);
      data = await loadOctDataset(
        dir,
        config.data.resampleShape ?? defaultResampleShape(model.config),
        options.labels,
      );
      ({ embeddings: emb, dim } = embedVolumes(model, data.volumes, config.probeEncoder, config.pooling));
      attrs = {
        model_preset: config.model.preset,
        encoder: config.probeEncoder,
        pooling: config.pooling,
        run: resolve(options.run),
      };
    } finally {
      model.dispose();
    }
  }
  const out = resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}.h5`;
  const file = await Hdf5File.open(tmp, 'w');
  try {
    file.writeDataset('embeddings', emb, {
      shape: [data.rows.length, dim],
      attributes: {
        files: JSON.stringify(data.rows.map((r) => r.path)),
        devices: JSON.stringify(data.rows.map((r) => r.device)),
        patients: JSON.stringify(data.rows.map((r) => r.patientId)),
        ...attrs,
      },
    });
    file.writeDataset('labels', Int32Array.from(data.labels), { shape: [data.rows.length] });
  } finally {
    file.close();
  }
  renameSync(tmp, out);
  return { count: data.rows.length, dim, source: options.onnx ? 'onnx' : 'checkpoint' };
}

/** eval.json in the @meddl/report contract: embedding health over training and the probes. */
function writeReportArtifact(
  runDir: string,
  history: FitSummary['history'],
  probe: ProbeComparison | null,
  data: { volumes: number; train: number; val: number; devices: Record<string, number> },
): void {
  const epochs = history.map((h) => h.epoch + 1);
  const keys = ['val_effective_rank', 'val_emb_std_mean', 'val_emb_dead_fraction'];
  const series = keys
    .filter((k) => history.length > 0 && history.every((h) => Number.isFinite(h.metrics[k])))
    .map((k) => ({ name: k, x: epochs, y: history.map((h) => h.metrics[k] as number), xLabel: 'epoch' }));
  const probes = probe
    ? (['pretrained', 'randomInit'] as const).flatMap((which) => [
        { name: `${which} linear`, metric: 'accuracy', value: probe[which].linear.accuracy },
        { name: `${which} k-NN`, metric: 'accuracy', value: probe[which].knn.accuracy },
      ])
    : [];
  writeEvalArtifact(runDir, {
    model: 'vjepa3d',
    split: `validation (${data.val} volumes)`,
    data: {
      name: 'OCT volumes',
      facts: {
        volumes: data.volumes,
        train: data.train,
        val: data.val,
        devices: Object.keys(data.devices).length,
      },
    },
    headline: probe
      ? [
          headline('probe_linear_acc', probe.pretrained.linear.accuracy, { label: 'Linear probe accuracy' }),
          headline('probe_linear_acc_random', probe.randomInit.linear.accuracy, {
            label: 'Linear probe accuracy, random-init encoder',
          }),
          headline('probe_knn_acc', probe.pretrained.knn.accuracy, { label: 'k-NN accuracy' }),
          ...(probe.repeated
            ? [
                headline(
                  'probe_linear_gain',
                  {
                    value: probe.repeated.linearGain.mean,
                    lower: probe.repeated.linearGain.lower,
                    upper: probe.repeated.linearGain.upper,
                    confidence: 0.95,
                    method: `corrected resampled t (Nadeau–Bengio) over ${probe.repeated.splitSeeds.length} patient splits`,
                  },
                  { label: 'Linear probe accuracy gain over random init' },
                ),
              ]
            : []),
        ]
      : [],
    sections: [embeddingSection({ series, probes }, { title: 'Embedding health and frozen-feature probes' })],
  });
}
