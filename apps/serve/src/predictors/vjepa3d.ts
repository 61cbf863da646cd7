/**
 * V-JEPA 3D as a service model: an OCT volume (multi-frame DICOM) in, the frozen encoder's
 * embedding vector out — the chain of `meddl predict vjepa3d` (loadPretrained → readOctVolume →
 * resample → normalizeIntensity → embedVolumes) with the model held in memory. A self-supervised
 * encoder has no classes and no calibrated probabilities: `labels` and `probabilities` are empty,
 * `uncertainty` is null, and the vector is `extras.embedding`.
 */
import { createHash } from 'node:crypto';
import { readDicomHeader } from '@meddl/data';
import {
  centerCrop,
  embedVolumes,
  loadPretrained,
  normalizeIntensity,
  type PretrainConfig,
  readOctVolume,
  resample,
  type Shape3,
  type VJepa3d,
  type Volume3d,
} from '@meddl/vjepa3d';
import { z } from 'zod';
import type { ModelEntry } from '../config';
import { ServeConfigError, ServeError } from '../errors';
import type { InputKind, ModelCard, PredictInput, Prediction, Predictor } from '../predictor';
import { stateDictSha256 } from './common';

type VJepaEntry = Extract<ModelEntry, { kind: 'vjepa3d' }>;

const OptionsSchema = z.object({}).strict();

const INPUTS: InputKind[] = [
  {
    kind: 'oct-volume',
    description:
      'An OCT volume as one multi-frame DICOM (Ophthalmic Tomography Image Storage; Zeiss/Heidelberg/Topcon encodings that @meddl/vjepa3d reads), resampled and cropped to the encoder input',
    extensions: ['.dcm', '.dicom'],
    contentTypes: ['application/dicom', 'application/octet-stream'],
  },
];

/** An encoder: a volume already resampled, normalised and centre-cropped to `inputShape` → embedding. */
export interface VJepaBackend {
  readonly kind: string;
  readonly inputShape: Shape3;
  readonly embedDim: number;
  readonly encoder: 'target' | 'context';
  readonly pooling: 'mean' | 'mean-max';
  embed(volume: Volume3d): Promise<Float32Array>;
  describe(): Record<string, unknown>;
  dispose(): void;
}

function tfjsBackend(
  model: VJepa3d,
  encoder: 'target' | 'context',
  pooling: 'mean' | 'mean-max',
  weightsSha256: string,
  preset: string,
): VJepaBackend {
  return {
    kind: 'vjepa3d',
    inputShape: model.config.inputShape as Shape3,
    embedDim: model.config.embedDim,
    encoder,
    pooling,
    // embedVolumes centre-crops again: a no-op on a volume of inputShape.
    async embed(v) {
      return embedVolumes(model, [v], encoder, pooling).embeddings;
    },
    describe: () => ({ preset, embedDim: model.config.embedDim, weightsSha256 }),
    dispose: () => model.dispose(),
  };
}

/** As the package does it (train.ts defaultResampleShape, not exported): 1.125 × the encoder input. */
export function defaultResampleShape(inputShape: Shape3): Shape3 {
  return inputShape.map((n) => Math.round(n * 1.125)) as Shape3;
}

export class VJepa3dPredictor implements Predictor {
  readonly inputs = INPUTS;
  readonly optionsSchema = OptionsSchema as unknown as z.ZodType<Record<string, unknown>>;

  constructor(
    readonly name: string,
    readonly version: string,
    private readonly maxVolumeBytes: number,
    private readonly backend: VJepaBackend,
    /** Resampled to this, then centre-cropped to the encoder input (the field of view of training). */
    private readonly resampleShape: Shape3,
    private readonly extraCard: Record<string, unknown> = {},
  ) {}

  static async load(entry: VJepaEntry): Promise<VJepa3dPredictor> {
    let loaded: Awaited<ReturnType<typeof loadPretrained>>;
    try {
      loaded = await loadPretrained(entry.run);
    } catch (e) {
      throw new ServeConfigError(entry.run, (e as Error).message);
    }
    loaded.model.eval();
    const sha = stateDictSha256(loaded.model.stateDict());
    const config: PretrainConfig = loaded.config;
    const backend = tfjsBackend(
      loaded.model,
      entry.encoder ?? config.probeEncoder,
      entry.pooling ?? config.pooling,
      sha,
      config.model.preset,
    );
    return new VJepa3dPredictor(
      entry.name,
      entry.version ?? sha.slice(0, 12),
      entry.maxVolumeBytes,
      backend,
      config.data.resampleShape ?? defaultResampleShape(backend.inputShape),
    );
  }

  get dim(): number {
    return this.backend.pooling === 'mean' ? this.backend.embedDim : 2 * this.backend.embedDim;
  }

  card(): ModelCard {
    const b = this.backend;
    return {
      name: this.name,
      version: this.version,
      kind: b.kind,
      task: 'embedding',
      labels: [],
      inputs: this.inputs,
      calibration: { method: 'none (self-supervised encoder: no probabilities)', calibrated: false },
      options: {},
      embedding: { dim: this.dim, encoder: b.encoder, pooling: b.pooling },
      preprocessing: {
        resampleShape: this.resampleShape,
        inputShape: b.inputShape,
        intensity: 'z-score per volume',
      },
      architecture: b.describe(),
      ...this.extraCard,
    };
  }

  /** Reads the DICOM header (not the pixels) before a job is queued: a multi-frame image. */
  async validate(file: string): Promise<void> {
    const h = await readDicomHeader(file);
    if (h.imageError) throw new ServeError(400, `not a readable image: ${h.imageError}`, 'invalid_input');
    if (h.numberOfFrames < 2)
      throw new ServeError(
        400,
        `a volume needs several frames; this DICOM has ${h.numberOfFrames}`,
        'invalid_input',
      );
  }

  async predict(input: PredictInput): Promise<Prediction> {
    OptionsSchema.parse(input.options);
    const vol = await readOctVolume(input.file, { maxBytes: this.maxVolumeBytes });
    if (input.signal?.aborted) throw input.signal.reason ?? new Error('aborted');
    const v = centerCrop(normalizeIntensity(resample(vol, this.resampleShape)), this.backend.inputShape);
    const embeddings = await this.backend.embed(v);
    const dim = this.dim;
    const embedding = Array.from(embeddings);
    let norm = 0;
    for (const x of embedding) norm += x * x;
    return {
      labels: [],
      probabilities: [],
      uncertainty: null,
      extras: {
        embedding,
        dim,
        encoder: this.backend.encoder,
        pooling: this.backend.pooling,
        l2Norm: Math.sqrt(norm),
        embeddingSha256: createHash('sha256').update(new Uint8Array(embeddings.buffer)).digest('hex'),
        volume: {
          shape: vol.shape,
          spacingMm: vol.spacing,
          manufacturer: vol.meta.manufacturer ?? null,
        },
      },
    };
  }

  dispose(): void {
    this.backend.dispose();
  }
}
