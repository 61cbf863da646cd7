/**
 * TissueBERT as a service model: a methylation sample (.pat / .pat.gz, wgbstools format) in,
 * tissue-of-origin probabilities out. Everything model-specific is a call into @meddl/tissuebert
 * (readPat → prepareSample → TissueBert.forward → applyTemperature → dividePrior → meanPosterior /
 * mixtureMle / fisherMixtureCi); the only arithmetic here is the softmax of the logits (a tf op), the
 * normalised entropy used as the uncertainty score, and batching.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointManager, disposeCheckpoint, readSafetensors } from '@meddl/checkpoint';
import { tf } from '@meddl/tensor';
import {
  applyTemperature,
  type CpgIndex,
  type CpgRegion,
  createModel,
  dividePrior,
  fisherMixtureCi,
  IndexedFasta,
  meanPosterior,
  mixtureMle,
  prepareSample,
  type ReadPosteriors,
  readBlocksBed,
  readCpgIndex,
  readPat,
  type TissueBert,
} from '@meddl/tissuebert';
import { z } from 'zod';
import type { ModelEntry } from '../config';
import { ServeConfigError, ServeError } from '../errors';
import type { InputKind, ModelCard, PredictInput, Prediction, Predictor } from '../predictor';
import { normalizedEntropy, sha256File } from './common';

type TissueBertEntry = Extract<ModelEntry, { kind: 'tissuebert' }>;

export const TissueBertOptionsSchema = z
  .object({
    /** Use at most this many pat lines (evenly spaced, deterministic) — bounds the cost of huge samples. */
    maxReads: z.number().int().positive().max(10_000_000).optional(),
  })
  .strict();

export const TISSUEBERT_INPUTS: InputKind[] = [
  {
    kind: 'methylation-pat',
    description:
      'A methylation sample in wgbstools .pat format (chrom, CpG index, pattern, count; tab-separated), plain or bgzip/gzip-compressed, on the reference of the model',
    extensions: ['.pat.gz', '.pat'],
    contentTypes: ['application/gzip', 'application/x-gzip', 'text/plain', 'application/octet-stream'],
  },
];

/** Loads the state dict: a safetensors file, or the newest valid checkpoint of a checkpoints directory. */
async function loadWeights(checkpoint: string): Promise<{
  weights: Record<string, tf.Tensor | { data: Float32Array | Int32Array; shape: number[] }>;
  file: string;
  release(): void;
}> {
  if (!existsSync(checkpoint)) throw new ServeConfigError(checkpoint, 'checkpoint does not exist');
  if (statSync(checkpoint).isDirectory()) {
    const manager = new CheckpointManager(checkpoint);
    const best = manager.best('val_loss', 'min');
    const ck = best ? await manager.load(best.name) : await manager.latestValid();
    await manager.close();
    if (!ck) throw new ServeConfigError(checkpoint, 'has no valid checkpoint');
    const file = [join(ck.path, 'model.safetensors'), join(ck.path, 'model.safetensors.gz')].find(existsSync);
    return { weights: ck.model, file: file ?? ck.path, release: () => disposeCheckpoint(ck) };
  }
  const { tensors } = readSafetensors(checkpoint);
  const weights: Record<string, { data: Float32Array | Int32Array; shape: number[] }> = {};
  for (const [k, raw] of Object.entries(tensors)) {
    if (!(raw.data instanceof Float32Array || raw.data instanceof Int32Array))
      throw new ServeConfigError(checkpoint, `tensor '${k}' is ${raw.dtype}; expected F32 or I32`);
    weights[k] = { data: raw.data, shape: raw.shape };
  }
  return { weights, file: checkpoint, release: () => {} };
}

export class TissueBertPredictor implements Predictor {
  readonly inputs = TISSUEBERT_INPUTS;
  readonly optionsSchema = TissueBertOptionsSchema as unknown as z.ZodType<Record<string, unknown>>;

