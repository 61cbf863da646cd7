// Builders that compute eval.json sections from raw predictions with @meddl/metrics, so every
// domain reports the same numbers the same way.
import {
  accuracy,
  applyPlatt,
  argmaxRows,
  auroc,
  averagePrecision,
  balancedAccuracy,
  concordanceIndex,
  confusionMatrix,
  delongAuroc,
  delongTest,
  fitPlatt,
  fitTemperature,
  kaplanMeier,
  logLoss,
  logRankTest,
  type MatrixInput,
  type MetricResult,
  medianSurvivalTime,
  ovrAuroc,
  precisionRecallCurve,
  type ReliabilityDiagram,
  regressionPerColumn,
  reliabilityDiagram,
  rocCurve,
  softmax,
  type Vector,
} from '@meddl/metrics';
import { ReportArgumentError } from './errors';
import type {
  AblationSection,
  CalibrationSection,
  ClassificationSection,
  ConfusionSection,
  EmbeddingSection,
  Estimate,
  ForestSection,
  GallerySection,
  HeadlineMetric,
  ScatterSection,
  SurvivalSection,
  TableSection,
} from './schema';

/** A plain [n][K] array, or a flat row-major `{ data, cols }` (e.g. `tensor.dataSync()`). */
export type Matrix = MatrixInput;

function rows(name: string, m: Matrix): { data: Float64Array; n: number; cols: number } {
  if (Array.isArray(m)) {
    const n = m.length;
    const cols = n ? (m[0] as ArrayLike<number>).length : 0;
    const data = new Float64Array(n * cols);
    m.forEach((r: ArrayLike<number>, i: number) => {
      if (r.length !== cols)
        throw new ReportArgumentError(name, `row ${i} has ${r.length} values, row 0 has ${cols}`);
      for (let c = 0; c < cols; c++) data[i * cols + c] = r[c];
    });
    return { data, n, cols };
  }
  const { data, cols } = m as { data: ArrayLike<number>; cols: number };
  if (!cols || data.length % cols !== 0)
    throw new ReportArgumentError(
      name,
      `flat data of length ${data.length} is not a multiple of cols=${cols}`,
    );
  return { data: Float64Array.from(data), n: data.length / cols, cols };
}

function column(m: { data: Float64Array; n: number; cols: number }, c: number): Float64Array {
  const out = new Float64Array(m.n);
  for (let i = 0; i < m.n; i++) out[i] = m.data[i * m.cols + c];
  return out;
}

