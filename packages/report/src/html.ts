// renderReport: one self-contained HTML page for a run directory. No scripts, no network: inline
// CSS, inline SVG charts (svg.ts), images as data: URIs.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import { RunDirectoryError } from './errors';
import { type RunDirectoryContents, readRunDirectory, type TrainerFiles } from './rundir';
import type {
  AblationSection,
  CalibrationSection,
  ClassificationSection,
  ConfusionSection,
  EmbeddingSection,
  Estimate,
  ForestSection,
  GallerySection,
  HeadlineMetric,
  ScatterSection,
  Section,
  SurvivalSection,
  TableSection,
} from './schema';
import { thinCurve } from './sections';
import {
  barChart,
  CHART_CSS,
  esc,
  forestPlot,
  heatmap,
  type LineSeries,
  lineChart,
  scatterChart,
} from './svg';

/** Formats a number for tables: 4 significant digits, null/NaN as an en dash. */
export function num(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return String(+v.toPrecision(digits));
}

/** "0.913 [0.871, 0.951]" (or with a reason when undefined). */
export function fmtEstimate(e: Estimate | undefined, format?: HeadlineMetric['format']): string {
  if (!e) return '–';
  const f = (v: number | null | undefined) =>
    v === null || v === undefined
      ? '–'
      : format === 'percent'
        ? `${(v * 100).toFixed(1)} %`
        : format === 'seconds'
          ? `${num(v, 3)} s`
          : format === 'integer'
            ? String(Math.round(v))
            : num(v);
  if (e.value === null) return `n/a${e.reason ? ` (${e.reason})` : ''}`;
  const ci = e.lower != null && e.upper != null ? ` [${f(e.lower)}, ${f(e.upper)}]` : '';
  return `${f(e.value)}${ci}`;
}

function pval(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '–';
  return p < 1e-4 ? '< 0.0001' : p.toFixed(4);
}

