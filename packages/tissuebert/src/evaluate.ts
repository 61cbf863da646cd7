/**
 * Evaluation of a trained TissueBERT run: read-level classification on the held-out files
 * (with bootstrap CIs clustered by file), calibration before/after temperature scaling, and
 * cfDNA deconvolution of in-silico mixtures of held-out reads, with the reference-atlas NNLS
 * estimate (MethAtlas) computed on the same mixtures as the baseline.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CheckpointManager, disposeCheckpoint } from '@meddl/checkpoint';
import {
  accuracy,
  balancedAccuracy,
  bootstrapCI,
  expectedCalibrationError,
  logLoss,
  macroOverPresent,
  precisionRecallF1,
} from '@meddl/metrics';
import {
  calibrationSection,
  classificationSection,
  confusionSection,
  headline,
  scatterSection,
  tableSection,
  writeEvalArtifact,
} from '@meddl/report';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { atlasReadPosterior, buildReadAtlas } from './deconv/atlas';
import {
  applyTemperature,
  dividePrior,
  fitTemperature,
  impliedPrior,
  mixtureMle,
  type ReadPosteriors,
} from './deconv/mixture';
import { nnlsDeconvolve } from './deconv/nnls';
import { TissueBertArgumentError } from './errors';
import { METH_METHYLATED, METH_UNMETHYLATED } from './formats/pat';
import {
  bloodDominatedMixture,
  detectionLimit,
  dirichletMixture,
  pearson,
  pearsonPerTissue,
  rmse,
  spikeInMixture,
} from './mix';
import { createModel } from './model';
import { EVAL_FILE, readRunMeta } from './run-meta';
import { evenlySpaced } from './sampling';
import type { PreparedStore } from './store';
import { bayesExamplePosterior, SYNTH_GENERATOR_VERSION, type SynthGroundTruth } from './synth/generator';
import { SYNTH_BLOOD_TISSUES } from './synth/tissues';
import { loadStore } from './train';

export interface TissueBertEvalOptions {
  runDir: string;
  /** Data folder (default: the one the run trained on). */
  dataDir?: string;
  /** Which weights: the best validation loss (default) or the newest valid checkpoint. */
  checkpoint?: 'best' | 'last';
  /** At most this many reads per held-out file are scored (evenly spaced; default 2000). */
  maxReadsPerFile?: number;
  /** In-silico mixtures (default 20) of `readsPerMixture` reads each (default 2000). */
  mixtures?: number;
  readsPerMixture?: number;
  /**
   * Reads per training file (evenly spaced; default 500) scored to measure the class prior the
   * model implies (`impliedPrior`), which the mixture MLE divides out.
   */
  referenceReadsPerFile?: number;
  /** Dirichlet concentration of the mixture proportions (default 0.5). */
  alpha?: number;
  seed?: number;
  batchSize?: number;
  bootstrapResamples?: number;
}

export interface Estimate {
  estimate: number;
  lower: number;
  upper: number;
}

export interface DeconvolutionScore {
  rmse: number;
  pearson: number;
  pearsonPerTissue: Record<string, number>;
}

export interface DeconvolutionSummary {
  kind: string;
  mixtures: number;
  /**
   * Maximum-likelihood mixture of TissueBERT read posteriors, temperature-scaled and divided by
   * the prior the model implies on training reads (`impliedPrior`).
   */
  model: DeconvolutionScore;
  /** The same MLE dividing by the nominal (uniform) training prior instead, as MethylBERT does. */
  modelNominalPrior: DeconvolutionScore;
  /** NNLS against the reference atlas of the training files (MethAtlas). */
  nnls: DeconvolutionScore;
  /**
   * The same mixture MLE on read posteriors of the read-level atlas counted from the training
   * files (`buildReadAtlas`: per-CpG, per-tissue methylation probabilities; no neural network).
   */
  atlas: DeconvolutionScore;
  /** Synthetic data only: the same MLE on the generator's exact (Bayes) read posteriors. */
  bayes?: DeconvolutionScore;
  /**
   * RMSE(NNLS) − RMSE(model) on the same mixtures, with a 95 % bootstrap interval resampling
   * mixtures (paired): above 0 where the model's estimate is the better one.
   */
  nnlsMinusModel: Estimate;
}

