/**
 * ONNX-backed models: an .onnx file written by `meddl export <model>` with its JSON sidecar
 * (`<file>.json`, format 'meddl-onnx-sidecar'), run by onnxruntime through @meddl/onnx's
 * OnnxSession. The sidecar says which model family it is, its labels, calibration and
 * preprocessing; the predictor checks the session's signature against the family's contract and
 * the file's sha256 against the sidecar before serving it. Families: tissuebert (the same chain as
 * the tfjs predictor — readPat → prepareSample → read posteriors → temperature → mixture — with
 * the forward pass in onnxruntime) and crc-mil (the gated-attention MIL head over a feature bag —
 * slides are tiled and encoded with the preprocessing recorded in the sidecar, as for the tfjs
 * model).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  FINDINGS,
  MdfNetRunConfigSchema,
  normalizeImage,
  ReportTokenizer,
  type RunFiles,
  readRunFiles,
} from '@meddl/mdf-net';
import { softmax } from '@meddl/metrics';
import { OnnxSession, type OnnxSession as OnnxSessionType, type OnnxSidecar } from '@meddl/onnx';
import type { Shape3 } from '@meddl/vjepa3d';
import type { z } from 'zod';
import type { ModelEntry } from '../config';
import { ServeConfigError } from '../errors';
import type { ModelCard, PredictInput, Prediction, Predictor, PredictorContext } from '../predictor';
import { CrcMilPredictor, type MilBackend, type MilModelInfo } from './crc-mil';
import { type Calibration, fitValTemperatures, type MdfNetBackend, MdfNetPredictor } from './mdf-net';
import {
  loadTissueBertReference,
  predictTissueBert,
  TISSUEBERT_INPUTS,
  TissueBertOptionsSchema,
  type TissueBertReference,
  validatePat,
} from './tissuebert';
import { defaultResampleShape, VJepa3dPredictor, type VJepaBackend } from './vjepa3d';

type OnnxEntry = Extract<ModelEntry, { kind: 'onnx' }>;

/** Families this service can run from ONNX. */
export const ONNX_FAMILIES = ['tissuebert', 'crc-mil', 'mdf-net', 'vjepa3d'] as const;

export function readSidecar(onnxPath: string): OnnxSidecar {
  const path = `${onnxPath}.json`;
  if (!existsSync(onnxPath)) throw new ServeConfigError(onnxPath, 'the .onnx file does not exist');
  if (!existsSync(path))
    throw new ServeConfigError(
      path,
      'the sidecar of the .onnx file is missing (write both with `meddl export`)',
    );
  let s: OnnxSidecar;
  try {
    s = JSON.parse(readFileSync(path, 'utf8')) as OnnxSidecar;
  } catch (e) {
    throw new ServeConfigError(path, `not valid JSON: ${(e as Error).message}`);
  }
  if (s.format !== 'meddl-onnx-sidecar' || s.version !== 1)
    throw new ServeConfigError(
      path,
      `not a meddl ONNX sidecar (format ${String(s.format)}, version ${String(s.version)})`,
    );
  return s;
}

/**
 * Loads an `onnx` entry: checks the sidecar and the file's sha256, then builds the family's
 * predictor with the forward pass in an OnnxSession.
 */
export async function loadOnnxPredictor(entry: OnnxEntry, ctx: PredictorContext): Promise<Predictor> {
  const sidecar = readSidecar(entry.onnx);
  if (sidecar.model === 'crc-mil' || sidecar.model === 'mdf-net' || sidecar.model === 'vjepa3d') {
    const bytes = readFileSync(entry.onnx);
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== sidecar.sha256)
      throw new ServeConfigError(
        entry.onnx,
        `sha256 ${sha.slice(0, 12)}… differs from the sidecar's ${String(sidecar.sha256).slice(0, 12)}… (the model and its sidecar do not belong together)`,
      );
    if (sidecar.model === 'vjepa3d') return vjepaFromOnnx(entry, sidecar, bytes);
    return sidecar.model === 'crc-mil'
      ? crcMilFromOnnx(entry, sidecar, bytes, ctx)
      : mdfNetFromOnnx(entry, sidecar, bytes);
  }
  return OnnxPredictor.load(entry);
}

