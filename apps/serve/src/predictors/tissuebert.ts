/**
 * TissueBERT as a service model: a methylation sample (.pat / .pat.gz, wgbstools format) in,
 * tissue-of-origin probabilities out. Everything model-specific is a call into @meddl/tissuebert
 * (readPat → prepareSample → TissueBert.forward → applyTemperature → meanPosterior / mixtureMle /
 * fisherMixtureCi); the only arithmetic here is the softmax of the logits (a tf op), the
 * normalised entropy used as the uncertainty score, and batching.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointManager, disposeCheckpoint, readSafetensors } from '@meddl/checkpoint';
import { tf } from '@meddl/tensor';
import {
  applyTemperature,
  type CpgIndex,
  type CpgRegion,
  createModel,
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

type TissueBertEntry = Extract<ModelEntry, { kind: 'tissuebert' }>;

const OptionsSchema = z
  .object({
    /** Use at most this many pat lines (evenly spaced, deterministic) — bounds the cost of huge samples. */
    maxReads: z.number().int().positive().max(10_000_000).optional(),
  })
  .strict();

const INPUTS: InputKind[] = [
  {
    kind: 'methylation-pat',
    description:
      'A methylation sample in wgbstools .pat format (chrom, CpG index, pattern, count; tab-separated), plain or bgzip/gzip-compressed, on the reference of the model',
    extensions: ['.pat.gz', '.pat'],
    contentTypes: ['application/gzip', 'application/x-gzip', 'text/plain', 'application/octet-stream'],
  },
];

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

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
  readonly inputs = INPUTS;
  readonly optionsSchema = OptionsSchema as unknown as z.ZodType<Record<string, unknown>>;

  private constructor(
    readonly name: string,
    readonly version: string,
    private readonly entry: TissueBertEntry,
    private readonly model: TissueBert,
    readonly labels: string[],
    private readonly regions: CpgRegion[],
    private readonly cpg: CpgIndex,
    private readonly fasta: IndexedFasta,
    readonly weightsSha256: string,
  ) {}

  static async load(entry: TissueBertEntry): Promise<TissueBertPredictor> {
    const ref = entry.reference;
    let labels = entry.tissues;
    if (!labels) {
      const truth = join(ref, 'ground_truth.json');
      if (!existsSync(truth))
        throw new ServeConfigError(
          ref,
          `models.${entry.name}.tissues is not set and ${truth} does not exist`,
        );
      labels = (JSON.parse(readFileSync(truth, 'utf8')) as { tissues: string[] }).tissues;
    }
    for (const f of ['genome.fa', 'CpG.bed.gz', 'regions.bed'])
      if (!existsSync(join(ref, f))) throw new ServeConfigError(ref, `reference file ${f} is missing`);
    const model = createModel(entry.preset, { ...entry.overrides, numClasses: labels.length });
    const { weights, file, release } = await loadWeights(entry.checkpoint);
    try {
      model.loadStateDict(weights);
    } catch (e) {
      model.dispose();
      throw new ServeConfigError(entry.checkpoint, (e as Error).message);
    } finally {
      release();
    }
    model.eval();
    const sha = await sha256File(file);
    return new TissueBertPredictor(
      entry.name,
      entry.version ?? sha.slice(0, 12),
      entry,
      model,
      labels,
      readBlocksBed(join(ref, 'regions.bed')),
      readCpgIndex(join(ref, 'CpG.bed.gz')),
      new IndexedFasta(join(ref, 'genome.fa')),
      sha,
    );
  }

  card(): ModelCard {
    const c = this.model.config;
    return {
      name: this.name,
      version: this.version,
      kind: 'tissuebert',
      labels: this.labels,
      inputs: this.inputs,
      calibration: {
        method: 'temperature scaling of read posteriors',
        calibrated: this.entry.temperature !== undefined,
        temperature: this.entry.temperature ?? 1,
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
    const records = readPat(file);
    if (records.length === 0) throw new ServeError(400, 'the sample has no pat lines');
  }

  async predict(input: PredictInput): Promise<Prediction> {
    const { maxReads } = OptionsSchema.parse(input.options);
    let records = readPat(input.file);
    if (maxReads !== undefined && records.length > maxReads) {
      const n = records.length;
      records = Array.from({ length: maxReads }, (_, i) => records[Math.floor((i * n) / maxReads)]);
    }
    const sample = prepareSample(
      { sample: 'input', tissue: 'unknown', label: -1 },
      records,
      this.regions,
      this.cpg,
      this.fasta,
    );
    if (sample.n === 0)
      throw new ServeError(422, 'no read of the sample overlaps a panel region of the model', 'no_reads');
    const T = this.labels.length;
    const L = sample.tokens.length / sample.n;
    const probs = new Float64Array(sample.n * T);
    const B = this.entry.batchSize;
    for (let start = 0; start < sample.n; start += B) {
      if (input.signal?.aborted) throw input.signal.reason ?? new Error('aborted');
      const b = Math.min(B, sample.n - start);
      const p = tf.tidy(() => {
        const tokens = tf.tensor2d(
          Int32Array.from(sample.tokens.subarray(start * L, (start + b) * L)),
          [b, L],
          'int32',
        );
        const meth = tf.tensor2d(
          Int32Array.from(sample.methylation.subarray(start * L, (start + b) * L)),
          [b, L],
          'int32',
        );
        return tf.softmax(this.model.forward(tokens, meth));
      });
      probs.set(await p.data(), start * T);
      p.dispose();
      // Let the event loop run (cancellation messages, health checks) between batches.
      await new Promise((r) => setImmediate(r));
    }
    const raw: ReadPosteriors = { probs, nReads: sample.n, nClasses: T };
    const posteriors = this.entry.temperature ? applyTemperature(raw, this.entry.temperature) : raw;
    const weights = sample.count;
    const mean = meanPosterior(posteriors, weights);
    const mix = mixtureMle(posteriors, { weights });
    const ci = fisherMixtureCi(posteriors, mix.proportions, { weights });
    let entropy = 0;
    for (const q of mean) if (q > 0) entropy -= q * Math.log(q);
    const top = mean.indexOf(Math.max(...mean));
    return {
      labels: this.labels,
      probabilities: Array.from(mean),
      uncertainty: {
        score: entropy / Math.log(T),
        method: 'normalised entropy of the mean calibrated read posterior',
        proportionStandardError: Array.from(ci.standardError),
      },
      extras: {
        predictedLabel: this.labels[top],
        reads: sample.n,
        readCount: weights.reduce((a, c) => a + c, 0),
        /** Maximum-likelihood tissue proportions of the sample (cfDNA deconvolution). */
        proportions: Array.from(mix.proportions),
        proportionCi95: { lower: Array.from(ci.lower), upper: Array.from(ci.upper) },
        mixtureConverged: mix.converged,
      },
    };
  }

  dispose(): void {
    this.model.dispose();
    this.fasta.close();
  }
}
