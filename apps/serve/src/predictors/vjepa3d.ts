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
  embedVolumes,
  loadPretrained,
  normalizeIntensity,
  type PretrainConfig,
  readOctVolume,
  resample,
  type Shape3,
  type VJepa3d,
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

export class VJepa3dPredictor implements Predictor {
  readonly inputs = INPUTS;
  readonly optionsSchema = OptionsSchema as unknown as z.ZodType<Record<string, unknown>>;
  private readonly encoder: 'target' | 'context';
  private readonly pooling: 'mean' | 'mean-max';
  private readonly resampleShape: Shape3;

  private constructor(
    readonly name: string,
    readonly version: string,
    private readonly entry: VJepaEntry,
    private readonly model: VJepa3d,
    private readonly config: PretrainConfig,
    readonly weightsSha256: string,
  ) {
    this.encoder = entry.encoder ?? config.probeEncoder;
    this.pooling = entry.pooling ?? config.pooling;
    // As the package does it (train.ts defaultResampleShape, not exported): 1.125 × the input, so
    // embedVolumes' centre crop sees the same field of view as in training.
    this.resampleShape =
      config.data.resampleShape ?? (model.config.inputShape.map((n) => Math.round(n * 1.125)) as Shape3);
  }

  static async load(entry: VJepaEntry): Promise<VJepa3dPredictor> {
    let loaded: Awaited<ReturnType<typeof loadPretrained>>;
    try {
      loaded = await loadPretrained(entry.run);
    } catch (e) {
      throw new ServeConfigError(entry.run, (e as Error).message);
    }
    loaded.model.eval();
    const sha = stateDictSha256(loaded.model.stateDict());
    return new VJepa3dPredictor(
      entry.name,
      entry.version ?? sha.slice(0, 12),
      entry,
      loaded.model,
      loaded.config,
      sha,
    );
  }

  get dim(): number {
    return this.pooling === 'mean' ? this.model.config.embedDim : 2 * this.model.config.embedDim;
  }

  card(): ModelCard {
    const c = this.model.config;
    return {
      name: this.name,
      version: this.version,
      kind: 'vjepa3d',
      task: 'embedding',
      labels: [],
      inputs: this.inputs,
      calibration: { method: 'none (self-supervised encoder: no probabilities)', calibrated: false },
      options: {},
      embedding: { dim: this.dim, encoder: this.encoder, pooling: this.pooling },
      preprocessing: {
        resampleShape: this.resampleShape,
        inputShape: c.inputShape,
        intensity: 'z-score per volume',
      },
      architecture: {
        preset: this.config.model.preset,
        embedDim: c.embedDim,
        weightsSha256: this.weightsSha256,
      },
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
    const vol = await readOctVolume(input.file, { maxBytes: this.entry.maxVolumeBytes });
    if (input.signal?.aborted) throw input.signal.reason ?? new Error('aborted');
    const v = normalizeIntensity(resample(vol, this.resampleShape));
    const { embeddings, dim } = embedVolumes(this.model, [v], this.encoder, this.pooling);
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
        encoder: this.encoder,
        pooling: this.pooling,
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
    this.model.dispose();
  }
}
