// Pure parts of the benchmark suite: the results.json schema (versioned, zod), statistics, the
// regression comparison, the markdown table and the SVG chart. No benchmarking happens here, so the
// unit test (lib.test.mjs) exercises all of it on synthetic result files.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const SCHEMA_VERSION = 2;
/** Model scenarios (run per model at a preset). */
export const MODEL_SCENARIOS = ['train-step', 'inference', 'onnx-latency', 'onnx-throughput'];
/** Data-pipeline and collective scenarios (run once, not per model). */
export const PIPELINE_SCENARIOS = [
  'dicom-decode',
  'wsi-tiles',
  'wsi-preprocess',
  'methylation-parse',
  'methylation-tokenize',
  'methylation-store',
  'hdf5-read',
  'hdf5-write',
  'allreduce',
  'metrics-auroc',
  'metrics-bootstrap',
];
/** Metric reached within a fixed training budget on synthetic data (src/accuracy.mjs). */
export const ACCURACY_SCENARIOS = ['accuracy'];
export const SCENARIOS = [...MODEL_SCENARIOS, ...PIPELINE_SCENARIOS, ...ACCURACY_SCENARIOS];
/** What `--scenarios` selects when it is not given (full run). */
export const DEFAULT_SCENARIOS = SCENARIOS;
/**
 * `--quick` without `--scenarios`: every timing scenario, no accuracy training (minutes of CPU
 * each, and at a budget small enough for the quick run the metrics are noise); name `accuracy`
 * to add it.
 */
export const QUICK_SCENARIOS = SCENARIOS.filter((s) => !ACCURACY_SCENARIOS.includes(s));

const Stats = z.object({
  /** Seconds per step: median over rounds of each round's median. */
  median: z.number().nonnegative(),
  min: z.number().nonnegative(),
  max: z.number().nonnegative(),
  /** Items (samples or bags) per second at the median. */
  throughput: z.number().nonnegative(),
  rounds: z.array(z.number().nonnegative()),
  /** 90th percentile of every timed step over all rounds (absent when only medians came back). */
  p90: z.number().nonnegative().optional(),
});

const MemoryStats = z.object({
  rssPeakBytes: z.number().nonnegative(),
  rssReset: z.boolean(),
  tensorPeakBytes: z.number().nonnegative().nullable(),
});

export const ResultSchema = z.object({
  model: z.string(),
  preset: z.string(),
  description: z.string(),
  scenario: z.enum(SCENARIOS),
  /** Items per timed step (samples, bags, patches, frames, tiles, MB). */
  batch: z.number().positive(),
  /** What `batch` and throughput count. */
  unit: z.string().default('items'),
  /** Parameters of the model (0 for pipeline scenarios). */
  params: z.number().int().nonnegative(),
  /** What ran on the measured side: 'meddl' (tfjs backend) or e.g. 'meddl onnxruntime'. */
  subject: z.string().default('meddl'),
  /** Threads both sides were given. */
  threads: z.number().int().positive().optional(),
  meddl: Stats,
  /**
   * Seconds of the very first step (before any warm-up: kernel compilation, first allocations).
   * meddl: once per model in the suite's process; PyTorch: median over its fresh processes;
   * ONNX rows: the first session.run after creating the session, and tfjs's first call.
   */
  firstStep: z
    .object({ meddl: z.number().nonnegative(), peer: z.number().nonnegative().nullable() })
    .optional(),
  /**
   * Memory of model scenarios. rssPeakBytes: the process's RSS high-water mark (VmHWM) over the
   * scenario's steps, reset first (rssReset false: not resettable, so the process lifetime peak);
   * it includes the runtime (Node + tfjs, or Python + torch). tensorPeakBytes: tfjs's engine peak
   * over one step (tf.profile: every live tensor, weights and optimizer state included); null for
   * the peer (PyTorch 1.13 has no CPU allocator peak counter).
   */
  memory: z
    .object({
      meddl: MemoryStats,
      peer: MemoryStats.nullable(),
    })
    .optional(),
  peer: z
    .object({
      /** pytorch, tfjs (the ONNX rows' baseline), pydicom, openslide, h5py, tcp. */
      name: z.string(),
      params: z.number().int().nonnegative().optional(),
      paramsMatch: z.boolean().optional(),
      stats: Stats,
      /** measured/peer per round (pairs run back to back), summarised. */
      ratio: z.object({ median: z.number(), min: z.number(), max: z.number() }),
    })
    .nullable(),
  /** Why the peer did not run (absent runtime, failure, parameter mismatch). */
  peerNote: z.string().optional(),
  /** Accuracy scenarios: the metric reached, its 95 % interval, and the known ceiling if any. */
  metric: z
    .object({
      name: z.string(),
      value: z.number(),
      lower: z.number(),
      upper: z.number(),
      n: z.number().int().nonnegative(),
      ceiling: z.number().nullable(),
    })
    .optional(),
  /** Output agreement checked inside the scenario (ONNX vs tfjs, meddl vs peer decode). */
  check: z
    .object({
      what: z.string(),
      maxAbsDiff: z.number().nonnegative(),
      tolerance: z.number(),
      ok: z.boolean(),
    })
    .optional(),
});

