// Pure parts of the benchmark suite: the results.json schema (versioned, zod), statistics, the
// regression comparison, the markdown table and the SVG chart. No benchmarking happens here, so the
// unit test (lib.test.mjs) exercises all of it on synthetic result files.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const SCHEMA_VERSION = 1;
export const SCENARIOS = ['train-step', 'inference'];

const Stats = z.object({
  /** Seconds per step: median over rounds of each round's median. */
  median: z.number().nonnegative(),
  min: z.number().nonnegative(),
  max: z.number().nonnegative(),
  /** Items (samples or bags) per second at the median. */
  throughput: z.number().nonnegative(),
  rounds: z.array(z.number().nonnegative()),
});

export const ResultSchema = z.object({
  model: z.string(),
  preset: z.string(),
  description: z.string(),
  scenario: z.enum(SCENARIOS),
  batch: z.number().int().positive(),
  params: z.number().int().nonnegative(),
  meddl: Stats,
  peer: z
    .object({
      name: z.literal('pytorch'),
      params: z.number().int().nonnegative(),
      paramsMatch: z.boolean(),
      stats: Stats,
      /** meddl/peer per round (pairs run back to back), summarised. */
      ratio: z.object({ median: z.number(), min: z.number(), max: z.number() }),
    })
    .nullable(),
  /** Why the peer did not run (absent runtime, failure, parameter mismatch). */
  peerNote: z.string().optional(),
});

export const ResultsFileSchema = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  date: z.string(),
  command: z.string(),
  quick: z.boolean(),
  method: z.object({ warmup: z.number().int(), rounds: z.number().int(), steps: z.number().int() }),
  machine: z.object({
    cpu: z.string(),
    cores: z.number().int().positive(),
    memoryGiB: z.number().positive(),
    loadAverage: z.array(z.number()),
    platform: z.string(),
    node: z.string(),
    backend: z.string(),
    threads: z.number().int().positive(),
    meddlVersion: z.string(),
    torch: z.string().nullable(),
    python: z.string().nullable(),
  }),
  results: z.array(ResultSchema),
});

export class BenchResultsError extends Error {
  meddl = true;
  constructor(file, message) {
    super(`${file}: ${message}`);
    this.name = 'BenchResultsError';
    this.file = file;
  }
}

/** Reads and validates a results.json; a typed error names the file and the first problem. */
export function readResults(file) {
  let raw;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BenchResultsError(file, `not a readable JSON file (${e.message})`);
  }
  return parseResults(raw, file);
}