/** The `onnx` block of a model card: what `/v1/models` shows about an ONNX-backed model. */
function onnxCard(sidecar: OnnxSidecar, session: OnnxSessionType) {
  return {
    sha256: sidecar.sha256,
    opset: sidecar.opset,
    inputs: sidecar.inputs,
    outputs: sidecar.outputs,
    checkpoint: sidecar.checkpoint ?? null,
    executionProviders: session.executionProviders,
  };
}

async function crcMilFromOnnx(
  entry: OnnxEntry,
  sidecar: OnnxSidecar,
  bytes: Uint8Array,
  ctx: PredictorContext,
): Promise<Predictor> {
  const where = `${entry.onnx}.json`;
  const config = sidecar.config as { inDim?: number; numClasses?: number; scales?: number } | undefined;
  const labels = entry.tissues ?? (sidecar.labels as string[] | undefined);
  const head = sidecar.head;
  if (!labels || !config?.inDim || (head !== 'softmax' && head !== 'evidential') || !sidecar.preprocessing)
    throw new ServeConfigError(where, 'a crc-mil sidecar needs labels, head, config.inDim and preprocessing');
  if ((config.scales ?? 1) > 1)
    throw new ServeConfigError(where, 'multi-scale crc-mil models are not served yet');
  const session = await OnnxSession.create(bytes, {
    ...(entry.ortThreads ? { threads: entry.ortThreads } : {}),
  });
  try {
    session.expectSignature({
      inputs: [{ name: 'bag', dtype: 'float32', dims: ['patches', config.inDim] }],
      outputs: [
        { name: 'logits', dtype: 'float32', dims: [1, labels.length] },
        { name: 'attention', dtype: 'float32', dims: ['patches'] },
      ],
    });
  } catch (e) {
    throw new ServeConfigError(entry.onnx, (e as Error).message);
  }
  const { note: _note, ...preprocess } = sidecar.preprocessing as Record<string, unknown>;
  const temperature =
    entry.temperature ?? (typeof sidecar.temperature === 'number' ? sidecar.temperature : 1);
  const backend: MilBackend = {
    kind: 'onnx:crc-mil',
    async forward(bag) {
      const out = await session.run({ bag: { data: bag.features, dims: [bag.count, bag.dim] } });
      const z = out.logits?.data as Float32Array;
      // The evidential head's predictive logits are log α = log(softplus(z) + 1) (as `meddl predict crc-mil`).
      const logits =
        head === 'evidential'
          ? Float64Array.from(z, (v) => Math.log(Math.log1p(Math.exp(v)) + 1))
          : Float64Array.from(z);
      return { logits, attention: Float32Array.from(out.attention?.data as Float32Array) };
    },
    describe: () => ({ executionProviders: session.executionProviders }),
    dispose: () => {},
  };
  return new CrcMilPredictor(
    entry.name,
    entry.version ?? sidecar.sha256.slice(0, 12),
    { name: entry.name, topK: entry.topK, heatmapMaxSize: entry.heatmapMaxSize },
    {
      classes: labels,
      temperature,
      head,
      inDim: config.inDim,
      preprocess: preprocess as unknown as MilModelInfo['preprocess'],
    },
    backend,
    ctx.artifactDir,
    {
      onnx: onnxCard(sidecar, session),
    },
  );
}