export const ResultsFileSchema = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  date: z.string(),
  command: z.string(),
  quick: z.boolean(),
  /** Model size preset for the model scenarios (tiny, small, base). */
  preset: z.string().default('tiny'),
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
    /** Other runtimes that took part (onnxruntime-node, openslide, pydicom, h5py), null when absent. */
    versions: z.record(z.string(), z.string().nullable()).default({}),
  }),
  results: z.array(ResultSchema),
  /** Scenarios that failed (e.g. ONNX output disagreeing with tfjs): listed, never timed. */
  failures: z.array(z.object({ key: z.string(), message: z.string() })).default([]),
  /** Scenarios not run because their inputs are absent (e.g. no ../shared/data): not failures. */
  skipped: z.array(z.object({ key: z.string(), reason: z.string() })).default([]),
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
  // Version 1 (train-step and inference rows against PyTorch only) reads as version 2: every
  // field it has kept its meaning; the new ones take their defaults.
  if (raw && typeof raw === 'object' && raw.schemaVersion === 1) raw = { ...raw, schemaVersion: 2 };
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

/** The q-quantile (0..1) by linear interpolation between order statistics. */
export function quantile(xs, q) {
  if (xs.length === 0) throw new RangeError('quantile of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * Per-round medians → the summary stored in results.json; `allSteps` (every timed step of every
 * round), when given, adds the 90th percentile.
 */
export function summarize(roundMedians, itemsPerStep, allSteps = null) {
  const med = median(roundMedians);
  return {
    median: med,
    min: Math.min(...roundMedians),
    max: Math.max(...roundMedians),
    throughput: med > 0 ? itemsPerStep / med : 0,
    rounds: roundMedians,
    ...(allSteps?.length ? { p90: quantile(allSteps, 0.9) } : {}),
  };
}

export function ratioSummary(meddlRounds, peerRounds) {
  const r = meddlRounds.map((m, i) => m / peerRounds[i]);
  return { median: median(r), min: Math.min(...r), max: Math.max(...r) };
}

const key = (r) => `${r.model}/${r.preset}/${r.scenario}`;

/**
 * Compares meddl medians of `current` against `baseline`. A scenario regresses when its median
 * step time grew by more than `threshold` (0.1 = 10 %), or, for accuracy rows, when its metric
 * fell below the baseline's 95 % interval. Returns every matched row plus the
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
    // Accuracy rows also regress when the metric falls below the baseline's 95 % interval.
    const metricDrop = Boolean(r.metric && b.metric && r.metric.value < b.metric.lower);
    rows.push({
      key: key(r),
      before: b.meddl.median,
      after: r.meddl.median,
      change,
      ...(r.metric && b.metric
        ? { metricBefore: b.metric.value, metricAfter: r.metric.value, metricDrop }
        : {}),
      regression: change > threshold || metricDrop,
      improvement: change < -threshold,
    });
  }
  return { threshold, rows, regressions: rows.filter((x) => x.regression), added, removed: [...old.keys()] };
}

const ms = (s) => (s * 1000 >= 100 ? (s * 1000).toFixed(0) : (s * 1000).toPrecision(3));
/** Bytes → MB (10⁶) with 3 significant digits below 100. */
const mb = (b) => {
  const v = b / 1e6;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(3);
};
const fmtStats = (st) => `${ms(st.median)} (${ms(st.min)}–${ms(st.max)})`;

const PEER_LABEL = { pytorch: 'PyTorch', tfjs: 'meddl tfjs', tcp: 'raw TCP' };
const peerLabel = (name) => PEER_LABEL[name] ?? name;
const rate = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(3));

/**
 * One row per scenario: what ran (subject), its median step time with the min–max over rounds,
 * p90 over all steps, throughput in the row's unit, then the peer's time and the per-round
 * measured/peer ratio, and the output check where the scenario has one.
 */
