/**
 * Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) for
 * multi-label sigmoid outputs: p_k = σ(z_k / T_k), with T minimizing the validation negative
 * log-likelihood over certain labels — one T shared by all findings, or one per finding. Monotone per finding, so
 * AUROC and AUPRC are unchanged; thresholded metrics (F1 at 0.5) and probabilities change.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '@meddl/tensor';
import type { DataLoader } from '@meddl/trainer';
import type { PreparedStudy } from './data';
import type { Normalization } from './image';
import { FINDINGS } from './labels';
import type { MdfNet } from './model';
import { batchInputs, type MdfNetBatch } from './task';

/** Logits [n·K] of a model over a loader, with certain-label targets and masks. */
export async function collectLogits(
  model: MdfNet,
  loader: DataLoader<PreparedStudy, MdfNetBatch>,
  normalization: Normalization,
): Promise<{ logits: Float32Array; target: Float32Array; certain: Float32Array }> {
  model.eval();
  const logits: number[] = [];
  const target: number[] = [];
  const certain: number[] = [];
  for await (const { data: b } of loader.batches(0)) {
    logits.push(...tf.tidy(() => model.forward(batchInputs(b, normalization)).dataSync()));
    target.push(...b.certainTarget);
    certain.push(...b.certain);
  }
  return {
    logits: Float32Array.from(logits),
    target: Float32Array.from(target),
    certain: Float32Array.from(certain),
  };
}

function nll(z: number[], y: number[], t: number): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) {
    const a = z[i] / t;
    // −[y log σ(a) + (1 − y) log(1 − σ(a))] = softplus(a) − y·a, computed stably.
    s += Math.max(a, 0) + Math.log1p(Math.exp(-Math.abs(a))) - y[i] * a;
  }
  return s / z.length;
}

/**
 * The temperature in [1/20, 20] minimizing the NLL of σ(z / T) against y (golden-section search
 * on log T; the NLL is unimodal in log T for a fixed sign pattern in practice). 1 when there are
 * fewer than 2 positives or negatives.
 */
export function fitTemperature(z: number[], y: number[]): number {
  const pos = y.filter((v) => v === 1).length;
  if (pos < 2 || y.length - pos < 2) return 1;
  let lo = Math.log(1 / 20);
  let hi = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let a = hi - g * (hi - lo);
  let b = lo + g * (hi - lo);
  let fa = nll(z, y, Math.exp(a));
  let fb = nll(z, y, Math.exp(b));
  for (let it = 0; it < 80; it++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - g * (hi - lo);
      fa = nll(z, y, Math.exp(a));
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + g * (hi - lo);
      fb = nll(z, y, Math.exp(b));
    }
  }
  return Math.exp((lo + hi) / 2);
}

/** One temperature per finding from logits [n·K] over certain cells. */
export function fitTemperatures(logits: Float32Array, target: Float32Array, certain: Float32Array): number[] {
  const K = FINDINGS.length;
  const n = logits.length / K;
  return FINDINGS.map((_, k) => {
    const z: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < n; i++)
      if (certain[i * K + k]) {
        z.push(logits[i * K + k]);
        y.push(target[i * K + k]);
      }
    return fitTemperature(z, y);
  });
}

/** One temperature for all findings (pooled certain cells), repeated K times. */
export function fitSharedTemperature(
  logits: Float32Array,
  target: Float32Array,
  certain: Float32Array,
): number[] {
  const z: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < logits.length; i++)
    if (certain[i]) {
      z.push(logits[i]);
      y.push(target[i]);
    }
  const t = fitTemperature(z, y);
  return FINDINGS.map(() => t);
}

export type CalibrationMode = 'per-finding' | 'shared' | 'none';

/** Temperatures for a mode: per finding, one shared, or all 1. */
export function fitCalibration(
  mode: CalibrationMode,
  logits: Float32Array,
  target: Float32Array,
  certain: Float32Array,
): number[] {
  if (mode === 'per-finding') return fitTemperatures(logits, target, certain);
  if (mode === 'shared') return fitSharedTemperature(logits, target, certain);
  return FINDINGS.map(() => 1);
}

/** Writes `<runDir>/calibration.json` atomically. */
export function writeCalibration(
  runDir: string,
  temperatures: number[],
  fittedOn: string,
  mode: CalibrationMode = 'per-finding',
): void {
  const file = join(runDir, 'calibration.json');
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(
    tmp,
    `${JSON.stringify(
      {
        method:
          mode === 'shared'
            ? 'temperature scaling (one shared temperature)'
            : mode === 'none'
              ? 'none'
              : 'per-finding temperature scaling',
        fittedOn,
        temperatures,
        findings: [...FINDINGS],
      },
      null,
      2,
    )}\n`,
  );
  renameSync(tmp, file);
}
