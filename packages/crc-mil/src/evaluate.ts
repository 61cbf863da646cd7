// `meddl eval crc-mil`: patient-grouped, stratified k-fold cross-validation with disjoint test
// folds (every patient is tested exactly once), per-fold and pooled metrics with bootstrap CIs,
// subgroup metrics, survival analysis of a model risk score, and attention heatmaps.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeSafetensors } from '@meddl/checkpoint';
import { foldIndices, stratifiedGroupKFold } from '@meddl/data';
import {
  auroc,
  bootstrapCI,
  concordanceIndex,
  dirichletUncertainty,
  kaplanMeier,
  logLoss,
  logRankTest,
  medianSurvivalTime,
  pearson,
  predictiveEntropy,
  type ReliabilityDiagram,
  reliabilityDiagram,
  softmax,
  takeIndices,
} from '@meddl/metrics';
import {
  type CalibrationSection,
  classificationSection,
  confusionSection,
  type Section as EvalSection,
  forestSection,
  gallerySection,
  headline,
  type SurvivalSection,
  survivalSection,
  tableSection,
  writeEvalArtifact,
} from '@meddl/report';
import { Generator } from '@meddl/tensor';
import { loadCohort, type PatientBag } from './bags';
import {
  type CrcMilRunConfig,
  type CrcMilRunConfigInput,
  CrcMilRunConfigSchema,
  preprocessConfigOf,
} from './config';
import { CrcMilArgumentError, CrcMilDataError } from './errors';
import { writeAttentionHeatmap } from './heatmap';
import { type PreprocessResult, preprocess, type SlideQcRecord } from './preprocess';
import { type ClassificationReport, classificationReport } from './report';
import { synthesize, writeAtomic } from './synth/generator';
import {
  auxValue,
  inferBag,
  innerSplit,
  predictAux,
  predictiveLogits,
  scaleIndexOf,
  scaleList,
  type TrainedModel,
  trainModel,
} from './train';

export function parseRunConfig(input: CrcMilRunConfigInput): CrcMilRunConfig {
  const parsed = CrcMilRunConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new CrcMilArgumentError(
      'config',
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  }
  return parsed.data;
}

/** Synthesizes (when configured and missing) and preprocesses the run's data; resumable. */
export async function prepareData(cfg: CrcMilRunConfig, log: (l: string) => void): Promise<PreprocessResult> {
  const clinical = resolve(cfg.data.clinical);
  if (!existsSync(clinical)) {
    if (!cfg.data.synth)
      throw new CrcMilDataError(
        clinical,
        'clinical CSV not found (and no data.synth section to generate it)',
      );
    log(`synthesizing data into ${dirname(clinical)}`);
    await synthesize(dirname(clinical), { seed: cfg.seed, ...cfg.data.synth }, cfg.classes);
  }
  return preprocess(clinical, cfg.data.preprocessDir, preprocessConfigOf(cfg), log);
}

interface PatientPrediction {
  patientId: string;
  fold: number;
  label: number;
  probsRaw: number[];
  probsCal: number[];
  uncertainty: number;
  /** Auxiliary head outputs (config order): regression in the column's units, binary as a probability. */
  aux: number[];
}

/** One auxiliary task's pooled out-of-fold metric (Pearson r or AUROC) with its bootstrap CI. */
export interface AuxiliaryReport {
  name: string;
  column: string;
  kind: 'regression' | 'binary';
  metric: 'pearson_r' | 'auroc';
  /** Patients with a value in the column (the others are not scored). */
  n: number;
  estimate: number | null;
  lower: number | null;
  upper: number | null;
  /** Per fold, the same metric on that fold's test patients (null where undefined). */
  perFold: (number | null)[];
}

export interface EvaluateResult {
  runDir: string;
  pooled: ClassificationReport;
  perFold: (ClassificationReport & {
    fold: number;
    temperature: number;
    temperatureFit: TrainedModel['temperatureFit'];
    testPatients: number;
  })[];
  auxiliary: AuxiliaryReport[];
  seconds: number;
}

function probsFrom(logits: Float64Array, k: number, t: number): Float64Array {
  return softmax({ data: logits, cols: k }, t);
}

/** Uncertainty per row: Dirichlet vacuity K/S for the evidential head, predictive entropy otherwise. */
function uncertaintyOf(
  head: 'softmax' | 'evidential',
  logits: Float64Array,
  probs: Float64Array,
  k: number,
): Float64Array {
  if (head === 'evidential') return dirichletUncertainty({ data: logits.map(Math.exp), cols: k }).uncertainty;
  return predictiveEntropy({ data: probs, cols: k });
}

