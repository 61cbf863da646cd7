/**
 * Tissue-of-origin proportions of new samples with a trained run: each sample's pat file is
 * prepared against the run's regions / CpG index / genome (the data folder it trained on), its
 * reads are scored with the run's best checkpoint, the posteriors are calibrated with the
 * temperature `meddl eval` fitted (tissuebert-eval.json; 1 when the run was not evaluated), the class
 * prior the model implies (measured by `meddl eval` on training reads; uniform, the nominal prior of
 * tissue-balanced training, when the run was not evaluated) is divided out, and the mixture is
 * estimated by maximum likelihood (`mixtureMle`, pat counts as read weights) with a Fisher (default)
 * or bootstrap interval.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { softmax } from '@meddl/metrics';
import { OnnxSession, type OnnxSessionOptions } from '@meddl/onnx';
import { Generator, initBackend, tf } from '@meddl/tensor';
import {
  applyTemperature,
  bootstrapMixtureCi,
  dividePrior,
  fisherMixtureCi,
  meanPosterior,
  mixtureMle,
  type ReadPosteriors,
} from './deconv/mixture';
import { TissueBertArgumentError } from './errors';
import { readBlocksBed, readCpgIndex } from './formats/bed';
import { IndexedFasta } from './formats/fasta';
import { readPat } from './formats/pat';
import type { TissueBert } from './model';
import { loadRunModel } from './run-model';
import { evenlySpaced } from './sampling';
import { type PreparedSample, prepareSample } from './store';

export interface TissueBertPredictOptions {
  /** A trained run directory (tfjs, its checkpoint) — or give `onnx` instead. */
  runDir?: string;
  /**
   * An exported model (`meddl export tissuebert … --out m.onnx`) run by onnxruntime-node; its
   * sidecar `m.onnx.json` gives the tissues, the temperature and the panel folder. Same results
   * as the run it came from (within 1e-4 on the posteriors).
   */
  onnx?: string;
  /** The panel folder (regions.bed, CpG.bed.gz, genome.fa); default: the run's / the sidecar's. */
  panelDir?: string;
  /** onnxruntime session options for `onnx` (threads, graph optimization, providers). */
  onnxSession?: OnnxSessionOptions;
  /** wgbstools .pat.gz files, one per sample. */
  samples: string[];
  /** Score at most this many distinct reads per sample (evenly spaced; default all). */
  maxReads?: number;
  /** Which weights: best validation loss (default) or newest valid checkpoint. */
  checkpoint?: 'best' | 'last';
  /** 'fisher' (Wald from the observed information, default) or 'bootstrap' (percentile over reads). */
  ci?: 'fisher' | 'bootstrap';
  bootstrapReplicates?: number;
  seed?: number;
  batchSize?: number;
  /** Where predictions.csv / predictions.json go (default `<runDir>/predictions`); null: write nothing. */
  outDir?: string | null;
}

export interface TissueProportion {
  tissue: string;
  proportion: number;
  lower: number;
  upper: number;
  standardError: number;
  /** Mean of the calibrated read posteriors (temperature, implied prior divided out; weighted by pat count). */
  meanPosterior: number;
}

export interface SamplePrediction {
  sample: string;
  file: string;
  /** Distinct reads (pat lines) overlapping the panel, and how many were scored. */
  reads: number;
  scored: number;
  /** Σ pat counts of the scored reads. */
  weight: number;
  converged: boolean;
  tissues: TissueProportion[];
}

export interface TissueBertPredictResult {
  /** The run directory, or the .onnx file. */
  runDir: string;
  /** Checkpoint name, or `onnx:<sha256 prefix>` for an exported model. */
  checkpoint: string;
  /** 'tfjs' (checkpoint, on the @meddl/tensor backend) or 'onnxruntime'. */
  runtime: 'tfjs' | 'onnxruntime';
  temperature: number;
  temperatureSource: 'tissuebert-eval.json' | 'default' | 'sidecar';
  /**
   * The implied class prior divided out before the mixture MLE (label order), from the run's
   * tissuebert-eval.json or the sidecar; null: the nominal uniform prior (the run was not evaluated).
   */
  impliedPrior: number[] | null;
  ci: 'fisher' | 'bootstrap';
  samples: SamplePrediction[];
  files: { csv: string; json: string } | null;
}

