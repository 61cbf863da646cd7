/**
 * Training and evaluation of TissueBERT: what to compute (data, model, loss, metrics); how to
 * train is @meddl/trainer's, where checkpoints go is @meddl/checkpoint's.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CheckpointManager, disposeCheckpoint } from '@meddl/checkpoint';
import { groupRatioSplit, readManifest } from '@meddl/data';
import {
  accuracy,
  balancedAccuracy,
  confusionMatrix,
  macroOverPresent,
  precisionRecallF1,
} from '@meddl/metrics';
import { Generator, initBackend, tf } from '@meddl/tensor';
import {
  crossEntropy,
  DataLoader,
  type Dataset,
  epochGenerator,
  type FitSummary,
  type Sampler,
  Trainer,
  TrainerConfigSchema,
  type TrainingTask,
  type ValidationOutput,
} from '@meddl/trainer';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TissueBertArgumentError } from './errors';
import { readBlocksBed, readCpgIndex } from './formats/bed';
import { IndexedFasta } from './formats/fasta';
import { readPat } from './formats/pat';
import { openPreparedStore, STORE_FILE, storeIsFresh, writePreparedStore } from './h5store';
import {
  createModel,
  PRESETS,
  type TissueBert,
  type TissueBertModelConfig,
  type TissueBertPreset,
} from './model';
import { RUN_META_FILE, type TissueBertRunMeta } from './run-meta';
import { cpgDropout, evenlySpaced, TissueBalancedSampler } from './sampling';
import { type PreparedStore, prepareSample } from './store';
import { ensureSyntheticDataset, SynthConfigSchema } from './synth/generator';

const PRESET_NAMES = Object.keys(PRESETS) as [TissueBertPreset, ...TissueBertPreset[]];

export const TissueBertRunConfigSchema = z.object({
  data: z.object({
    /** A folder with manifest.csv (sample,tissue,file), regions.bed, CpG.bed.gz and genome.fa. */
    dir: z.string(),
    /** Generate a synthetic data set into `dir` first when it has no manifest. */
    synth: SynthConfigSchema.partial().optional(),
    /** Fraction of files held out for validation, stratified by tissue. */
    valFraction: z.number().gt(0).lt(1).default(0.2),
    /** Training examples drawn (tissue-balanced) per epoch. */
    examplesPerEpoch: z.number().int().positive().default(8192),
    /** Validation examples per held-out file (evenly spaced, deterministic). */
    valExamplesPerFile: z.number().int().positive().default(64),
  }),
  model: z
    .object({
      preset: z.enum(PRESET_NAMES).default('tissuebert-small'),
      /** Fields that replace the preset's (validated when the model is built). Not `.partial()` of the
       * model schema: zod fills a partial schema's defaults, which would silently replace the preset. */
      overrides: z
        .record(z.string(), z.unknown())
        .default({})
        .transform((o) => o as Partial<TissueBertModelConfig>),
    })
    .prefault({}),
  batchSize: z.number().int().positive().default(128),
  labelSmoothing: z.number().min(0).lt(1).default(0.1),
  cpgDropout: z.number().min(0).max(1).default(0.05),
  /** Continue from the run directory's newest valid checkpoint when there is one. */
  autoResume: z.boolean().default(true),
  maxResumes: z.number().int().min(0).default(5),
  /** A previous stage's run directory: its best (lowest val_loss) model weights start this run. */
  initFrom: z.string().optional(),
  checkpoints: z
    .object({
      keepLast: z.number().int().min(1).default(1),
      everyNEpochs: z.number().int().positive().default(5),
    })
    .prefault({}),
  trainer: TrainerConfigSchema.prefault({}),
});
export type TissueBertRunConfig = z.infer<typeof TissueBertRunConfigSchema>;
export type TissueBertRunConfigInput = z.input<typeof TissueBertRunConfigSchema>;

/**
 * Reads a run config (configs/tissuebert/*.yaml) with optional overrides merged into its `data`
 * and `trainer` sections, validated by `TissueBertRunConfigSchema`; an invalid file is an error
 * naming it and every offending field.
 */