function csv(rows: (string | number | null)[][]): string {
  return `${rows.map((r) => r.map((v) => (v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(',')).join('\n')}\n`;
}

/** Runs the whole validation and writes eval.json + CSVs + heatmaps into the run directory. */
export async function evaluate(
  input: CrcMilRunConfigInput,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<EvaluateResult> {
  const t0 = performance.now();
  const cfg = parseRunConfig(input);
  const k = cfg.classes.length;
  const runDir = resolve(cfg.runsDir, cfg.name);
  claimRunDir(runDir, cfg);
  const pre = await prepareData(cfg, log);
  const cohort = await loadCohort(cfg.data.clinical, cfg.data.preprocessDir, cfg.classes);
  const patients = cohort.patients;
  if (cfg.model.multiScale)
    for (const p of patients) p.scaleIndex = scaleIndexOf(p.magnifications, scaleList(cfg));
  // Auxiliary columns are checked up front (a bad cell fails before any fold trains).
  for (const t of cfg.model.auxiliary) for (const p of patients) auxValue(p, t, cfg.data.clinical);
  if (patients.length < cfg.cv.folds)
    throw new CrcMilDataError(
      cfg.data.clinical,
      `${patients.length} usable patients, fewer than ${cfg.cv.folds} folds`,
    );
  const strataValue = (p: PatientBag, col: string) =>
    col === 'subtype' ? p.subtype : String(p.clinical[col] ?? '');
  const folds = stratifiedGroupKFold(patients, {
    k: cfg.cv.folds,
    group: (p) => p.patientId,
    stratify: cfg.cv.stratify.map((c) => (p: PatientBag) => strataValue(p, c)),
    generator: new Generator(cfg.seed),
  });
  const splits = foldIndices(folds, cfg.cv.folds);
  assertDisjointFolds(patients, splits);
  const manifestSlides = JSON.parse(
    readFileSync(join(resolve(cfg.data.preprocessDir), 'manifest.json'), 'utf8'),
  ).slides as Record<string, SlideQcRecord>;
  const predictions: PatientPrediction[] = [];
  const perFold: EvaluateResult['perFold'] = [];
  const foldModels: { fold: number; checkpoint: string | null; temperature: number; runDir: string }[] = [];
  const reportOptions = (seed: number) => ({
    resamples: cfg.eval.bootstrap,
    confidence: cfg.eval.confidence,
    seed,
    eceBins: cfg.eval.eceBins,
  });
  for (const [f, split] of splits.entries()) {
    const trainAll = split.train.map((i) => patients[i] as PatientBag);
    const test = split.test.map((i) => patients[i] as PatientBag);
    const { train, val } = innerSplit(trainAll, cfg.training.valFraction, cfg.seed + f);
    log(
      `fold ${f + 1}/${cfg.cv.folds}: ${train.length} train, ${val.length} val, ${test.length} test patients`,
    );
    const trained = await trainModel(cfg, train, val, join(runDir, 'folds'), `fold-${f}`, cfg.seed + 100 * f);
    writeSafetensors(join(trained.runDir, 'model.safetensors'), trained.model.stateDict(), { format: 'pt' });
    const logits = predictiveLogits(trained.model, test);
    const raw = probsFrom(logits, k, 1);
    const cal = probsFrom(logits, k, trained.temperature);
    const unc = uncertaintyOf(cfg.model.head, logits, cal, k);
    const nAux = cfg.model.auxiliary.length;
    const auxPred = predictAux(trained.model, test, cfg.model.auxiliary, trained.auxStats);
    test.forEach((p, i) => {
      predictions.push({
        patientId: p.patientId,
        fold: f,
        label: p.label,
        probsRaw: Array.from(raw.subarray(i * k, i * k + k)),
        probsCal: Array.from(cal.subarray(i * k, i * k + k)),
        uncertainty: unc[i] as number,
        aux: Array.from(auxPred.subarray(i * nAux, i * nAux + nAux)),
      });
    });
    const rep = classificationReport(
      test.map((p) => p.label),
      raw,
      cal,
      k,
      reportOptions(cfg.seed + f),
    );
    perFold.push({
      fold: f,
      temperature: trained.temperature,
      temperatureFit: trained.temperatureFit,
      testPatients: test.length,
      ...rep,
    });
    foldModels.push({
      fold: f,
      checkpoint: trained.bestCheckpoint,
      temperature: trained.temperature,
      runDir: trained.runDir,
    });
    log(
      `fold ${f + 1}: accuracy ${rep.accuracy.estimate?.toFixed(3)}, macro AUROC ${rep.macroAuroc.estimate?.toFixed(3) ?? 'n/a'}, T = ${trained.temperature.toFixed(3)}`,
    );
    // Attention heatmaps for some test slides.
    const nHeat = cfg.eval.heatmaps < 0 ? Number.POSITIVE_INFINITY : cfg.eval.heatmaps;
    let drawn = 0;
    for (const p of test) {
      for (const s of p.slides) {
        if (drawn >= nHeat) break;
        const rec = manifestSlides[s.slideId];
        if (!rec) continue;
        const scales = p.scaleIndex?.subarray(s.start, s.end);
        const { attention } = inferBag(
          trained.model,
          p.features.subarray(s.start * p.dim, s.end * p.dim),
          s.end - s.start,
          p.dim,
          scales,
        );
        // Multi-scale bags: paint the primary magnification's patches (one patch size per map).
        const rows = Array.from({ length: s.end - s.start }, (_, i) => i).filter(
          (i) => !scales || scales[i] === 0,
        );
        await writeAttentionHeatmap(
          rec.file,
          s.slideId,
          Int32Array.from(rows.flatMap((i) => [s.coords[2 * i] as number, s.coords[2 * i + 1] as number])),
          s.patchSizeLevel0,
          Float32Array.from(rows, (i) => attention[i] as number),
          join(runDir, 'heatmaps'),
          { topK: cfg.eval.topK, maxSize: 512 },
        );
        drawn++;
      }
    }
    trained.model.dispose();
  }
  // Pooled out-of-fold predictions, in patient order.
  predictions.sort((a, b) => (a.patientId < b.patientId ? -1 : 1));
  const labels = predictions.map((p) => p.label);
  const raw = Float64Array.from(predictions.flatMap((p) => p.probsRaw));
  const cal = Float64Array.from(predictions.flatMap((p) => p.probsCal));
  const pooled = classificationReport(labels, raw, cal, k, reportOptions(cfg.seed));
  const byId = new Map(patients.map((p) => [p.patientId, p]));
  // Subgroups.
  const subgroups: { column: string; value: string; report: ClassificationReport }[] = [];
  for (const col of cfg.eval.subgroups) {
    const values = [
      ...new Set(predictions.map((p) => String((byId.get(p.patientId) as PatientBag).clinical[col] ?? ''))),
    ].sort();
    if (values.length === 1 && values[0] === '') continue;
    for (const v of values) {
      const idx = predictions.flatMap((p, i) =>
        String((byId.get(p.patientId) as PatientBag).clinical[col] ?? '') === v ? [i] : [],
      );
      if (idx.length < 2) continue;
      const pick = (m: Float64Array) =>
        Float64Array.from(idx.flatMap((i) => Array.from(m.subarray(i * k, i * k + k))));
      subgroups.push({
        column: col,
        value: v,
        report: classificationReport(
          idx.map((i) => labels[i] as number),
          pick(raw),
          pick(cal),
          k,
          reportOptions(cfg.seed),
        ),
      });
    }
  }
  const survival = survivalAnalysis(cfg, predictions, byId, k);
  const auxiliary = auxiliaryAnalysis(cfg, predictions, byId);
  for (const a of auxiliary)
    log(
      `auxiliary ${a.name} (${a.column}): ${a.metric} ${a.estimate?.toFixed(3) ?? 'n/a'} [${a.lower?.toFixed(3) ?? '–'}, ${a.upper?.toFixed(3) ?? '–'}], n = ${a.n}`,
    );
  const evalJson = {
    config: cfg,
    classes: cfg.classes,
    patients: patients.length,
    slides: patients.reduce((a, p) => a + p.slides.length, 0),
    excludedSlides: cohort.excludedSlides,
    excludedPatients: cohort.excludedPatients,
    qc: pre.totals,
    folds: cfg.cv.folds,
    foldAssignment: Object.fromEntries(patients.map((p, i) => [p.patientId, folds[i]])),
    patientAggregation: 'concatenated bag of all usable slides of the patient (CLAM case-level)',
    pooled,
    perFold,
    subgroups,
    survival: survival?.summary ?? null,
    auxiliary,
    foldModels,
    seconds: (performance.now() - t0) / 1000,
  };
  writeAtomic(join(runDir, EVAL_FILE), `${JSON.stringify(evalJson, null, 1)}\n`);
  writeReportArtifact(runDir, cfg.classes, labels, cal, k, pooled, subgroups, {
    patients: patients.length,
    slides: evalJson.slides,
    folds: cfg.cv.folds,
    seconds: evalJson.seconds,
    calibration: calibrationReportSection(labels, raw, cal, k, cfg.eval.eceBins, foldModels),
    survival: survival ? survivalReportSection(cfg, survival) : null,
    auxiliary: auxiliary.length > 0 ? auxiliaryReportSection(cfg, auxiliary) : null,
  });
  writePredictionsCsv(runDir, cfg, predictions);
  const est = (e: { estimate: number | null; lower: number | null; upper: number | null }) => [
    e.estimate,
    e.lower,
    e.upper,
  ];
  writeAtomic(
    join(runDir, 'folds.csv'),
    csv([
      [
        'fold',
        'test_patients',
        'temperature',
        'accuracy',
        'accuracy_lo',
        'accuracy_hi',
        'macro_auroc',
        'macro_auroc_lo',
        'macro_auroc_hi',
        'macro_f1',
        'ece_before',
        'ece_after',
      ],
      ...perFold.map((r) => [
        r.fold,
        r.testPatients,
        r.temperature,
        ...est(r.accuracy),
        ...est(r.macroAuroc),
        r.macroF1.estimate,
        r.eceBefore.estimate,
        r.eceAfter.estimate,
      ]),
      [
        'pooled',
        pooled.n,
        null,
        ...est(pooled.accuracy),
        ...est(pooled.macroAuroc),
        pooled.macroF1.estimate,
        pooled.eceBefore.estimate,
        pooled.eceAfter.estimate,
      ],
    ]),
  );
  writeAtomic(
    join(runDir, 'subgroups.csv'),
    csv([
      [
        'column',
        'value',
        'n',
        'accuracy',
        'accuracy_lo',
        'accuracy_hi',
        'macro_auroc',
        'macro_auroc_lo',
        'macro_auroc_hi',
        'macro_f1',
        'ece_after',
      ],
      ...subgroups.map((s) => [
        s.column,
        s.value,
        s.report.n,
        ...est(s.report.accuracy),
        ...est(s.report.macroAuroc),
        s.report.macroF1.estimate,
        s.report.eceAfter.estimate,
      ]),
    ]),
  );
  if (survival) writeAtomic(join(runDir, 'km.csv'), csv(survival.kmRows));
  return { runDir, pooled, perFold, auxiliary, seconds: evalJson.seconds };
}

/**
 * A run directory resumes only the run that made it: the config's hash is recorded in run.config.json,
 * and a different config there is refused (the fold trainers would otherwise resume stale checkpoints).
 */
export function claimRunDir(runDir: string, cfg: CrcMilRunConfig): void {
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, 'run.config.json');
  const hash = createHash('sha256').update(JSON.stringify(cfg)).digest('hex');
  if (existsSync(path)) {
    const prev = JSON.parse(readFileSync(path, 'utf8')) as { hash?: string };
    if (prev.hash !== hash)
      throw new CrcMilArgumentError(
        'name',
        `${runDir} holds a run with a different config; choose a new --name (or remove it) for a fresh run`,
      );
    return;
  }
  writeAtomic(path, `${JSON.stringify({ hash, config: cfg }, null, 1)}\n`);
}

