/**
 * Evaluation of a trained run on a split: per-finding AUROC with DeLong CIs, mean AUROC and AUPRC,
 * macro/micro F1 at 0.5, each with percentile-bootstrap CIs (@meddl/metrics); the ablation over the
 * 7 modality subsets with DeLong tests of each against the full model; prediction for new studies.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { auroc, averagePrecision, bootstrapCI, delongAuroc, delongTest } from '@meddl/metrics';
import { OnnxSession, type TensorData } from '@meddl/onnx';
import {
  binaryCalibrationSection,
  type ClassificationSection,
  forestSection,
  headline,
  multilabelClassificationSection,
  type Section,
  tableSection,
  writeEvalArtifact,
} from '@meddl/report';
import { Generator, tf } from '@meddl/tensor';
import { collectLogits } from './calibrate';
import {
  CLINICAL_NUMERIC_DIM,
  type ClinicalStats,
  encodeClinical,
  parseClinicalRow,
  VITALS,
} from './clinical';
import { type PreparedData, type PreparedStudy, prepareData } from './data';
import { MdfNetArgumentError, MdfNetDataError } from './errors';
import { type Normalization, normalizeImage, preprocessImage } from './image';
import { FINDINGS } from './labels';
import { createModel, type MdfNet, MODALITIES, type Modality } from './model';
import { batchInputs, collateStudies, type MdfNetBatch } from './task';
import { ReportTokenizer } from './text';
import {
  attachRunEmbeddings,
  loadBestCheckpoint,
  type MdfNetRunConfig,
  type MdfNetRunConfigInput,
  MdfNetRunConfigSchema,
  makeLoader,
  type RunFiles,
  readRunFiles,
  splitIndices,
  train,
} from './train';

export interface Interval {
  value: number;
  lower: number;
  upper: number;
}

export interface LabelResult {
  finding: string;
  positives: number;
  negatives: number;
  auroc: number;
  aurocLower: number;
  aurocUpper: number;
  auprc: number;
}

export interface EvalResult {
  runDir: string;
  split: string;
  studies: number;
  modalities: Modality[];
  perLabel: LabelResult[];
  meanAuroc: Interval;
  minAuroc: number;
  meanAuprc: Interval;
  macroF1: Interval;
  microF1: Interval;
  /** Probabilities [n·14] and certain-label targets/masks, for DeLong comparisons. */
  probs: Float32Array;
  target: Float32Array;
  certain: Float32Array;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

const K = FINDINGS.length;

/** Columns of label k restricted to certain cells (optionally over resampled rows). */
function column(
  probs: ArrayLike<number>,
  target: ArrayLike<number>,
  certain: ArrayLike<number>,
  k: number,
  rows?: ArrayLike<number>,
): { y: number[]; s: number[] } {
  const n = rows ? rows.length : probs.length / K;
  const y: number[] = [];
  const s: number[] = [];
  for (let j = 0; j < n; j++) {
    const i = rows ? rows[j] : j;
    if (certain[i * K + k]) {
      y.push(target[i * K + k]);
      s.push(probs[i * K + k]);
    }
  }
  return { y, s };
}

function hasBoth(y: number[]): boolean {
  return y.includes(0) && y.includes(1);
}

/** Mean AUROC, mean AUPRC, macro and micro F1 (threshold 0.5) over the given rows; NaN when undefined. */
export function summaryMetrics(
  probs: ArrayLike<number>,
  target: ArrayLike<number>,
  certain: ArrayLike<number>,
  rows?: ArrayLike<number>,
): { meanAuroc: number; meanAuprc: number; macroF1: number; microF1: number } {
  const aurocs: number[] = [];
  const aps: number[] = [];
  const f1s: number[] = [];
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let k = 0; k < K; k++) {
    const { y, s } = column(probs, target, certain, k, rows);
    if (hasBoth(y)) {
      aurocs.push(auroc(y, s).value);
      aps.push(averagePrecision(y, s).value);
    }
    let t = 0;
    let f = 0;
    let m = 0;
    y.forEach((yy, i) => {
      const p = s[i] >= 0.5 ? 1 : 0;
      if (p && yy) t++;
      else if (p && !yy) f++;
      else if (!p && yy) m++;
    });
    if (y.length) f1s.push(t + f + m === 0 ? 0 : (2 * t) / (2 * t + f + m));
    tp += t;
    fp += f;
    fn += m;
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  return {
    meanAuroc: mean(aurocs),
    meanAuprc: mean(aps),
    macroF1: mean(f1s),
    microF1: tp + fp + fn === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn),
  };
}