export function readTissueBertConfig(
  file: string,
  overrides: { data?: Record<string, unknown>; trainer?: Record<string, unknown> } = {},
): TissueBertRunConfig {
  let raw: Record<string, unknown>;
  try {
    raw = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new TissueBertArgumentError('--config', `${file}: ${(e as Error).message}`);
  }
  const section = (k: string) => ({ ...((raw[k] as Record<string, unknown>) ?? {}) });
  const parsed = TissueBertRunConfigSchema.safeParse({
    ...raw,
    data: { ...section('data'), ...overrides.data },
    trainer: { ...section('trainer'), ...overrides.trainer },
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TissueBertArgumentError('--config', `${file}: ${issues}`);
  }
  return parsed.data;
}

/**
 * The prepared store of a data folder (the layout the synthetic generator writes): read from
 * `<dir>/store.h5` when that exists and is newer than manifest.csv (`meddl tissuebert prepare`),
 * else built from the pat files (`{ hdf5: false }` always builds).
 */
export async function loadStore(dir: string, options: { hdf5?: boolean } = {}): Promise<PreparedStore> {
  if (options.hdf5 !== false && storeIsFresh(dir)) return openPreparedStore(join(dir, STORE_FILE));
  return buildStore(dir);
}

/** Writes the store built from `dataDir`'s pat files to one HDF5 file (default `<dataDir>/store.h5`). */
export async function prepareStore(
  dataDir: string,
  outFile: string = join(dataDir, STORE_FILE),
): Promise<{ file: string; samples: number; examples: number; tissues: number; regions: number }> {
  const store = await buildStore(dataDir);
  await writePreparedStore(store, outFile);
  return {
    file: outFile,
    samples: store.samples.length,
    examples: store.samples.reduce((a, s) => a + s.n, 0),
    tissues: store.tissues.length,
    regions: store.regions.length,
  };
}

/** Builds the prepared store from the pat files, CpG index, genome and regions of a data folder. */
export async function buildStore(dir: string): Promise<PreparedStore> {
  const manifestPath = join(dir, 'manifest.csv');
  if (!existsSync(manifestPath))
    throw new TissueBertArgumentError(
      'data.dir',
      `${manifestPath} does not exist (run meddl synth tissuebert)`,
    );
  const rows = await readManifest(
    manifestPath,
    z.object({ sample: z.string(), tissue: z.string(), file: z.string() }),
  );
  const truthPath = join(dir, 'ground_truth.json');
  const tissues: string[] = existsSync(truthPath)
    ? (JSON.parse(readFileSync(truthPath, 'utf8')) as { tissues: string[] }).tissues
    : [...new Set(rows.map((r) => r.tissue))].sort();
  const regions = readBlocksBed(join(dir, 'regions.bed'));
  const cpg = readCpgIndex(join(dir, 'CpG.bed.gz'));
  const fasta = new IndexedFasta(join(dir, 'genome.fa'));
  try {
    const samples = rows.map((r) => {
      const label = tissues.indexOf(r.tissue);
      if (label < 0)
        throw new TissueBertArgumentError('manifest', `${manifestPath}: unknown tissue '${r.tissue}'`);
      return prepareSample(
        { sample: r.sample, tissue: r.tissue, label },
        readPat(join(dir, r.file)),
        regions,
        cpg,
        fasta,
      );
    });
    const tokenLength = samples[0]?.tokens.length
      ? samples[0].tokens.length / Math.max(samples[0].n, 1)
      : 148;
    return { tokenLength, windowLength: tokenLength + 2, tissues, regions, samples };
  } finally {
    fasta.close();
  }
}

/** Flat (file, example) addressing over a subset of the store's files. */
class ExampleIndex {
  readonly offsets: number[] = [];
  readonly total: number;
  constructor(
    readonly store: PreparedStore,
    readonly files: number[],
    readonly perFile: (file: number) => number[],
  ) {
    let n = 0;
    this.lists = files.map((f) => {
      this.offsets.push(n);
      const l = perFile(f);
      n += l.length;
      return l;
    });
    this.total = n;
  }
  readonly lists: number[][];
  locate(flat: number): { file: number; example: number } {
    let lo = 0;
    let hi = this.offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= flat) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.files[lo], example: this.lists[lo][flat - this.offsets[lo]] };
  }
}

