/**
 * MDF-Net as a service model: a chest X-ray (DICOM or PNG) plus, in the options, the radiology
 * report text and the triage fields → 14 finding probabilities (multi-label). The inputs are
 * built with @meddl/mdf-net's own functions (readRunFiles, loadBestCheckpoint, ReportTokenizer,
 * parseClinicalRow/encodeClinical, preprocessImage, batchInputs) — the chain of `meddl predict
 * mdf-net` with the model held in memory. Calibration: per-finding temperature scaling of the
 * logits, p = sigmoid(z / T_k), with temperatures from the config or fitted at start-up on the
 * run's validation split with @meddl/metrics' fitTemperature (a binary logit z is the two-class
 * logit pair [0, z], so the multi-class fit applies unchanged). The uncertainty is the mean binary
 * entropy of the calibrated probabilities.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  batchInputs,
  CALIBRATION_FILE,
  CLINICAL_NUMERIC_DIM,
  collateStudies,
  createModel,
  encodeClinical,
  FINDINGS,
  loadBestCheckpoint,
  loadImage,
  type MdfNet,
  MdfNetRunConfigSchema,
  parseClinicalRow,
  prepareData,
  preprocessImage,
  ReportTokenizer,
  type RunFiles,
  readCalibration,
  readRunFiles,
  splitIndices,
  VITALS,
} from '@meddl/mdf-net';
import { fitTemperature } from '@meddl/metrics';
import { Generator, tf } from '@meddl/tensor';
import { z } from 'zod';
import type { ModelEntry } from '../config';
import { ServeConfigError, ServeError } from '../errors';
import type { InputKind, ModelCard, PredictInput, Prediction, Predictor } from '../predictor';
import { binaryEntropyBits, stateDictSha256 } from './common';

type MdfNetEntry = Extract<ModelEntry, { kind: 'mdf-net' }>;
type RunConfig = ReturnType<typeof MdfNetRunConfigSchema.parse>;

const CLINICAL_FIELDS = [...VITALS, 'sex', 'acuity'] as const;

const OptionsSchema = z
  .object({
    /** The radiology report (free text). Required when the model uses text. */
    report: z.string().max(100_000).optional(),
    /** Triage fields (MIMIC-IV-ED names): vitals as numbers, sex F|M, acuity 1–5; missing = unknown. */
    clinical: z
      .object(
        Object.fromEntries(
          CLINICAL_FIELDS.map((k) => [k, z.union([z.number(), z.string().max(32)]).optional()]),
        ),
      )
      .strict()
      .default({}),
  })
  .strict();

const INPUTS: InputKind[] = [
  {
    kind: 'chest-x-ray',
    description:
      'A frontal chest radiograph: DICOM (display values: VOI window, MONOCHROME1 inverted) or 8/16-bit greyscale PNG. The report text and triage fields go in `options`.',
    extensions: ['.dcm', '.dicom', '.png'],
    contentTypes: ['application/dicom', 'image/png', 'application/octet-stream'],
  },
];

type Batch = Parameters<typeof batchInputs>[0];

/** The forward pass of a batch (plain arrays, as `collateStudies` builds them) → logits [B·14]. */
export interface MdfNetBackend {
  readonly kind: string;
  logits(batch: Batch): Promise<Float64Array>;
  describe(): Record<string, unknown>;
  dispose(): void;
}

function tfjsBackend(
  model: MdfNet,
  normalization: RunConfig['normalization'],
  weightsSha256: string,
): MdfNetBackend {
  return {
    kind: 'mdf-net',
    async logits(b) {
      return Float64Array.from(
        tf.tidy(() => model.forward(batchInputs(b, normalization)).dataSync()) as Float32Array,
      );
    },
    describe: () => ({ weightsSha256 }),
    dispose: () => model.dispose(),
  };
}

export interface Calibration {
  temperatures: number[];
  calibrated: boolean;
  source: string;
  nllBefore?: number[];
  nllAfter?: number[];
}

export class MdfNetPredictor implements Predictor {
  readonly inputs = INPUTS;
  readonly optionsSchema = OptionsSchema as unknown as z.ZodType<Record<string, unknown>>;
  readonly labels: string[] = [...FINDINGS];

  constructor(
    readonly name: string,
    readonly version: string,
    private readonly backend: MdfNetBackend,
    private readonly files: Pick<RunFiles, 'modelConfig' | 'clinicalStats'>,
    private readonly normalization: RunConfig['normalization'],
    private readonly tokenizer: ReportTokenizer,
    private readonly calibration: Calibration,
    private readonly checkpoint: string,
    private readonly entry: { temperatures?: number | number[] } & Record<string, unknown>,
    private readonly extraCard: Record<string, unknown> = {},
  ) {}