/** Every patient in exactly one test fold; no patient both in a fold's training and test sets. */
export function assertDisjointFolds(
  patients: readonly PatientBag[],
  splits: { train: number[]; test: number[] }[],
): void {
  const seen = new Map<string, number>();
  splits.forEach((s, f) => {
    const trainIds = new Set(s.train.map((i) => (patients[i] as PatientBag).patientId));
    for (const i of s.test) {
      const id = (patients[i] as PatientBag).patientId;
      if (trainIds.has(id))
        throw new CrcMilDataError('cv', `patient ${id} is in fold ${f}'s training and test sets`);
      if (seen.has(id))
        throw new CrcMilDataError('cv', `patient ${id} is in test folds ${seen.get(id)} and ${f}`);
      seen.set(id, f);
    }
  });
  if (seen.size !== new Set(patients.map((p) => p.patientId)).size)
    throw new CrcMilDataError('cv', 'some patients are in no test fold');
}

function writePredictionsCsv(runDir: string, cfg: CrcMilRunConfig, predictions: PatientPrediction[]): void {
  const head = [
    'patient_id',
    'fold',
    'subtype',
    'predicted',
    ...cfg.classes.map((c) => `p_${c}`),
    ...cfg.classes.map((c) => `p_raw_${c}`),
    'uncertainty',
    ...cfg.model.auxiliary.map((t) => `aux_${t.name}`),
  ];
  const rows = predictions.map((p) => {
    const pred = p.probsCal.indexOf(Math.max(...p.probsCal));
    return [
      p.patientId,
      p.fold,
      cfg.classes[p.label] as string,
      cfg.classes[pred] as string,
      ...p.probsCal,
      ...p.probsRaw,
      p.uncertainty,
      ...p.aux,
    ];
  });
  writeAtomic(join(runDir, 'predictions.csv'), csv([head, ...rows]));
}