export interface TissueBertBatch {
  tokens: Int32Array;
  methylation: Int32Array;
  labels: Int32Array;
  size: number;
  length: number;
}

interface Item {
  tokens: Uint8Array;
  methylation: Uint8Array;
  label: number;
}

function collate(items: Item[]): TissueBertBatch {
  const L = items[0].tokens.length;
  const tokens = new Int32Array(items.length * L);
  const methylation = new Int32Array(items.length * L);
  const labels = new Int32Array(items.length);
  items.forEach((it, i) => {
    tokens.set(it.tokens, i * L);
    methylation.set(it.methylation, i * L);
    labels[i] = it.label;
  });
  return { tokens, methylation, labels, size: items.length, length: L };
}

function itemDataset(index: ExampleIndex): Dataset<Item> {
  const L = index.store.tokenLength;
  return {
    length: index.total,
    get(i: number): Item {
      const { file, example } = index.locate(i);
      const s = index.store.samples[file];
      return {
        tokens: s.tokens.subarray(example * L, (example + 1) * L),
        methylation: s.methylation.subarray(example * L, (example + 1) * L),
        label: s.label,
      };
    },
  };
}

/** Per epoch, examplesPerEpoch draws: a file with weight 1/n_files(tissue), then a read by its count. */
class TissueBalancedEpochSampler implements Sampler {
  private readonly sampler: TissueBalancedSampler;
  constructor(
    private readonly index: ExampleIndex,
    readonly length: number,
    private readonly seed: number,
  ) {
    this.sampler = new TissueBalancedSampler(
      index.files.map((f) => ({
        label: index.store.samples[f].label,
        weights: index.store.samples[f].count,
      })),
    );
  }
  epochIndices(epoch: number): number[] {
    const rng = epochGenerator(this.seed, epoch);
    return Array.from({ length: this.length }, () => {
      const { file, example } = this.sampler.sample(rng);
      return this.index.offsets[file] + example;
    });
  }
}

/** The TissueBERT training task: cross-entropy with label smoothing, CpG dropout in training only. */
export class TissueBertTask implements TrainingTask<TissueBertBatch> {
  /** Filled by validationEpochEnd: the latest per-tissue report. */
  lastReport: {
    confusion: number[][];
    perTissue: { tissue: string; precision: number; recall: number; f1: number; support: number }[];
  } | null = null;

  constructor(
    readonly module: TissueBert,
    readonly tissues: string[],
    readonly options: { labelSmoothing: number; cpgDropout: number; reportDir?: string },
    private readonly dropoutRng = new Generator(0),
  ) {}

  private inputs(b: TissueBertBatch, methylation: Int32Array): [tf.Tensor2D, tf.Tensor2D] {
    return [
      tf.tensor2d(b.tokens, [b.size, b.length], 'int32'),
      tf.tensor2d(methylation, [b.size, b.length], 'int32'),
    ];
  }

  trainingStep(b: TissueBertBatch): tf.Scalar {
    let meth = b.methylation;
    if (this.options.cpgDropout > 0) {
      meth = Int32Array.from(
        cpgDropout(Uint8Array.from(b.methylation), this.options.cpgDropout, this.dropoutRng),
      );
    }
    const [tokens, m] = this.inputs(b, meth);
    const logits = this.module.forward(tokens, m);
    return crossEntropy(logits, tf.tensor1d(b.labels, 'int32'), {
      labelSmoothing: this.options.labelSmoothing,
    }) as tf.Scalar;
  }