/** Raw and calibrated (σ(z / T_k)) probabilities of the model over a split. */
async function predictSplit(
  model: MdfNet,
  data: PreparedData,
  indices: number[],
  config: ReturnType<typeof MdfNetRunConfigSchema.parse>,
  temperatures: number[],
): Promise<{ probs: Float32Array; rawProbs: Float32Array; target: Float32Array; certain: Float32Array }> {
  const loader = makeLoader(data, indices, config, model.config, false);
  const { logits, target, certain } = await collectLogits(model, loader, config.normalization);
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  return {
    probs: logits.map((z, i) => sigmoid(z / temperatures[i % K])),
    rawProbs: logits.map(sigmoid),
    target,
    certain,
  };
}

/** Loads a run's best checkpoint and a model for it. */
async function loadRun(runDir: string): Promise<{ model: MdfNet; files: ReturnType<typeof readRunFiles> }> {
  const files = readRunFiles(runDir);
  const model = createModel(files.modelConfig, new Generator(0));
  const stage = files.config.stage2.enabled ? 'stage2' : 'stage1';
  await loadBestCheckpoint(model, join(runDir, stage));
  return { model, files };
}

/** Evaluates a run on a split (default test); writes mdf-net-eval.json, eval.json (report contract), per_label.csv and predictions.csv into the run. */
export async function evaluate(
  runDirInput: string,
  options: { split?: 'train' | 'val' | 'test'; resamples?: number; seed?: number } = {},
): Promise<EvalResult> {
  const runDir = resolve(runDirInput);
  const split = options.split ?? 'test';
  const { model, files } = await loadRun(runDir);
  try {
    const config = MdfNetRunConfigSchema.parse(files.config);
    const data = await prepareData(config.data.dir, {
      imageSize: files.modelConfig.imageSize,
      maxTokens: files.modelConfig.maxTokens,
      tokenizer: files.tokenizer,
      ratios: config.data.ratios,
      seed: config.trainer.seed,
      clinicalStats: files.clinicalStats,
    });
    await attachRunEmbeddings(
      data.studies,
      config.encoders,
      files.modelConfig.maxTokens,
      files.encoderSha256,
    );
    const indices = splitIndices(data, split);
    if (indices.length === 0)
      throw new MdfNetArgumentError('split', `the ${split} split of ${config.data.dir} is empty`);
    const temperatures = readCalibration(runDir);
    const { probs, rawProbs, target, certain } = await predictSplit(
      model,
      data,
      indices,
      config,
      temperatures,
    );
    const perLabel: LabelResult[] = FINDINGS.map((finding, k) => {
      const { y, s } = column(probs, target, certain, k);
      const positives = y.filter((v) => v === 1).length;
      const negatives = y.length - positives;
      if (positives < 2 || negatives < 2)
        return {
          finding,
          positives,
          negatives,
          auroc: Number.NaN,
          aurocLower: Number.NaN,
          aurocUpper: Number.NaN,
          auprc: Number.NaN,
        };
      const d = delongAuroc(y, s);
      return {
        finding,
        positives,
        negatives,
        auroc: d.auc,
        aurocLower: d.lower,
        aurocUpper: d.upper,
        auprc: averagePrecision(y, s).value,
      };
    });
    const n = indices.length;
    const point = summaryMetrics(probs, target, certain);
    const resamples = options.resamples ?? 500;
    const seed = options.seed ?? 0;
    const boot = (key: keyof typeof point): Interval => {
      const r = bootstrapCI((idx) => summaryMetrics(probs, target, certain, idx)[key], n, {
        seed,
        resamples,
      });
      return { value: point[key], lower: r.lower, upper: r.upper };
    };
    const defined = perLabel.map((l) => l.auroc).filter((v) => !Number.isNaN(v));
    const result: EvalResult = {
      runDir,
      split,
      studies: n,
      modalities: files.modelConfig.modalities,
      perLabel,
      meanAuroc: boot('meanAuroc'),
      minAuroc: defined.length ? Math.min(...defined) : Number.NaN,
      meanAuprc: boot('meanAuprc'),
      macroF1: boot('macroF1'),
      microF1: boot('microF1'),
      probs,
      target,
      certain,
    };
    const { probs: _p, target: _t, certain: _c, ...json } = result;
    writeAtomic(join(runDir, EVAL_FILE), `${JSON.stringify({ ...json, resamples }, null, 2)}\n`);
    writeReportArtifact(result, resamples, { rawProbs, temperatures });
    writeAtomic(
      join(runDir, 'per_label.csv'),
      `finding,positives,negatives,auroc,auroc_lower,auroc_upper,auprc\n${perLabel
        .map((l) =>
          [l.finding, l.positives, l.negatives, l.auroc, l.aurocLower, l.aurocUpper, l.auprc].join(','),
        )
        .join('\n')}\n`,
    );
    const studyIds = indices.map((i) => data.studies[i].studyId);
    writeAtomic(
      join(runDir, 'predictions.csv'),
      `study_id,${FINDINGS.join(',')}\n${studyIds
        .map((id, j) =>
          [id, ...Array.from(probs.subarray(j * K, (j + 1) * K), (v) => v.toFixed(5))].join(','),
        )
        .join('\n')}\n`,
    );
    return result;
  } finally {
    model.dispose();
  }
}

