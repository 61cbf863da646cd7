// `meddl runs`: list run directories with their key metrics, and compare two side by side.
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
  const rows = c.metrics?.rows ?? [];
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
    started: c.run?.startTime ?? '',
    epochs: rows.length,
    status: c.evaluation && status !== 'evaluated' ? `${status}+eval` : status,
    backend: c.run?.backend?.name ?? '',
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
export function listRuns(dir: string): { summaries: RunSummary[]; text: string } {
  const summaries = findRunDirectories(dir).map((p) => summarizeRun(readRunDirectory(p)));
  if (!summaries.length) return { summaries, text: `no run directories in ${dir}` };
  const rows = [['run', 'model', 'status', 'epochs', 'backend', 'started', 'key metrics']];
  for (const s of summaries) {
    const key = Object.keys(s.headline).length
      ? Object.entries(s.headline)
          .slice(0, 3)
          .map(([k, v]) => `${k} ${v}`)
          .join('; ')
      : Object.entries(s.lastEpoch)
          .filter(([k]) => k.startsWith('val_') || k === 'train_loss')
          .slice(0, 3)
          .map(([k, v]) => `${k} ${num(v)}`)
          .join('; ');
    rows.push([
      s.name,
      s.model,
      s.status,
      String(s.epochs),
      s.backend,
      s.started.replace(/\.\d+Z$/, 'Z'),
      key,
    ]);
  }
  return { summaries, text: pad(rows) };
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