  validationStep(b: TissueBertBatch): ValidationOutput {
    return tf.tidy(() => {
      const [tokens, m] = this.inputs(b, b.methylation);
      const logits = this.module.forward(tokens, m);
      const loss = crossEntropy(logits, tf.tensor1d(b.labels, 'int32')).dataSync()[0];
      const pred = tf.argMax(logits, 1).dataSync() as Int32Array;
      return { loss, pred: Int32Array.from(pred), labels: Int32Array.from(b.labels) };
    });
  }

  validationEpochEnd(
    outputs: ValidationOutput[],
    ctx: { epoch: number; logConfusionMatrix(tag: string, m: number[][]): void },
  ): Record<string, number> {
    const yTrue = outputs.flatMap((o) => Array.from(o.labels as Int32Array));
    const yPred = outputs.flatMap((o) => Array.from(o.pred as Int32Array));
    const K = this.tissues.length;
    const cm = confusionMatrix(yTrue, yPred, K);
    const prf = precisionRecallF1(yTrue, yPred, K);
    const matrix = Array.from({ length: K }, (_, i) =>
      Array.from({ length: K }, (_, j) => cm.counts[i * K + j]),
    );
    ctx.logConfusionMatrix('val/confusion_matrix', matrix);
    this.lastReport = {
      confusion: matrix,
      perTissue: this.tissues.map((tissue, k) => ({
        tissue,
        precision: prf.precision[k],
        recall: prf.recall[k],
        f1: prf.f1[k],
        support: prf.support[k],
      })),
    };
    if (this.options.reportDir) writeValidationReport(this.options.reportDir, this.tissues, this.lastReport);
    return {
      val_accuracy: accuracy(yTrue, yPred, K),
      val_balanced_accuracy: balancedAccuracy(yTrue, yPred, K),
      val_macro_f1: macroOverPresent(prf).f1,
    };
  }

  generators(): Generator[] {
    return [this.dropoutRng];
  }
}

function writeValidationReport(
  dir: string,
  tissues: string[],
  report: NonNullable<TissueBertTask['lastReport']>,
): void {
  mkdirSync(dir, { recursive: true });
  const perTissue = ['tissue,precision,recall,f1,support']
    .concat(report.perTissue.map((r) => `${r.tissue},${r.precision},${r.recall},${r.f1},${r.support}`))
    .join('\n');
  writeFileSync(join(dir, 'val_per_tissue.csv'), `${perTissue}\n`);
  const cm = [`true\\pred,${tissues.join(',')}`]
    .concat(report.confusion.map((row, i) => `${tissues[i]},${row.join(',')}`))
    .join('\n');
  writeFileSync(join(dir, 'val_confusion_matrix.csv'), `${cm}\n`);
}

/** Splits files into train/val, stratified by tissue, reproducibly. */
export function splitFiles(
  store: PreparedStore,
  valFraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  const rows = store.samples.map((s, i) => ({ i, sample: s.sample, tissue: s.tissue }));
  const split = groupRatioSplit(rows, {
    ratios: { train: 1 - valFraction, val: valFraction },
    group: 'sample',
    stratify: 'tissue',
    generator: new Generator(seed),
  });
  return {
    train: rows.filter((_, k) => split[k] === 'train').map((r) => r.i),
    val: rows.filter((_, k) => split[k] === 'val').map((r) => r.i),
  };
}

export interface TissueBertTrainResult {
  runDir: string;
  summary: FitSummary;
  metrics: Record<string, number>;
  perTissue: NonNullable<TissueBertTask['lastReport']>['perTissue'] | null;
  store: { files: number; trainFiles: number; valFiles: number; tissues: number };
}