function fin(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** A MetricResult as an Estimate (null value with the reason when undefined). */
export function estimate(
  r: MetricResult,
  ci?: { lower: number; upper: number; confidence: number; method: string },
): Estimate {
  if (!r.defined) return { value: null, reason: r.reason };
  return ci
    ? {
        value: r.value,
        lower: fin(ci.lower),
        upper: fin(ci.upper),
        confidence: ci.confidence,
        method: ci.method,
      }
    : { value: r.value };
}

/** A headline entry; `e` may be a number, a MetricResult or an Estimate. */
export function headline(
  key: string,
  e: number | MetricResult | Estimate,
  extra: Omit<HeadlineMetric, 'key' | 'value'> = {},
): HeadlineMetric {
  const est: Estimate = typeof e === 'number' ? { value: fin(e) } : 'defined' in e ? estimate(e) : e;
  return { key, ...est, ...extra };
}

/** Keeps at most `max` points of a curve (always the first and last), evenly by index. */
export function thinCurve(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  max = 400,
): { x: number[]; y: number[] } {
  const n = x.length;
  const keep: number[] = [];
  if (n <= max) for (let i = 0; i < n; i++) keep.push(i);
  else for (let k = 0; k < max; k++) keep.push(Math.round((k * (n - 1)) / (max - 1)));
  const ox: number[] = [];
  const oy: number[] = [];
  for (const i of keep)
    if (Number.isFinite(x[i]) && Number.isFinite(y[i])) {
      ox.push(x[i]);
      oy.push(y[i]);
    }
  return { x: ox, y: oy };
}

function aurocWithCi(y: Uint8Array, s: Float64Array, confidence: number): Estimate {
  const r = auroc(y, s);
  if (!r.defined) return estimate(r);
  let pos = 0;
  for (const v of y) pos += v;
  if (pos < 2 || y.length - pos < 2)
    return { value: r.value, reason: 'too few positives or negatives for a DeLong CI' };
  const d = delongAuroc(y, s, { confidence });
  return estimate(r, { lower: d.lower, upper: d.upper, confidence, method: 'DeLong' });
}

export interface ClassificationOptions {
  title?: string;
  description?: string;
  /** CI level for per-class AUROC (DeLong); default 0.95. */
  confidence?: number;
  /** Maximum points kept per curve (default 400). */
  maxCurvePoints?: number;
}

function probabilityMatrix(
  name: string,
  probs: Matrix | Vector,
  numClasses: number,
): { data: Float64Array; n: number; cols: number } {
  const isMatrix = Array.isArray(probs)
    ? Array.isArray(probs[0]) || ArrayBuffer.isView(probs[0])
    : 'cols' in (probs as object);
  if (isMatrix) {
    const m = rows(name, probs as Matrix);
    if (m.cols !== numClasses)
      throw new ReportArgumentError(name, `has ${m.cols} columns but there are ${numClasses} class names`);
    return m;
  }
  if (numClasses !== 2)
    throw new ReportArgumentError(
      name,
      `a vector of P(y = 1) needs exactly 2 class names, got ${numClasses}`,
    );
  const v = probs as Vector;
  const data = new Float64Array(v.length * 2);
  for (let i = 0; i < v.length; i++) {
    data[2 * i] = 1 - v[i];
    data[2 * i + 1] = v[i];
  }
  return { data, n: v.length, cols: 2 };
}

/**
 * ROC and PR curves per class (one-vs-rest; the positive class only for binary tasks), AUROC with
 * DeLong CIs, average precision, accuracy, balanced accuracy, macro AUROC.
 * `probs` is [n, K] (rows of class scores/probabilities) or, for K = 2, a vector of P(y = 1).
 */
export function classificationSection(
  yTrue: Vector,
  probs: Matrix | Vector,
  classNames: string[],
  options: ClassificationOptions = {},
): ClassificationSection {
  const K = classNames.length;
  if (K < 2) throw new ReportArgumentError('classNames', `need at least 2 classes, got ${K}`);
  const m = probabilityMatrix('probs', probs, K);
  if (m.n !== yTrue.length)
    throw new ReportArgumentError('probs', `has ${m.n} rows but yTrue has ${yTrue.length}`);
  const confidence = options.confidence ?? 0.95;
  const max = options.maxCurvePoints ?? 400;
  const pred = argmaxRows({ data: m.data, cols: K });
  const classes = K === 2 ? [1] : Array.from({ length: K }, (_, k) => k);
  const perClass = classes.map((k) => {
    const y = new Uint8Array(yTrue.length);
    let positives = 0;
    for (let i = 0; i < y.length; i++) {
      y[i] = yTrue[i] === k ? 1 : 0;
      positives += y[i];
    }
    const s = column(m, k);
    const roc = rocCurve(y, s);
    const pr = precisionRecallCurve(y, s);
    return {
      className: classNames[k],
      positives,
      auroc: aurocWithCi(y, s, confidence),
      averagePrecision: estimate(averagePrecision(y, s)),
      roc: roc.defined ? thinCurve(roc.fpr, roc.tpr, max) : { x: [], y: [] },
      pr: pr.defined ? thinCurve(pr.recall, pr.precision, max) : { x: [], y: [] },
    };
  });
  const macroAuroc = K === 2 ? perClass[0].auroc : estimate(ovrAuroc(yTrue, { data: m.data, cols: K }).macro);
  const aps = perClass.map((c) => c.averagePrecision.value).filter((v): v is number => v !== null);
  return {
    type: 'classification',
    task: K === 2 ? 'binary' : 'multiclass',
    ...(options.title ? { title: options.title } : {}),
    ...(options.description ? { description: options.description } : {}),
    classNames,
    n: m.n,
    accuracy: accuracy(yTrue, pred, K),
    balancedAccuracy: balancedAccuracy(yTrue, pred, K),
    macroAuroc,
    macroAveragePrecision: aps.length
      ? { value: aps.reduce((a, b) => a + b, 0) / aps.length }
      : { value: null, reason: 'no class has positives' },
    perClass,
  };
}

/**
 * Multi-label classification (e.g. findings on a chest X-ray): one ROC/PR curve per label from a
 * binary target matrix Y [n, L] and scores S [n, L], AUROC with DeLong CIs, and the unweighted
 * mean AUROC / AP over labels that have both classes (labels without are listed with a reason).
 */
export function multilabelClassificationSection(
  yTrue: Matrix,
  scores: Matrix,
  labelNames: string[],
  options: ClassificationOptions = {},
): ClassificationSection {
  const t = rows('yTrue', yTrue);
  const sc = rows('scores', scores);
  if (t.cols !== labelNames.length)
    throw new ReportArgumentError('labelNames', `${labelNames.length} names for ${t.cols} label columns`);
  if (sc.n !== t.n || sc.cols !== t.cols)
    throw new ReportArgumentError(
      'scores',
      `shape [${sc.n}, ${sc.cols}] differs from yTrue [${t.n}, ${t.cols}]`,
    );
  const confidence = options.confidence ?? 0.95;
  const max = options.maxCurvePoints ?? 400;
  const perClass = labelNames.map((name, l) => {
    const y = Uint8Array.from(column(t, l), (v, i) => {
      if (v !== 0 && v !== 1)
        throw new ReportArgumentError('yTrue', `row ${i}, label '${name}': expected 0 or 1, got ${v}`);
      return v;
    });
    const s = column(sc, l);
    const roc = rocCurve(y, s);
    const pr = precisionRecallCurve(y, s);
    return {
      className: name,
      positives: y.reduce((a, b) => a + b, 0),
      auroc: aurocWithCi(y, s, confidence),
      averagePrecision: estimate(averagePrecision(y, s)),
      roc: roc.defined ? thinCurve(roc.fpr, roc.tpr, max) : { x: [], y: [] },
      pr: pr.defined ? thinCurve(pr.recall, pr.precision, max) : { x: [], y: [] },
    };
  });
  const mean = (vals: Array<number | null>, what: string): Estimate => {
    const ok = vals.filter((v): v is number => v !== null);
    return ok.length
      ? { value: ok.reduce((a, b) => a + b, 0) / ok.length }
      : { value: null, reason: `no label has a defined ${what}` };
  };
  return {
    type: 'classification',
    task: 'multilabel',
    ...(options.title ? { title: options.title } : {}),
    ...(options.description ? { description: options.description } : {}),
    classNames: labelNames.length >= 2 ? labelNames : [...labelNames, '(none)'],
    n: t.n,
    macroAuroc: mean(
      perClass.map((c) => c.auroc.value),
      'AUROC',
    ),
    macroAveragePrecision: mean(
      perClass.map((c) => c.averagePrecision.value),
      'average precision',
    ),
    perClass,
  };
}

/** A forest plot from estimates the domain computed (per fold, per site, hazard ratios …). */
export function forestSection(
  metric: string,
  rowsIn: ForestSection['rows'],
  options: { title?: string; description?: string; reference?: number } = {},
): ForestSection {
  return {
    type: 'forest',
    ...(options.title ? { title: options.title } : {}),
    ...(options.description ? { description: options.description } : {}),
    metric,
    ...(options.reference !== undefined ? { reference: options.reference } : {}),
    rows: rowsIn,
  };
}

/** Confusion matrix counts[true][predicted]; `yPred` labels, or an [n, K] score matrix (argmax). */
export function confusionSection(
  yTrue: Vector,
  yPred: Vector | Matrix,
  classNames: string[],
  options: { title?: string; description?: string } = {},
): ConfusionSection {
  const K = classNames.length;
  const isMatrix = Array.isArray(yPred)
    ? Array.isArray(yPred[0]) || ArrayBuffer.isView(yPred[0])
    : 'cols' in (yPred as object);
  const labels = isMatrix ? argmaxRows(yPred as Matrix) : (yPred as Vector);
  const cm = confusionMatrix(yTrue, labels, K);
  const counts = Array.from({ length: K }, (_, i) => Array.from(cm.counts.subarray(i * K, (i + 1) * K)));
  return { type: 'confusion', ...options, classNames, counts };
}

function bins(d: ReliabilityDiagram): CalibrationSection['before'] {
  return {
    binEdges: Array.from(d.binEdges),
    counts: Array.from(d.counts),
    meanConfidence: Array.from(d.meanConfidence, fin),
    observed: Array.from(d.observed, fin),
    ece: d.ece,
    mce: d.mce,
  };
}

export interface CalibrationOptions {
  title?: string;
  description?: string;
  bins?: number;
  /**
   * Temperature to apply for the "after" diagram. Fit it on a held-out split (fitTemperature from
   * @meddl/metrics) and pass it with `fittedOn`; when omitted it is fitted on these same logits,
   * which is optimistic, and `fittedOn` says so.
   */
  temperature?: number;
  fittedOn?: string;
}

/**
 * Top-label reliability diagrams before and after temperature scaling (Guo et al. 2017), from
 * logits [n, K] and class labels.
 */
export function calibrationSection(
  yTrue: Vector,
  logits: Matrix,
  options: CalibrationOptions = {},
): CalibrationSection {
  const m = rows('logits', logits);
  if (m.n !== yTrue.length)
    throw new ReportArgumentError('logits', `has ${m.n} rows but yTrue has ${yTrue.length}`);
  const flat = { data: m.data, cols: m.cols };
  const nb = options.bins ?? 15;
  const pBefore = softmax(flat, 1);
  let temperature = options.temperature;
  let fittedOn = options.fittedOn;
  if (temperature === undefined) {
    const fit = fitTemperature(flat, yTrue);
    temperature = fit.temperature;
    fittedOn = 'the evaluated split itself (optimistic)';
  }
  const pAfter = Number.isFinite(temperature) ? softmax(flat, temperature) : null;
  return {
    type: 'calibration',
    ...(options.title ? { title: options.title } : {}),
    ...(options.description ? { description: options.description } : {}),
    mode: 'top-label',
    ...(pAfter ? { method: 'temperature scaling' } : {}),
    before: bins(reliabilityDiagram(yTrue, { data: pBefore, cols: m.cols }, { bins: nb })),
    ...(pAfter
      ? { after: bins(reliabilityDiagram(yTrue, { data: pAfter, cols: m.cols }, { bins: nb })) }
      : {}),
    ...(Number.isFinite(temperature) ? { temperature } : {}),
    ...(fittedOn ? { fittedOn } : {}),
    nllBefore: logLoss(yTrue, { data: pBefore, cols: m.cols }),
    ...(pAfter ? { nllAfter: logLoss(yTrue, { data: pAfter, cols: m.cols }) } : {}),
  };
}

/**
 * Binary reliability (P(y = 1)) before and after recalibration. Pass the recalibrated
 * probabilities (`probsAfter`, with `method` and `fittedOn`) when the domain fitted them on a
 * held-out split; with `platt: true` and no `probsAfter`, Platt scaling (Platt 1999) is fitted on
 * the logits of these same probabilities, which is optimistic, and `fittedOn` says so.
 */
export function binaryCalibrationSection(
  yTrue: Vector,
  probs: Vector,
  options: {
    title?: string;
    description?: string;
    bins?: number;
    probsAfter?: Vector;
    method?: string;
    fittedOn?: string;
    platt?: boolean;
  } = {},
): CalibrationSection {
  const nb = options.bins ?? 15;
  let after = options.probsAfter;
  let method = options.method;
  let fittedOn = options.fittedOn;
  if (!after && options.platt) {
    const eps = 1e-12;
    const logit = Array.from(probs, (p) => {
      const q = Math.min(1 - eps, Math.max(eps, p));
      return Math.log(q / (1 - q));
    });
    after = applyPlatt(fitPlatt(yTrue, logit), logit);
    method = 'Platt scaling';
    fittedOn = fittedOn ?? 'the evaluated split itself (optimistic)';
  }
  return {
    type: 'calibration',
    ...(options.title ? { title: options.title } : {}),
    ...(options.description ? { description: options.description } : {}),
    mode: 'binary',
    before: bins(reliabilityDiagram(yTrue, probs, { bins: nb })),
    ...(after ? { after: bins(reliabilityDiagram(yTrue, after, { bins: nb })) } : {}),
    ...(after && method ? { method } : {}),
    ...(fittedOn ? { fittedOn } : {}),
    nllBefore: logLoss(yTrue, probs),
    ...(after ? { nllAfter: logLoss(yTrue, after) } : {}),
  };
}

/**
 * Forest plot of AUROC (DeLong CI) per subgroup, with an "All" row first and the overall AUROC
 * as the reference line. Subgroups with one class get a null estimate and the reason.
 */
export function subgroupAurocSection(
  yTrue: Vector,
  score: Vector,
  group: ArrayLike<string | number>,
  options: { title?: string; description?: string; confidence?: number; order?: string[] } = {},
): ForestSection {
  const confidence = options.confidence ?? 0.95;
  if (group.length !== yTrue.length || score.length !== yTrue.length)
    throw new ReportArgumentError(
      'group',
      `yTrue, score and group must have one entry per case (${yTrue.length}, ${score.length}, ${group.length})`,
    );
  const y = Uint8Array.from(yTrue as ArrayLike<number>);
  const s = Float64Array.from(score as ArrayLike<number>);
  const names = options.order ?? [...new Set(Array.from(group, String))].sort();
  const row = (label: string, idx: number[]) => {
    const yy = Uint8Array.from(idx, (i) => y[i]);
    const ss = Float64Array.from(idx, (i) => s[i]);
    const pos = yy.reduce((a, b) => a + b, 0);
    return { label, n: idx.length, detail: `${pos} positive`, ...aurocWithCi(yy, ss, confidence) };
  };
  const all = row(
    'All',
    Array.from({ length: y.length }, (_, i) => i),
  );
  const rowsOut = [
    all,
    ...names.map((g) =>
      row(
        g,
        Array.from({ length: y.length }, (_, i) => i).filter((i) => String(group[i]) === g),
      ),
    ),
  ];
  return {
    type: 'forest',
    title: options.title ?? 'AUROC by subgroup',
    ...(options.description ? { description: options.description } : {}),
    metric: 'AUROC',
    ...(all.value !== null ? { reference: all.value } : {}),
    rows: rowsOut,
  };
}

/**
 * Kaplan–Meier curves per group (log-log 95 % band), log-rank test across groups, and Harrell's C
 * of `risk` when given (higher risk = earlier event).
 */
export function survivalSection(
  time: Vector,
  event: Vector,
  group: ArrayLike<string | number>,
  options: {
    title?: string;
    description?: string;
    timeUnit?: string;
    risk?: Vector;
    order?: string[];
    maxCurvePoints?: number;
  } = {},
): SurvivalSection {
  if (group.length !== time.length || event.length !== time.length)
    throw new ReportArgumentError(
      'group',
      `time, event and group must have one entry per case (${time.length}, ${event.length}, ${group.length})`,
    );
  const labels = Array.from(group, String);
  const names = options.order ?? [...new Set(labels)].sort();
  const codes = labels.map((l) => names.indexOf(l));
  if (codes.includes(-1))
    throw new ReportArgumentError('order', `does not list group '${labels[codes.indexOf(-1)]}'`);
  const curves = names.map((label, g) => {
    const idx = codes.flatMap((c, i) => (c === g ? [i] : []));
    const t = Float64Array.from(idx, (i) => time[i]);
    const e = Float64Array.from(idx, (i) => event[i]);
    const km = kaplanMeier(t, e);
    const med = medianSurvivalTime(km);
    return {
      label,
      time: Array.from(km.time),
      survival: Array.from(km.survival),
      lower: Array.from(km.lower),
      upper: Array.from(km.upper),
      n: idx.length,
      events: e.reduce((a, b) => a + b, 0),
      median: med.defined ? med.value : null,
    };
  });
  const out: SurvivalSection = {
    type: 'survival',
    title: options.title ?? 'Kaplan–Meier',
    ...(options.description ? { description: options.description } : {}),
    ...(options.timeUnit ? { timeUnit: options.timeUnit } : {}),
    curves,
  };
  if (names.length >= 2) {
    const lr = logRankTest(time, event, codes);
    out.logRank = { statistic: lr.statistic, degreesOfFreedom: lr.degreesOfFreedom, pValue: lr.pValue };
  }
  if (options.risk) {
    const c = concordanceIndex(time, options.risk, event);
    out.cIndex = c.defined ? { value: c.value } : { value: null, reason: 'no comparable pairs' };
  }
  return out;
}

/** An image gallery; paths are relative to the run directory (validated when the artifact is written). */
export function gallerySection(
  images: Array<{ path: string; caption?: string }>,
  options: { title?: string; description?: string } = {},
): GallerySection {
  return {
    type: 'gallery',
    title: options.title ?? 'Gallery',
    ...(options.description ? { description: options.description } : {}),
    images,
  };
}

/**
 * True-vs-estimated scatter per column (e.g. per tissue in deconvolution) with Pearson,
 * Spearman, MAE, RMSE and Lin's CCC per group.
 */
export function scatterSection(
  yTrue: Matrix,
  yEstimated: Matrix,
  groupNames: string[],
  options: { title?: string; description?: string; xLabel?: string; yLabel?: string } = {},
): ScatterSection {
  const t = rows('yTrue', yTrue);
  const e = rows('yEstimated', yEstimated);
  if (t.cols !== groupNames.length)
    throw new ReportArgumentError('groupNames', `${groupNames.length} names for ${t.cols} columns`);
  if (t.n !== e.n || t.cols !== e.cols)
    throw new ReportArgumentError(
      'yEstimated',
      `shape [${e.n}, ${e.cols}] differs from yTrue [${t.n}, ${t.cols}]`,
    );
  const reg = regressionPerColumn({ data: t.data, cols: t.cols }, { data: e.data, cols: e.cols });
  const r = (x: MetricResult) => (x.defined ? x.value : null);
  return {
    type: 'scatter',
    title: options.title ?? 'True vs estimated',
    ...(options.description ? { description: options.description } : {}),
    xLabel: options.xLabel ?? 'true',
    yLabel: options.yLabel ?? 'estimated',
    identity: true,
    groups: groupNames.map((label, c) => ({
      label,
      x: Array.from(column(t, c)),
      y: Array.from(column(e, c)),
      pearson: r(reg.pearson[c]),
      spearman: r(reg.spearman[c]),
      mae: reg.mae[c],
      rmse: reg.rmse[c],
      ccc: r(reg.ccc[c]),
    })),
  };
}

/**
 * Ablation table for a binary task: AUROC (DeLong CI) per variant and the paired DeLong test of
 * each against the reference variant (default: the first).
 */
export function ablationSection(
  yTrue: Vector,
  variants: Array<{ name: string; score: Vector }>,
  options: { title?: string; description?: string; reference?: string; confidence?: number } = {},
): AblationSection {
  if (variants.length === 0) throw new ReportArgumentError('variants', 'need at least one variant');
  const reference = options.reference ?? variants[0].name;
  const ref = variants.find((v) => v.name === reference);
  if (!ref) throw new ReportArgumentError('reference', `no variant named '${reference}'`);
  const y = Uint8Array.from(yTrue as ArrayLike<number>);
  const confidence = options.confidence ?? 0.95;
  const rowsOut = variants.map((v) => {
    const s = Float64Array.from(v.score as ArrayLike<number>);
    const est = aurocWithCi(y, s, confidence);
    if (v.name === reference) return { name: v.name, ...est, difference: 0, pValue: null };
    const t = delongTest(y, s, Float64Array.from(ref.score as ArrayLike<number>));
    return { name: v.name, ...est, difference: t.difference, pValue: t.defined ? t.pValue : null };
  });
  return {
    type: 'ablation',
    title: options.title ?? 'Ablations',
    ...(options.description ? { description: options.description } : {}),
    metric: 'AUROC',
    reference,
    test: 'DeLong (paired, two-sided)',
    rows: rowsOut,
  };
}

/** Embedding health over training and frozen-feature probe results (values computed by the domain). */
export function embeddingSection(
  input: {
    series?: Array<{ name: string; x: ArrayLike<number>; y: ArrayLike<number>; xLabel?: string }>;
    probes?: EmbeddingSection['probes'];
  },
  options: { title?: string; description?: string } = {},
): EmbeddingSection {
  return {
    type: 'embedding',
    title: options.title ?? 'Embedding health',
    ...(options.description ? { description: options.description } : {}),
    series: (input.series ?? []).map((s) => ({
      name: s.name,
      ...(s.xLabel ? { xLabel: s.xLabel } : {}),
      x: Array.from(s.x),
      y: Array.from(s.y),
    })),
    probes: input.probes ?? [],
  };
}

export interface EmbeddingHealth {
  /** exp(entropy of the normalized eigenvalues of the covariance) (Roy & Vetterli 2007); 1 … d. */
  effectiveRank: number;
  /** Mean over dimensions of the per-dimension standard deviation. */
  meanStd: number;
  /** Dimensions with standard deviation below 1e-4 × the largest. */
  collapsedDims: number;
}

/**
 * Collapse diagnostics of an [n, d] embedding matrix: effective rank of the covariance spectrum
 * (cyclic Jacobi eigenvalues, O(d³) per sweep; fine for d ≤ 512), mean std, collapsed dimensions.
 */
export function embeddingHealth(embeddings: Matrix): EmbeddingHealth {
  const m = rows('embeddings', embeddings);
  const { n, cols: d } = m;
  if (n < 2) throw new ReportArgumentError('embeddings', `need at least 2 rows, got ${n}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += m.data[i * d + j] / n;
  const a = new Float64Array(d * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const xj = m.data[i * d + j] - mean[j];
      for (let k = j; k < d; k++) a[j * d + k] += (xj * (m.data[i * d + k] - mean[k])) / (n - 1);
    }
  for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) a[j * d + k] = a[k * d + j];
  const std = Array.from({ length: d }, (_, j) => Math.sqrt(a[j * d + j]));
  const maxStd = Math.max(...std);
  // Cyclic Jacobi rotations until the off-diagonal mass is negligible.
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < d; p++) {
      diag += a[p * d + p] ** 2;
      for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    }
    if (off <= 1e-22 * (diag + 1e-300)) break;
    for (let p = 0; p < d; p++)
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
      }
  }
  const eig = Array.from({ length: d }, (_, j) => Math.max(0, a[j * d + j]));
  const total = eig.reduce((x, y) => x + y, 0);
  let h = 0;
  for (const e of eig) if (e > 0) h -= (e / total) * Math.log(e / total);
  return {
    effectiveRank: total > 0 ? Math.exp(h) : 0,
    meanStd: std.reduce((x, y) => x + y, 0) / d,
    collapsedDims: std.filter((s) => s < 1e-4 * maxStd || maxStd === 0).length,
  };
}

/** A free table (escape hatch for anything the typed sections do not cover). */
export function tableSection(
  columns: string[],
  rowsIn: Array<Array<string | number | null>>,
  options: { title?: string; description?: string } = {},
): TableSection {
  return {
    type: 'table',
    ...options,
    columns,
    rows: rowsIn.map((r) => r.map((v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))),
  };
}