/** The 7 non-empty subsets of the three modalities: the full model, the single modalities, then the pairs. */
export function modalitySubsets(): Modality[][] {
  const out: Modality[][] = [];
  for (let mask = 7; mask >= 1; mask--) out.push(MODALITIES.filter((_, i) => mask & (1 << i)));
  const rank = (n: number) => (n === 3 ? 0 : n === 1 ? 1 : 2);
  return out.sort((a, b) => rank(a.length) - rank(b.length));
}

export interface AblationRow {
  modalities: Modality[];
  runDir: string;
  eval: EvalResult;
  /** DeLong p-value per finding against the full model (NaN for the full model or undefined labels). */
  delongP: number[];
  /** Paired bootstrap of mean AUROC (this − full). */
  meanAurocDiff: Interval;
  trainSeconds: number;
}

/**
 * Trains and evaluates one model per modality subset (same config and seed otherwise), then
 * compares each with the full model: DeLong per finding, paired bootstrap for the mean AUROC.
 * Writes `<runsDir>/<name>/results_summary.csv` and `ablation.json`.
 */
export async function ablate(
  input: MdfNetRunConfigInput,
  options: { subsets?: Modality[][]; resamples?: number } = {},
): Promise<{ dir: string; rows: AblationRow[] }> {
  const base = MdfNetRunConfigSchema.parse(input);
  const dir = resolve(base.trainer.runsDir ?? 'runs', base.trainer.name);
  mkdirSync(dir, { recursive: true });
  const subsets = options.subsets ?? modalitySubsets();
  const rows: AblationRow[] = [];
  for (const mods of subsets) {
    const name = mods.join('+');
    const t = await train({
      ...base,
      model: { ...base.model, overrides: { ...base.model.overrides, modalities: mods } },
      trainer: { ...base.trainer, runsDir: dir, name },
    } as MdfNetRunConfigInput);
    const ev = await evaluate(t.runDir, { resamples: options.resamples });
    rows.push({
      modalities: mods,
      runDir: t.runDir,
      eval: ev,
      delongP: [],
      meanAurocDiff: { value: Number.NaN, lower: Number.NaN, upper: Number.NaN },
      trainSeconds: t.durationSec,
    });
  }
  const full = rows.find((r) => r.modalities.length === MODALITIES.length) ?? rows[0];
  const n = full.eval.studies;
  for (const r of rows) {
    r.delongP = FINDINGS.map((_, k) => {
      if (r === full) return Number.NaN;
      const a = column(full.eval.probs, full.eval.target, full.eval.certain, k);
      const b = column(r.eval.probs, r.eval.target, r.eval.certain, k);
      if (a.y.filter((v) => v === 1).length < 2 || a.y.filter((v) => v === 0).length < 2) return Number.NaN;
      const test = delongTest(a.y, a.s, b.s);
      return test.defined ? test.pValue : Number.NaN;
    });
    const diff = (idx?: ArrayLike<number>) =>
      summaryMetrics(r.eval.probs, r.eval.target, r.eval.certain, idx).meanAuroc -
      summaryMetrics(full.eval.probs, full.eval.target, full.eval.certain, idx).meanAuroc;
    const ci = bootstrapCI((idx) => diff(idx), n, { seed: 1, resamples: options.resamples ?? 500 });
    r.meanAurocDiff = { value: diff(), lower: ci.lower, upper: ci.upper };
  }
  const fmt = (v: number) => (Number.isNaN(v) ? '' : v.toFixed(4));
  const iv = (i: Interval) => [fmt(i.value), fmt(i.lower), fmt(i.upper)];
  const header = [
    'modalities',
    'mean_auroc',
    'mean_auroc_lower',
    'mean_auroc_upper',
    'mean_auroc_diff_vs_full',
    'diff_lower',
    'diff_upper',
    'mean_auprc',
    'mean_auprc_lower',
    'mean_auprc_upper',
    'macro_f1',
    'macro_f1_lower',
    'macro_f1_upper',
    'micro_f1',
    'micro_f1_lower',
    'micro_f1_upper',
    'train_seconds',
    ...FINDINGS.flatMap((f) => [`auroc:${f}`, `auroc_lower:${f}`, `auroc_upper:${f}`, `delong_p:${f}`]),
  ];
  const lines = rows.map((r) =>
    [
      r.modalities.join('+'),
      ...iv(r.eval.meanAuroc),
      ...iv(r.meanAurocDiff),
      ...iv(r.eval.meanAuprc),
      ...iv(r.eval.macroF1),
      ...iv(r.eval.microF1),
      r.trainSeconds.toFixed(1),
      ...r.eval.perLabel.flatMap((l, k) => [
        fmt(l.auroc),
        fmt(l.aurocLower),
        fmt(l.aurocUpper),
        fmt(r.delongP[k]),
      ]),
    ].join(','),
  );
  writeAtomic(
    join(dir, 'results_summary.csv'),
    `${header.map((h) => (h.includes(' ') ? `"${h}"` : h)).join(',')}\n${lines.join('\n')}\n`,
  );
  writeAtomic(
    join(dir, 'ablation.json'),
    `${JSON.stringify(
      rows.map((r) => ({
        modalities: r.modalities,
        runDir: r.runDir,
        meanAuroc: r.eval.meanAuroc,
        meanAurocDiffVsFull: r.meanAurocDiff,
        meanAuprc: r.eval.meanAuprc,
        macroF1: r.eval.macroF1,
        microF1: r.eval.microF1,
        trainSeconds: r.trainSeconds,
        delongP: Object.fromEntries(
          FINDINGS.map((f, k) => [f, Number.isNaN(r.delongP[k]) ? null : r.delongP[k]]),
        ),
      })),
      null,
      2,
    )}\n`,
  );
  writeAblationArtifact(dir, rows, full);
  return { dir, rows };
}

