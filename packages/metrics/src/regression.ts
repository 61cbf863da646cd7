// Agreement and regression metrics (e.g. deconvolution proportions): errors, correlations, R², Lin's CCC.
import { MetricsError } from './errors.js';
import { averageRanks } from './numeric.js';
import { definedResult, type MatrixInput, type MetricResult, undefinedResult, type Vector } from './types.js';
import { column, finiteMatrix, finiteVector, sameLength } from './validate.js';

function pair(yTrue: Vector, yPred: Vector): { a: Float64Array; b: Float64Array } {
  const a = finiteVector('yTrue', yTrue);
  const b = finiteVector('yPred', yPred);
  sameLength('yTrue', a, 'yPred', b);
  return { a, b };
}

function mean(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** Root mean squared error. O(n). */
export function rmse(yTrue: Vector, yPred: Vector): number {
  const { a, b } = pair(yTrue, yPred);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

/** Mean absolute error. O(n). */
export function mae(yTrue: Vector, yPred: Vector): number {
  const { a, b } = pair(yTrue, yPred);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

// Centered second moments (two-pass).
function moments(
  a: Float64Array,
  b: Float64Array,
): { ma: number; mb: number; saa: number; sbb: number; sab: number } {
  const ma = mean(a);
  const mb = mean(b);
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    saa += da * da;
    sbb += db * db;
    sab += da * db;
  }
  return { ma, mb, saa, sbb, sab };
}

function pearsonUnchecked(a: Float64Array, b: Float64Array): MetricResult {
  if (a.length < 2) return undefinedResult('correlation is undefined for fewer than 2 samples');
  const m = moments(a, b);
  if (m.saa === 0 || m.sbb === 0) return undefinedResult('correlation is undefined: an input is constant');
  const r = m.sab / Math.sqrt(m.saa) / Math.sqrt(m.sbb);
  return definedResult(Math.max(-1, Math.min(1, r)));
}

/** Pearson correlation (scipy.stats.pearsonr's r); undefined for constant input. O(n). */
export function pearson(yTrue: Vector, yPred: Vector): MetricResult {
  const { a, b } = pair(yTrue, yPred);
  return pearsonUnchecked(a, b);
}

/** Spearman rank correlation: Pearson of average ranks (scipy.stats.spearmanr). O(n log n). */
export function spearman(yTrue: Vector, yPred: Vector): MetricResult {
  const { a, b } = pair(yTrue, yPred);
  return pearsonUnchecked(averageRanks(a), averageRanks(b));
}

/** Coefficient of determination 1 − SS_res / SS_tot (scikit-learn's r2_score); undefined for constant yTrue. */
export function r2(yTrue: Vector, yPred: Vector): MetricResult {
  const { a, b } = pair(yTrue, yPred);
  const ma = mean(a);
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < a.length; i++) {
    ssRes += (a[i] - b[i]) ** 2;
    ssTot += (a[i] - ma) ** 2;
  }
  if (ssTot === 0) return undefinedResult('R² is undefined: yTrue is constant');
  return definedResult(1 - ssRes / ssTot);
}

/**
 * Lin's (1989) concordance correlation coefficient 2 s_xy / (s_x² + s_y² + (x̄ − ȳ)²) with 1/n moments.
 * Undefined only when both inputs are the same constant. O(n).
 */
export function concordanceCorrelation(yTrue: Vector, yPred: Vector): MetricResult {
  const { a, b } = pair(yTrue, yPred);
  const n = a.length;
  const m = moments(a, b);
  const denom = m.saa / n + m.sbb / n + (m.ma - m.mb) ** 2;
  if (denom === 0) return undefinedResult("Lin's CCC is undefined: both inputs are the same constant");
  return definedResult((2 * m.sab) / n / denom);
}

export interface RegressionColumns {
  readonly rmse: Float64Array;
  readonly mae: Float64Array;
  readonly pearson: readonly MetricResult[];
  readonly spearman: readonly MetricResult[];
  readonly r2: readonly MetricResult[];
  readonly ccc: readonly MetricResult[];
  /** Unweighted means over columns; correlation-type means skip undefined columns. */
  readonly mean: {
    readonly rmse: number;
    readonly mae: number;
    readonly pearson: MetricResult;
    readonly spearman: MetricResult;
    readonly r2: MetricResult;
    readonly ccc: MetricResult;
  };
}

function meanDefined(rs: readonly MetricResult[], name: string): MetricResult {
  let s = 0;
  let c = 0;
  for (const r of rs) {
    if (r.defined) {
      s += r.value;
      c++;
    }
  }
  return c > 0 ? definedResult(s / c) : undefinedResult(`${name} is undefined for every column`);
}

/** All regression metrics per column of [n, C] targets and predictions (e.g. cell-type proportions), and means. */
export function regressionPerColumn(yTrue: MatrixInput, yPred: MatrixInput): RegressionColumns {
  const t = finiteMatrix('yTrue', yTrue);
  const p = finiteMatrix('yPred', yPred);
  if (t.rows !== p.rows || t.cols !== p.cols) {
    throw new MetricsError(
      'yPred',
      `expected shape [${t.rows}, ${t.cols}] like yTrue, got [${p.rows}, ${p.cols}]`,
    );
  }
  const out = {
    rmse: new Float64Array(t.cols),
    mae: new Float64Array(t.cols),
    pearson: [] as MetricResult[],
    spearman: [] as MetricResult[],
    r2: [] as MetricResult[],
    ccc: [] as MetricResult[],
  };
  for (let c = 0; c < t.cols; c++) {
    const a = column(t, c);
    const b = column(p, c);
    out.rmse[c] = rmse(a, b);
    out.mae[c] = mae(a, b);
    out.pearson.push(pearson(a, b));
    out.spearman.push(spearman(a, b));
    out.r2.push(r2(a, b));
    out.ccc.push(concordanceCorrelation(a, b));
  }
  return {
    ...out,
    mean: {
      rmse: mean(out.rmse),
      mae: mean(out.mae),
      pearson: meanDefined(out.pearson, 'Pearson r'),
      spearman: meanDefined(out.spearman, 'Spearman rho'),
      r2: meanDefined(out.r2, 'R²'),
      ccc: meanDefined(out.ccc, "Lin's CCC"),
    },
  };
}