/**
 * Per auxiliary task, over the pooled out-of-fold predictions of the patients with a value: Pearson r
 * (regression) or AUROC (binary), with a percentile bootstrap CI over patients (@meddl/metrics).
 */
function auxiliaryAnalysis(
  cfg: CrcMilRunConfig,
  predictions: PatientPrediction[],
  byId: Map<string, PatientBag>,
): AuxiliaryReport[] {
  return cfg.model.auxiliary.map((t, j) => {
    const usable = predictions.flatMap((p) => {
      const y = auxValue(byId.get(p.patientId) as PatientBag, t, cfg.data.clinical);
      return Number.isFinite(y) ? [{ y, s: p.aux[j] as number, fold: p.fold }] : [];
    });
    const y = usable.map((u) => u.y);
    const s = usable.map((u) => u.s);
    const metricOf = (yy: ArrayLike<number>, ss: ArrayLike<number>) => {
      if (yy.length < 2) return Number.NaN;
      const r = t.kind === 'regression' ? pearson(yy, ss) : auroc(yy, ss);
      return r.defined ? r.value : Number.NaN;
    };
    const est = metricOf(y, s);
    const ci =
      cfg.eval.bootstrap > 0 && usable.length >= 3
        ? bootstrapCI((idx) => metricOf(takeIndices(y, idx), takeIndices(s, idx)), usable.length, {
            seed: cfg.seed,
            resamples: cfg.eval.bootstrap,
            confidence: cfg.eval.confidence,
          })
        : null;
    const fin = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);
    const folds = [...new Set(predictions.map((p) => p.fold))].sort((a, b) => a - b);
    return {
      name: t.name,
      column: t.column,
      kind: t.kind,
      metric: t.kind === 'regression' ? 'pearson_r' : 'auroc',
      n: usable.length,
      estimate: fin(est),
      lower: fin(ci?.lower),
      upper: fin(ci?.upper),
      perFold: folds.map((f) => {
        const idx = usable.flatMap((u, i) => (u.fold === f ? [i] : []));
        return fin(
          metricOf(
            idx.map((i) => y[i] as number),
            idx.map((i) => s[i] as number),
          ),
        );
      }),
    };
  });
}

