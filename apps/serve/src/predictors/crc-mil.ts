/**
 * crc-mil as a service model: a whole-slide image (.svs/.tif/.ndpi/…) or a CLAM-layout HDF5
 * feature bag in, colorectal-cancer subtype probabilities out. Everything model-specific is a call
 * into @meddl/crc-mil (loadSavedModel → preprocess → GatedAttentionMil.forward /
 * predictiveLogits → writeAttentionHeatmap) and @meddl/metrics (temperature softmax, entropy,
 * Dirichlet vacuity) — the same chain as `meddl predict crc-mil`, with the model held in memory
 * instead of reloaded per slide. A slide gets an attention heatmap PNG, written to the artifact
 * folder under a content-derived name and linked as `/v1/artifacts/<name>`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type GatedAttentionMil, loadSavedModel, preprocess, writeAttentionHeatmap } from '@meddl/crc-mil';
import { type FeatureBag, readFeatureBag, SlideReader } from '@meddl/data';
import { dirichletUncertainty, predictiveEntropy, softmax } from '@meddl/metrics';
import { tf } from '@meddl/tensor';
import { z } from 'zod';
import type { ModelEntry } from '../config';
import { ServeConfigError, ServeError } from '../errors';
import type {
  InputKind,
  ModelCard,
  PredictInput,
  Prediction,
  Predictor,
  PredictorContext,
} from '../predictor';
import { argmax, sha256File, stateDictSha256 } from './common';

type CrcMilEntry = Extract<ModelEntry, { kind: 'crc-mil' }>;
type SavedModel = ReturnType<typeof loadSavedModel>;

const OptionsSchema = z
  .object({
    /** Draw the attention heatmap (slides only; default true). */
    heatmap: z.boolean().default(true),
  })
  .strict();

const SLIDE_EXTENSIONS = ['.svs', '.tif', '.tiff', '.ndpi', '.btf'];

const INPUTS: InputKind[] = [
  {
    kind: 'whole-slide-image',
    description:
      'An H&E whole-slide image (tiled TIFF: Aperio .svs, generic .tif/.tiff, Hamamatsu .ndpi, BigTIFF .btf); tiled, QC-filtered and encoded with the preprocessing the model was trained with',
    extensions: SLIDE_EXTENSIONS,
    contentTypes: ['image/tiff', 'application/octet-stream'],
  },
  {
    kind: 'feature-bag',
    description:
      'A CLAM-layout HDF5 feature bag (`features` [N, D] float, `coords` [N, 2] int level-0 pixels) made with the same patch encoder as the training bags',
    extensions: ['.h5', '.hdf5'],
    contentTypes: ['application/x-hdf5', 'application/x-hdf', 'application/octet-stream'],
  },
];

/** What the predictor needs to know about a saved MIL model (model.json, or an ONNX sidecar). */
export interface MilModelInfo {
  classes: string[];
  temperature: number;
  head: 'softmax' | 'evidential';
  inDim: number;
  preprocess: SavedModel['info']['preprocess'];
}

/**
 * The bag forward pass: the head's predictive logits (softmax logits, or log α for the
 * evidential head; temperature scaling divides these) and the per-patch attention.
 */
export interface MilBackend {
  readonly kind: string;
  forward(bag: FeatureBag): Promise<{ logits: Float64Array; attention: Float32Array }>;
  describe(): Record<string, unknown>;
  dispose(): void;
}

/** tfjs: `GatedAttentionMil.forward` → `predictiveLogits`. */
function tfjsBackend(model: GatedAttentionMil, weightsSha256: string): MilBackend {
  return {
    kind: 'crc-mil',
    async forward(bag) {
      const out = model.forward(tf.tensor2d(bag.features, [bag.count, bag.dim]));
      const pl = model.predictiveLogits(out.logits);
      const logits = Float64Array.from(pl.dataSync());
      const attention = Float32Array.from(out.attention.dataSync());
      tf.dispose([out.logits, out.attention, pl]);
      return { logits, attention };
    },
    describe: () => ({ hidden: model.config.hidden, weightsSha256 }),
    dispose: () => model.dispose(),
  };
}

