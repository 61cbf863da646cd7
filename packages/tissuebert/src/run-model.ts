/**
 * Loads the model of a TissueBERT run directory (its run meta + a checkpoint), and the
 * temperature `meddl eval` fitted on it, for prediction and export.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointManager, disposeCheckpoint } from '@meddl/checkpoint';
import { Generator } from '@meddl/tensor';
import { TissueBertArgumentError } from './errors';
import { createModel, type TissueBert } from './model';
import { EVAL_FILE, RUN_META_FILE, readRunMeta, type TissueBertRunMeta } from './run-meta';

export interface LoadedRun {
  runDir: string;
  meta: TissueBertRunMeta;
  /** In eval mode. The caller disposes it. */
  model: TissueBert;
  /** Name of the checkpoint directory the weights came from. */
  checkpoint: string;
  /** tissuebert-eval.json's calibration.temperature, or 1 when the run has not been evaluated. */
  temperature: { value: number; source: 'tissuebert-eval.json' | 'default' };
  /**
   * tissuebert-eval.json's deconvolution.impliedPrior in label order (the class prior the model
   * implies, divided out before the mixture MLE), or null when the run has not been evaluated.
   */
  impliedPrior: number[] | null;
}

/** `<runDir>/tissuebert-eval.json` parsed, with its path; null when the run was not evaluated. */
function readEvalFile(runDir: string): { path: string; parsed: Record<string, unknown> } | null {
  const path = join(runDir, EVAL_FILE);
  if (!existsSync(path)) return null;
  try {
    return { path, parsed: JSON.parse(readFileSync(path, 'utf8')) };
  } catch (e) {
    throw new TissueBertArgumentError('run', `${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The temperature of `<runDir>/tissuebert-eval.json` (calibration.temperature), else 1. */
export function runTemperature(runDir: string): LoadedRun['temperature'] {
  const file = readEvalFile(runDir);
  const t = (file?.parsed as { calibration?: { temperature?: unknown } } | undefined)?.calibration
    ?.temperature;
  if (typeof t === 'number' && Number.isFinite(t) && t > 0)
    return { value: t, source: 'tissuebert-eval.json' };
  return { value: 1, source: 'default' };
}

/**
 * The implied class prior of `<runDir>/tissuebert-eval.json` (deconvolution.impliedPrior, by
 * tissue name) in the order of `tissues`; null when the file or the field is absent. A prior that
 * does not cover every tissue or has a non-positive entry is an error naming the file.
 */
export function runImpliedPrior(runDir: string, tissues: string[]): number[] | null {
  const file = readEvalFile(runDir);
  const p = (file?.parsed as { deconvolution?: { impliedPrior?: unknown } } | undefined)?.deconvolution
    ?.impliedPrior;
  if (!file || p === undefined) return null;
  const byName = (p ?? {}) as Record<string, unknown>;
  return tissues.map((t) => {
    const v = byName[t];
    if (typeof v !== 'number' || !(v > 0))
      throw new TissueBertArgumentError(
        'run',
        `${file.path}: deconvolution.impliedPrior has ${v === undefined ? 'no entry' : `entry ${String(v)}`} for tissue '${t}'`,
      );
    return v;
  });
}

/**
 * `path` is a run directory (weights: the best val-loss checkpoint, or the newest valid one with
 * which = 'last') or one checkpoint directory inside `<run>/checkpoints`.
 */
export async function loadRunModel(path: string, which: 'best' | 'last' = 'best'): Promise<LoadedRun> {
  let runDir = resolve(path);
  let named: string | null = null;
  if (!existsSync(join(runDir, RUN_META_FILE))) {
    const up = dirname(dirname(runDir));
    if (basename(dirname(runDir)) === 'checkpoints' && existsSync(join(up, RUN_META_FILE))) {
      named = basename(runDir);
      runDir = up;
    }
  }
  const meta = readRunMeta(runDir);
  const manager = new CheckpointManager(join(runDir, 'checkpoints'));
  let ck: Awaited<ReturnType<CheckpointManager['load']>> | null;
  let name: string;
  try {
    const entry = named ? null : which === 'best' ? manager.best('val_loss', 'min') : null;
    if (named) {
      ck = await manager.load(named);
      name = named;
    } else if (entry) {
      ck = await manager.load(entry.name);
      name = entry.name;
    } else {
      ck = await manager.latestValid();
      name = ck ? basename(ck.path) : '';
    }
  } finally {
    await manager.close();
  }
  if (!ck) throw new TissueBertArgumentError('run', `${runDir}/checkpoints has no valid checkpoint`);
  const model = createModel(
    meta.preset,
    { ...meta.overrides, numClasses: meta.tissues.length },
    new Generator(0),
  );
  try {
    model.loadStateDict(ck.model);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    disposeCheckpoint(ck);
  }
  model.eval();
  return {
    runDir,
    meta,
    model,
    checkpoint: name,
    temperature: runTemperature(runDir),
    impliedPrior: runImpliedPrior(runDir, meta.tissues),
  };
}