function auxiliaryReportSection(cfg: CrcMilRunConfig, aux: AuxiliaryReport[]): EvalSection {
  const pct = Math.round(cfg.eval.confidence * 100);
  return tableSection(
    ['task', 'column', 'kind', 'metric', 'n', 'estimate', `${pct}% CI lower`, `${pct}% CI upper`],
    aux.map((a) => [a.name, a.column, a.kind, a.metric, a.n, a.estimate, a.lower, a.upper]),
    {
      title: 'Auxiliary tasks: out-of-fold',
      description: `Pooled over the ${cfg.cv.folds} test folds, patients with a value only; percentile bootstrap over patients (${cfg.eval.bootstrap} resamples).`,
    },
  );
}

function survivalAnalysis(
  cfg: CrcMilRunConfig,
  predictions: PatientPrediction[],
  byId: Map<string, PatientBag>,
  k: number,
) {
  const s = cfg.eval.survival;
  if (!s) return null;
  const riskIdx = cfg.classes.indexOf(s.riskClass);
  if (riskIdx < 0)
    throw new CrcMilArgumentError(
      'eval.survival.riskClass',
      `'${s.riskClass}' is not one of ${cfg.classes.join(', ')}`,
    );
  const usable = predictions.filter((p) => {
    const c = (byId.get(p.patientId) as PatientBag).clinical;
    return (
      Number.isFinite(Number(c[s.time])) &&
      (c[s.event] === '0' || c[s.event] === '1' || c[s.event] === 0 || c[s.event] === 1)
    );
  });
  if (usable.length < 3) return null;
  const time = usable.map((p) => Number((byId.get(p.patientId) as PatientBag).clinical[s.time]));
  const event = usable.map((p) => Number((byId.get(p.patientId) as PatientBag).clinical[s.event]));
  const risk = usable.map((p) => p.probsCal[riskIdx] as number);
  const group = usable.map((p) => p.probsCal.indexOf(Math.max(...p.probsCal)));
  const c = concordanceIndex(time, risk, event);
  const ci =
    cfg.eval.bootstrap > 0
      ? bootstrapCI(
          (idx) =>
            concordanceIndex(takeIndices(time, idx), takeIndices(risk, idx), takeIndices(event, idx)).value,
          usable.length,
          {
            seed: cfg.seed,
            resamples: cfg.eval.bootstrap,
            confidence: cfg.eval.confidence,
          },
        )
      : null;
  const groups = [...new Set(group)].sort((a, b) => a - b);
  const kmRows: (string | number | null)[][] = [
    ['predicted_subtype', 'time', 'at_risk', 'events', 'survival', 'lower', 'upper'],
  ];
  const perGroup = groups.map((g) => {
    const idx = group.flatMap((v, i) => (v === g ? [i] : []));
    const km = kaplanMeier(
      idx.map((i) => time[i] as number),
      idx.map((i) => event[i] as number),
    );
    km.time.forEach((t, j) => {
      kmRows.push([
        cfg.classes[g] as string,
        t,
        km.atRisk[j] as number,
        km.events[j] as number,
        km.survival[j] as number,
        km.lower[j] as number,
        km.upper[j] as number,
      ]);
    });
    const med = medianSurvivalTime(km);
    return {
      predicted: cfg.classes[g],
      n: idx.length,
      events: idx.reduce((a, i) => a + (event[i] as number), 0),
      medianSurvival: med.defined ? med.value : null,
    };
  });
  const lr = groups.length >= 2 ? logRankTest(time, event, group) : null;
  return {
    inputs: { time, event, risk, group: group.map((g) => cfg.classes[g] as string) },
    summary: {
      riskScore: `calibrated P(${s.riskClass})`,
      n: usable.length,
      cIndex: {
        estimate: c.defined ? c.value : null,
        lower: ci ? ci.lower : null,
        upper: ci ? ci.upper : null,
        comparable: c.comparable,
      },
      kaplanMeier: perGroup,
      logRank: lr ? { statistic: lr.statistic, df: lr.degreesOfFreedom, pValue: lr.pValue } : null,
      classes: k,
    },
    kmRows,
  };
}