/**
 * eval.json for the ablation directory (@meddl/report contract): the mean AUROC of each subset with
 * its bootstrap CI and paired-bootstrap difference to the full model, and a table of per-finding
 * DeLong p-values against the full model. `meddl report <ablation dir>` renders it.
 */
function writeAblationArtifact(dir: string, rows: AblationRow[], full: AblationRow): void {
  const name = (r: AblationRow) => r.modalities.join(' + ');
  writeEvalArtifact(dir, {
    model: 'mdf-net',
    split: full.eval.split,
    data: {
      name: 'chest X-ray studies',
      facts: { studies: full.eval.studies, subsets: rows.length },
    },
    headline: [
      headline(
        'full_mean_auroc',
        {
          value: fin(full.eval.meanAuroc.value) ?? null,
          lower: fin(full.eval.meanAuroc.lower),
          upper: fin(full.eval.meanAuroc.upper),
        },
        { label: `Mean AUROC, ${name(full)}` },
      ),
    ],
    sections: [
      {
        type: 'ablation',
        title: 'Modality ablation: mean AUROC over findings',
        description:
          'CIs: percentile bootstrap over studies; difference: paired bootstrap against the reference (its CI in the table below). Per-finding DeLong p-values are in the next table (a DeLong test of a mean over findings with different certain subsets is not defined, so no p-value here).',
        metric: 'mean AUROC',
        reference: name(full),
        test: 'DeLong (paired, two-sided), per finding',
        rows: rows.map((r) => ({
          name: name(r),
          value: fin(r.eval.meanAuroc.value) ?? null,
          lower: fin(r.eval.meanAuroc.lower),
          upper: fin(r.eval.meanAuroc.upper),
          difference: r === full ? 0 : (fin(r.meanAurocDiff.value) ?? null),
          pValue: null,
        })),
      },
      tableSection(
        ['modalities', 'mean AUROC', 'Δ vs full', 'Δ lower', 'Δ upper', 'mean AUPRC', 'macro F1', 'micro F1'],
        rows.map((r) => [
          name(r),
          fin(r.eval.meanAuroc.value) ?? null,
          fin(r.meanAurocDiff.value) ?? null,
          fin(r.meanAurocDiff.lower) ?? null,
          fin(r.meanAurocDiff.upper) ?? null,
          fin(r.eval.meanAuprc.value) ?? null,
          fin(r.eval.macroF1.value) ?? null,
          fin(r.eval.microF1.value) ?? null,
        ]),
        { title: 'Summary metrics per modality subset' },
      ),
      tableSection(
        ['finding', ...rows.filter((r) => r !== full).map((r) => `p (${name(r)})`)],
        FINDINGS.map((f, k) => [f, ...rows.filter((r) => r !== full).map((r) => fin(r.delongP[k]) ?? null)]),
        {
          title: `DeLong p-values per finding against ${name(full)}`,
          description:
            'Two-sided paired DeLong test of AUROC per finding; empty where a label has fewer than 2 positives or negatives.',
        },
      ),
      tableSection(
        ['finding', ...rows.map((r) => `AUROC (${name(r)})`)],
        FINDINGS.map((f, k) => [f, ...rows.map((r) => fin(r.eval.perLabel[k].auroc) ?? null)]),
        { title: 'AUROC per finding and modality subset' },
      ),
    ],
  });
}

