// Classification metrics with bootstrap confidence intervals, all from @meddl/metrics: accuracy,
// per-class and macro F1, one-vs-rest macro AUROC, ECE before and after temperature scaling.
import {
  accuracy,
  argmaxRows,
  bootstrapCI,
  confusionMatrix,
  expectedCalibrationError,
  ovrAuroc,
  precisionRecallF1,
} from '@meddl/metrics';

export interface Estimate {
  estimate: number | null;
  lower: number | null;
  upper: number | null;
}

export interface ClassificationReport {
  n: number;
  classCounts: number[];
  accuracy: Estimate;
  macroAuroc: Estimate;
  macroF1: Estimate;
  perClassF1: number[];
  perClassAuroc: (number | null)[];
  eceBefore: Estimate;
  eceAfter: Estimate;
  confusion: number[][];
}

function num(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function rows(probs: Float64Array, k: number, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length * k);
  for (let i = 0; i < idx.length; i++)
    out.set(probs.subarray((idx[i] as number) * k, (idx[i] as number) * k + k), i * k);
  return out;
}

/**
 * Metrics of `labels` against probabilities [n, K] (raw and calibrated, row-major). CIs are
 * percentile bootstraps stratified by label (B = `resamples`; 0 skips them).
 */
export function classificationReport(
  labels: readonly number[],
  probsRaw: Float64Array,
  probsCal: Float64Array,
  k: number,
  options: { resamples: number; confidence: number; seed: number; eceBins: number },
): ClassificationReport {
  const n = labels.length;
  const all = Uint32Array.from({ length: n }, (_, i) => i);
  const metric = (fn: (idx: Uint32Array) => number): Estimate => {
    const estimate = fn(all);
    if (options.resamples <= 0 || n < 2) return { estimate: num(estimate), lower: null, upper: null };
    const ci = bootstrapCI(fn, n, {
      seed: options.seed,
      resamples: options.resamples,
      confidence: options.confidence,
      strata: labels,
    });
    return { estimate: num(estimate), lower: num(ci.lower), upper: num(ci.upper) };
  };
  const labelsOf = (idx: Uint32Array) => Array.from(idx, (i) => labels[i] as number);
  const predOf = (p: Float64Array, idx: Uint32Array) => argmaxRows({ data: rows(p, k, idx), cols: k });
  const acc = (idx: Uint32Array) => accuracy(labelsOf(idx), predOf(probsCal, idx), k);
  const auc = (idx: Uint32Array) => {
    const r = ovrAuroc(labelsOf(idx), { data: rows(probsCal, k, idx), cols: k });
    return r.macro.defined && r.skipped.length === 0 ? r.macro.value : Number.NaN;
  };
  const f1 = (idx: Uint32Array) => precisionRecallF1(labelsOf(idx), predOf(probsCal, idx), k).macro.f1;
  const ece = (p: Float64Array) => (idx: Uint32Array) =>
    expectedCalibrationError(labelsOf(idx), { data: rows(p, k, idx), cols: k }, { bins: options.eceBins });
  const prf = precisionRecallF1(labels, argmaxRows({ data: probsCal, cols: k }), k);
  const perClassAuroc = ovrAuroc(labels, { data: probsCal, cols: k }).perLabel.map((r) =>
    r.defined ? r.value : null,
  );
  const cm = confusionMatrix(labels, argmaxRows({ data: probsCal, cols: k }), k);
  const confusion = Array.from({ length: k }, (_, i) => Array.from(cm.counts.slice(i * k, i * k + k)));
  const classCounts = Array.from({ length: k }, (_, c) => labels.filter((l) => l === c).length);
  return {
    n,
    classCounts,
    accuracy: metric(acc),
    macroAuroc: metric(auc),
    macroF1: metric(f1),
    perClassF1: Array.from(prf.f1),
    perClassAuroc,
    eceBefore: metric(ece(probsRaw)),
    eceAfter: metric(ece(probsCal)),
    confusion,
  };
}