function reliabilityBins(d: ReliabilityDiagram): CalibrationSection['before'] {
  const fin = (v: number) => (Number.isFinite(v) ? v : null);
  return {
    binEdges: Array.from(d.binEdges),
    counts: Array.from(d.counts),
    meanConfidence: Array.from(d.meanConfidence, fin),
    observed: Array.from(d.observed, fin),
    ece: d.ece,
    mce: d.mce,
  };
}

/**
 * Top-label reliability of the pooled out-of-fold predictions before and after temperature scaling. Each
 * fold has its own T (fitted on that fold's validation patients), so the section lists them instead of one.
 */
function calibrationReportSection(
  labels: number[],
  raw: Float64Array,
  cal: Float64Array,
  k: number,
  bins: number,
  folds: { fold: number; temperature: number }[],
): CalibrationSection {
  const before = reliabilityDiagram(labels, { data: raw, cols: k }, { bins });
  const after = reliabilityDiagram(labels, { data: cal, cols: k }, { bins });
  return {
    type: 'calibration',
    title: 'Calibration: out-of-fold, before and after temperature scaling',
    description: `One temperature per fold: ${folds.map((f) => `fold ${f.fold + 1} T = ${f.temperature.toPrecision(3)}`).join(', ')}.`,
    mode: 'top-label',
    method: 'temperature scaling (Guo et al. 2017), one T per fold',
    fittedOn: "each fold's validation patients (held out from its training set)",
    before: reliabilityBins(before),
    after: reliabilityBins(after),
    nllBefore: logLoss(labels, { data: raw, cols: k }),
    nllAfter: logLoss(labels, { data: cal, cols: k }),
  };
}