/** Softmax posteriors [n × K] of examples given as token ids and states [n × L] (row-major). */
type ReadScorer = (tokens: Int32Array, states: Int32Array, n: number, L: number) => Promise<Float64Array>;

function tfjsScorer(model: TissueBert, batchSize: number): ReadScorer {
  const K = model.config.numClasses;
  return async (tokens, states, n, L) => {
    const out = new Float64Array(n * K);
    for (let b0 = 0; b0 < n; b0 += batchSize) {
      const m = Math.min(batchSize, n - b0);
      const probs = tf.tidy(() =>
        tf.softmax(
          model.forward(
            tf.tensor2d(tokens.subarray(b0 * L, (b0 + m) * L), [m, L], 'int32'),
            tf.tensor2d(states.subarray(b0 * L, (b0 + m) * L), [m, L], 'int32'),
          ),
        ),
      );
      out.set(probs.dataSync(), b0 * K);
      probs.dispose();
    }
    return out;
  };
}

function onnxScorer(session: OnnxSession, K: number, batchSize: number): ReadScorer {
  return async (tokens, states, n, L) => {
    const r = await session.runBatched(
      { token_ids: { data: tokens, dims: [n, L] }, methylation: { data: states, dims: [n, L] } },
      batchSize,
      ['logits'],
    );
    const logits = r.logits;
    if (logits.dims[1] !== K)
      throw new TissueBertArgumentError(
        'onnx',
        `${session.source}: ${logits.dims[1]} logits per read, expected ${K}`,
      );
    return softmax({ data: logits.data as ArrayLike<number>, cols: K });
  };
}

function gather(s: PreparedSample, picks: number[]): { tokens: Int32Array; states: Int32Array; L: number } {
  const L = s.tokens.length / Math.max(s.n, 1);
  const tokens = new Int32Array(picks.length * L);
  const states = new Int32Array(picks.length * L);
  picks.forEach((e, i) => {
    tokens.set(s.tokens.subarray(e * L, (e + 1) * L), i * L);
    states.set(s.methylation.subarray(e * L, (e + 1) * L), i * L);
  });
  return { tokens, states, L };
}

/** The sidecar `meddl export tissuebert` writes beside the .onnx (the fields prediction reads). */
interface TissueBertSidecar {
  model: string;
  sha256: string;
  labels: string[];
  temperature: number;
  /** The implied class prior (label order), null when the run was not evaluated. */
  impliedPrior?: number[] | null;
  panelDir?: string;
}