export function markdownTable(file) {
  const lines = [
    '| model | preset | scenario | batch | params | measured | ms (min–max) | p90 ms | throughput | first step ms | peak RSS MB | tensor peak MB | peer | peer ms (min–max) | measured / peer (min–max) | peer first step ms | peer peak RSS MB | check |',
    '| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of file.results) {
    const peerFirst = r.firstStep?.peer != null ? ms(r.firstStep.peer) : '—';
    const peer = r.peer
      ? [
          peerLabel(r.peer.name),
          fmtStats(r.peer.stats),
          `${r.peer.ratio.median.toFixed(2)}× (${r.peer.ratio.min.toFixed(2)}–${r.peer.ratio.max.toFixed(2)})`,
          peerFirst,
          r.memory?.peer ? mb(r.memory.peer.rssPeakBytes) : '—',
        ]
      : ['—', `— (${r.peerNote ?? 'not run'})`, '—', '—', '—'];
    const mem = r.memory?.meddl
      ? [
          mb(r.memory.meddl.rssPeakBytes),
          r.memory.meddl.tensorPeakBytes === null ? '—' : mb(r.memory.meddl.tensorPeakBytes),
        ]
      : ['—', '—'];
    const check = r.check
      ? `${r.check.ok ? 'ok' : 'FAIL'}: ${r.check.what} max abs diff ${r.check.maxAbsDiff.toExponential(1)}`
      : r.metric
        ? `${r.metric.name} ${r.metric.value.toFixed(3)} (95 % CI ${r.metric.lower.toFixed(3)}–${r.metric.upper.toFixed(3)}, n ${r.metric.n})${r.metric.ceiling !== null ? `, ceiling ${r.metric.ceiling.toFixed(3)}` : ''}`
        : '';
    lines.push(
      `| ${r.model} | ${r.preset} | ${r.scenario} | ${r.batch} | ${r.params ? r.params.toLocaleString('en-US') : '—'} | ${r.subject} | ${fmtStats(r.meddl)} | ${r.meddl.p90 !== undefined ? ms(r.meddl.p90) : '—'} | ${rate(r.meddl.throughput)} ${r.unit}/s | ${r.firstStep ? ms(r.firstStep.meddl) : '—'} | ${mem.join(' | ')} | ${peer.join(' | ')} | ${check} |`,
    );
  }
  for (const f of file.failures ?? []) lines.push(`| ${f.key} | FAILED: ${f.message} |`);
  for (const x of file.skipped ?? []) lines.push(`| ${x.key} | skipped: ${x.reason} |`);
  return `${lines.join('\n')}\n`;
}

export function compareTable(cmp) {
  const lines = ['| scenario | before ms | after ms | change | |', '| --- | ---: | ---: | ---: | --- |'];
  for (const r of cmp.rows)
    lines.push(
      `| ${r.key} | ${ms(r.before)} | ${ms(r.after)} | ${(r.change * 100).toFixed(1)} % | ${r.regression ? 'REGRESSION' : r.improvement ? 'faster' : ''}${r.metricDrop !== undefined ? ` metric ${r.metricBefore.toFixed(3)} → ${r.metricAfter.toFixed(3)}${r.metricDrop ? ' (below the baseline interval)' : ''}` : ''} |`,
    );
  return `${lines.join('\n')}\n`;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars of meddl/PyTorch ratio per scenario on a log scale (1× marked). */
export function svgChart(file) {
  const rows = file.results.filter((r) => r.peer);
  const rowH = 22;
  const left = 340;
  const width = 860;
  const plotW = width - left - 80;
  const height = 50 + rows.length * rowH + 30;
  const lo = Math.min(0.5, ...rows.map((r) => r.peer.ratio.min / 1.1));
  const hi = Math.max(2, ...rows.map((r) => r.peer.ratio.max * 1.1));
  const xOf = (v) => left + ((Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * plotW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>measured / peer step time per scenario, ${esc(file.machine.cpu)}, ${file.machine.threads} threads, ${esc(file.date)}</title>`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="20" font-size="14">measured / peer step time (median, whiskers min–max over rounds; &lt; 1 = measured side faster) — ${esc(file.date)}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = 40 + i * rowH;
    const v = r.peer.ratio.median;
    const x0 = xOf(1);
    const x1 = xOf(v);
    parts.push(
      `<text x="10" y="${y + 14}">${esc(`${r.model} ${r.preset} ${r.scenario} vs ${peerLabel(r.peer.name)}`)}</text>`,
    );
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
  if (rows.length === 0)
    parts.push('<text x="10" y="50">no peer results (no peer runtime installed?)</text>');
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