/** Options of a crc-mil entry that shape results (also taken by an onnx entry of the crc-mil family). */
export interface CrcMilResultOptions {
  name: string;
  version?: string;
  topK: number;
  heatmapMaxSize: number;
}

export class CrcMilPredictor implements Predictor {
  readonly inputs = INPUTS;
  readonly optionsSchema = OptionsSchema as unknown as z.ZodType<Record<string, unknown>>;
  readonly labels: string[];

  constructor(
    readonly name: string,
    readonly version: string,
    private readonly entry: CrcMilResultOptions,
    private readonly info: MilModelInfo,
    private readonly backend: MilBackend,
    private readonly artifactDir: string,
    private readonly extraCard: Record<string, unknown> = {},
  ) {
    this.labels = info.classes;
    mkdirSync(artifactDir, { recursive: true });
  }

  static async load(entry: CrcMilEntry, ctx: PredictorContext): Promise<CrcMilPredictor> {
    if (!existsSync(entry.modelDir))
      throw new ServeConfigError(entry.modelDir, 'model folder does not exist');
    let saved: SavedModel;
    try {
      saved = loadSavedModel(entry.modelDir);
    } catch (e) {
      throw new ServeConfigError(entry.modelDir, (e as Error).message);
    }
    if (saved.info.model.scales > 1) {
      saved.model.dispose();
      // The per-patch magnification index (bags.readMagnifications, train.scaleIndexOf) is not
      // part of @meddl/crc-mil's public API yet.
      throw new ServeConfigError(
        entry.modelDir,
        'multi-scale crc-mil models are not served yet (train with model.multiScale: false)',
      );
    }
    const sha = stateDictSha256(saved.model.stateDict());
    const { info } = saved;
    return new CrcMilPredictor(
      entry.name,
      entry.version ?? sha.slice(0, 12),
      entry,
      {
        classes: info.classes,
        temperature: info.temperature,
        head: info.model.head,
        inDim: info.model.inDim,
        preprocess: info.preprocess,
      },
      tfjsBackend(saved.model, sha),
      ctx.artifactDir,
    );
  }

  card(): ModelCard {
    const info = this.info;
    return {
      name: this.name,
      version: this.version,
      kind: this.backend.kind,
      task: 'multiclass',
      labels: this.labels,
      inputs: this.inputs,
      calibration: {
        method:
          info.head === 'evidential'
            ? 'temperature scaling of log Dirichlet concentrations (fitted on the validation split)'
            : 'temperature scaling of logits (fitted on the validation split)',
        calibrated: true,
        temperature: info.temperature,
      },
      options: { heatmap: 'boolean, default true: draw the attention heatmap (slides)' },
      uncertainty: info.head === 'evidential' ? 'dirichlet vacuity K/S' : 'normalised predictive entropy',
      architecture: { head: info.head, inDim: info.inDim, ...this.backend.describe() },
      preprocessing: {
        patchSize: info.preprocess.patchSize,
        magnification: info.preprocess.magnification,
        encoderDim: info.inDim,
      },
      ...this.extraCard,
    };
  }

  /** Bag inference with calibrated probabilities and the head's uncertainty (as `meddl predict crc-mil`). */
  private async infer(bag: FeatureBag): Promise<{
    probs: Float64Array;
    attention: Float32Array;
    uncertainty: Prediction['uncertainty'];
  }> {
    const info = this.info;
    if (bag.dim !== info.inDim)
      throw new ServeError(
        400,
        `the feature bag has ${bag.dim}-dimensional features; this model takes ${info.inDim}`,
        'invalid_input',
      );
    if (bag.count === 0) throw new ServeError(422, 'the feature bag has no patches', 'no_patches');
    const { logits, attention } = await this.backend.forward(bag);
    const k = info.classes.length;
    const probs = softmax({ data: logits, cols: k }, info.temperature);
    const uncertainty =
      info.head === 'evidential'
        ? {
            // α = exp(log α) at T = 1; vacuity K / Σα in (0, 1].
            score: dirichletUncertainty({ data: logits.map(Math.exp), cols: k }).uncertainty[0] as number,
            method: 'dirichlet vacuity K/S of the evidential head',
          }
        : {
            score: (predictiveEntropy({ data: probs, cols: k })[0] as number) / Math.log(k),
            method: 'normalised entropy of the calibrated probabilities',
          };
    return { probs, attention, uncertainty };
  }