export interface TissueBertEvalResult {
  runDir: string;
  checkpoint: string;
  reads: number;
  files: number;
  classification: {
    accuracy: Estimate;
    balancedAccuracy: Estimate;
    macroF1: Estimate;
    /** File-level: each held-out file deconvolved alone; its argmax tissue against its label. */
    fileAccuracy: number;
    /**
     * Synthetic data only (the folder has the generator's ground_truth.json): the same metrics
     * for the Bayes-optimal classifier on the same reads — the ceiling any model can reach.
     */
    bayes?: { accuracy: Estimate; balancedAccuracy: Estimate; macroF1: Estimate };
    /** The read-level atlas classifier counted from the training files (see `DeconvolutionSummary.atlas`). */
    atlas: { accuracy: Estimate; balancedAccuracy: Estimate; macroF1: Estimate };
  };
  calibration: {
    temperature: number;
    nllBefore: number;
    nllAfter: number;
    eceBefore: number;
    eceAfter: number;
  };
  deconvolution: {
    readsPerMixture: number;
    /** Temperature applied to read posteriors before the mixture MLE. */
    temperature: number;
    /** Temperature of the read-level atlas posteriors (fitted the same way). */
    atlasTemperature: number;
    /**
     * The class prior the temperature-scaled model implies on `referenceReads` reads of the
     * training files (`impliedPrior`), per tissue; the model's mixture MLE divides it out.
     */
    impliedPrior: Record<string, number>;
    referenceReads: number;
    kinds: DeconvolutionSummary[];
    /** Smallest spiked-in fraction distinguishable from blanks (Infinity: none of the levels). */
    detection: {
      tissue: string;
      levels: number[];
      replicates: number;
      model: number;
      nnls: number;
      atlas: number;
      bayes?: number;
    } | null;
  };
}

