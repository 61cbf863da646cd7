import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TissueBertArgumentError } from './errors';
import type { TissueBertModelConfig, TissueBertPreset } from './model';

/** What trainTissueBert records in the run directory so that evaluation needs nothing else. */
export interface TissueBertRunMeta {
  dataDir: string;
  preset: TissueBertPreset;
  overrides: Partial<TissueBertModelConfig>;
  tissues: string[];
  trainSamples: string[];
  valSamples: string[];
  seed: number;
}

export const RUN_META_FILE = 'tissuebert.json';

/** `meddl eval tissuebert`'s full result (eval.json holds the @meddl/report contract). */
export const EVAL_FILE = 'tissuebert-eval.json';

export function readRunMeta(runDir: string): TissueBertRunMeta {
  const path = join(runDir, RUN_META_FILE);
  if (!existsSync(path))
    throw new TissueBertArgumentError('run', `${path} does not exist (not a tissuebert run directory)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TissueBertRunMeta;
  } catch (e) {
    throw new TissueBertArgumentError('run', `${path} is not valid JSON: ${(e as Error).message}`);
  }
}
