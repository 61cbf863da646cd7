/**
 * Two-stage MDF-Net training. Stage 1: encoders frozen, fusion + head at 1e-3 with warmup.
 * Stage 2: from stage 1's best checkpoint (validation mean AUROC), everything unfrozen with
 * discriminative learning rates, early stopping, clipping and accumulation. The run directory
 * records the resolved config and the preprocessing statistics so evaluate/predict need nothing else:
 *   runs/<name>/mdf-net.json  preprocessing.json  stage1/  stage2/  (each a trainer run directory)
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CheckpointManager, disposeCheckpoint } from '@meddl/checkpoint';
import { Generator } from '@meddl/tensor';
import { DataLoader, type FitSummary, Trainer, TrainerConfigSchema } from '@meddl/trainer';
import { z } from 'zod';
import { collectLogits, fitCalibration, writeCalibration } from './calibrate';
import { CLINICAL_NUMERIC_DIM, type ClinicalStats } from './clinical';
import { type PreparedData, type PreparedStudy, prepareData } from './data';
import {
  attachEncoderEmbeddings,
  type CacheStats,
  EmbeddingCache,
  loadEncoders,
  OnnxEncodersSchema,
  releaseEncoders,
  sha256File,
} from './encoders';
import { MdfNetArgumentError, MdfNetEncoderError } from './errors';
import { createModel, type MdfNet, MdfNetModelConfig, PRESETS } from './model';
import { SynthConfigSchema, synthesize } from './synth/generator';
import { collateStudies, type MdfNetBatch, MdfNetTask, studyDataset } from './task';

const PRESET_NAMES = Object.keys(PRESETS) as [keyof typeof PRESETS, ...(keyof typeof PRESETS)[]];

const StageLrs = z.object({
  encoders: z.number().positive().default(1e-5),
  fusion: z.number().positive().default(1e-4),
  head: z.number().positive().default(1e-4),
});

export const MdfNetRunConfigSchema = z.object({
  data: z.object({
    /** studies.csv, clinical.csv, labels.csv, images/, reports/, tokenizer.json (the synthetic layout). */
    dir: z.string(),
    /** Generate a synthetic data set into `dir` first when it has no studies.csv. */
    synth: SynthConfigSchema.partial().optional(),
    /** tokenizer.json or vocab.txt; default `<dir>/tokenizer.json`. */
    tokenizer: z.string().optional(),
    ratios: z
      .object({ train: z.number().gt(0), val: z.number().gt(0), test: z.number().min(0) })
      .default({ train: 0.7, val: 0.15, test: 0.15 }),
  }),
  model: z
    .object({
      preset: z.enum(PRESET_NAMES).default('mdf-net-small'),
      overrides: MdfNetModelConfig.partial().prefault({}),
    })
    .prefault({}),
  /**
   * Frozen pretrained encoders brought as ONNX files (encoders.ts). An image / text encoder here
   * replaces the in-model CNN / transformer for that modality: its embeddings are computed once,
   * cached on disk, and read by a trainable adapter. ONNX encoders stay frozen in stage 2 too.
   */
  encoders: OnnxEncodersSchema.optional(),
  normalization: z.enum(['imagenet', 'xrv', 'none']).default('imagenet'),
  augment: z.boolean().default(true),
  uncertainPolicy: z.enum(['ones', 'zeros', 'ignore']).default('ignore'),
  loss: z
    .object({
      bceWeight: z.number().min(0).default(0.7),
      focalWeight: z.number().min(0).default(0.3),
      focalAlpha: z.number().default(0.25),
      focalGamma: z.number().min(0).default(2),
    })
    .prefault({}),
  batchSize: z.number().int().positive().default(32),
  /**
   * Temperature scaling fitted on the validation split after training (calibration.json): one
   * shared temperature (default; robust on small validation sets), one per finding, or none.
   */
  calibration: z.enum(['shared', 'per-finding', 'none']).default('shared'),
  weightDecay: z.number().min(0).default(0.01),
  stage1: z
    .object({
      enabled: z.boolean().default(true),
      freezeEncoders: z.boolean().default(true),
      epochs: z.number().int().positive().default(10),
      lr: z.number().positive().default(1e-3),
      warmupEpochs: z.number().min(0).default(3),
    })
    .prefault({}),
  stage2: z
    .object({
      enabled: z.boolean().default(true),
      epochs: z.number().int().positive().default(30),
      lrs: StageLrs.prefault({}),
      patience: z.number().int().positive().default(5),
      gradClipNorm: z.number().positive().default(1.0),
      accumulateGradBatches: z.number().int().positive().default(1),
    })
    .prefault({}),
  checkpoints: z
    .object({
      keepLast: z.number().int().min(1).default(3),
      everyNEpochs: z.number().int().positive().default(5),
    })
    .prefault({}),
  trainer: TrainerConfigSchema.prefault({}),
});
export type MdfNetRunConfig = z.infer<typeof MdfNetRunConfigSchema>;
export type MdfNetRunConfigInput = z.input<typeof MdfNetRunConfigSchema>;