  private topPatches(
    bag: FeatureBag,
    attention: Float32Array,
  ): { x: number; y: number; attention: number }[] {
    const order = Array.from({ length: bag.count }, (_, i) => i).sort((a, b) => attention[b] - attention[a]);
    return order.slice(0, this.entry.topK).map((i) => ({
      x: bag.coords[2 * i] as number,
      y: bag.coords[2 * i + 1] as number,
      attention: attention[i] as number,
    }));
  }

  private result(
    bag: FeatureBag,
    r: Awaited<ReturnType<CrcMilPredictor['infer']>>,
    extras: Record<string, unknown>,
  ): Prediction {
    return {
      labels: this.labels,
      probabilities: Array.from(r.probs),
      uncertainty: r.uncertainty,
      extras: {
        predictedLabel: this.labels[argmax(r.probs)],
        patches: bag.count,
        topPatches: this.topPatches(bag, r.attention),
        ...extras,
      },
    };
  }

  /** Opens the slide (TIFF directory) or reads the bag and checks its width before a job is queued. */
  async validate(file: string): Promise<void> {
    const lower = file.toLowerCase();
    if (lower.endsWith('.h5') || lower.endsWith('.hdf5')) {
      const bag = await readFeatureBag(file);
      if (bag.dim !== this.info.inDim)
        throw new ServeError(
          400,
          `the feature bag has ${bag.dim}-dimensional features; this model takes ${this.info.inDim}`,
          'invalid_input',
        );
      return;
    }
    const slide = await SlideReader.open(file);
    await slide.close();
  }

  async predict(input: PredictInput): Promise<Prediction> {
    const { heatmap } = OptionsSchema.parse(input.options);
    const lower = input.file.toLowerCase();
    if (lower.endsWith('.h5') || lower.endsWith('.hdf5')) {
      const bag = await readFeatureBag(input.file);
      return this.result(bag, await this.infer(bag), { heatmap: null, input: 'feature-bag' });
    }
    // A slide: tile, QC and encode it into a work folder inside the artifact folder (so the
    // heatmap can be renamed into place atomically), then the same bag inference.
    const work = join(this.artifactDir, `.work-${randomUUID()}`);
    try {
      const slideId = 'slide';
      const pre = await preprocess([{ slideId, path: input.file }], work, this.info.preprocess, () => {});
      const rec = pre.slides[0];
      if (rec?.status !== 'done' || !rec.bag)
        throw new ServeError(
          422,
          `the slide was rejected by quality control (${rec?.status ?? 'unknown'}${rec?.message ? `: ${rec.message}` : ''})`,
          'slide_rejected',
        );
      if (input.signal?.aborted) throw input.signal.reason ?? new Error('aborted');
      const bag = await readFeatureBag(join(work, rec.bag));
      const r = await this.infer(bag);
      let link: string | null = null;
      if (heatmap) {
        const heat = await writeAttentionHeatmap(
          input.file,
          slideId,
          bag.coords,
          Number(bag.attributes.patch_size_level0),
          r.attention,
          work,
          { maxSize: this.entry.heatmapMaxSize, topK: 0 },
        );
        // Named by model version + slide content: the same slide and model give the same link.
        const name = `${createHash('sha256')
          .update(`${this.name}\0${this.version}\0${await sha256File(input.file)}`)
          .digest('hex')}.png`;
        renameSync(heat.heatmap, join(this.artifactDir, name));
        link = `/v1/artifacts/${name}`;
      }
      return this.result(bag, r, {
        heatmap: link,
        input: 'whole-slide-image',
        tissueFraction: rec.tissue_fraction,
        patchesRejectedByQc: Object.values(rec.rejected).reduce((a, b) => a + b, 0),
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  dispose(): void {
    this.backend.dispose();
  }
}