function readSidecar(onnxPath: string): TissueBertSidecar {
  const path = `${onnxPath}.json`;
  if (!existsSync(path))
    throw new TissueBertArgumentError(
      'onnx',
      `${path} (the sidecar of ${onnxPath}) does not exist; export with meddl export tissuebert`,
    );
  let parsed: Partial<TissueBertSidecar>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TissueBertArgumentError('onnx', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (parsed.model !== 'tissuebert')
    throw new TissueBertArgumentError(
      'onnx',
      `${path} describes a '${String(parsed.model)}' model, not tissuebert`,
    );
  if (
    !Array.isArray(parsed.labels) ||
    typeof parsed.temperature !== 'number' ||
    typeof parsed.sha256 !== 'string'
  )
    throw new TissueBertArgumentError('onnx', `${path} lacks labels, temperature or sha256`);
  const prior = parsed.impliedPrior;
  if (
    prior != null &&
    (!Array.isArray(prior) ||
      prior.length !== parsed.labels.length ||
      prior.some((v) => typeof v !== 'number' || !(v > 0)))
  )
    throw new TissueBertArgumentError(
      'onnx',
      `${path}: impliedPrior must be ${parsed.labels.length} positive numbers (one per label) or null`,
    );
  return parsed as TissueBertSidecar;
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Predicts tissue proportions of each sample; writes predictions.csv and predictions.json. */
export async function predictTissueBert(options: TissueBertPredictOptions): Promise<TissueBertPredictResult> {
  if (options.samples.length === 0)
    throw new TissueBertArgumentError('samples', 'at least one .pat.gz file is required');
  for (const f of options.samples)
    if (!existsSync(f)) throw new TissueBertArgumentError('samples', `${f} does not exist`);
  if ((options.runDir === undefined) === (options.onnx === undefined))
    throw new TissueBertArgumentError('run', 'give either a run directory or an exported .onnx model');
  const batchSize = options.batchSize ?? 256;
  let source: {
    where: string;
    checkpoint: string;
    runtime: TissueBertPredictResult['runtime'];
    tissues: string[];
    temperature: { value: number; source: TissueBertPredictResult['temperatureSource'] };
    impliedPrior: number[] | null;
    panelDir: string;
    score: ReadScorer;
    release: () => Promise<void> | void;
  };
  if (options.onnx !== undefined) {
    const path = resolve(options.onnx);
    if (!existsSync(path)) throw new TissueBertArgumentError('onnx', `${path} does not exist`);
    const sidecar = readSidecar(path);
    const actual = createHash('sha256').update(readFileSync(path)).digest('hex');
    if (actual !== sidecar.sha256)
      throw new TissueBertArgumentError(
        'onnx',
        `${path} does not match its sidecar (sha256 ${actual.slice(0, 12)}… vs ${sidecar.sha256.slice(0, 12)}…)`,
      );
    const panelDir = options.panelDir ?? sidecar.panelDir;
    if (!panelDir)
      throw new TissueBertArgumentError(
        'panelDir',
        `${path}.json names no panel folder: pass --panel DIR (regions.bed, CpG.bed.gz, genome.fa)`,
      );
    const session = await OnnxSession.create(path, { threads: 1, ...options.onnxSession });
    session.expectSignature({
      inputs: [
        { name: 'token_ids', dtype: 'int32', dims: ['batch', 'sequence'] },
        { name: 'methylation', dtype: 'int32', dims: ['batch', 'sequence'] },
      ],
      outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', sidecar.labels.length] }],
    });
    source = {
      where: path,
      checkpoint: `onnx:${actual.slice(0, 12)}`,
      runtime: 'onnxruntime',
      tissues: sidecar.labels,
      temperature: { value: sidecar.temperature, source: 'sidecar' },
      impliedPrior: sidecar.impliedPrior ?? null,
      panelDir,
      score: onnxScorer(session, sidecar.labels.length, batchSize),
      release: () => session.release(),
    };
  } else {
    await initBackend(); // the fastest built backend (native when built), as the tests use
    const run = await loadRunModel(options.runDir as string, options.checkpoint ?? 'best');
    source = {
      where: run.runDir,
      checkpoint: run.checkpoint,
      runtime: 'tfjs',
      tissues: run.meta.tissues,
      temperature: run.temperature,
      impliedPrior: run.impliedPrior,
      panelDir: options.panelDir ?? run.meta.dataDir,
      score: tfjsScorer(run.model, batchSize),
      release: () => run.model.dispose(),
    };
  }
  const tissues = source.tissues;
  const K = tissues.length;
  const T = source.temperature.value;
  const ciKind = options.ci ?? 'fisher';
  const need = (name: string) => {
    const p = join(source.panelDir, name);
    if (!existsSync(p))
      throw new TissueBertArgumentError(
        'run',
        `${p} (the panel's ${name}) does not exist; reads are prepared against it`,
      );
    return p;
  };
  const regions = readBlocksBed(need('regions.bed'));
  const cpg = readCpgIndex(need('CpG.bed.gz'));
  const fasta = new IndexedFasta(need('genome.fa'));
  const predictions: SamplePrediction[] = [];
  try {
    for (const file of options.samples) {
      const name = basename(file).replace(/\.pat(\.gz)?$/, '');
      const s = prepareSample({ sample: name, tissue: '', label: -1 }, readPat(file), regions, cpg, fasta);
      if (s.n === 0)
        throw new TissueBertArgumentError(
          'samples',
          `${file}: no read overlaps the run's ${regions.length} panel regions`,
        );
      const picks = evenlySpaced(s.n, options.maxReads ?? s.n);
      const k = picks.length;
      const g = gather(s, picks);
      const raw: ReadPosteriors = {
        probs: await source.score(g.tokens, g.states, k, g.L),
        nReads: k,
        nClasses: K,
      };
      const scaled = applyTemperature(raw, T);
      const calibrated = source.impliedPrior ? dividePrior(scaled, source.impliedPrior) : scaled;
      const weights = Float64Array.from(picks, (e) => s.count[e]);
      const fit = mixtureMle(calibrated, { weights });
      const ci =
        ciKind === 'bootstrap'
          ? bootstrapMixtureCi(calibrated, new Generator(options.seed ?? 0), {
              weights,
              replicates: options.bootstrapReplicates ?? 200,
            })
          : fisherMixtureCi(calibrated, fit.proportions, { weights });
      const mean = meanPosterior(calibrated, weights);
      predictions.push({
        sample: name,
        file: resolve(file),
        reads: s.n,
        scored: k,
        weight: weights.reduce((a, w) => a + w, 0),
        converged: fit.converged,
        tissues: tissues.map((tissue, t) => ({
          tissue,
          proportion: fit.proportions[t],
          lower: ci.lower[t],
          upper: ci.upper[t],
          standardError: ci.standardError[t],
          meanPosterior: mean[t],
        })),
      });
    }
  } finally {
    fasta.close();
    await source.release();
  }
  let files: TissueBertPredictResult['files'] = null;
  const result: TissueBertPredictResult = {
    runDir: source.where,
    checkpoint: source.checkpoint,
    runtime: source.runtime,
    temperature: T,
    temperatureSource: source.temperature.source,
    impliedPrior: source.impliedPrior,
    ci: ciKind,
    samples: predictions,
    files,
  };
  if (options.outDir !== null) {
    const dir = resolve(
      options.outDir ??
        (options.onnx !== undefined ? `${source.where}.predictions` : join(source.where, 'predictions')),
    );
    mkdirSync(dir, { recursive: true });
    files = { csv: join(dir, 'predictions.csv'), json: join(dir, 'predictions.json') };
    result.files = files;
    const rows = ['sample,tissue,proportion,lower,upper,standard_error,mean_posterior'];
    for (const p of predictions)
      for (const t of p.tissues)
        rows.push(
          [p.sample, t.tissue, t.proportion, t.lower, t.upper, t.standardError, t.meanPosterior].join(','),
        );
    atomicWrite(files.csv, `${rows.join('\n')}\n`);
    atomicWrite(files.json, `${JSON.stringify(result, null, 2)}\n`);
  }
  return result;
}

/** A printable table: one block per sample, tissues by decreasing proportion (those ≥ minShown). */
export function formatPredictions(r: TissueBertPredictResult, minShown = 0.005): string {
  const lines = [
    `${r.runtime === 'onnxruntime' ? 'model' : 'run'} ${r.runDir} (${r.checkpoint}, ${r.runtime}); temperature ${r.temperature.toFixed(3)} (${r.temperatureSource === 'default' ? 'default 1: run meddl eval to calibrate' : `from ${r.temperatureSource}`}); ${r.impliedPrior ? 'implied class prior divided out' : 'nominal (uniform) class prior'}; ${r.ci} 95% CI`,
  ];
  for (const s of r.samples) {
    lines.push(
      '',
      `${s.sample}: ${s.scored} of ${s.reads} reads scored (weight ${s.weight})${s.converged ? '' : ' [MLE not converged]'}`,
    );
    lines.push(
      `  ${'tissue'.padEnd(18)} ${'proportion'.padStart(10)}  ${'95% CI'.padEnd(17)} ${'mean post.'.padStart(10)}`,
    );
    const shown = [...s.tissues]
      .sort((a, b) => b.proportion - a.proportion)
      .filter((t) => t.proportion >= minShown);
    for (const t of shown)
      lines.push(
        `  ${t.tissue.padEnd(18)} ${t.proportion.toFixed(4).padStart(10)}  [${t.lower.toFixed(4)}, ${t.upper.toFixed(4)}] ${t.meanPosterior.toFixed(4).padStart(10)}`,
      );
    const hidden = s.tissues.length - shown.length;
    if (hidden > 0) lines.push(`  (${hidden} tissues below ${minShown})`);
    if (r.ci === 'fisher' && s.tissues.filter((t) => t.proportion > 1e-6).length < 2)
      lines.push('  (MLE on a single tissue: the Fisher interval is degenerate there; use --ci bootstrap)');
  }
  return `${lines.join('\n')}\n`;
}