export interface PredictInput {
  image?: string;
  report?: string;
  /** Triage values by column name (as in clinical.csv); missing ones are treated as missing. */
  clinical?: Record<string, string>;
}

/** What prediction needs besides weights; read from a run directory or an ONNX sidecar. */
interface PredictContext {
  modalities: Modality[];
  imageSize: number;
  maxTokens: number;
  normalization: Normalization;
  tokenizer: string;
  clinicalStats: ClinicalStats;
  encoders: MdfNetRunConfig['encoders'];
  encoderSha256: RunFiles['encoderSha256'];
}

/** One study as a batch of one: preprocessed image, tokens, clinical vector, encoder embeddings. */
async function studyBatch(ctx: PredictContext, input: PredictInput): Promise<MdfNetBatch> {
  for (const m of ctx.modalities) {
    if (m === 'image' && !input.image) throw new MdfNetArgumentError('image', 'this model needs an image');
    if (m === 'text' && input.report === undefined)
      throw new MdfNetArgumentError('report', 'this model needs a report');
  }
  const enc = ReportTokenizer.fromFile(ctx.tokenizer, ctx.maxTokens).encode(input.report ?? '');
  const c = encodeClinical(
    parseClinicalRow(
      Object.fromEntries([...VITALS, 'sex', 'acuity'].map((k) => [k, input.clinical?.[k] ?? ''])),
      '<clinical>',
      1,
    ),
    ctx.clinicalStats,
  );
  const image = input.image
    ? await preprocessImage(input.image, ctx.imageSize)
    : new Float32Array(ctx.imageSize ** 2);
  const study: PreparedStudy = {
    studyId: 'predict',
    image: input.image ? image : null,
    tokens: input.report !== undefined ? enc.ids : null,
    attention: input.report !== undefined ? enc.attentionMask : null,
    clinicalNumeric: c.numeric,
    sex: c.sex,
    acuity: c.acuity,
    hasClinical: true,
    labels: FINDINGS.map(() => null) as PreparedStudy['labels'],
  };
  await attachRunEmbeddings([study], ctx.encoders, ctx.maxTokens, ctx.encoderSha256);
  const batch = collateStudies([study], {
    imageSize: ctx.imageSize,
    maxTokens: ctx.maxTokens,
    policy: 'ignore',
    clinicalDim: CLINICAL_NUMERIC_DIM,
  });
  return batch;
}