  /** Threads get the temperatures fitted here instead of fitting them again. */
  threadEntry(): Record<string, unknown> {
    return this.calibration.source === 'none'
      ? this.entry
      : { ...this.entry, temperatures: [...this.calibration.temperatures] };
  }

  /** Decodes the image (DICOM or PNG) before a job is queued. */
  async validate(file: string): Promise<void> {
    await loadImage(file);
  }

  static async load(entry: MdfNetEntry): Promise<MdfNetPredictor> {
    let files: RunFiles;
    try {
      files = readRunFiles(entry.run);
    } catch (e) {
      throw new ServeConfigError(entry.run, (e as Error).message);
    }
    const config = MdfNetRunConfigSchema.parse(files.config);
    const mc = files.modelConfig;
    const model = createModel(mc, new Generator(0));
    let checkpoint: string;
    try {
      checkpoint = await loadBestCheckpoint(
        model,
        join(entry.run, config.stage2.enabled ? 'stage2' : 'stage1'),
      );
    } catch (e) {
      model.dispose();
      throw new ServeConfigError(entry.run, (e as Error).message);
    }
    model.eval();
    if (!existsSync(files.tokenizer)) {
      model.dispose();
      throw new ServeConfigError(entry.run, `the run's tokenizer ${files.tokenizer} does not exist`);
    }
    const tokenizer = ReportTokenizer.fromFile(files.tokenizer, mc.maxTokens);
    if ((config as { encoders?: unknown }).encoders) {
      model.dispose();
      // Their embeddings come from the package's private study batching (evaluate.studyBatch).
      throw new ServeConfigError(
        entry.run,
        'runs with frozen ONNX encoders (config.encoders) are not served yet',
      );
    }
    let calibration: Calibration;
    if (entry.temperatures !== undefined) {
      const t =
        typeof entry.temperatures === 'number'
          ? FINDINGS.map(() => entry.temperatures as number)
          : entry.temperatures;
      calibration = { temperatures: [...t], calibrated: true, source: 'config' };
    } else if (entry.calibrate === 'run' && existsSync(join(entry.run, CALIBRATION_FILE))) {
      // The temperatures `meddl train mdf-net` fitted on the validation split and saved with the run.
      calibration = {
        temperatures: readCalibration(entry.run),
        calibrated: true,
        source: `${CALIBRATION_FILE} of the run`,
      };
    } else if (entry.calibrate !== 'none') {
      calibration = await fitValTemperatures(tfjsBackend(model, config.normalization, ''), files, config);
    } else {
      calibration = { temperatures: FINDINGS.map(() => 1), calibrated: false, source: 'none' };
    }
    const sha = stateDictSha256(model.stateDict());
    return new MdfNetPredictor(
      entry.name,
      entry.version ?? sha.slice(0, 12),
      tfjsBackend(model, config.normalization, sha),
      files,
      config.normalization,
      tokenizer,
      calibration,
      checkpoint,
      entry,
    );
  }

  card(): ModelCard {
    const mc = this.files.modelConfig;
    return {
      name: this.name,
      version: this.version,
      kind: this.backend.kind,
      task: 'multilabel',
      labels: this.labels,
      inputs: this.inputs,
      calibration: {
        method: 'per-finding temperature scaling of the logits: p = sigmoid(z / T)',
        calibrated: this.calibration.calibrated,
        source: this.calibration.source,
        temperatures: this.calibration.temperatures,
        ...(this.calibration.nllBefore
          ? { valNllBefore: this.calibration.nllBefore, valNllAfter: this.calibration.nllAfter }
          : {}),
      },
      options: {
        report: `string${mc.modalities.includes('text') ? ', required' : ', ignored (the model has no text encoder)'}`,
        clinical: `object with any of ${CLINICAL_FIELDS.join(', ')}${mc.modalities.includes('clinical') ? '' : ' (ignored: the model has no clinical encoder)'}`,
      },
      uncertainty: 'mean binary entropy (bits) of the calibrated finding probabilities',
      architecture: {
        modalities: mc.modalities,
        fusion: mc.fusion,
        imageSize: mc.imageSize,
        maxTokens: mc.maxTokens,
        normalization: this.normalization,
        checkpoint: this.checkpoint.split('/').slice(-3).join('/'),
        ...this.backend.describe(),
      },
      ...this.extraCard,
    };
  }