  private constructor(
    readonly name: string,
    readonly version: string,
    private readonly entry: TissueBertEntry,
    private readonly model: TissueBert,
    private readonly reference: TissueBertReference,
    readonly weightsSha256: string,
  ) {}

  get labels(): string[] {
    return this.reference.labels;
  }

  static async load(entry: TissueBertEntry): Promise<TissueBertPredictor> {
    const reference = loadTissueBertReference(entry.reference, entry.tissues, `models.${entry.name}.tissues`);
    if (entry.impliedPrior && entry.impliedPrior.length !== reference.labels.length) {
      reference.fasta.close();
      throw new ServeConfigError(
        entry.reference,
        `models.${entry.name}.impliedPrior has ${entry.impliedPrior.length} entries for ${reference.labels.length} labels`,
      );
    }
    const model = createModel(entry.preset, { ...entry.overrides, numClasses: reference.labels.length });
    let loaded: Awaited<ReturnType<typeof loadWeights>>;
    try {
      loaded = await loadWeights(entry.checkpoint);
    } catch (e) {
      reference.fasta.close();
      model.dispose();
      throw e;
    }
    try {
      model.loadStateDict(loaded.weights);
    } catch (e) {
      model.dispose();
      reference.fasta.close();
      throw new ServeConfigError(entry.checkpoint, (e as Error).message);
    } finally {
      loaded.release();
    }
    model.eval();
    const sha = await sha256File(loaded.file);
    return new TissueBertPredictor(
      entry.name,
      entry.version ?? sha.slice(0, 12),
      entry,
      model,
      reference,
      sha,
    );
  }

  card(): ModelCard {
    const c = this.model.config;
    return {
      name: this.name,
      version: this.version,
      kind: 'tissuebert',
      task: 'multiclass',
      labels: this.labels,
      inputs: this.inputs,
      calibration: {
        method: 'temperature scaling of read posteriors',
        calibrated: this.entry.temperature !== undefined,
        temperature: this.entry.temperature ?? 1,
        impliedPrior: this.entry.impliedPrior ?? null,
      },
      options: { maxReads: 'integer, optional: cap on pat lines used' },
      ...{
        architecture: {
          hidden: c.hidden,
          layers: c.layers,
          heads: c.heads,
          weightsSha256: this.weightsSha256,
        },
      },
    };
  }

  validate(file: string): void {
    validatePat(file);
  }

  async predict(input: PredictInput): Promise<Prediction> {
    return predictTissueBert(this.reference, this.entry, input, async (tokens, meth, b, L) => {
      const p = tf.tidy(() =>
        tf.softmax(
          this.model.forward(tf.tensor2d(tokens, [b, L], 'int32'), tf.tensor2d(meth, [b, L], 'int32')),
        ),
      );
      const out = (await p.data()) as Float32Array;
      p.dispose();
      return out;
    });
  }

  dispose(): void {
    this.model.dispose();
    this.reference.fasta.close();
  }
}

/** The panel a TissueBERT model was trained on: labels and the reference files reads are tokenised with. */
export interface TissueBertReference {
  labels: string[];
  regions: CpgRegion[];
  cpg: CpgIndex;
  fasta: IndexedFasta;
}

/** Reads a reference folder (genome.fa + .fai, CpG.bed.gz, regions.bed, ground_truth.json unless `tissues`). */
export function loadTissueBertReference(
  ref: string,
  tissues: string[] | undefined,
  what: string,
): TissueBertReference {
  let labels = tissues;
  if (!labels) {
    const truth = join(ref, 'ground_truth.json');
    if (!existsSync(truth))
      throw new ServeConfigError(ref, `${what}: no labels are given and ${truth} does not exist`);
    labels = (JSON.parse(readFileSync(truth, 'utf8')) as { tissues: string[] }).tissues;
  }
  for (const f of ['genome.fa', 'CpG.bed.gz', 'regions.bed'])
    if (!existsSync(join(ref, f))) throw new ServeConfigError(ref, `reference file ${f} is missing`);
  return {
    labels,
    regions: readBlocksBed(join(ref, 'regions.bed')),
    cpg: readCpgIndex(join(ref, 'CpG.bed.gz')),
    fasta: new IndexedFasta(join(ref, 'genome.fa')),
  };
}

