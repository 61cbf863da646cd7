// `meddl runs`: list run directories with their key metrics, and compare two side by side.
import { basename, relative, resolve } from 'node:path';
import { fmtEstimate, num } from './html';
import { findRunDirectories, type RunDirectoryContents, readRunDirectory } from './rundir';

export interface RunSummary {
  name: string;
  path: string;
  model: string;
  started: string;
  epochs: number;
  status: string;
  backend: string;
  /** Headline metrics (eval.json) formatted, keyed by metric key. */
  headline: Record<string, string>;
  /** Last epoch's validation metrics from metrics.csv. */
  lastEpoch: Record<string, number>;
}

function modelOf(c: RunDirectoryContents): string {
  if (c.evaluation) return c.evaluation.model;
  const cfg = c.config as { model?: { name?: unknown; preset?: unknown } } | null;
  const m = cfg?.model?.name ?? cfg?.model?.preset;
  return typeof m === 'string' ? m : '?';
}

export function summarizeRun(c: RunDirectoryContents): RunSummary {
  // A run of stages/folds: its epochs are the nested runs' epochs; the last one's metrics show.
  const withRows = [c, ...c.children].filter((k) => k.metrics?.rows.length);
  const rows = c.metrics?.rows.length ? c.metrics.rows : (withRows.at(-1)?.metrics?.rows ?? []);
  const epochs = withRows.reduce((a, k) => a + (k.metrics?.rows.length ?? 0), 0);
  const run = c.run ?? c.children.find((k) => k.run)?.run ?? null;
  const last = rows[rows.length - 1] ?? {};
  const lastEpoch: Record<string, number> = {};
  for (const [k, v] of Object.entries(last))
    if (!['epoch', 'step', 'duration_s'].includes(k) && Number.isFinite(v)) lastEpoch[k] = v;
  const headline: Record<string, string> = {};
  for (const h of c.evaluation?.headline ?? []) headline[h.key] = fmtEstimate(h, h.format);
  const status =
    typeof c.finalMetrics?.status === 'string'
      ? c.finalMetrics.status
      : c.evaluation
        ? 'evaluated'
        : rows.length
          ? 'trained'
          : 'created';
  return {
    name: c.name,
    path: c.root,
    model: modelOf(c),
    started: run?.startTime ?? '',
    epochs,
    status: c.evaluation && status !== 'evaluated' ? `${status}+eval` : status,
    backend: run?.backend?.name ?? '',
    headline,
    lastEpoch,
  };
}

function pad(rows: string[][]): string {
  const w = rows[0].map((_, j) => Math.max(...rows.map((r) => (r[j] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, j) => (c ?? '').padEnd(w[j]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Text table of the runs in `dir` (or the run `dir` itself). */
function keyMetrics(s: RunSummary): string {
  if (Object.keys(s.headline).length)
    return Object.entries(s.headline)
      .slice(0, 3)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ');
  return Object.entries(s.lastEpoch)
    .filter(([k]) => k.startsWith('val_') || k === 'train_loss')
    .slice(0, 3)
    .map(([k, v]) => `${k} ${num(v)}`)
    .join('; ');
}

/**
 * Text table of the runs in `dir` (or the run `dir` itself). A run that cannot be read (e.g. an
 * eval.json that breaks the contract) gets an 'unreadable' row with the error instead of hiding
 * the others; the errors are also returned.
 */
export function listRuns(dir: string): {
  summaries: RunSummary[];
  errors: Array<{ path: string; error: Error }>;
  text: string;
} {
  const base = resolve(dir);
  const summaries: RunSummary[] = [];
  const errors: Array<{ path: string; error: Error }> = [];
  const rows = [['run', 'model', 'status', 'epochs', 'backend', 'started', 'key metrics']];
  for (const p of findRunDirectories(dir)) {
    const name = relative(base, p) || basename(p);
    try {
      const s = { ...summarizeRun(readRunDirectory(p)), name };
      summaries.push(s);
      rows.push([
        s.name,
        s.model,
        s.status,
        String(s.epochs),
        s.backend,
        s.started.replace(/\.\d+Z$/, 'Z'),
        keyMetrics(s),
      ]);
    } catch (e) {
      const err = e as Error;
      errors.push({ path: p, error: err });
      rows.push([name, '?', `unreadable (${err.name})`, '', '', '', err.message.slice(0, 200)]);
    }
  }
  if (rows.length === 1) return { summaries, errors, text: `no run directories in ${dir}` };
  return { summaries, errors, text: pad(rows) };
}

function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = JSON.stringify(value);
  return out;
}

/** Two runs side by side: headline metrics, last-epoch metrics, and the config keys that differ. */
export function compareRuns(a: string, b: string): string {
  const ca = readRunDirectory(a);
  const cb = readRunDirectory(b);
  const sa = summarizeRun(ca);
  const sb = summarizeRun(cb);
  const rows: string[][] = [['', sa.name, sb.name]];
  rows.push(
    ['model', sa.model, sb.model],
    ['status', sa.status, sb.status],
    ['epochs', String(sa.epochs), String(sb.epochs)],
    ['backend', sa.backend, sb.backend],
  );
  const ev = (c: RunDirectoryContents) => c.evaluation;
  rows.push(['split', ev(ca)?.split ?? '–', ev(cb)?.split ?? '–']);
  const hk = [...new Set([...Object.keys(sa.headline), ...Object.keys(sb.headline)])];
  if (hk.length) rows.push(['— headline (eval.json)', '', '']);
  for (const k of hk) rows.push([k, sa.headline[k] ?? '–', sb.headline[k] ?? '–']);
  const lk = [...new Set([...Object.keys(sa.lastEpoch), ...Object.keys(sb.lastEpoch)])];
  if (lk.length) rows.push(['— last epoch (metrics.csv)', '', '']);
  for (const k of lk) rows.push([k, num(sa.lastEpoch[k]), num(sb.lastEpoch[k])]);
  const fa = flatten(ca.config ?? {});
  const fb = flatten(cb.config ?? {});
  const diff = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((k) => fa[k] !== fb[k]).sort();
  rows.push([`— config: ${diff.length} key(s) differ`, '', '']);
  for (const k of diff) rows.push([k, fa[k] ?? '(unset)', fb[k] ?? '(unset)']);
  return pad(rows);
}