/** Trains TissueBERT from a config (auto-resuming, staged via initFrom). */
export async function trainTissueBert(input: TissueBertRunConfigInput): Promise<TissueBertTrainResult> {
  await initBackend(); // the fastest built backend (native when built), as the tests use
  const config = TissueBertRunConfigSchema.parse(input);
  const dataDir = resolve(config.data.dir);
  if (config.data.synth) ensureSyntheticDataset(dataDir, config.data.synth);
  const store = await loadStore(dataDir);
  const seed = config.trainer.seed;
  const { train, val } = splitFiles(store, config.data.valFraction, seed);
  const model = createModel(
    config.model.preset,
    { ...config.model.overrides, numClasses: store.tissues.length },
    new Generator(seed),
  );

  const trainIndex = new ExampleIndex(store, train, (f) =>
    Array.from({ length: store.samples[f].n }, (_, i) => i),
  );
  const valIndex = new ExampleIndex(store, val, (f) =>
    evenlySpaced(store.samples[f].n, config.data.valExamplesPerFile),
  );
  const trainLoader = new DataLoader(itemDataset(trainIndex), {
    batchSize: config.batchSize,
    sampler: new TissueBalancedEpochSampler(trainIndex, config.data.examplesPerEpoch, seed),
    collate,
  });
  const valLoader = new DataLoader(itemDataset(valIndex), { batchSize: config.batchSize, collate });

  const runsDir = config.trainer.runsDir ?? 'runs';
  const runDir = resolve(runsDir, config.trainer.name);
  const manager = new CheckpointManager(join(runDir, 'checkpoints'), {
    keepLast: config.checkpoints.keepLast,
    keepBest: [
      { monitor: 'val_loss', mode: 'min', k: 1 },
      { monitor: 'val_accuracy', mode: 'max', k: 1 },
    ],
    everyNEpochs: config.checkpoints.everyNEpochs,
    maxResumes: config.maxResumes,
  });
  mkdirSync(runDir, { recursive: true });
  const meta: TissueBertRunMeta = {
    dataDir,
    preset: config.model.preset,
    overrides: config.model.overrides,
    tissues: store.tissues,
    trainSamples: train.map((f) => store.samples[f].sample),
    valSamples: val.map((f) => store.samples[f].sample),
    seed,
  };
  writeFileSync(join(runDir, RUN_META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
  let resume = false;
  if (config.autoResume && manager.list().length > 0) {
    const ck = await manager.resume({ maxResumes: config.maxResumes });
    if (ck) {
      disposeCheckpoint(ck);
      resume = true;
    }
  } else if (config.initFrom) {
    const previous = new CheckpointManager(join(resolve(config.initFrom), 'checkpoints'));
    const best = previous.best('val_loss', 'min');
    const ck = best ? await previous.load(best.name) : await previous.latestValid();
    if (!ck) throw new TissueBertArgumentError('initFrom', `${config.initFrom} has no valid checkpoint`);
    model.loadStateDict(ck.model);
    disposeCheckpoint(ck);
    await previous.close();
  }
  const task = new TissueBertTask(
    model,
    store.tissues,
    {
      labelSmoothing: config.labelSmoothing,
      cpgDropout: config.cpgDropout,
      reportDir: join(runDir, 'logs'),
    },
    new Generator(seed + 1),
  );
  const trainerConfig = {
    ...config.trainer,
    runsDir,
    checkpoint: config.trainer.checkpoint ?? { everyNEpochs: 1, mode: 'min' as const },
  };
  const trainer = new Trainer(trainerConfig, { checkpointSink: manager });
  try {
    // resume=true also keeps the run directory's name stable for a fresh run.
    const summary = await trainer.fit(
      task,
      { train: trainLoader, val: valLoader },
      { resume: resume || config.autoResume },
    );
    const metrics = summary.history.length ? summary.history[summary.history.length - 1].metrics : {};
    writeFileSync(
      join(runDir, 'metrics.json'),
      `${JSON.stringify({ metrics, perTissue: task.lastReport?.perTissue ?? null, status: summary.status }, null, 2)}\n`,
    );
    return {
      runDir,
      summary,
      metrics,
      perTissue: task.lastReport?.perTissue ?? null,
      store: {
        files: store.samples.length,
        trainFiles: train.length,
        valFiles: val.length,
        tissues: store.tissues.length,
      },
    };
  } finally {
    await manager.close();
    model.dispose();
  }
}