/** Softmax posteriors for the chosen examples of one file, in batches. */
function posteriors(
  model: ReturnType<typeof createModel>,
  store: PreparedStore,
  file: number,
  examples: number[],
  batchSize: number,
): Float64Array {
  const s = store.samples[file];
  const L = store.tokenLength;
  const K = store.tissues.length;
  const out = new Float64Array(examples.length * K);
  for (let b0 = 0; b0 < examples.length; b0 += batchSize) {
    const idx = examples.slice(b0, b0 + batchSize);
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

/** Per-region methylated fraction of a set of examples (NaN where no CpG was called). */
/**
 * Per-CpG methylation level (the MethAtlas reference's unit) over the picked examples: entry
 * `region · tokenLength + token` is the fraction of methylated calls of the CpG whose C sits mid
 * that token (windows are fixed per region, so the token position names the CpG); NaN if uncalled.
 */
function cpgBeta(store: PreparedStore, picks: Array<{ file: number; example: number }>): Float64Array {
  const L = store.tokenLength;
  const meth = new Float64Array(store.regions.length * L);
  const called = new Float64Array(store.regions.length * L);
  for (const { file, example } of picks) {
    const s = store.samples[file];
    const base = s.region[example] * L;
    for (let j = 0; j < L; j++) {
      const st = s.methylation[example * L + j];
      if (st === METH_METHYLATED) {
        meth[base + j]++;
        called[base + j]++;
      } else if (st === METH_UNMETHYLATED) called[base + j]++;
    }
  }
  return meth.map((m, i) => (called[i] > 0 ? m / called[i] : Number.NaN));
}

/**
 * The synthetic generator's ground truth of a data folder, when it has one of the current model
 * version whose tissues and regions match the store (else null: real data, or an old folder).
 */
function readGroundTruth(dataDir: string, store: PreparedStore): SynthGroundTruth | null {
  const file = join(resolve(dataDir), 'ground_truth.json');
  if (!existsSync(file)) return null;
  const t = JSON.parse(readFileSync(file, 'utf8')) as SynthGroundTruth;
  if (t.generator !== SYNTH_GENERATOR_VERSION || t.tissues.join(',') !== store.tissues.join(',')) return null;
  if (t.regions.length !== store.regions.length) return null;
  if (t.regions.some((r) => r.end - r.start > store.windowLength)) return null;
  return t;
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Evaluates a TissueBERT run directory; writes eval.json and deconvolution.csv into it. */
export async function evaluateTissueBert(options: TissueBertEvalOptions): Promise<TissueBertEvalResult> {
  await initBackend(); // the fastest built backend (native when built), as the tests use
  const runDir = resolve(options.runDir);
  const meta = readRunMeta(runDir);
  const store = await loadStore(options.dataDir ?? meta.dataDir);
  const K = store.tissues.length;
  if (store.tissues.join(',') !== meta.tissues.join(','))
    throw new TissueBertArgumentError(
      'data',
      `${options.dataDir ?? meta.dataDir} has tissues [${store.tissues.join(', ')}], the run was trained on [${meta.tissues.join(', ')}]`,
    );
  const byName = new Map(store.samples.map((s, i) => [s.sample, i]));
  const fileIndex = (names: string[]) =>
    names.map((n) => {
      const i = byName.get(n);
      if (i === undefined) throw new TissueBertArgumentError('data', `sample '${n}' of the run is missing`);
      return i;
    });
  const valFiles = fileIndex(meta.valSamples);
  const trainFiles = fileIndex(meta.trainSamples);
  if (valFiles.length === 0) throw new TissueBertArgumentError('run', `${runDir} has no held-out files`);

  const manager = new CheckpointManager(join(runDir, 'checkpoints'));
  const entry = options.checkpoint === 'last' ? null : manager.best('val_loss', 'min');
  const ck = entry ? await manager.load(entry.name) : await manager.latestValid();
  await manager.close();
  if (!ck) throw new TissueBertArgumentError('run', `${runDir}/checkpoints has no valid checkpoint`);
  const model = createModel(meta.preset, { ...meta.overrides, numClasses: K }, new Generator(0));
  model.loadStateDict(ck.model);
  const ckName = entry?.name ?? 'latest';
  disposeCheckpoint(ck);
  model.eval();

  const batchSize = options.batchSize ?? 256;
  const maxPerFile = options.maxReadsPerFile ?? 2000;
  // Score evenly spaced examples of every held-out file once; mixtures reuse these posteriors.
  const scored: Array<{ file: number; examples: number[]; probs: Float64Array }> = [];
  const reference: Array<{ label: number; probs: Float64Array }> = [];
  try {
    for (const f of valFiles) {
      const examples = evenlySpaced(store.samples[f].n, maxPerFile);
      scored.push({ file: f, examples, probs: posteriors(model, store, f, examples, batchSize) });
    }
    // Reference reads of the training files: the class prior the model implies (below).
    const perFile = options.referenceReadsPerFile ?? 500;
    for (const f of trainFiles) {
      const examples = evenlySpaced(store.samples[f].n, perFile);
      reference.push({
        label: store.samples[f].label,
        probs: posteriors(model, store, f, examples, batchSize),
      });
    }
  } finally {
    model.dispose();
  }

  // Synthetic data: the generator's exact read posteriors of the same examples (the Bayes ceiling).
  const truth = readGroundTruth(options.dataDir ?? meta.dataDir, store);
  const bayesOf = (file: number, example: number): Float64Array => {
    const t = truth as SynthGroundTruth;
    const s = store.samples[file];
    const g = s.region[example];
    const r = t.regions[g];
    const w0 = Math.max(0, Math.round((r.start + r.end) / 2 - store.windowLength / 2));
    const L = store.tokenLength;
    return bayesExamplePosterior(t, g, s.methylation.subarray(example * L, (example + 1) * L), w0);
  };
  const bayesProbs = truth
    ? scored.map((sc) => {
        const out = new Float64Array(sc.examples.length * K);
        sc.examples.forEach((e, i) => {
          out.set(bayesOf(sc.file, e), i * K);
        });
        return out;
      })
    : null;

  // The read-level atlas counted from the training files: what counting alone extracts from them.
  const readAtlas = buildReadAtlas(store, trainFiles);
  const atlasProbs = scored.map((sc) => {
    const s = store.samples[sc.file];
    const L = store.tokenLength;
    const out = new Float64Array(sc.examples.length * K);
    sc.examples.forEach((e, i) => {
      out.set(atlasReadPosterior(readAtlas, s.region[e], s.methylation.subarray(e * L, (e + 1) * L)), i * K);
    });
    return out;
  });

  // Read-level classification, weighted by nothing (each distinct read once), CIs clustered by file.
  const nReads = scored.reduce((a, s) => a + s.examples.length, 0);
  const probs = new Float64Array(nReads * K);
  const yTrue = new Int32Array(nReads);
  const yPred = new Int32Array(nReads);
  const cluster = new Int32Array(nReads);
  const yBayes = new Int32Array(nReads);
  const yAtlas = new Int32Array(nReads);
  const atlasFlat = new Float64Array(nReads * K);
  let r = 0;
  for (const [k, s] of scored.entries()) {
    const label = store.samples[s.file].label;
    for (let i = 0; i < s.examples.length; i++, r++) {
      probs.set(s.probs.subarray(i * K, (i + 1) * K), r * K);
      yTrue[r] = label;
      cluster[r] = s.file;
      let best = 0;
      for (let t = 1; t < K; t++) if (s.probs[i * K + t] > s.probs[i * K + best]) best = t;
      yPred[r] = best;
      const ap = atlasProbs[k];
      atlasFlat.set(ap.subarray(i * K, (i + 1) * K), r * K);
      let ba = 0;
      for (let t = 1; t < K; t++) if (ap[i * K + t] > ap[i * K + ba]) ba = t;
      yAtlas[r] = ba;
      const bp = bayesProbs?.[k];
      if (bp) {
        let bb = 0;
        for (let t = 1; t < K; t++) if (bp[i * K + t] > bp[i * K + bb]) bb = t;
        yBayes[r] = bb;
      }
    }
  }
  const seed = options.seed ?? 0;
  const boot = (metric: (yt: Int32Array, yp: Int32Array) => number, pred = yPred): Estimate => {
    const res = bootstrapCI(
      (ix) => {
        const yt = new Int32Array(ix.length);
        const yp = new Int32Array(ix.length);
        ix.forEach((j, k) => {
          yt[k] = yTrue[j];
          yp[k] = pred[j];
        });
        return metric(yt, yp);
      },
      nReads,
      { seed, resamples: options.bootstrapResamples ?? 200, clusters: cluster },
    );
    return { estimate: res.estimate, lower: res.lower, upper: res.upper };
  };
  const classification: TissueBertEvalResult['classification'] = {
    fileAccuracy: 0, // below, with the calibrated likelihoods
    accuracy: boot((yt, yp) => accuracy(yt, yp, K)),
    balancedAccuracy: boot((yt, yp) => balancedAccuracy(yt, yp, K)),
    macroF1: boot((yt, yp) => macroOverPresent(precisionRecallF1(yt, yp, K)).f1),
    ...(bayesProbs
      ? {
          bayes: {
            accuracy: boot((yt, yp) => accuracy(yt, yp, K), yBayes),
            balancedAccuracy: boot((yt, yp) => balancedAccuracy(yt, yp, K), yBayes),
            macroF1: boot((yt, yp) => macroOverPresent(precisionRecallF1(yt, yp, K)).f1, yBayes),
          },
        }
      : {}),
    atlas: {
      accuracy: boot((yt, yp) => accuracy(yt, yp, K), yAtlas),
      balancedAccuracy: boot((yt, yp) => balancedAccuracy(yt, yp, K), yAtlas),
      macroF1: boot((yt, yp) => macroOverPresent(precisionRecallF1(yt, yp, K)).f1, yAtlas),
    },
  };

  // Temperature: fitted on even-indexed reads, measured on odd-indexed ones.
  const half = (parity: number, source = probs): ReadPosteriors & { labels: Int32Array } => {
    const rows = Array.from({ length: nReads }, (_, i) => i).filter((i) => i % 2 === parity);
    const p = new Float64Array(rows.length * K);
    rows.forEach((row, k) => {
      p.set(source.subarray(row * K, (row + 1) * K), k * K);
    });
    return { probs: p, nReads: rows.length, nClasses: K, labels: Int32Array.from(rows, (row) => yTrue[row]) };
  };
  const fit = half(0);
  const test = half(1);
  const temperature = fitTemperature(fit, fit.labels);
  const atlasFit = half(0, atlasFlat);
  const atlasTemperature = fitTemperature(atlasFit, atlasFit.labels);
  const calibrated = applyTemperature(test, temperature);
  // The prior the temperature-scaled model implies on the training files' reads.
  const referenceReads = reference.reduce((a, x) => a + x.probs.length / K, 0);
  const refProbs = new Float64Array(referenceReads * K);
  const refLabels = new Int32Array(referenceReads);
  let off = 0;
  for (const x of reference) {
    refProbs.set(x.probs, off * K);
    refLabels.fill(x.label, off, off + x.probs.length / K);
    off += x.probs.length / K;
  }
  const prior = impliedPrior(
    applyTemperature({ probs: refProbs, nReads: referenceReads, nClasses: K }, temperature),
    refLabels,
  );
  /** Read likelihoods (up to a per-read constant) from raw posteriors: temperature, then the implied prior divided out. */
  const likelihoods = (p: ReadPosteriors) => dividePrior(applyTemperature(p, temperature), prior);
  classification.fileAccuracy =
    scored.filter((s) => {
      const pi = mixtureMle(
        likelihoods({ probs: s.probs, nReads: s.examples.length, nClasses: K }),
      ).proportions;
      let best = 0;
      for (let t = 1; t < K; t++) if (pi[t] > pi[best]) best = t;
      return best === store.samples[s.file].label;
    }).length / scored.length;
  const flat = (p: Float64Array) => ({ data: p, cols: K });
  const calibration = {
    temperature,
    nllBefore: logLoss(test.labels, flat(test.probs)),
    nllAfter: logLoss(test.labels, flat(calibrated.probs)),
    eceBefore: expectedCalibrationError(test.labels, flat(test.probs)),
    eceAfter: expectedCalibrationError(test.labels, flat(calibrated.probs)),
  };

  // In-silico mixtures of held-out reads with Dirichlet proportions over the held-out tissues.
  const tissuesHeldOut = [...new Set(valFiles.map((f) => store.samples[f].label))].sort((a, b) => a - b);
  const byTissue = new Map<number, number[]>();
  scored.forEach((s, k) => {
    const l = store.samples[s.file].label;
    byTissue.set(l, [...(byTissue.get(l) ?? []), k]);
  });
  // Reference atlas (mean methylation per CpG and tissue) from the training files only.
  const atlasCols = Array.from({ length: K }, (_, t) => {
    const files = trainFiles.filter((f) => store.samples[f].label === t);
    const picks = files.flatMap((f) =>
      Array.from({ length: store.samples[f].n }, (_, e) => ({ file: f, example: e })),
    );
    return cpgBeta(store, picks);
  });
  const rng = new Generator(seed + 17);
  const M = options.mixtures ?? 20;
  const R = options.readsPerMixture ?? 2000;
  /** Draws R held-out reads with the given proportions; returns every estimator's proportions. */
  const deconvolve = (
    proportions: Float64Array,
  ): {
    model: Float64Array;
    modelNominalPrior: Float64Array;
    nnls: Float64Array;
    atlas: Float64Array;
    bayes: Float64Array;
  } => {
    const mixProbs = new Float64Array(R * K);
    const mixAtlas = new Float64Array(R * K);
    const mixBayes = bayesProbs ? new Float64Array(R * K) : null;
    const picks: Array<{ file: number; example: number }> = [];
    for (let i = 0; i < R; i++) {
      const t = rng.categorical(proportions);
      const candidates = byTissue.get(t) ?? [];
      const c = candidates[Math.floor(rng.random() * candidates.length)];
      const s = scored[c];
      const e = Math.floor(rng.random() * s.examples.length);
      mixProbs.set(s.probs.subarray(e * K, (e + 1) * K), i * K);
      mixAtlas.set(atlasProbs[c].subarray(e * K, (e + 1) * K), i * K);
      if (mixBayes && bayesProbs) mixBayes.set(bayesProbs[c].subarray(e * K, (e + 1) * K), i * K);
      picks.push({ file: s.file, example: s.examples[e] });
    }
    const mix = { probs: mixProbs, nReads: R, nClasses: K };
    const model = mixtureMle(likelihoods(mix)).proportions;
    const modelNominalPrior = mixtureMle(applyTemperature(mix, temperature)).proportions;
    const beta = cpgBeta(store, picks);
    const rows: number[][] = [];
    const b: number[] = [];
    for (let cpg = 0; cpg < beta.length; cpg++) {
      if (Number.isNaN(beta[cpg])) continue;
      const row = atlasCols.map((c) => c[cpg]);
      if (row.some(Number.isNaN)) continue;
      rows.push(row);
      b.push(beta[cpg]);
    }
    const nnls = rows.length > 0 ? nnlsDeconvolve(rows, b).proportions : new Float64Array(K).fill(Number.NaN);
    const bayes = mixBayes
      ? mixtureMle({ probs: mixBayes, nReads: R, nClasses: K }).proportions
      : new Float64Array(K).fill(Number.NaN);
    const atlas = mixtureMle(
      applyTemperature({ probs: mixAtlas, nReads: R, nClasses: K }, atlasTemperature),
    ).proportions;
    return { model, modelNominalPrior, nnls, atlas, bayes };
  };
  const spread = (local: ArrayLike<number>, tissues: number[]): Float64Array => {
    const truth = new Float64Array(K);
    tissues.forEach((t, j) => {
      truth[t] = local[j];
    });
    return truth;
  };
  const blood = tissuesHeldOut.filter((t) => SYNTH_BLOOD_TISSUES.includes(store.tissues[t]));
  const solid = tissuesHeldOut.filter((t) => !blood.includes(t));
  const kinds: Array<{ kind: string; truths: Float64Array[] }> = [
    {
      kind: 'dirichlet',
      truths: Array.from({ length: M }, () =>
        spread(dirichletMixture(rng, tissuesHeldOut.length, options.alpha ?? 0.5), tissuesHeldOut),
      ),
    },
  ];
  if (blood.length > 0 && solid.length > 0) {
    kinds.push({
      kind: 'blood-dominated',
      truths: Array.from({ length: M }, () =>
        spread(
          bloodDominatedMixture(
            rng,
            tissuesHeldOut.length,
            blood.map((t) => tissuesHeldOut.indexOf(t)),
          ),
          tissuesHeldOut,
        ),
      ),
    });
  }
  const rows: string[] = [
    `kind,mixture,tissue,true,model,model_nominal_prior,nnls,atlas${bayesProbs ? ',bayes' : ''}`,
  ];
  const summaries: DeconvolutionSummary[] = [];
  const dirichletModel: Float64Array[] = [];
  for (const { kind, truths } of kinds) {
    const est = truths.map((t) => deconvolve(t));
    if (kind === 'dirichlet') dirichletModel.push(...est.map((x) => x.model));
    truths.forEach((t, m) => {
      store.tissues.forEach((name, k) => {
        rows.push(
          `${kind},${m},${name},${t[k]},${est[m].model[k]},${est[m].modelNominalPrior[k]},${est[m].nnls[k]},${est[m].atlas[k]}${bayesProbs ? `,${est[m].bayes[k]}` : ''}`,
        );
      });
    });
    const flatAll = (xs: Float64Array[]) => Float64Array.from(xs.flatMap((x) => Array.from(x)));
    const score = (which: 'model' | 'modelNominalPrior' | 'nnls' | 'atlas' | 'bayes') => {
      const e = est.map((x) => x[which]);
      const perTissue = pearsonPerTissue(truths, e);
      return {
        rmse: rmse(truths, e),
        pearson: pearson(flatAll(truths), flatAll(e)),
        pearsonPerTissue: Object.fromEntries(
          tissuesHeldOut.map((t) => [store.tissues[t], perTissue[t]]),
        ) as Record<string, number>,
      };
    };
    const models = est.map((x) => x.model);
    const nnlsEst = est.map((x) => x.nnls);
    const pick = <T>(xs: T[], ix: ArrayLike<number>) => Array.from(ix, (i) => xs[i]);
    const gap = bootstrapCI(
      (ix) => rmse(pick(truths, ix), pick(nnlsEst, ix)) - rmse(pick(truths, ix), pick(models, ix)),
      truths.length,
      { seed, resamples: options.bootstrapResamples ?? 200 },
    );
    summaries.push({
      kind,
      mixtures: truths.length,
      nnlsMinusModel: { estimate: gap.estimate, lower: gap.lower, upper: gap.upper },
      model: score('model'),
      modelNominalPrior: score('modelNominalPrior'),
      nnls: score('nnls'),
      atlas: score('atlas'),
      ...(bayesProbs ? { bayes: score('bayes') } : {}),
    });
  }
  // Detection limit: one solid tissue spiked into a blood background at 0.5–5%, vs blanks.
  let detection: TissueBertEvalResult['deconvolution']['detection'] = null;
  if (blood.length > 0 && solid.length > 0) {
    const target = solid[0];
    const levels = [0.005, 0.01, 0.02, 0.05];
    const reps = Math.max(3, Math.round(M / 4));
    const background = () => spread(rng.dirichlet(blood.map(() => 1)), blood);
    const run = (fraction: number) =>
      Array.from({ length: reps }, () => deconvolve(spikeInMixture(background(), target, fraction)));
    const blanks = run(0);
    const spiked = levels.map(run);
    const limit = (which: 'model' | 'nnls' | 'atlas' | 'bayes') =>
      detectionLimit(
        levels,
        spiked.map((xs) => xs.map((x) => x[which][target])),
        blanks.map((x) => x[which][target]),
      );
    detection = {
      tissue: store.tissues[target],
      levels,
      replicates: reps,
      model: limit('model'),
      nnls: limit('nnls'),
      atlas: limit('atlas'),
      ...(bayesProbs ? { bayes: limit('bayes') } : {}),
    };
  }
  const deconvolution = {
    readsPerMixture: R,
    temperature,
    atlasTemperature,
    impliedPrior: Object.fromEntries(store.tissues.map((t, k) => [t, prior[k]])),
    referenceReads,
    kinds: summaries,
    detection,
  };

  const result: TissueBertEvalResult = {
    runDir,
    checkpoint: ckName,
    reads: nReads,
    files: valFiles.length,
    classification,
    calibration,
    deconvolution,
  };
  mkdirSync(runDir, { recursive: true });
  atomicWrite(join(runDir, EVAL_FILE), `${JSON.stringify(result, null, 2)}\n`);
  // eval.json: the @meddl/report contract, so `meddl report` / `meddl runs` can read this run.
  const logits = { data: probs.map((p) => Math.log(Math.max(p, 1e-30))), cols: K };
  const toRows = (xs: Float64Array[]) => xs.map((x) => Array.from(x));
  const dirichlet = kinds[0];
  writeEvalArtifact(runDir, {
    model: 'tissuebert',
    split: 'validation (held-out files)',
    checkpoint: ckName,
    data: {
      name: 'methylation reads',
      facts: { 'held-out files': valFiles.length, reads: nReads, tissues: K },
    },
    headline: [
      headline(
        'read_macro_f1',
        {
          value: classification.macroF1.estimate,
          lower: classification.macroF1.lower,
          upper: classification.macroF1.upper,
        },
        {
          label: classification.bayes
            ? `Read macro-F1 (Bayes ceiling ${classification.bayes.macroF1.estimate.toFixed(3)})`
            : 'Read macro-F1',
        },
      ),
      headline('file_accuracy', classification.fileAccuracy, { label: 'File accuracy', format: 'percent' }),
      ...summaries.map((k) =>
        headline(`deconv_rmse_${k.kind}`, k.model.rmse, {
          label: `Deconvolution RMSE (${k.kind}; NNLS ${k.nnls.rmse.toFixed(3)}, NNLS − model ${k.nnlsMinusModel.estimate.toFixed(3)} [${k.nnlsMinusModel.lower.toFixed(3)}, ${k.nnlsMinusModel.upper.toFixed(3)}], read atlas ${k.atlas.rmse.toFixed(3)})`,
          higherIsBetter: false,
        }),
      ),
    ],
    sections: [
      classificationSection(yTrue, { data: probs, cols: K }, store.tissues),
      calibrationSection(yTrue, logits, { temperature, fittedOn: 'half of the held-out reads' }),
      confusionSection(yTrue, yPred, store.tissues),
      scatterSection(toRows(dirichlet.truths), toRows(dirichletModel), store.tissues, {
        title: 'Deconvolution of Dirichlet mixtures: true vs estimated proportion per tissue',
        xLabel: 'true proportion',
        yLabel: 'TissueBERT estimate',
      }),
      tableSection(
        [
          'mixtures',
          'n',
          'RMSE model',
          'RMSE model, nominal prior',
          'RMSE NNLS',
          'RMSE read atlas',
          ...(bayesProbs ? ['RMSE Bayes'] : []),
          'Pearson r model',
          'Pearson r NNLS',
          'Pearson r read atlas',
          ...(bayesProbs ? ['Pearson r Bayes'] : []),
        ],
        summaries.map((k) => [
          k.kind,
          k.mixtures,
          k.model.rmse,
          k.modelNominalPrior.rmse,
          k.nnls.rmse,
          k.atlas.rmse,
          ...(k.bayes ? [k.bayes.rmse] : []),
          k.model.pearson,
          k.nnls.pearson,
          k.atlas.pearson,
          ...(k.bayes ? [k.bayes.pearson] : []),
        ]),
        {
          title:
            'Deconvolution: TissueBERT mixture MLE vs NNLS atlas baseline and the same MLE on read-level atlas posteriors counted from the training files (Bayes: on the generator’s exact read posteriors, synthetic data only)',
        },
      ),
    ],
  });
  atomicWrite(join(runDir, 'deconvolution.csv'), `${rows.join('\n')}\n`);
  return result;
}
