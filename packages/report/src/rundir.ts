// Reads what a trainer run directory holds today (see docs/trainer.md, "Loggers and the run
// directory", and docs/checkpoint.md): config.yaml, run.json, logs/metrics.csv, metrics.json,
// checkpoints/index.json, and eval.json (this package's contract).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readEvalArtifact } from './artifact';
import { RunDirectoryError } from './errors';
import type { EvalArtifact } from './schema';

export interface MetricsTable {
  columns: string[];
  /** One row per epoch; empty cells are NaN. */
  rows: Array<Record<string, number>>;
}

/** Per-step training records from logs/steps.jsonl (validation lines and skipped steps left out). */
export interface StepSeries {
  step: number[];
  loss: number[];
  gradNorm: number[];
  samplesPerSec: number[];
}

export interface CheckpointEntry {
  name: string;
  epoch?: number;
  step?: number;
  reason?: string;
  tags?: string[];
  metrics?: Record<string, number>;
  bytes?: number;
  createdAt?: string;
}

export interface RunInfo {
  name?: string;
  startTime?: string;
  seed?: number;
  codeRevision?: string | null;
  backend?: {
    name?: string;
    tfjsName?: string;
    version?: string;
    tfjsVersion?: string;
    threads?: number;
    simd?: boolean;
  };
  versions?: Record<string, string>;
  argv?: string[];
  resumes?: unknown[];
  [key: string]: unknown;
}

export interface RunDirectoryContents extends TrainerFiles {
  root: string;
  name: string;
  /** Nested trainer runs (stages, folds), `name` relative to the root, e.g. 'folds/fold-1'. */
  children: Array<TrainerFiles & { name: string }>;
  evaluation: EvalArtifact | null;
}

/** Parses CSV text (RFC 4180 quoting) into rows of cells. */
export function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      out.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    out.push(row);
  }
  return out.filter((r) => r.length > 1 || r[0] !== '');
}

/** Reads logs/metrics.csv (the trainer's CsvLogger): numeric cells, empty → NaN. */
export function readMetricsCsv(file: string): MetricsTable {
  const table = parseCsv(readFileSync(file, 'utf8'));
  if (table.length === 0) return { columns: [], rows: [] };
  const [header, ...body] = table;
  const rows = body.map((cells, i) => {
    if (cells.length !== header.length)
      throw new RunDirectoryError(
        file,
        `line ${i + 2} has ${cells.length} cells, the header has ${header.length}`,
      );
    const r: Record<string, number> = {};
    header.forEach((c, j) => {
      r[c] = cells[j] === '' ? Number.NaN : Number(cells[j]);
    });
    return r;
  });
  return { columns: header, rows };
}

/**
 * Reads logs/steps.jsonl (the trainer's JsonlLogger). A truncated last line (a run killed while
 * writing) is ignored; a bad line elsewhere is an error naming the line.
 */
export function readStepsJsonl(file: string): StepSeries {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: StepSeries = { step: [], loss: [], gradNorm: [], samplesPerSec: [] };
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (i >= lines.length - 2) return;
      throw new RunDirectoryError(file, `line ${i + 1} is not valid JSON`);
    }
    if (
      r.validation !== undefined ||
      r.skipped === true ||
      typeof r.loss !== 'number' ||
      typeof r.step !== 'number'
    )
      return;
    out.step.push(r.step);
    out.loss.push(r.loss);
    out.gradNorm.push(typeof r.gradNorm === 'number' ? r.gradNorm : Number.NaN);
    out.samplesPerSec.push(typeof r.samplesPerSec === 'number' ? r.samplesPerSec : Number.NaN);
  });
  return out;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RunDirectoryError(file, `not valid JSON (${(e as Error).message})`);
  }
}

/** True when `dir` looks like a run directory (has run.json, config.yaml or eval.json). */
export function isRunDirectory(dir: string): boolean {
  return ['run.json', 'config.yaml', 'eval.json'].some((f) => existsSync(join(dir, f)));
}

/** What one trainer run directory holds (the root, a stage, or a fold). */
export interface TrainerFiles {
  /** config.yaml text and its parsed value (null when absent). */
  configText: string | null;
  config: unknown;
  run: RunInfo | null;
  metrics: MetricsTable | null;
  steps: StepSeries | null;
  /** metrics.json written by a domain at the end of training (free form). */
  finalMetrics: Record<string, unknown> | null;
  checkpoints: CheckpointEntry[];
}