export function validatePat(file: string): void {
  const records = readPat(file);
  if (records.length === 0) throw new ServeError(400, 'the sample has no pat lines');
}

/**
 * The TissueBERT prediction chain with a pluggable forward pass: `readPat` → `prepareSample` →
 * read posteriors (`probsOf`: softmax of the logits of a batch of b reads × L tokens, [b, T]) →
 * `applyTemperature` → `dividePrior` (the implied class prior, when known) → `meanPosterior` /
 * `mixtureMle` / `fisherMixtureCi`. Used by the tfjs model and by the ONNX session.
 */
export async function predictTissueBert(
  ref: TissueBertReference,
  opts: { temperature?: number; impliedPrior?: number[]; batchSize: number },
  input: PredictInput,
  probsOf: (tokens: Int32Array, methylation: Int32Array, b: number, L: number) => Promise<Float32Array>,
): Promise<Prediction> {
  const { maxReads } = TissueBertOptionsSchema.parse(input.options);
  let records = readPat(input.file);
  if (maxReads !== undefined && records.length > maxReads) {
    const n = records.length;
    records = Array.from({ length: maxReads }, (_, i) => records[Math.floor((i * n) / maxReads)]);
  }
  const sample = prepareSample(
    { sample: 'input', tissue: 'unknown', label: -1 },
    records,
    ref.regions,
    ref.cpg,
    ref.fasta,
  );
  if (sample.n === 0)
    throw new ServeError(422, 'no read of the sample overlaps a panel region of the model', 'no_reads');
  const labels = ref.labels;
  const T = labels.length;
  const L = sample.tokens.length / sample.n;
  const probs = new Float64Array(sample.n * T);
  const B = opts.batchSize;
  for (let start = 0; start < sample.n; start += B) {
    if (input.signal?.aborted) throw input.signal.reason ?? new Error('aborted');
    const b = Math.min(B, sample.n - start);
    const p = await probsOf(
      Int32Array.from(sample.tokens.subarray(start * L, (start + b) * L)),
      Int32Array.from(sample.methylation.subarray(start * L, (start + b) * L)),
      b,
      L,
    );
    probs.set(p, start * T);
    // Let the event loop run (cancellation messages, health checks) between batches.
    await new Promise((r) => setImmediate(r));
  }
  const raw: ReadPosteriors = { probs, nReads: sample.n, nClasses: T };
  const scaled = opts.temperature ? applyTemperature(raw, opts.temperature) : raw;
  // The predictors check the prior's length against the labels when they load.
  const posteriors = opts.impliedPrior ? dividePrior(scaled, opts.impliedPrior) : scaled;
  const weights = sample.count;
  const mean = meanPosterior(posteriors, weights);
  const mix = mixtureMle(posteriors, { weights });
  const ci = fisherMixtureCi(posteriors, mix.proportions, { weights });
  const top = mean.indexOf(Math.max(...mean));
  return {
    labels,
    probabilities: Array.from(mean),
    uncertainty: {
      score: normalizedEntropy(mean),
      method: 'normalised entropy of the mean calibrated read posterior',
      proportionStandardError: Array.from(ci.standardError),
    },
    extras: {
      predictedLabel: labels[top],
      reads: sample.n,
      readCount: weights.reduce((a, c) => a + c, 0),
      /** Maximum-likelihood tissue proportions of the sample (cfDNA deconvolution). */
      proportions: Array.from(mix.proportions),
      proportionCi95: { lower: Array.from(ci.lower), upper: Array.from(ci.upper) },
      mixtureConverged: mix.converged,
    },
  };
}