/** Kaplan–Meier per predicted subtype with the log-rank test and the C-index (with its bootstrap CI). */
function survivalReportSection(
  cfg: CrcMilRunConfig,
  survival: NonNullable<ReturnType<typeof survivalAnalysis>>,
): SurvivalSection {
  const { time, event, risk, group } = survival.inputs;
  const present = new Set(group);
  const section = survivalSection(time, event, group, {
    title: 'Survival by predicted subtype (Kaplan–Meier, log-rank)',
    description: `Risk score for the C-index: ${survival.summary.riskScore}; ${survival.summary.n} patients.`,
    timeUnit: cfg.eval.survival?.time,
    order: cfg.classes.filter((c) => present.has(c)),
    risk,
  });
  const c = survival.summary.cIndex;
  section.cIndex =
    c.estimate === null
      ? { value: null, reason: 'no comparable pairs' }
      : {
          value: c.estimate,
          ...(c.lower !== null && c.upper !== null
            ? {
                lower: c.lower,
                upper: c.upper,
                confidence: cfg.eval.confidence,
                method: `bootstrap (${cfg.eval.bootstrap})`,
              }
            : {}),
        };
  return section;
}

/** The full result of `meddl eval crc-mil` (eval.json holds the @meddl/report contract). */
export const EVAL_FILE = 'crc-mil-eval.json';

function toReportEstimate(e: { estimate: number | null; lower: number | null; upper: number | null }) {
  return e.estimate === null
    ? { value: null, reason: 'undefined for this subset' }
    : { value: e.estimate, lower: e.lower ?? undefined, upper: e.upper ?? undefined };
}

/** eval.json in the @meddl/report contract, so `meddl report` / `meddl runs` read crc-mil runs. */
function writeReportArtifact(
  runDir: string,
  classes: string[],
  labels: number[],
  calibrated: Float64Array,
  k: number,
  pooled: ClassificationReport,
  subgroups: { column: string; value: string; report: ClassificationReport }[],
  facts: {
    patients: number;
    slides: number;
    folds: number;
    seconds: number;
    calibration: CalibrationSection;
    survival: SurvivalSection | null;
    auxiliary: EvalSection | null;
  },
): void {
  const heatmapDir = join(runDir, 'heatmaps');
  const heatmaps = existsSync(heatmapDir)
    ? readdirSync(heatmapDir)
        .filter((f) => f.endsWith('_attention.png'))
        .sort()
        .map((f) => ({ path: `heatmaps/${f}`, caption: f.replace('_attention.png', '') }))
    : [];
  const sections: EvalSection[] = [
    classificationSection(labels, { data: calibrated, cols: k }, classes, {}),
    confusionSection(labels, { data: calibrated, cols: k }, classes),
    facts.calibration,
  ];
  if (facts.survival) sections.push(facts.survival);
  if (facts.auxiliary) sections.push(facts.auxiliary);
  if (subgroups.length > 0)
    sections.push(
      forestSection(
        'macro AUROC',
        subgroups.map((g) => ({
          label: `${g.column} = ${g.value}`,
          n: g.report.n,
          ...toReportEstimate(g.report.macroAuroc),
        })),
        { title: 'Subgroups: out-of-fold macro AUROC', reference: pooled.macroAuroc.estimate ?? undefined },
      ),
    );
  if (heatmaps.length > 0) sections.push(gallerySection(heatmaps, { title: 'Attention heatmaps' }));
  writeEvalArtifact(runDir, {
    model: 'crc-mil',
    split: `out-of-fold (${facts.folds}-fold patient-grouped CV)`,
    data: {
      name: 'whole-slide images',
      facts: { patients: facts.patients, slides: facts.slides, folds: facts.folds },
    },
    headline: [
      headline('macro_auroc', toReportEstimate(pooled.macroAuroc), { label: 'Macro AUROC' }),
      headline('accuracy', toReportEstimate(pooled.accuracy), { label: 'Accuracy', format: 'percent' }),
      headline('macro_f1', toReportEstimate(pooled.macroF1), { label: 'Macro F1' }),
    ],
    sections,
    wallSeconds: facts.seconds,
  });
}