function calibrated(logits: ArrayLike<number>, temperatures: number[]): Record<string, number> {
  return Object.fromEntries(
    FINDINGS.map((f, k) => [f, 1 / (1 + Math.exp(-logits[k] / (temperatures[k] ?? 1)))]),
  );
}

/**
 * Probabilities per finding for one study (sigmoid of the logits divided by the run's
 * temperature), from either
 *   - a run directory: its best checkpoint, run on the tensor backend, or
 *   - an exported `.onnx` file (`meddl export mdf-net`): run through OnnxSession, with the
 *     preprocessing read from its `<file>.json` sidecar.
 * Both paths share the preprocessing and give the same structure.
 */
export async function predict(source: string, input: PredictInput): Promise<Record<string, number>> {
  const path = resolve(source);
  if (path.endsWith('.onnx')) return predictOnnx(path, input);
  const { model, files } = await loadRun(path);
  try {
    const config = MdfNetRunConfigSchema.parse(files.config);
    const mc = files.modelConfig;
    const batch = await studyBatch(
      {
        modalities: mc.modalities,
        imageSize: mc.imageSize,
        maxTokens: mc.maxTokens,
        normalization: config.normalization,
        tokenizer: files.tokenizer,
        clinicalStats: files.clinicalStats,
        encoders: config.encoders,
        encoderSha256: files.encoderSha256,
      },
      input,
    );
    model.eval();
    const logits = tf.tidy(() => model.forward(batchInputs(batch, config.normalization)).dataSync());
    return calibrated(logits, readCalibration(path));
  } finally {
    model.dispose();
  }
}

interface MdfNetSidecar {
  model: string;
  sha256: string;
  calibration?: { temperatures: number[] };
  preprocessing: {
    modalities: Modality[];
    imageSize: number;
    imageNormalization: Normalization;
    maxTokens: number;
    tokenizer: string;
    clinicalStats: ClinicalStats;
    encoders?: MdfNetRunConfig['encoders'];
    encoderSha256?: RunFiles['encoderSha256'];
  };
}