/** Reads the trainer's files in one directory; missing files are null / empty. */
export function readTrainerFiles(root: string): TrainerFiles {
  const configFile = join(root, 'config.yaml');
  let configText: string | null = null;
  let config: unknown = null;
  if (existsSync(configFile)) {
    configText = readFileSync(configFile, 'utf8');
    try {
      config = parseYaml(configText);
    } catch (e) {
      throw new RunDirectoryError(configFile, `not valid YAML (${(e as Error).message})`);
    }
  }
  const runFile = join(root, 'run.json');
  const run = existsSync(runFile) ? (readJson(runFile) as RunInfo) : null;
  const csv = join(root, 'logs', 'metrics.csv');
  const metrics = existsSync(csv) ? readMetricsCsv(csv) : null;
  const jsonl = join(root, 'logs', 'steps.jsonl');
  const steps = existsSync(jsonl) ? readStepsJsonl(jsonl) : null;
  const mj = join(root, 'metrics.json');
  const finalMetrics = existsSync(mj) ? (readJson(mj) as Record<string, unknown>) : null;
  const idx = join(root, 'checkpoints', 'index.json');
  let checkpoints: CheckpointEntry[] = [];
  if (existsSync(idx)) {
    const parsed = readJson(idx) as { checkpoints?: CheckpointEntry[] };
    checkpoints = Array.isArray(parsed.checkpoints) ? parsed.checkpoints : [];
  }
  return { configText, config, run, metrics, steps, finalMetrics, checkpoints };
}

function subdirectories(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter(
      (e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== 'logs' && e.name !== 'checkpoints',
    )
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/**
 * Trainer runs nested in a run directory: stages (`stage1/`, `stage2/`) or folds
 * (`folds/fold-1/`): subdirectories up to two levels down that hold a run.json.
 */
export function findChildRuns(root: string): string[] {
  const out: string[] = [];
  for (const a of subdirectories(root)) {
    if (existsSync(join(root, a, 'run.json'))) {
      out.push(a);
      continue;
    }
    for (const b of subdirectories(join(root, a)))
      if (existsSync(join(root, a, b, 'run.json'))) out.push(`${a}/${b}`);
  }
  return out;
}

/**
 * Reads everything the report needs from a run directory: the trainer's files, nested trainer
 * runs (stages, folds), and eval.json. A directory with no run files of its own but nested runs
 * (e.g. a two-stage run before its eval.json exists) is accepted. Typed errors name the bad file.
 */
export function readRunDirectory(dir: string): RunDirectoryContents {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new RunDirectoryError(root, 'not a directory');
  const childNames = findChildRuns(root);
  if (!isRunDirectory(root) && childNames.length === 0)
    throw new RunDirectoryError(
      root,
      'not a run directory (no run.json, config.yaml, eval.json or nested runs)',
    );
  return {
    root,
    name: basename(root),
    ...readTrainerFiles(root),
    children: childNames.map((name) => ({ name, ...readTrainerFiles(join(root, name)) })),
    evaluation: readEvalArtifact(root),
  };
}

function startKey(p: string): string {
  try {
    return String((JSON.parse(readFileSync(join(p, 'run.json'), 'utf8')) as RunInfo).startTime ?? '');
  } catch {
    return '';
  }
}

/**
 * Run directories in `dir` (or `dir` itself when it is one): its subdirectories that are runs
 * and, inside subdirectories that are not, their run subdirectories (e.g. `x/stage1`), sorted by
 * start time then path.
 */
export function findRunDirectories(dir: string): string[] {
  const root = resolve(dir);
  if (!existsSync(root)) throw new RunDirectoryError(root, 'does not exist');
  if (isRunDirectory(root)) return [root];
  const found: Array<{ path: string; key: string }> = [];
  const add = (p: string) => found.push({ path: p, key: `${startKey(p)}\u0000${p}` });
  for (const a of subdirectories(root)) {
    const p = join(root, a);
    if (isRunDirectory(p)) add(p);
    else for (const b of subdirectories(p)) if (isRunDirectory(join(p, b))) add(join(p, b));
  }
  return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((f) => f.path);
}