export function parseResults(raw, file = '<results>') {
  if (raw && typeof raw === 'object' && raw.schemaVersion !== SCHEMA_VERSION)
    throw new BenchResultsError(
      file,
      `schemaVersion ${raw.schemaVersion} is not supported (this suite writes ${SCHEMA_VERSION})`,
    );
  const r = ResultsFileSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new BenchResultsError(file, `${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

export function median(xs) {
  if (xs.length === 0) throw new RangeError('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Per-round medians → the summary stored in results.json. */
export function summarize(roundMedians, itemsPerStep) {
  const med = median(roundMedians);
  return {
    median: med,
    min: Math.min(...roundMedians),
    max: Math.max(...roundMedians),
    throughput: med > 0 ? itemsPerStep / med : 0,
    rounds: roundMedians,
  };
}

export function ratioSummary(meddlRounds, peerRounds) {
  const r = meddlRounds.map((m, i) => m / peerRounds[i]);
  return { median: median(r), min: Math.min(...r), max: Math.max(...r) };
}

const key = (r) => `${r.model}/${r.preset}/${r.scenario}`;

/**
 * Compares meddl medians of `current` against `baseline`. A scenario regresses when its median
 * step time grew by more than `threshold` (0.1 = 10 %). Returns every matched row plus the
 * scenarios only one side has.
 */
export function compareResults(baseline, current, threshold = 0.1) {
  const old = new Map(baseline.results.map((r) => [key(r), r]));
  const rows = [];
  const added = [];
  for (const r of current.results) {
    const b = old.get(key(r));
    if (!b) {
      added.push(key(r));
      continue;
    }
    old.delete(key(r));
    const change = r.meddl.median / b.meddl.median - 1;
    rows.push({
      key: key(r),
      before: b.meddl.median,
      after: r.meddl.median,
      change,
      regression: change > threshold,
      improvement: change < -threshold,
    });
  }
  return { threshold, rows, regressions: rows.filter((x) => x.regression), added, removed: [...old.keys()] };
}

const ms = (s) => (s * 1000 >= 100 ? (s * 1000).toFixed(0) : (s * 1000).toPrecision(3));
const fmtStats = (st) => `${ms(st.median)} (${ms(st.min)}–${ms(st.max)})`;

export function markdownTable(file) {
  const lines = [
    '| model | preset | scenario | batch | params | meddl ms (min–max) | meddl items/s | PyTorch ms (min–max) | meddl / PyTorch (min–max) |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of file.results) {
    const peer = r.peer
      ? [
          fmtStats(r.peer.stats),
          `${r.peer.ratio.median.toFixed(2)}× (${r.peer.ratio.min.toFixed(2)}–${r.peer.ratio.max.toFixed(2)})`,
        ]
      : [`— (${r.peerNote ?? 'not run'})`, '—'];
    lines.push(
      `| ${r.model} | ${r.preset} | ${r.scenario} | ${r.batch} | ${r.params.toLocaleString('en-US')} | ${fmtStats(r.meddl)} | ${r.meddl.throughput.toFixed(1)} | ${peer.join(' | ')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function compareTable(cmp) {
  const lines = ['| scenario | before ms | after ms | change | |', '| --- | ---: | ---: | ---: | --- |'];
  for (const r of cmp.rows)
    lines.push(
      `| ${r.key} | ${ms(r.before)} | ${ms(r.after)} | ${(r.change * 100).toFixed(1)} % | ${r.regression ? 'REGRESSION' : r.improvement ? 'faster' : ''} |`,
    );
  return `${lines.join('\n')}\n`;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars of meddl/PyTorch ratio per scenario on a log scale (1× marked). */
export function svgChart(file) {
  const rows = file.results.filter((r) => r.peer);
  const rowH = 22;
  const left = 260;
  const width = 760;
  const plotW = width - left - 80;
  const height = 50 + rows.length * rowH + 30;
  const lo = Math.min(0.5, ...rows.map((r) => r.peer.ratio.min / 1.1));
  const hi = Math.max(2, ...rows.map((r) => r.peer.ratio.max * 1.1));
  const xOf = (v) => left + ((Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * plotW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>meddl / PyTorch step time per scenario, ${esc(file.machine.cpu)}, ${file.machine.threads} threads, ${esc(file.date)}</title>`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="20" font-size="14">meddl / PyTorch step time (median, whiskers min–max over rounds; &lt; 1 = meddl faster) — ${esc(file.date)}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = 40 + i * rowH;
    const v = r.peer.ratio.median;
    const x0 = xOf(1);
    const x1 = xOf(v);
    parts.push(`<text x="10" y="${y + 14}">${esc(`${r.model} ${r.preset} ${r.scenario}`)}</text>`);
    parts.push(
      `<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y + 3}" width="${Math.abs(x1 - x0).toFixed(1)}" height="${rowH - 6}" fill="${v <= 1 ? '#3a7d44' : '#c0504d'}"/>`,
    );
    parts.push(
      `<line x1="${xOf(r.peer.ratio.min).toFixed(1)}" x2="${xOf(r.peer.ratio.max).toFixed(1)}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="black"/>`,
    );
    parts.push(`<text x="${left + plotW + 10}" y="${y + 14}">${v.toFixed(2)}×</text>`);
  });
  const axisY = 40 + rows.length * rowH + 4;
  parts.push(
    `<line x1="${xOf(1)}" x2="${xOf(1)}" y1="34" y2="${axisY}" stroke="#555" stroke-dasharray="3,3"/>`,
  );
  for (const t of [0.03125, 0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64].filter(
    (t) => t >= lo && t <= hi,
  ))
    parts.push(`<text x="${xOf(t).toFixed(1)}" y="${axisY + 16}" text-anchor="middle">${t}×</text>`);
  if (rows.length === 0) parts.push('<text x="10" y="50">no peer results (PyTorch not installed?)</text>');
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
