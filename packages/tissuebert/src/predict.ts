/**
 * Tissue-of-origin proportions of new samples with a trained run: each sample's pat file is
 * prepared against the run's regions / CpG index / genome (the data folder it trained on), its
 * reads are scored with the run's best checkpoint, the posteriors are calibrated with the
 * temperature `meddl eval` fitted (tissuebert-eval.json; 1 when the run was not evaluated), and the mixture
 * is estimated by maximum likelihood (`mixtureMle`, pat counts as read weights, uniform training
 * prior since training draws tissues balanced) with a Fisher (default) or bootstrap interval.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Generator, initBackend, tf } from '@meddl/tensor';
import {
  applyTemperature,
  bootstrapMixtureCi,
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
import { type PreparedSample, prepareSample } from './store';

export interface TissueBertPredictOptions {
  runDir: string;
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
  /** Mean of the temperature-scaled read posteriors (weighted by pat count). */
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
  runDir: string;
  checkpoint: string;
  temperature: number;
  temperatureSource: 'tissuebert-eval.json' | 'default';
  ci: 'fisher' | 'bootstrap';
  samples: SamplePrediction[];
  files: { csv: string; json: string } | null;
}

function scoreReads(model: TissueBert, s: PreparedSample, picks: number[], batchSize: number): Float64Array {
  const L = s.tokens.length / Math.max(s.n, 1);
  const K = model.config.numClasses;
  const out = new Float64Array(picks.length * K);
  for (let b0 = 0; b0 < picks.length; b0 += batchSize) {
    const idx = picks.slice(b0, b0 + batchSize);
    const tok = new Int32Array(idx.length * L);
    const meth = new Int32Array(idx.length * L);
    idx.forEach((e, i) => {
      tok.set(s.tokens.subarray(e * L, (e + 1) * L), i * L);
      meth.set(s.methylation.subarray(e * L, (e + 1) * L), i * L);
    });
    const probs = tf.tidy(() =>
      tf.softmax(
        model.forward(
          tf.tensor2d(tok, [idx.length, L], 'int32'),
          tf.tensor2d(meth, [idx.length, L], 'int32'),
        ),
      ),
    );
    out.set(probs.dataSync(), b0 * K);
    probs.dispose();
  }
  return out;
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
  await initBackend(); // the fastest built backend (native when built), as the tests use
  const run = await loadRunModel(options.runDir, options.checkpoint ?? 'best');
  const { meta, model } = run;
  const K = meta.tissues.length;
  const T = run.temperature.value;
  const ciKind = options.ci ?? 'fisher';
  const batchSize = options.batchSize ?? 256;
  const need = (name: string) => {
    const p = join(meta.dataDir, name);
    if (!existsSync(p))
      throw new TissueBertArgumentError(
        'run',
        `${p} (the run's ${name}) does not exist; reads are prepared against it`,
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
      const k = Math.min(s.n, options.maxReads ?? s.n);
      const picks = Array.from({ length: k }, (_, i) => Math.floor((i * s.n) / k));
      const raw: ReadPosteriors = { probs: scoreReads(model, s, picks, batchSize), nReads: k, nClasses: K };
      const calibrated = applyTemperature(raw, T);
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
        tissues: meta.tissues.map((tissue, t) => ({
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
    model.dispose();
  }
  let files: TissueBertPredictResult['files'] = null;
  const result: TissueBertPredictResult = {
    runDir: run.runDir,
    checkpoint: run.checkpoint,
    temperature: T,
    temperatureSource: run.temperature.source,
    ci: ciKind,
    samples: predictions,
    files,
  };
  if (options.outDir !== null) {
    const dir = resolve(options.outDir ?? join(run.runDir, 'predictions'));
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
    `run ${r.runDir} (checkpoint ${r.checkpoint}); temperature ${r.temperature.toFixed(3)} (${r.temperatureSource === 'tissuebert-eval.json' ? 'from tissuebert-eval.json' : 'default 1: run meddl eval to calibrate'}); ${r.ci} 95% CI`,
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