  async predict(input: PredictInput): Promise<Prediction> {
    const opts = OptionsSchema.parse(input.options);
    const mc = this.files.modelConfig;
    if (mc.modalities.includes('text') && opts.report === undefined)
      throw new ServeError(400, 'options.report: this model needs the report text', 'invalid_input');
    const K = FINDINGS.length;
    const enc = this.tokenizer.encode(opts.report ?? '');
    const clinical = encodeClinical(
      parseClinicalRow(
        Object.fromEntries(
          CLINICAL_FIELDS.map((k) => [k, opts.clinical[k] === undefined ? '' : String(opts.clinical[k])]),
        ),
        'options.clinical',
        1,
      ),
      this.files.clinicalStats,
    );
    const image = mc.modalities.includes('image')
      ? await preprocessImage(input.file, mc.imageSize)
      : new Float32Array(mc.imageSize ** 2);
    if (input.signal?.aborted) throw input.signal.reason ?? new Error('aborted');
    const logits = await this.backend.logits({
      size: 1,
      imageSize: mc.imageSize,
      images: image,
      tokens: enc.ids,
      attention: Int32Array.from(enc.attentionMask),
      maxTokens: mc.maxTokens,
      clinical: clinical.numeric,
      sex: Int32Array.of(clinical.sex),
      acuity: Int32Array.of(clinical.acuity),
      target: new Float32Array(K),
      mask: new Float32Array(K),
      certain: new Float32Array(K),
      certainTarget: new Float32Array(K),
      imageEmbeddings: null,
      textEmbeddings: null,
    });
    const T = this.calibration.temperatures;
    const probs = Array.from(logits, (z, k) => 1 / (1 + Math.exp(-z / (T[k] as number))));
    const entropies = probs.map(binaryEntropyBits);
    return {
      labels: this.labels,
      probabilities: probs,
      uncertainty: {
        score: entropies.reduce((a, b) => a + b, 0) / K,
        method: 'mean binary entropy (bits) of the calibrated finding probabilities',
        perFinding: entropies,
      },
      extras: {
        positiveFindings: this.labels.filter((_, k) => (probs[k] as number) >= 0.5),
        modalities: mc.modalities,
        reportTokens: enc.attentionMask.reduce((a: number, b: number) => a + b, 0),
      },
    };
  }

  dispose(): void {
    this.backend.dispose();
  }
}

/**
 * Fits one temperature per finding on the run's validation split (certain labels only). A finding
 * whose validation labels are all one class, or whose logits carry no signal, keeps T = 1 and is
 * reported as such.
 */
export async function fitValTemperatures(
  backend: MdfNetBackend,
  files: Pick<RunFiles, 'modelConfig' | 'clinicalStats' | 'tokenizer'>,
  config: RunConfig,
): Promise<Calibration> {
  const mc = files.modelConfig;
  const data = await prepareData(config.data.dir, {
    imageSize: mc.imageSize,
    maxTokens: mc.maxTokens,
    tokenizer: files.tokenizer,
    ratios: config.data.ratios,
    seed: config.trainer.seed,
    clinicalStats: files.clinicalStats,
  });
  const val = splitIndices(data, 'val');
  const K = FINDINGS.length;
  const z: number[][] = FINDINGS.map(() => []);
  const y: number[][] = FINDINGS.map(() => []);
  for (let s = 0; s < val.length; s += 16) {
    const b = collateStudies(
      val.slice(s, s + 16).map((i) => data.studies[i] as (typeof data.studies)[number]),
      {
        imageSize: mc.imageSize,
        maxTokens: mc.maxTokens,
        policy: config.uncertainPolicy,
        clinicalDim: CLINICAL_NUMERIC_DIM,
      },
    );
    const out = await backend.logits(b);
    for (let r = 0; r < b.size; r++)
      for (let k = 0; k < K; k++)
        if (b.certain[r * K + k]) {
          (z[k] as number[]).push(out[r * K + k] as number);
          (y[k] as number[]).push(b.certainTarget[r * K + k] as number);
        }
  }
  const temperatures: number[] = [];
  const nllBefore: number[] = [];
  const nllAfter: number[] = [];
  let fitted = 0;
  for (let k = 0; k < K; k++) {
    const zs = z[k] as number[];
    const ys = y[k] as number[];
    const both = ys.includes(0) && ys.includes(1);
    if (!both) {
      temperatures.push(1);
      nllBefore.push(Number.NaN);
      nllAfter.push(Number.NaN);
      continue;
    }
    const fit = fitTemperature({ data: Float64Array.from(zs.flatMap((v) => [0, v])), cols: 2 }, ys);
    const ok = Number.isFinite(fit.temperature) && fit.temperature > 0;
    temperatures.push(ok ? fit.temperature : 1);
    nllBefore.push(fit.nllBefore);
    nllAfter.push(ok ? fit.nllAfter : fit.nllBefore);
    if (ok) fitted++;
  }
  return {
    temperatures,
    calibrated: fitted > 0,
    source: `fitted on the validation split (${val.length} studies; ${fitted} of ${K} findings had both classes)`,
    nllBefore,
    nllAfter,
  };
}