async function mdfNetFromOnnx(entry: OnnxEntry, sidecar: OnnxSidecar, bytes: Uint8Array): Promise<Predictor> {
  const where = `${entry.onnx}.json`;
  const mc = sidecar.config as RunFiles['modelConfig'] | undefined;
  const pre = sidecar.preprocessing as
    | {
        modalities: string[];
        imageSize: number;
        imageNormalization: 'imagenet' | 'xrv' | 'none';
        maxTokens: number;
        tokenizer: string;
        clinicalStats: RunFiles['clinicalStats'];
      }
    | undefined;
  if (!mc || !pre?.tokenizer || !pre.clinicalStats)
    throw new ServeConfigError(
      where,
      'an mdf-net sidecar needs config and preprocessing (tokenizer, clinicalStats)',
    );
  if ((pre as { encoders?: unknown }).encoders)
    throw new ServeConfigError(where, 'exports of runs with frozen ONNX encoders are not served yet');
  if (!existsSync(pre.tokenizer))
    throw new ServeConfigError(where, `the tokenizer ${pre.tokenizer} named by the sidecar does not exist`);
  const session = await OnnxSession.create(bytes, {
    ...(entry.ortThreads ? { threads: entry.ortThreads } : {}),
  });
  const K = FINDINGS.length;
  const norm = pre.imageNormalization;
  const backend: MdfNetBackend = {
    kind: 'onnx:mdf-net',
    async logits(b) {
      const feeds: Record<string, { data: Float32Array | Int32Array; dims: number[] }> = {};
      for (const m of mc.modalities) {
        if (m === 'image')
          feeds.images = { data: normalizeImage(b.images, norm), dims: [b.size, b.imageSize, b.imageSize] };
        else if (m === 'text') {
          feeds.tokens = { data: b.tokens, dims: [b.size, b.maxTokens] };
          feeds.attention = { data: b.attention, dims: [b.size, b.maxTokens] };
        } else {
          feeds.clinical = { data: b.clinical, dims: [b.size, b.clinical.length / b.size] };
          feeds.sex = { data: b.sex, dims: [b.size] };
          feeds.acuity = { data: b.acuity, dims: [b.size] };
        }
      }
      const out = await session.run(feeds, ['logits']);
      return Float64Array.from(out.logits?.data as Float32Array);
    },
    describe: () => ({ executionProviders: session.executionProviders }),
    dispose: () => {},
  };
  try {
    session.expectSignature({ outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', K] }] });
  } catch (e) {
    throw new ServeConfigError(entry.onnx, (e as Error).message);
  }
  const tokenizer = ReportTokenizer.fromFile(pre.tokenizer, mc.maxTokens);
  let calibration: Calibration;
  if (entry.temperatures !== undefined) {
    const t =
      typeof entry.temperatures === 'number'
        ? FINDINGS.map(() => entry.temperatures as number)
        : entry.temperatures;
    calibration = { temperatures: [...t], calibrated: true, source: 'config' };
  } else if (Array.isArray((sidecar.calibration as { temperatures?: unknown } | undefined)?.temperatures)) {
    // The run's calibration.json, carried by `meddl export mdf-net`.
    calibration = {
      temperatures: [...((sidecar.calibration as { temperatures: number[] }).temperatures as number[])],
      calibrated: true,
      source: 'sidecar (the run calibration.json)',
    };
  } else if (entry.run) {
    const files = readRunFiles(entry.run);
    calibration = await fitValTemperatures(
      backend,
      { ...files, tokenizer: pre.tokenizer },
      MdfNetRunConfigSchema.parse(files.config),
    );
  } else {
    calibration = { temperatures: FINDINGS.map(() => 1), calibrated: false, source: 'none' };
  }
  return new MdfNetPredictor(
    entry.name,
    entry.version ?? sidecar.sha256.slice(0, 12),
    backend,
    { modelConfig: mc, clinicalStats: pre.clinicalStats },
    norm,
    tokenizer,
    calibration,
    String(sidecar.loadedFrom ?? sidecar.checkpoint ?? ''),
    { ...entry },
    {
      onnx: onnxCard(sidecar, session),
    },
  );
}

async function vjepaFromOnnx(entry: OnnxEntry, sidecar: OnnxSidecar, bytes: Uint8Array): Promise<Predictor> {
  const where = `${entry.onnx}.json`;
  const config = sidecar.config as { inputShape?: Shape3; embedDim?: number } | undefined;
  const encoder = sidecar.encoder;
  if (!config?.inputShape || !config.embedDim || (encoder !== 'target' && encoder !== 'context'))
    throw new ServeConfigError(
      where,
      'a vjepa3d sidecar needs encoder, config.inputShape and config.embedDim',
    );
  const inputShape = config.inputShape;
  const d = config.embedDim;
  const session = await OnnxSession.create(bytes, {
    ...(entry.ortThreads ? { threads: entry.ortThreads } : {}),
  });
  try {
    session.expectSignature({
      inputs: [{ name: 'volumes', dtype: 'float32', dims: ['batch', 1, ...inputShape] }],
      outputs: [
        { name: 'tokens', dtype: 'float32', dims: ['batch', 'tokens', d] },
        { name: 'embedding', dtype: 'float32', dims: ['batch', d] },
      ],
    });
  } catch (e) {
    throw new ServeConfigError(entry.onnx, (e as Error).message);
  }
  const pooling = entry.pooling;
  const backend: VJepaBackend = {
    kind: 'onnx:vjepa3d',
    inputShape,
    embedDim: d,
    encoder,
    pooling,
    async embed(v) {
      const out = await session.run({ volumes: { data: v.data, dims: [1, 1, ...inputShape] } });
      const mean = out.embedding?.data as Float32Array;
      if (pooling === 'mean') return Float32Array.from(mean);
      // mean-max as VJepa3d.embed: [mean over tokens, max over tokens].
      const tokens = out.tokens?.data as Float32Array;
      const n = tokens.length / d;
      const res = new Float32Array(2 * d);
      res.set(mean, 0);
      for (let j = 0; j < d; j++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let t = 0; t < n; t++) m = Math.max(m, tokens[t * d + j] as number);
        res[d + j] = m;
      }
      return res;
    },
    describe: () => ({ embedDim: d, executionProviders: session.executionProviders }),
    dispose: () => {},
  };
  const data = (sidecar.preprocessing as { data?: { resampleShape?: Shape3 } } | undefined)?.data;
  return new VJepa3dPredictor(
    entry.name,
    entry.version ?? sidecar.sha256.slice(0, 12),
    1024 * 1024 * 1024,
    backend,
    data?.resampleShape ?? defaultResampleShape(inputShape),
    {
      onnx: onnxCard(sidecar, session),
    },
  );
}

export class OnnxPredictor implements Predictor {
  readonly inputs = TISSUEBERT_INPUTS;
  readonly optionsSchema = TissueBertOptionsSchema as unknown as z.ZodType<Record<string, unknown>>;

  private constructor(
    readonly name: string,
    readonly version: string,
    private readonly entry: OnnxEntry,
    private readonly sidecar: OnnxSidecar,
    private readonly session: OnnxSessionType,
    private readonly reference: TissueBertReference,
    private readonly temperature: number | undefined,
    private readonly temperatureSource: string,
    private readonly impliedPrior: number[] | undefined,
  ) {}

  static async load(entry: OnnxEntry): Promise<OnnxPredictor> {
    const sidecar = readSidecar(entry.onnx);
    const bytes = readFileSync(entry.onnx);
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== sidecar.sha256)
      throw new ServeConfigError(
        entry.onnx,
        `sha256 ${sha.slice(0, 12)}… differs from the sidecar's ${String(sidecar.sha256).slice(0, 12)}… (the model and its sidecar do not belong together)`,
      );
    if (sidecar.model !== 'tissuebert')
      throw new ServeConfigError(
        `${entry.onnx}.json`,
        `model family '${sidecar.model}' is not served from ONNX yet (served: ${ONNX_FAMILIES.join(', ')})`,
      );
    if (!entry.reference)
      throw new ServeConfigError(
        entry.onnx,
        `models.${entry.name}.reference is required for a tissuebert model`,
      );
    const sidecarLabels = Array.isArray(sidecar.labels) ? (sidecar.labels as string[]) : undefined;
    const reference = loadTissueBertReference(
      entry.reference,
      entry.tissues ?? sidecarLabels,
      `models.${entry.name}`,
    );
    const session = await OnnxSession.create(bytes, {
      ...(entry.ortThreads ? { threads: entry.ortThreads } : {}),
    });
    try {
      session.expectSignature({
        inputs: [
          { name: 'token_ids', dtype: 'int32', dims: ['batch', 'sequence'] },
          { name: 'methylation', dtype: 'int32', dims: ['batch', 'sequence'] },
        ],
        outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', reference.labels.length] }],
      });
    } catch (e) {
      reference.fasta.close();
      throw new ServeConfigError(entry.onnx, (e as Error).message);
    }
    const impliedPrior =
      entry.impliedPrior ??
      (Array.isArray(sidecar.impliedPrior) ? (sidecar.impliedPrior as number[]) : undefined);
    if (
      impliedPrior &&
      (impliedPrior.length !== reference.labels.length ||
        impliedPrior.some((v) => typeof v !== 'number' || !(v > 0)))
    ) {
      reference.fasta.close();
      throw new ServeConfigError(
        entry.onnx,
        `the implied prior (${entry.impliedPrior ? 'config' : 'sidecar'}) must be ${reference.labels.length} positive numbers, one per label; it has ${impliedPrior.length} entries`,
      );
    }
    const st = typeof sidecar.temperature === 'number' ? sidecar.temperature : undefined;
    const temperature = entry.temperature ?? st;
    const source =
      entry.temperature !== undefined
        ? 'config'
        : st !== undefined
          ? `sidecar (${String(sidecar.temperatureSource ?? 'meddl export')})`
          : 'none';
    return new OnnxPredictor(
      entry.name,
      entry.version ?? sha.slice(0, 12),
      entry,
      sidecar,
      session,
      reference,
      temperature,
      source,
      impliedPrior,
    );
  }

  card(): ModelCard {
    const s = this.sidecar;
    // A temperature of 1 from an unevaluated run ('default') is no calibration.
    const calibrated = this.temperature !== undefined && s.temperatureSource !== 'default';
    return {
      name: this.name,
      version: this.version,
      kind: `onnx:${s.model}`,
      task: 'multiclass',
      labels: this.reference.labels,
      inputs: this.inputs,
      calibration: {
        method: 'temperature scaling of read posteriors',
        calibrated: this.entry.temperature !== undefined || calibrated,
        temperature: this.temperature ?? 1,
        source: this.temperatureSource,
        impliedPrior: this.impliedPrior ?? null,
      },
      options: { maxReads: 'integer, optional: cap on pat lines used' },
      onnx: {
        sha256: s.sha256,
        opset: s.opset,
        inputs: s.inputs,
        outputs: s.outputs,
        preprocessing: s.preprocessing ?? null,
        preset: s.preset ?? null,
        checkpoint: s.checkpointName ?? null,
        executionProviders: this.session.executionProviders,
      },
    };
  }

  validate(file: string): void {
    validatePat(file);
  }

  async predict(input: PredictInput): Promise<Prediction> {
    const T = this.reference.labels.length;
    return predictTissueBert(
      this.reference,
      { temperature: this.temperature, impliedPrior: this.impliedPrior, batchSize: this.entry.batchSize },
      input,
      async (tokens, methylation, b, L) => {
        const out = await this.session.run(
          { token_ids: { data: tokens, dims: [b, L] }, methylation: { data: methylation, dims: [b, L] } },
          ['logits'],
        );
        return Float32Array.from(softmax({ data: out.logits?.data as Float32Array, cols: T }));
      },
    );
  }

  dispose(): void {
    this.reference.fasta.close();
  }
}