export interface StageResult {
  runDir: string;
  summary: FitSummary;
  best: { name: string; metrics: Record<string, number> } | null;
}

export interface MdfNetTrainResult {
  runDir: string;
  stage1: StageResult | null;
  stage2: StageResult | null;
  /** Best checkpoint directory of the last stage (what evaluate loads). */
  bestCheckpoint: string;
  durationSec: number;
  /** Embedding-cache use by the ONNX encoders (null for a modality without one). */
  embeddingCache: { image: CacheStats | null; text: CacheStats | null };
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** The model config a run config resolves to (preset, overrides, vocabulary size, encoder widths). */
export function resolveModelConfig(
  config: MdfNetRunConfig,
  vocabSize: number,
  external: { imageSize?: number; imageEmbeddingDim?: number; textEmbeddingDim?: number } = {},
): MdfNetModelConfig {
  return MdfNetModelConfig.parse({
    ...PRESETS[config.model.preset],
    ...config.model.overrides,
    vocabSize,
    ...external,
  });
}

/** The ONNX encoders of a run with paths made absolute; only those of enabled modalities. */
function encoderSpec(config: MdfNetRunConfig, modalities: readonly string[]): MdfNetRunConfig['encoders'] {
  const e = config.encoders;
  if (!e) return undefined;
  return {
    ...(e.image && modalities.includes('image')
      ? { image: { ...e.image, path: resolve(e.image.path) } }
      : {}),
    ...(e.text && modalities.includes('text') ? { text: { ...e.text, path: resolve(e.text.path) } } : {}),
    cacheDir: resolve(e.cacheDir ?? join(resolve(config.trainer.runsDir ?? 'runs'), 'embedding-cache')),
  };
}

/**
 * Loads a run's ONNX encoders (refusing a file that changed since training when `sha256` is given),
 * and attaches cached embeddings to the studies. A no-op for runs without ONNX encoders.
 */
export async function attachRunEmbeddings(
  studies: PreparedStudy[],
  spec: MdfNetRunConfig['encoders'],
  maxTokens: number,
  sha256?: RunFiles['encoderSha256'],
): Promise<MdfNetTrainResult['embeddingCache']> {
  if (!spec || (!spec.image && !spec.text)) return { image: null, text: null };
  for (const kind of ['image', 'text'] as const) {
    const path = spec[kind]?.path;
    const want = sha256?.[kind];
    if (path && want && existsSync(path) && sha256File(path) !== want)
      throw new MdfNetEncoderError(path, [
        `the file changed since the run was trained (sha256 ${want.slice(0, 12)}…, now ${sha256File(path).slice(0, 12)}…)`,
      ]);
  }
  const encoders = await loadEncoders(spec, maxTokens);
  try {
    return await attachEncoderEmbeddings(studies, encoders, new EmbeddingCache(spec.cacheDir as string));
  } finally {
    await releaseEncoders(encoders);
  }
}

export function makeLoader(
  data: PreparedData,
  indices: number[],
  config: MdfNetRunConfig,
  modelConfig: MdfNetModelConfig,
  shuffle: boolean,
): DataLoader<PreparedStudy, MdfNetBatch> {
  return new DataLoader(studyDataset(data.studies, indices), {
    batchSize: config.batchSize,
    shuffle,
    seed: config.trainer.seed,
    collate: (items) =>
      collateStudies(items, {
        imageSize: modelConfig.imageSize,
        maxTokens: modelConfig.maxTokens,
        policy: config.uncertainPolicy,
        clinicalDim: CLINICAL_NUMERIC_DIM,
      }),
  });
}

export function splitIndices(data: PreparedData, name: 'train' | 'val' | 'test'): number[] {
  return data.split.flatMap((s, i) => (s === name ? [i] : []));
}

async function runStage(
  stage: 'stage1' | 'stage2',
  model: MdfNet,
  data: PreparedData,
  config: MdfNetRunConfig,
  runDir: string,
): Promise<StageResult> {
  const mc = model.config;
  const s1 = stage === 'stage1';
  const manager = new CheckpointManager(join(runDir, stage, 'checkpoints'), {
    keepLast: config.checkpoints.keepLast,
    keepBest: [
      { monitor: 'val_mean_auroc', mode: 'max', k: 1 },
      { monitor: 'val_min_auroc', mode: 'max', k: 1 },
    ],
    everyNEpochs: config.checkpoints.everyNEpochs,
  });
  const lrs = s1
    ? { encoders: config.stage1.lr, fusion: config.stage1.lr, head: config.stage1.lr }
    : config.stage2.lrs;
  const task = new MdfNetTask(
    model,
    {
      loss: config.loss,
      normalization: config.normalization,
      augment: config.augment,
      lrs,
      weightDecay: config.weightDecay,
    },
    new Generator(config.trainer.seed + (s1 ? 1 : 2)),
  );
  const trainerConfig = {
    ...config.trainer,
    runsDir: runDir,
    name: stage,
    maxEpochs: s1 ? config.stage1.epochs : config.stage2.epochs,
    optimizer: { ...config.trainer.optimizer, lr: lrs.head, weightDecay: config.weightDecay },
    scheduler: s1
      ? { name: 'warmup-cosine' as const, warmupEpochs: config.stage1.warmupEpochs, minLrRatio: 0.05 }
      : config.trainer.scheduler,
    gradClipNorm: s1 ? config.trainer.gradClipNorm : config.stage2.gradClipNorm,
    accumulateGradBatches: s1 ? config.trainer.accumulateGradBatches : config.stage2.accumulateGradBatches,
    earlyStopping: s1
      ? config.trainer.earlyStopping
      : { monitor: 'val_mean_auroc', mode: 'max' as const, patience: config.stage2.patience, minDelta: 0 },
    checkpoint: { everyNEpochs: 1, monitor: 'val_mean_auroc', mode: 'max' as const },
  };
  const trainer = new Trainer(TrainerConfigSchema.parse(trainerConfig), { checkpointSink: manager });
  try {
    const summary = await trainer.fit(
      task,
      {
        train: makeLoader(data, splitIndices(data, 'train'), config, mc, true),
        val: makeLoader(data, splitIndices(data, 'val'), config, mc, false),
      },
      { resume: true },
    );
    const best = manager.best('val_mean_auroc', 'max');
    return {
      runDir: join(runDir, stage),
      summary,
      best: best ? { name: best.name, metrics: best.metrics } : null,
    };
  } finally {
    await manager.close();
  }
}

/** Loads the best (validation mean AUROC) checkpoint of a stage into the model; returns its path. */
export async function loadBestCheckpoint(model: MdfNet, stageDir: string): Promise<string> {
  const manager = new CheckpointManager(join(stageDir, 'checkpoints'));
  try {
    const best = manager.best('val_mean_auroc', 'max');
    const ck = best ? await manager.load(best.name) : await manager.latestValid();
    if (!ck) throw new MdfNetArgumentError('runDir', `${stageDir} has no valid checkpoint`);
    model.loadStateDict(ck.model);
    disposeCheckpoint(ck);
    return join(stageDir, 'checkpoints', best ? best.name : 'latest');
  } finally {
    await manager.close();
  }
}

export interface RunFiles {
  config: MdfNetRunConfig;
  modelConfig: MdfNetModelConfig;
  clinicalStats: ClinicalStats;
  tokenizer: string;
  /** SHA-256 of the ONNX encoder files the run was trained with. */
  encoderSha256?: { image?: string; text?: string };
}

/** Reads what a run directory recorded about itself. */
export function readRunFiles(runDir: string): RunFiles {
  const cfgPath = join(runDir, 'mdf-net.json');
  if (!existsSync(cfgPath))
    throw new MdfNetArgumentError('runDir', `${cfgPath} does not exist (not an mdf-net run)`);
  return JSON.parse(readFileSync(cfgPath, 'utf8')) as RunFiles;
}

/** Stage 1 → stage 2 training from a run config; returns where everything went. */
export async function train(input: MdfNetRunConfigInput): Promise<MdfNetTrainResult> {
  const t0 = Date.now();
  const config = MdfNetRunConfigSchema.parse(input);
  const dataDir = resolve(config.data.dir);
  if (!existsSync(join(dataDir, 'studies.csv'))) {
    if (!config.data.synth)
      throw new MdfNetArgumentError('data.dir', `${dataDir} has no studies.csv (run meddl synth mdf-net)`);
    synthesize(dataDir, config.data.synth);
  }
  const runDir = resolve(config.trainer.runsDir ?? 'runs', config.trainer.name);
  mkdirSync(runDir, { recursive: true });
  const tokenizer = config.data.tokenizer ? resolve(config.data.tokenizer) : join(dataDir, 'tokenizer.json');
  const base = resolveModelConfig(config, 1);
  const encoders = encoderSpec(config, base.modalities);
  const external: Parameters<typeof resolveModelConfig>[2] = {};
  if (encoders?.image || encoders?.text) {
    // Load once up front: a file that does not fit fails before any data work, and the image
    // encoder's input size decides the preprocessing size.
    const loaded = await loadEncoders(encoders, base.maxTokens);
    if (loaded.image) {
      external.imageSize = loaded.image.imageSize;
      external.imageEmbeddingDim = loaded.image.dim;
    }
    if (loaded.text) external.textEmbeddingDim = loaded.text.dim;
    await releaseEncoders(loaded);
  }
  const data = await prepareData(dataDir, {
    imageSize: external.imageSize ?? base.imageSize,
    maxTokens: base.maxTokens,
    tokenizer,
    ratios: config.data.ratios,
    seed: config.trainer.seed,
  });
  const modelConfig = resolveModelConfig(config, data.tokenizer.vocabSize, external);
  const embeddingCache = await attachRunEmbeddings(data.studies, encoders, modelConfig.maxTokens);
  writeJsonAtomic(join(runDir, 'mdf-net.json'), {
    config: { ...config, data: { ...config.data, dir: dataDir }, encoders },
    modelConfig,
    clinicalStats: data.clinicalStats,
    tokenizer,
    encoderSha256: {
      ...(encoders?.image ? { image: sha256File(encoders.image.path) } : {}),
      ...(encoders?.text ? { text: sha256File(encoders.text.path) } : {}),
    },
  } satisfies RunFiles);
  const model = createModel(modelConfig, new Generator(config.trainer.seed));
  try {
    let stage1: StageResult | null = null;
    let stage2: StageResult | null = null;
    if (config.stage1.enabled) {
      if (config.stage1.freezeEncoders) for (const e of model.encoders()) e.freeze();
      stage1 = await runStage('stage1', model, data, config, runDir);
      for (const e of model.encoders()) e.unfreeze();
    }
    let bestCheckpoint = '';
    if (config.stage2.enabled) {
      if (stage1) await loadBestCheckpoint(model, stage1.runDir);
      stage2 = await runStage('stage2', model, data, config, runDir);
      bestCheckpoint = join(stage2.runDir, 'checkpoints', stage2.best?.name ?? 'latest');
    } else if (stage1) bestCheckpoint = join(stage1.runDir, 'checkpoints', stage1.best?.name ?? 'latest');
    const last = stage2 ?? stage1;
    if (last) {
      await loadBestCheckpoint(model, last.runDir);
      const val = await collectLogits(
        model,
        makeLoader(data, splitIndices(data, 'val'), config, modelConfig, false),
        config.normalization,
      );
      writeCalibration(
        runDir,
        fitCalibration(config.calibration, val.logits, val.target, val.certain),
        'val',
        config.calibration,
      );
    }
    const result = {
      runDir,
      stage1,
      stage2,
      bestCheckpoint,
      durationSec: (Date.now() - t0) / 1000,
      embeddingCache,
    };
    writeJsonAtomic(join(runDir, 'train.json'), {
      bestCheckpoint,
      embeddingCache,
      durationSec: result.durationSec,
      stage1: stage1 && { status: stage1.summary.status, epochs: stage1.summary.epochs, best: stage1.best },
      stage2: stage2 && { status: stage2.summary.status, epochs: stage2.summary.epochs, best: stage2.best },
    });
    return result;
  } finally {
    model.dispose();
  }
}