async function predictOnnx(path: string, input: PredictInput): Promise<Record<string, number>> {
  const sidecarPath = `${path}.json`;
  if (!existsSync(sidecarPath))
    throw new MdfNetArgumentError('model', `${sidecarPath} (the export sidecar) does not exist`);
  let sidecar: MdfNetSidecar;
  try {
    sidecar = JSON.parse(readFileSync(sidecarPath, 'utf8')) as MdfNetSidecar;
  } catch (e) {
    throw new MdfNetDataError(sidecarPath, `not JSON: ${(e as Error).message}`);
  }
  if (sidecar.model !== 'mdf-net' || !sidecar.preprocessing)
    throw new MdfNetDataError(sidecarPath, `not an mdf-net export sidecar (model '${sidecar.model}')`);
  const p = sidecar.preprocessing;
  const temperatures = sidecar.calibration?.temperatures ?? FINDINGS.map(() => 1);
  const b = await studyBatch(
    {
      modalities: p.modalities,
      imageSize: p.imageSize,
      maxTokens: p.maxTokens,
      normalization: p.imageNormalization,
      tokenizer: p.tokenizer,
      clinicalStats: p.clinicalStats,
      encoders: p.encoders,
      encoderSha256: p.encoderSha256,
    },
    input,
  );
  const session = await OnnxSession.create(path);
  try {
    const S = p.imageSize;
    const L = p.maxTokens;
    const all: Record<string, TensorData> = {
      images: { data: normalizeImage(b.images, p.imageNormalization), dims: [1, S, S] },
      tokens: { data: b.tokens, dims: [1, L] },
      attention: { data: b.attention, dims: [1, L] },
      clinical: { data: b.clinical, dims: [1, CLINICAL_NUMERIC_DIM] },
      sex: { data: b.sex, dims: [1] },
      acuity: { data: b.acuity, dims: [1] },
      ...(b.imageEmbeddings
        ? { image_embeddings: { data: b.imageEmbeddings, dims: [1, b.imageEmbeddings.length] } }
        : {}),
      ...(b.textEmbeddings
        ? { text_embeddings: { data: b.textEmbeddings, dims: [1, b.textEmbeddings.length] } }
        : {}),
    };
    const feeds = Object.fromEntries(session.inputs.map((i) => [i.name, all[i.name]]).filter(([, v]) => v));
    const out = await session.run(feeds as Record<string, TensorData>, ['logits']);
    return calibrated(out.logits.data as Float32Array, temperatures);
  } finally {
    await session.release();
  }
}

/** Per-finding temperatures of a run (calibration.json), or all 1 when it has none. */
export function readCalibration(runDir: string): number[] {
  const file = join(runDir, CALIBRATION_FILE);
  if (!existsSync(file)) return FINDINGS.map(() => 1);
  const t = (JSON.parse(readFileSync(file, 'utf8')) as { temperatures?: unknown }).temperatures;
  if (!Array.isArray(t) || t.length !== FINDINGS.length || !t.every((v) => typeof v === 'number' && v > 0))
    throw new MdfNetDataError(file, `expected temperatures: ${FINDINGS.length} positive numbers`);
  return t as number[];
}

export const CALIBRATION_FILE = 'calibration.json';

/** The full result of `meddl eval mdf-net` (eval.json holds the @meddl/report contract). */
export const EVAL_FILE = 'mdf-net-eval.json';

const fin = (v: number): number | undefined => (Number.isFinite(v) ? v : undefined);

/**
 * ROC and PR curves per finding, each over the studies whose label for that finding is certain
 * (positive or negative; uncertain and missing cells are left out, as in the AUROC above).
 */
export function perFindingCurves(r: Pick<EvalResult, 'probs' | 'target' | 'certain' | 'studies'>): Section[] {
  const perClass: ClassificationSection['perClass'] = [];
  FINDINGS.forEach((finding, k) => {
    const { y, s } = column(r.probs, r.target, r.certain, k);
    if (y.length === 0) return;
    const one = multilabelClassificationSection(
      y.map((v) => [v]),
      s.map((v) => [v]),
      [finding],
    );
    perClass.push(one.perClass[0]);
  });
  if (perClass.length === 0) return [];
  const mean = (vals: Array<number | null>) => {
    const ok = vals.filter((v): v is number => v !== null);
    return ok.length ? { value: ok.reduce((a, b) => a + b, 0) / ok.length } : { value: null };
  };
  return [
    {
      type: 'classification',
      task: 'multilabel',
      title: 'ROC and precision–recall curves per finding',
      description:
        'Each finding over the studies with a certain label for it (uncertain and missing labels left out); probabilities after temperature scaling (calibration.json).',
      classNames: perClass.length >= 2 ? perClass.map((c) => c.className) : [perClass[0].className, '(none)'],
      n: r.studies,
      macroAuroc: mean(perClass.map((c) => c.auroc.value)),
      macroAveragePrecision: mean(perClass.map((c) => c.averagePrecision.value)),
      perClass,
    },
  ];
}