function table(columns: string[], rows: Array<Array<string | number | null | undefined>>, cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="n"' : ''}>${typeof c === 'number' ? num(c) : esc(c ?? '–')}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

function kv(rows: Array<[string, unknown]>): string {
  return `<table class="kv"><tbody>${rows
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(
      ([k, v]) =>
        `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'number' ? num(v) : typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

const charts = (inner: string) => `<div class="charts">${inner}</div>`;
const desc = (s: { description?: string }) =>
  s.description ? `<p class="desc">${esc(s.description)}</p>` : '';

function classification(s: ClassificationSection): string {
  const rocSeries: LineSeries[] = s.perClass.map((c) => ({
    name: `${c.className} (${num(c.auroc.value, 3)})`,
    x: c.roc.x,
    y: c.roc.y,
  }));
  const prSeries: LineSeries[] = s.perClass.map((c) => ({
    name: `${c.className} (${num(c.averagePrecision.value, 3)})`,
    x: c.pr.x,
    y: c.pr.y,
    step: true,
  }));
  const unit: [number, number] = [0, 1];
  return (
    kv([
      ['cases', s.n],
      ['accuracy', s.accuracy],
      ['balanced accuracy', s.balancedAccuracy],
      ['macro AUROC', s.macroAuroc ? fmtEstimate(s.macroAuroc) : undefined],
      ['macro average precision', s.macroAveragePrecision ? fmtEstimate(s.macroAveragePrecision) : undefined],
    ]) +
    charts(
      lineChart({
        chart: 'roc',
        title: s.task === 'multilabel' ? 'ROC per label' : s.task === 'binary' ? 'ROC' : 'ROC (one-vs-rest)',
        xLabel: 'false positive rate',
        yLabel: 'true positive rate',
        series: rocSeries,
        xDomain: unit,
        yDomain: unit,
        diagonal: true,
      }) +
        lineChart({
          chart: 'pr',
          title: 'Precision–recall',
          xLabel: 'recall',
          yLabel: 'precision',
          series: prSeries,
          xDomain: unit,
          yDomain: unit,
          legendAt: 'br',
        }),
    ) +
    table(
      ['class', 'positives', 'AUROC [CI]', 'CI method', 'average precision'],
      s.perClass.map((c) => [
        c.className,
        c.positives,
        fmtEstimate(c.auroc),
        c.auroc.method ?? '',
        fmtEstimate(c.averagePrecision),
      ]),
    )
  );
}

function reliability(s: CalibrationSection, phase: 'before' | 'after'): string {
  const b = s[phase];
  if (!b) return '';
  const x: number[] = [];
  const y: number[] = [];
  b.meanConfidence.forEach((c, i) => {
    const o = b.observed[i];
    if (c !== null && o !== null) {
      x.push(c);
      y.push(o);
    }
  });
  const bars = b.counts.map((value, i) => ({ x0: b.binEdges[i], x1: b.binEdges[i + 1], value }));
  const title =
    phase === 'before'
      ? 'Before recalibration'
      : `After temperature scaling${s.temperature !== undefined ? ` (T = ${num(s.temperature, 3)})` : ''}`;
  return lineChart({
    chart: 'reliability',
    attrs: { phase },
    title: `${title} — ECE ${num(b.ece, 3)}`,
    xLabel: s.mode === 'binary' ? 'predicted P(y = 1)' : 'confidence',
    yLabel: s.mode === 'binary' ? 'observed frequency' : 'accuracy',
    series: [{ name: '', x, y, markers: true }],
    xDomain: [0, 1],
    yDomain: [0, 1],
    diagonal: true,
    bars,
  });
}

function calibration(s: CalibrationSection): string {
  return (
    charts(reliability(s, 'before') + reliability(s, 'after')) +
    table(
      ['', 'ECE', 'MCE', 'NLL'],
      [
        ['before', s.before.ece, s.before.mce, s.nllBefore],
        ...(s.after
          ? [['after', s.after.ece, s.after.mce, s.nllAfter] as Array<string | number | undefined>]
          : []),
      ],
    ) +
    kv([
      ['recalibration', s.method],
      ['temperature', s.temperature],
      ['fitted on', s.fittedOn],
      ['mode', s.mode],
    ])
  );
}

function confusion(s: ConfusionSection): string {
  return charts(
    heatmap({
      chart: 'confusion',
      title: 'Confusion matrix (colour: row fraction)',
      rowLabels: s.classNames,
      colLabels: s.classNames,
      values: s.counts,
      normalizeRows: true,
      xLabel: 'predicted',
      yLabel: 'true',
    }),
  );
}

function forest(s: ForestSection): string {
  return (
    charts(forestPlot({ chart: 'forest', xLabel: s.metric, rows: s.rows, reference: s.reference })) +
    table(
      ['subgroup', 'n', s.metric, 'detail'],
      s.rows.map((r) => [r.label, r.n, fmtEstimate(r), r.detail ?? r.reason ?? '']),
    )
  );
}

function survival(s: SurvivalSection): string {
  const series: LineSeries[] = s.curves.map((c) => ({
    name: `${c.label}${c.n !== undefined ? ` (n=${c.n})` : ''}`,
    x: [0, ...c.time],
    y: [1, ...c.survival],
    step: true,
    ...(c.lower && c.upper ? { band: { lower: [1, ...c.lower], upper: [1, ...c.upper] } } : {}),
  }));
  const maxT = Math.max(0, ...s.curves.flatMap((c) => c.time));
  return (
    charts(
      lineChart({
        chart: 'km',
        title: 'Kaplan–Meier (95 % band)',
        xLabel: `time${s.timeUnit ? ` (${s.timeUnit})` : ''}`,
        yLabel: 'survival probability',
        series,
        xDomain: [0, maxT || 1],
        yDomain: [0, 1],
        legendAt: 'tr',
        width: 460,
        height: 300,
      }),
    ) +
    kv([
      [
        'log-rank χ²',
        s.logRank
          ? `${num(s.logRank.statistic)} (df ${s.logRank.degreesOfFreedom}), p = ${pval(s.logRank.pValue)}`
          : undefined,
      ],
      ['C-index', s.cIndex ? fmtEstimate(s.cIndex) : undefined],
    ]) +
    table(
      ['group', 'n', 'events', 'median survival'],
      s.curves.map((c) => [c.label, c.n, c.events, c.median ?? 'not reached']),
    )
  );
}

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
};

function gallery(s: GallerySection, root: string): string {
  const figs = s.images.map((im) => {
    const file = resolve(root, im.path);
    const rel = relative(root, file);
    if (rel.startsWith('..')) throw new RunDirectoryError(file, 'gallery image outside the run directory');
    const mime = MIME[extname(file).toLowerCase()];
    const cap = `<figcaption>${esc(im.caption ?? im.path)}</figcaption>`;
    if (!mime)
      throw new RunDirectoryError(
        file,
        `unsupported image type '${extname(file)}' (png, jpg, svg, webp, gif)`,
      );
    if (!existsSync(file) || !statSync(file).isFile())
      return `<figure class="missing" data-gallery="missing"><div>missing: ${esc(im.path)}</div>${cap}</figure>`;
    const data = readFileSync(file).toString('base64');
    return `<figure data-gallery="image"><img alt="${esc(im.caption ?? im.path)}" src="data:${mime};base64,${data}"/>${cap}</figure>`;
  });
  return `<div class="gallery">${figs.join('')}</div>`;
}

function scatter(s: ScatterSection): string {
  const lo = Math.min(...s.groups.flatMap((g) => [...g.x, ...g.y]));
  const hi = Math.max(...s.groups.flatMap((g) => [...g.x, ...g.y]));
  const pad = (hi - lo) * 0.04 || 0.05;
  const dom: [number, number] | undefined = s.identity ? [lo - pad, hi + pad] : undefined;
  return (
    charts(
      s.groups
        .map((g, i) =>
          scatterChart({
            chart: 'scatter',
            attrs: { group: g.label },
            title: g.label,
            xLabel: s.xLabel,
            yLabel: s.yLabel,
            x: g.x,
            y: g.y,
            identity: s.identity,
            ...(dom ? { squareDomain: dom } : {}),
            note: `r ${num(g.pearson ?? null, 3)}  MAE ${num(g.mae ?? null, 3)}`,
            color: ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#b07aa1'][i % 6],
          }),
        )
        .join(''),
    ) +
    table(
      ['group', 'n', 'Pearson r', 'Spearman ρ', 'MAE', 'RMSE', "Lin's CCC"],
      s.groups.map((g) => [g.label, g.x.length, g.pearson, g.spearman, g.mae, g.rmse, g.ccc]),
    )
  );
}

function ablation(s: AblationSection): string {
  return (
    charts(
      barChart({
        chart: 'ablation',
        xLabel: s.metric,
        bars: s.rows.map((r) => ({ label: r.name, value: r.value, lower: r.lower, upper: r.upper })),
      }),
    ) +
    table(
      ['variant', `${s.metric} [CI]`, `Δ vs ${s.reference}`, `p (${s.test ?? 'test'})`],
      s.rows.map((r) => [
        r.name === s.reference ? `${r.name} (reference)` : r.name,
        fmtEstimate(r),
        r.name === s.reference ? '–' : num(r.difference ?? null),
        r.name === s.reference ? '–' : pval(r.pValue),
      ]),
    )
  );
}

function embedding(s: EmbeddingSection): string {
  const lines = s.series.map((ser) =>
    lineChart({
      chart: 'embedding-series',
      attrs: { series: ser.name },
      title: ser.name,
      xLabel: ser.xLabel ?? 'epoch',
      yLabel: ser.name,
      series: [{ name: '', x: ser.x, y: ser.y, markers: ser.x.length <= 40 }],
      width: 300,
      height: 220,
    }),
  );
  const probes = s.probes.length
    ? barChart({
        chart: 'probes',
        title: 'Probes',
        xLabel: 'score',
        bars: s.probes.map((p) => ({
          label: `${p.name} (${p.metric})`,
          value: p.value,
          lower: p.lower,
          upper: p.upper,
        })),
      }) +
      table(
        ['probe', 'metric', 'value [CI]'],
        s.probes.map((p) => [p.name, p.metric, fmtEstimate(p)]),
      )
    : '';
  return charts(lines.join('')) + probes;
}

function freeTable(s: TableSection): string {
  return table(s.columns, s.rows);
}

const SECTION_TITLES: Record<Section['type'], string> = {
  classification: 'Discrimination',
  calibration: 'Calibration',
  confusion: 'Confusion matrix',
  forest: 'Subgroups',
  survival: 'Survival',
  gallery: 'Gallery',
  scatter: 'True vs estimated',
  ablation: 'Ablations',
  embedding: 'Embedding health',
  table: 'Table',
};

/** HTML for one eval.json section (a <section> with data-section="<type>"). */
export function renderSection(s: Section, root: string): string {
  let body: string;
  switch (s.type) {
    case 'classification':
      body = classification(s);
      break;
    case 'calibration':
      body = calibration(s);
      break;
    case 'confusion':
      body = confusion(s);
      break;
    case 'forest':
      body = forest(s);
      break;
    case 'survival':
      body = survival(s);
      break;
    case 'gallery':
      body = gallery(s, root);
      break;
    case 'scatter':
      body = scatter(s);
      break;
    case 'ablation':
      body = ablation(s);
      break;
    case 'embedding':
      body = embedding(s);
      break;
    case 'table':
      body = freeTable(s);
      break;
  }
  return `<section class="sec" data-section="${s.type}"><h2>${esc(s.title ?? SECTION_TITLES[s.type])}</h2>${desc(s)}${body}</section>`;
}

const SKIP_CURVE = new Set(['epoch', 'step', 'duration_s', 'lr']);

/** Per-step loss and gradient norm from logs/steps.jsonl (thinned to 1000 points). */
function stepCharts(c: TrainerFiles): string[] {
  const st = c.steps;
  if (!st || st.step.length < 2) return [];
  const out: string[] = [];
  const loss = thinCurve(st.step, st.loss, 1000);
  out.push(
    lineChart({
      chart: 'training-step-loss',
      title: 'Training loss per step',
      xLabel: 'optimizer step',
      yLabel: 'loss',
      series: [{ name: 'loss', x: loss.x, y: loss.y }],
    }),
  );
  const gn = thinCurve(st.step, st.gradNorm, 1000);
  if (gn.x.length >= 2)
    out.push(
      lineChart({
        chart: 'training-grad-norm',
        title: 'Gradient norm (before clipping)',
        xLabel: 'optimizer step',
        yLabel: 'L2 norm',
        series: [{ name: 'grad norm', x: gn.x, y: gn.y }],
      }),
    );
  return out;
}

/** Training curves from logs/metrics.csv (losses, learning rate, the other metrics) and logs/steps.jsonl. */
export function trainingCharts(c: TrainerFiles): string {
  const m = c.metrics;
  if (!m || m.rows.length === 0) {
    const steps = stepCharts(c);
    return steps.length ? charts(steps.join('')) : '<p class="muted">No logs/metrics.csv in this run.</p>';
  }
  const x = m.rows.map((r, i) => (Number.isFinite(r.epoch) ? r.epoch + 1 : i + 1));
  const col = (name: string) => m.rows.map((r) => r[name]);
  const has = (name: string) => col(name).some(Number.isFinite);
  const losses = m.columns.filter((k) => /loss/i.test(k) && !SKIP_CURVE.has(k) && has(k));
  const others = m.columns.filter((k) => !/loss/i.test(k) && !SKIP_CURVE.has(k) && has(k));
  const unit = others.filter((k) => col(k).every((v) => !Number.isFinite(v) || (v >= 0 && v <= 1)));
  const free = others.filter((k) => !unit.includes(k));
  const out: string[] = [];
  const markers = x.length <= 40;
  if (losses.length)
    out.push(
      lineChart({
        chart: 'training-loss',
        title: 'Loss',
        xLabel: 'epoch',
        yLabel: 'loss',
        series: losses.map((k) => ({ name: k, x, y: col(k), markers })),
        legendAt: 'tr',
      }),
    );
  if (unit.length)
    out.push(
      lineChart({
        chart: 'training-metrics',
        title: 'Metrics',
        xLabel: 'epoch',
        // One series has no legend: name it on the axis.
        yLabel: unit.length === 1 ? unit[0] : 'value',
        series: unit.map((k) => ({ name: k, x, y: col(k), markers })),
      }),
    );
  for (const k of free)
    out.push(
      lineChart({
        chart: 'training-metric',
        attrs: { metric: k },
        title: k,
        xLabel: 'epoch',
        yLabel: k,
        series: [{ name: '', x, y: col(k), markers }],
      }),
    );
  out.push(...stepCharts(c));
  if (has('lr'))
    out.push(
      lineChart({
        chart: 'training-lr',
        title: 'Learning rate (end of epoch)',
        xLabel: 'epoch',
        yLabel: 'lr',
        series: [{ name: 'lr', x, y: col('lr'), markers }],
      }),
    );
  const last = m.rows[m.rows.length - 1];
  const tableCols = m.columns.filter((k) => k !== 'step');
  return `${charts(out.join(''))}<h3>Last epoch</h3>${table(tableCols, [tableCols.map((k) => last[k])])}`;
}

function headlineCards(h: HeadlineMetric[]): string {
  if (!h.length) return '';
  return `<div class="cards">${h
    .map(
      (m) =>
        `<div class="card" data-metric="${esc(m.key)}"><div class="k">${esc(m.label ?? m.key)}</div><div class="v">${esc(fmtEstimate(m, m.format))}</div>${m.method ? `<div class="m">${esc(m.method)}${m.confidence ? `, ${Math.round(m.confidence * 100)} % CI` : ''}</div>` : ''}</div>`,
    )
    .join('')}</div>`;
}

const PAGE_CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;margin:0;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:20px 28px 60px}
header{border-bottom:3px solid #2b5c8a;margin-bottom:16px;padding-bottom:8px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:0 0 8px;color:#2b5c8a} h3{font-size:14px;margin:14px 0 6px}
.sub{color:#5b6570;font-size:13px}
.sec{background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:14px 18px;margin:14px 0;break-inside:avoid-page}
.charts{display:flex;flex-wrap:wrap;gap:14px;margin:8px 0}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border-bottom:1px solid #e6e9ed;padding:3px 9px;text-align:left;vertical-align:top}
thead th{background:#f0f3f6} td.n{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{font-weight:500;color:#5b6570;background:none;width:210px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{background:#fff;border:1px solid #d9dfe6;border-left:4px solid #2b5c8a;border-radius:5px;padding:8px 12px;min-width:170px}
.card .k{font-size:12px;color:#5b6570}.card .v{font-size:17px;font-weight:600;font-variant-numeric:tabular-nums}.card .m{font-size:11px;color:#7a848e}
.gallery{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;max-width:260px}figure img{width:240px;height:auto;max-height:320px;object-fit:contain;border:1px solid #ddd;image-rendering:pixelated}
figcaption{font-size:12px;color:#5b6570}
figure.missing div{width:200px;height:120px;border:1px dashed #c33;color:#c33;display:flex;align-items:center;justify-content:center;font-size:12px}
pre{background:#f6f8fa;border:1px solid #e1e5ea;padding:10px;overflow:auto;font-size:12px;max-height:480px}
.desc,.muted{color:#5b6570}
footer{color:#7a848e;font-size:12px;margin-top:24px}
@media print{body{background:#fff}main{padding:0}.sec{border:none;padding:6px 0}pre{max-height:none}}
`;

/** The report's HTML for already-read run contents. */
export function renderReportHtml(c: RunDirectoryContents, options: { generatedAt?: string } = {}): string {
  const ev = c.evaluation;
  // A run made of stages or folds may have no run.json of its own: take the first nested one's.
  const run = c.run ?? c.children.find((k) => k.run)?.run ?? null;
  const title = ev?.title ?? `${ev?.model ?? 'run'} — ${c.name}`;
  const backend = run?.backend;
  const facts: Array<[string, unknown]> = [
    ['run directory', c.root],
    ['model', ev?.model],
    ['evaluated split', ev?.split],
    ['checkpoint evaluated', ev?.checkpoint],
    ['evaluated at', ev?.createdAt],
    ['evaluation wall time', ev?.wallSeconds !== undefined ? `${num(ev.wallSeconds, 3)} s` : undefined],
    ['training started', run?.startTime],
    ['seed', run?.seed],
    ['code revision', run?.codeRevision ?? undefined],
    [
      'backend',
      backend
        ? `${backend.name ?? '?'} (tfjs ${backend.tfjsName ?? '?'} ${backend.version ?? ''}, tfjs-core ${backend.tfjsVersion ?? '?'}, ${backend.threads ?? '?'} threads${backend.simd ? ', SIMD' : ''})`
        : undefined,
    ],
    ...Object.entries(run?.versions ?? {}).map(([k, v]) => [`version ${k}`, v] as [string, unknown]),
    ['command', run?.argv?.length ? run.argv.join(' ') : undefined],
    ['resumed', run?.resumes?.length ? `${run.resumes.length} time(s)` : undefined],
    ['status', typeof c.finalMetrics?.status === 'string' ? c.finalMetrics.status : undefined],
  ];
  const data = ev?.data;
  const parts: string[] = [];
  parts.push(
    `<header><h1>${esc(title)}</h1><div class="sub">meddl run report · ${esc(c.name)}${ev ? ` · ${esc(ev.split)} split` : ' · not evaluated yet (no eval.json)'}</div></header>`,
  );
  if (ev) parts.push(headlineCards(ev.headline));
  parts.push(`<section class="sec" data-section="run"><h2>Run</h2>${kv(facts)}</section>`);
  if (data)
    parts.push(
      `<section class="sec" data-section="data"><h2>Data${data.name ? `: ${esc(data.name)}` : ''}</h2>${data.description ? `<p class="desc">${esc(data.description)}</p>` : ''}${kv(Object.entries(data.facts))}</section>`,
    );
  if (c.metrics || c.steps || c.children.length === 0)
    parts.push(
      `<section class="sec" data-section="training"><h2>Training</h2>${trainingCharts(c)}</section>`,
    );
  for (const k of c.children)
    parts.push(
      `<section class="sec" data-section="training" data-run="${esc(k.name)}"><h2>Training — ${esc(k.name)}</h2>${kv(
        [
          ['started', k.run?.startTime],
          ['status', typeof k.finalMetrics?.status === 'string' ? k.finalMetrics.status : undefined],
          ['checkpoints', k.checkpoints.length || undefined],
        ],
      )}${trainingCharts(k)}</section>`,
    );
  for (const s of ev?.sections ?? []) parts.push(renderSection(s, c.root));
  if (c.checkpoints.length)
    parts.push(
      `<section class="sec" data-section="checkpoints"><h2>Checkpoints</h2>${table(
        ['name', 'epoch', 'step', 'reason', 'tags', 'metrics', 'MB'],
        c.checkpoints.map((k) => [
          k.name,
          k.epoch,
          k.step,
          k.reason,
          (k.tags ?? []).join(' '),
          Object.entries(k.metrics ?? {})
            .map(([a, b]) => `${a} ${num(b)}`)
            .join(', '),
          k.bytes !== undefined ? k.bytes / 1e6 : undefined,
        ]),
      )}</section>`,
    );
  // Stages/folds without a root config.yaml: show each nested run's config.
  if (c.configText === null)
    for (const k of c.children)
      if (k.configText !== null)
        parts.push(
          `<section class="sec" data-section="config" data-run="${esc(k.name)}"><h2>Config (${esc(k.name)}/config.yaml)</h2><pre>${esc(k.configText)}</pre></section>`,
        );
  if (c.configText !== null)
    parts.push(
      `<section class="sec" data-section="config"><h2>Config (config.yaml)</h2><pre>${esc(c.configText)}</pre></section>`,
    );
  parts.push(
    `<footer>Generated by meddl report at ${esc(options.generatedAt ?? new Date().toISOString())}. Self-contained: no scripts, no network.</footer>`,
  );
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${PAGE_CSS}${CHART_CSS}</style></head>
<body><main>${parts.join('\n')}</main></body></html>
`;
}

/** One self-contained HTML page for a run directory (reads config, run.json, logs, eval.json). */
export function renderReport(runDir: string, options: { generatedAt?: string } = {}): string {
  return renderReportHtml(readRunDirectory(runDir), options);
}

/** Where `meddl report` writes by default. */
export function reportPath(runDir: string, ext: 'html' | 'pdf' = 'html'): string {
  return join(resolve(runDir), `report.${ext}`);
}
