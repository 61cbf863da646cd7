import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EvalArtifactError } from './errors';
import {
  EVAL_FILE,
  EVAL_FORMAT,
  EVAL_VERSION,
  type EvalArtifact,
  EvalArtifactSchema,
  type HeadlineMetric,
  type Section,
} from './schema';

/** Formats a zod issue path as `sections[2].perClass[0].roc.x`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s ? `.${String(p)}` : String(p);
  }
  return s;
}

/** Validates a parsed JSON value against the contract; `file` names the source in errors. */
export function parseEvalArtifact(value: unknown, file = EVAL_FILE): EvalArtifact {
  const r = EvalArtifactSchema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s))` : '';
  throw new EvalArtifactError(file, fieldPath(first.path), `${first.message}${more}`);
}

/** Reads and validates `runDir/eval.json`; null when the run has none (not evaluated yet). */
export function readEvalArtifact(runDir: string): EvalArtifact | null {
  const file = join(runDir, EVAL_FILE);
  if (!existsSync(file)) return null;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new EvalArtifactError(file, '', `not valid JSON (${(e as Error).message})`);
  }
  return parseEvalArtifact(value, file);
}

/** Writes text atomically: a temp file in the same directory, then rename. */
export function writeFileAtomic(file: string, text: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** JSON has no NaN/Infinity: non-finite numbers become null (the schema's "undefined metric"). */
function finiteReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
  return v;
}

export interface NewEvalArtifact {
  model: string;
  split: string;
  title?: string;
  checkpoint?: string;
  data?: EvalArtifact['data'];
  headline?: HeadlineMetric[];
  sections?: Section[];
  wallSeconds?: number;
  createdAt?: string;
}

/** Fills in format, version and createdAt. */
export function evalArtifact(a: NewEvalArtifact): EvalArtifact {
  return {
    format: EVAL_FORMAT,
    version: EVAL_VERSION,
    createdAt: a.createdAt ?? new Date().toISOString(),
    model: a.model,
    split: a.split,
    ...(a.title !== undefined ? { title: a.title } : {}),
    ...(a.checkpoint !== undefined ? { checkpoint: a.checkpoint } : {}),
    ...(a.data !== undefined ? { data: a.data } : {}),
    headline: a.headline ?? [],
    sections: a.sections ?? [],
    ...(a.wallSeconds !== undefined ? { wallSeconds: a.wallSeconds } : {}),
  };
}

/**
 * Validates and writes `runDir/eval.json` atomically (temp file + rename), so a reader never
 * sees half a file. Non-finite numbers are written as null. Returns the file's path.
 */
export function writeEvalArtifact(runDir: string, artifact: EvalArtifact | NewEvalArtifact): string {
  const full = 'format' in artifact ? artifact : evalArtifact(artifact);
  const file = join(runDir, EVAL_FILE);
  const json = JSON.stringify(full, finiteReplacer, 1);
  // Validate what will be on disk (after NaN → null), so a writer learns of a bad field now.
  parseEvalArtifact(JSON.parse(json), file);
  writeFileAtomic(file, `${json}\n`);
  return file;
}