/** Reliability of the pooled certain label cells before and after the run's temperatures. */
function calibrationSections(
  r: EvalResult,
  c: { rawProbs: Float32Array; temperatures: number[] },
): Section[] {
  const y: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < r.certain.length; i++)
    if (r.certain[i]) {
      y.push(r.target[i]);
      before.push(c.rawProbs[i]);
      after.push(r.probs[i]);
    }
  if (!y.includes(0) || !y.includes(1)) return [];
  const calibrated = c.temperatures.some((t) => t !== 1);
  return [
    binaryCalibrationSection(y, before, {
      title: 'Calibration over all findings (certain labels pooled)',
      description: c.temperatures.every((t) => t === c.temperatures[0])
        ? `One temperature fitted on the validation split: ${c.temperatures[0].toFixed(3)}.`
        : `Per-finding temperatures fitted on the validation split: ${FINDINGS.map((f, k) => `${f} ${c.temperatures[k].toFixed(2)}`).join(', ')}.`,
      bins: 10,
      ...(calibrated
        ? { probsAfter: after, method: 'per-finding temperature scaling', fittedOn: 'val' }
        : {}),
    }),
  ];
}

/** eval.json in the @meddl/report contract, so `meddl report` / `meddl runs` read mdf-net runs. */
function writeReportArtifact(
  r: EvalResult,
  resamples: number,
  calibration: { rawProbs: Float32Array; temperatures: number[] },
): void {
  const interval = (e: Interval) => ({
    value: fin(e.value) ?? null,
    lower: fin(e.lower),
    upper: fin(e.upper),
  });
  writeEvalArtifact(r.runDir, {
    model: 'mdf-net',
    split: r.split,
    data: {
      name: 'chest X-ray studies',
      facts: { studies: r.studies, modalities: r.modalities.join(' + ') },
    },
    headline: [
      headline('mean_auroc', interval(r.meanAuroc), { label: 'Mean AUROC' }),
      headline('worst_auroc', r.minAuroc, { label: 'Worst-finding AUROC' }),
      headline('mean_auprc', interval(r.meanAuprc), { label: 'Mean AUPRC' }),
      headline('macro_f1', interval(r.macroF1), { label: 'Macro F1 (threshold 0.5)' }),
    ],
    sections: [
      forestSection(
        'AUROC',
        r.perLabel.map((l) =>
          Number.isFinite(l.auroc)
            ? {
                label: l.finding,
                value: l.auroc,
                lower: fin(l.aurocLower),
                upper: fin(l.aurocUpper),
                method: 'delong',
                n: l.positives + l.negatives,
                detail: `${l.positives} positive`,
              }
            : {
                label: l.finding,
                value: null,
                reason: `fewer than 2 positives or negatives (${l.positives}/${l.negatives})`,
                n: l.positives + l.negatives,
              },
        ),
        { title: 'AUROC per finding (DeLong 95 % CI)', reference: fin(r.meanAuroc.value) },
      ),
      ...perFindingCurves(r),
      ...calibrationSections(r, calibration),
      tableSection(
        ['finding', 'positives', 'negatives', 'AUROC', 'lower', 'upper', 'AUPRC'],
        r.perLabel.map((l) => [
          l.finding,
          l.positives,
          l.negatives,
          fin(l.auroc) ?? null,
          fin(l.aurocLower) ?? null,
          fin(l.aurocUpper) ?? null,
          fin(l.auprc) ?? null,
        ]),
        { title: 'Per finding', description: `bootstrap resamples for the summary CIs: ${resamples}` },
      ),
    ],
  });
}
