// A small SVG chart kit for reports: line/step charts (with bands), scatter, heatmap, forest
// plot, and bars. Pure string building, no DOM, no network. Every chart is one <svg> carrying
// data-chart="<kind>" so tests (and readers' scripts) can find it.

/** Tableau 10: distinguishable, colour-blind-aware categorical palette. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

export function color(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** Escapes text for XML/HTML content and attributes. */
export function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

/** Round tick values covering [min, max], about `count` of them (Heckbert's nice numbers). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const span = max - min;
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** Short tick label: up to 4 significant digits, no trailing zeros, k/M suffixes for big numbers. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  // Keep 3 significant digits so close ticks (e.g. around a constant 1e-3) stay distinct.
  if (a !== 0 && a < 1e-3) return Number(v.toPrecision(3)).toExponential();
  return String(+v.toPrecision(4));
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function extent(values: Iterable<number>): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values)
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  if (lo > hi) return [0, 1];
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.05, hi + (Math.abs(hi) || 1) * 0.05];
  return [lo, hi];
}

function padDomain([lo, hi]: [number, number], frac = 0.04): [number, number] {
  const p = (hi - lo) * frac;
  return [lo - p, hi + p];
}

class Scale {
  constructor(
    readonly d0: number,
    readonly d1: number,
    readonly r0: number,
    readonly r1: number,
  ) {}
  at(v: number): number {
    return this.r0 + ((v - this.d0) / (this.d1 - this.d0 || 1)) * (this.r1 - this.r0);
  }
}

function open(
  chart: string,
  fr: Frame,
  title: string | undefined,
  attrs: Record<string, string | number> = {},
): string {
  const extra = Object.entries(attrs)
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${esc(chart)}"${extra} viewBox="0 0 ${fr.width} ${fr.height}" width="${fr.width}" height="${fr.height}" role="img"${title ? ` aria-label="${esc(title)}"` : ''}>` +
    (title ? `<title>${esc(title)}</title><text class="ct" x="${fr.left}" y="14">${esc(title)}</text>` : '')
  );
}

function axes(
  fr: Frame,
  x: Scale,
  y: Scale,
  xLabel: string,
  yLabel: string,
  xTicks?: number[],
  yTicks?: number[],
): string {
  const xt = xTicks ?? niceTicks(x.d0, x.d1, Math.max(2, Math.round((fr.width - fr.left - fr.right) / 70)));
  const yt = yTicks ?? niceTicks(y.d0, y.d1, Math.max(2, Math.round((fr.height - fr.top - fr.bottom) / 45)));
  const x0 = fr.left;
  const x1 = fr.width - fr.right;
  const y0 = fr.height - fr.bottom;
  const y1 = fr.top;
  let s = `<g class="grid">`;
  for (const t of yt) s += `<line x1="${x0}" x2="${x1}" y1="${f1(y.at(t))}" y2="${f1(y.at(t))}"/>`;
  for (const t of xt) s += `<line y1="${y0}" y2="${y1}" x1="${f1(x.at(t))}" x2="${f1(x.at(t))}"/>`;
  s += `</g><g class="axis"><line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}"/><line x1="${x0}" x2="${x0}" y1="${y0}" y2="${y1}"/>`;
  for (const t of xt)
    s += `<text x="${f1(x.at(t))}" y="${y0 + 14}" text-anchor="middle">${esc(tickLabel(t))}</text>`;
  for (const t of yt)
    s += `<text x="${x0 - 5}" y="${f1(y.at(t) + 3.5)}" text-anchor="end">${esc(tickLabel(t))}</text>`;
  s += `<text class="al" x="${f1((x0 + x1) / 2)}" y="${fr.height - 4}" text-anchor="middle">${esc(xLabel)}</text>`;
  s += `<text class="al" transform="translate(11 ${f1((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text></g>`;
  return s;
}

function legend(
  fr: Frame,
  items: Array<{ name: string; color: string; dashed?: boolean }>,
  where: 'br' | 'tr' = 'br',
): string {
  if (items.length <= 1) return '';
  const lh = 13;
  const shown = items.slice(0, 12);
  const w = Math.min(200, 24 + Math.max(...shown.map((i) => i.name.length)) * 6.2);
  const x = fr.width - fr.right - w - 4;
  const y = where === 'br' ? fr.height - fr.bottom - shown.length * lh - 8 : fr.top + 4;
  let s = `<g class="legend"><rect x="${f1(x)}" y="${f1(y)}" width="${f1(w)}" height="${shown.length * lh + 6}" rx="3"/>`;
  shown.forEach((it, i) => {
    const yy = y + 10 + i * lh;
    s += `<line x1="${f1(x + 5)}" x2="${f1(x + 19)}" y1="${f1(yy - 3)}" y2="${f1(yy - 3)}" stroke="${it.color}" stroke-width="2"${it.dashed ? ' stroke-dasharray="4 3"' : ''}/>`;
    s += `<text x="${f1(x + 23)}" y="${f1(yy)}">${esc(it.name.length > 28 ? `${it.name.slice(0, 27)}…` : it.name)}</text>`;
  });
  if (items.length > shown.length)
    s += `<text x="${f1(x + 5)}" y="${f1(y + shown.length * lh + 16)}">+${items.length - shown.length} more</text>`;
  return `${s}</g>`;
}

function pathOf(xs: ArrayLike<number>, ys: ArrayLike<number>, x: Scale, y: Scale, step: boolean): string {
  let d = '';
  let pen = false;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i]) || !Number.isFinite(ys[i])) {
      pen = false;
      continue;
    }
    const px = f1(x.at(xs[i]));
    const py = f1(y.at(ys[i]));
    if (!pen) d += `M${px} ${py}`;
    else if (step) d += `H${px}V${py}`;
    else d += `L${px} ${py}`;
    pen = true;
  }
  return d;
}

export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Right-continuous step function (Kaplan–Meier). */
  step?: boolean;
  /** Shaded band (confidence interval), same x. */
  band?: { lower: ArrayLike<number>; upper: ArrayLike<number> };
  dashed?: boolean;
  markers?: boolean;
  color?: string;
}

export interface LineChartSpec {
  /** data-chart value, e.g. 'roc', 'pr', 'training-loss', 'km'. */
  chart: string;
  title?: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Draw the y = x reference (ROC chance line, perfect calibration). */
  diagonal?: boolean;
  /** Histogram bars under the lines (e.g. reliability bin counts), heights scaled to 30 % of the plot. */
  bars?: Array<{ x0: number; x1: number; value: number }>;
  width?: number;
  height?: number;
  legendAt?: 'br' | 'tr';
  attrs?: Record<string, string | number>;
}

/** Line / step chart with optional bands, diagonal, histogram bars and legend. */
export function lineChart(spec: LineChartSpec): string {
  const fr: Frame = {
    width: spec.width ?? 360,
    height: spec.height ?? 280,
    left: 46,
    right: 12,
    top: spec.title ? 24 : 10,
    bottom: 34,
  };
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    for (let i = 0; i < s.x.length; i++) xs.push(s.x[i]);
    for (let i = 0; i < s.y.length; i++) ys.push(s.y[i]);
    if (s.band) for (let i = 0; i < s.band.lower.length; i++) ys.push(s.band.lower[i], s.band.upper[i]);
  }
  const xd = spec.xDomain ?? padDomain(extent(xs), 0);
  const yd = spec.yDomain ?? padDomain(extent(ys));
  const x = new Scale(xd[0], xd[1], fr.left, fr.width - fr.right);
  const y = new Scale(yd[0], yd[1], fr.height - fr.bottom, fr.top);
  let s = open(spec.chart, fr, spec.title, { series: spec.series.length, ...(spec.attrs ?? {}) });
  s += axes(fr, x, y, spec.xLabel, spec.yLabel);
  s += `<g clip-path="none">`;
  if (spec.bars?.length) {
    const maxV = Math.max(...spec.bars.map((b) => b.value), 1);
    const base = fr.height - fr.bottom;
    const hMax = (fr.height - fr.top - fr.bottom) * 0.3;
    s += '<g class="bars">';
    for (const b of spec.bars) {
      const h = (b.value / maxV) * hMax;
      s += `<rect x="${f1(x.at(b.x0) + 0.5)}" y="${f1(base - h)}" width="${f1(Math.max(0, x.at(b.x1) - x.at(b.x0) - 1))}" height="${f1(h)}"><title>${esc(b.value)}</title></rect>`;
    }
    s += '</g>';
  }
  if (spec.diagonal) {
    const lo = Math.max(xd[0], yd[0]);
    const hi = Math.min(xd[1], yd[1]);
    s += `<line class="ref" x1="${f1(x.at(lo))}" y1="${f1(y.at(lo))}" x2="${f1(x.at(hi))}" y2="${f1(y.at(hi))}"/>`;
  }
  spec.series.forEach((ser, i) => {
    const c = ser.color ?? color(i);
    if (ser.band) {
      const up = pathOf(ser.x, ser.band.upper, x, y, Boolean(ser.step));
      // Walk the lower edge backwards to close the band polygon.
      const rx = Array.from(ser.x).reverse();
      const rl = Array.from(ser.band.lower).reverse();
      let low = '';
      for (let k = 0; k < rx.length; k++) {
        if (!Number.isFinite(rx[k]) || !Number.isFinite(rl[k])) continue;
        if (ser.step && k > 0) low += `V${f1(y.at(rl[k]))}H${f1(x.at(rx[k]))}`;
        else low += `L${f1(x.at(rx[k]))} ${f1(y.at(rl[k]))}`;
      }
      if (up) s += `<path class="band" d="${up}${low}Z" fill="${c}"/>`;
    }
    s += `<path class="line" d="${pathOf(ser.x, ser.y, x, y, Boolean(ser.step))}" stroke="${c}"${ser.dashed ? ' stroke-dasharray="5 3"' : ''}><title>${esc(ser.name)}</title></path>`;
    if (ser.markers)
      for (let k = 0; k < ser.x.length; k++)
        if (Number.isFinite(ser.x[k]) && Number.isFinite(ser.y[k]))
          s += `<circle cx="${f1(x.at(ser.x[k]))}" cy="${f1(y.at(ser.y[k]))}" r="2.6" fill="${c}"/>`;
  });
  s += '</g>';
  s += legend(
    fr,
    spec.series.map((ser, i) => ({ name: ser.name, color: ser.color ?? color(i), dashed: ser.dashed })),
    spec.legendAt,
  );
  return `${s}</svg>`;
}

export interface ScatterSpec {
  chart: string;
  title?: string;
  xLabel: string;
  yLabel: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  identity?: boolean;
  /** One domain for both axes (true-vs-estimated), default the joint extent. */
  squareDomain?: [number, number];
  note?: string;
  width?: number;
  height?: number;
  color?: string;
  attrs?: Record<string, string | number>;
}

/** Scatter plot with an optional y = x line and a one-line note (e.g. r, MAE). */
export function scatterChart(spec: ScatterSpec): string {
  const fr: Frame = {
    width: spec.width ?? 220,
    height: spec.height ?? 220,
    left: 42,
    right: 8,
    top: spec.title ? 24 : 10,
    bottom: 34,
  };
  const all = padDomain(extent([...Array.from(spec.x), ...Array.from(spec.y)]));
  const xd = spec.squareDomain ?? (spec.identity ? all : padDomain(extent(Array.from(spec.x))));
  const yd = spec.squareDomain ?? (spec.identity ? all : padDomain(extent(Array.from(spec.y))));
  const x = new Scale(xd[0], xd[1], fr.left, fr.width - fr.right);
  const y = new Scale(yd[0], yd[1], fr.height - fr.bottom, fr.top);
  let s = open(spec.chart, fr, spec.title, { points: spec.x.length, ...(spec.attrs ?? {}) });
  s += axes(fr, x, y, spec.xLabel, spec.yLabel, niceTicks(xd[0], xd[1], 3), niceTicks(yd[0], yd[1], 3));
  if (spec.identity) {
    const lo = Math.max(xd[0], yd[0]);
    const hi = Math.min(xd[1], yd[1]);
    s += `<line class="ref" x1="${f1(x.at(lo))}" y1="${f1(y.at(lo))}" x2="${f1(x.at(hi))}" y2="${f1(y.at(hi))}"/>`;
  }
  const c = spec.color ?? color(0);
  s += `<g class="points" fill="${c}">`;
  for (let i = 0; i < spec.x.length; i++)
    if (Number.isFinite(spec.x[i]) && Number.isFinite(spec.y[i]))
      s += `<circle cx="${f1(x.at(spec.x[i]))}" cy="${f1(y.at(spec.y[i]))}" r="2.4"/>`;
  s += '</g>';
  if (spec.note) s += `<text class="note" x="${fr.left + 4}" y="${fr.top + 10}">${esc(spec.note)}</text>`;
  return `${s}</svg>`;
}

export interface HeatmapSpec {
  chart: string;
  title?: string;
  rowLabels: string[];
  colLabels: string[];
  /** values[row][col], e.g. confusion counts[true][pred]. */
  values: number[][];
  /** Colour by row fraction (recall per true class) instead of raw value. */
  normalizeRows?: boolean;
  xLabel?: string;
  yLabel?: string;
  attrs?: Record<string, string | number>;
}

/** Heatmap with the value printed in every cell (confusion matrices). */
export function heatmap(spec: HeatmapSpec): string {
  const R = spec.rowLabels.length;
  const C = spec.colLabels.length;
  const cell = Math.max(16, Math.min(44, Math.floor(480 / Math.max(R, C))));
  const labelW = Math.min(140, 12 + Math.max(...spec.rowLabels.map((l) => l.length)) * 6.2);
  const labelH = Math.min(120, 12 + Math.max(...spec.colLabels.map((l) => l.length)) * 5.2);
  const fr: Frame = {
    width: labelW + C * cell + 24,
    height: (spec.title ? 24 : 8) + labelH + R * cell + 22,
    left: labelW + 8,
    right: 16,
    top: (spec.title ? 24 : 8) + labelH,
    bottom: 22,
  };
  let s = open(spec.chart, fr, spec.title, { rows: R, cols: C, ...(spec.attrs ?? {}) });
  const maxAll = Math.max(1e-300, ...spec.values.flat());
  for (let r = 0; r < R; r++) {
    const rowSum = spec.values[r].reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) {
      const v = spec.values[r][c];
      const t = spec.normalizeRows ? (rowSum > 0 ? v / rowSum : 0) : v / maxAll;
      // White → #2b5c8a, with dark text on light cells.
      const mix = (a: number, b: number) => Math.round(a + (b - a) * t);
      const fill = `rgb(${mix(255, 43)},${mix(255, 92)},${mix(255, 138)})`;
      const x = fr.left + c * cell;
      const y = fr.top + r * cell;
      s += `<rect class="cell" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}"><title>${esc(`${spec.rowLabels[r]} → ${spec.colLabels[c]}: ${v}`)}</title></rect>`;
      if (cell >= 18)
        s += `<text class="cv" x="${x + cell / 2}" y="${y + cell / 2 + 3.5}" text-anchor="middle" fill="${t > 0.55 ? '#fff' : '#222'}">${esc(tickLabel(v))}</text>`;
    }
    s += `<text x="${fr.left - 5}" y="${f1(fr.top + r * cell + cell / 2 + 3.5)}" text-anchor="end">${esc(spec.rowLabels[r])}</text>`;
  }
  for (let c = 0; c < C; c++) {
    const x = fr.left + c * cell + cell / 2;
    s += `<text transform="translate(${f1(x + 3)} ${fr.top - 5}) rotate(-60)">${esc(spec.colLabels[c])}</text>`;
  }
  if (spec.xLabel)
    s += `<text class="al" x="${f1(fr.left + (C * cell) / 2)}" y="${fr.height - 6}" text-anchor="middle">${esc(spec.xLabel)}</text>`;
  if (spec.yLabel)
    s += `<text class="al" transform="translate(11 ${f1(fr.top + (R * cell) / 2)}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`;
  return `${s}</svg>`;
}

export interface ForestRow {
  label: string;
  value: number | null;
  lower?: number | null;
  upper?: number | null;
  detail?: string;
}

/** Forest plot: one row per estimate with its CI whisker, a reference line, and labels. */
export function forestPlot(spec: {
  chart: string;
  title?: string;
  xLabel: string;
  rows: ForestRow[];
  reference?: number;
  xDomain?: [number, number];
  attrs?: Record<string, string | number>;
}): string {
  const rowH = 20;
  const labelW = Math.min(180, 16 + Math.max(...spec.rows.map((r) => r.label.length)) * 6.4);
  const textW = 150;
  const fr: Frame = {
    width: labelW + 300 + textW,
    height: (spec.title ? 24 : 8) + spec.rows.length * rowH + 40,
    left: labelW,
    right: textW,
    top: spec.title ? 28 : 12,
    bottom: 34,
  };
  const vals: number[] = [];
  for (const r of spec.rows)
    for (const v of [r.value, r.lower, r.upper])
      if (typeof v === 'number' && Number.isFinite(v)) vals.push(v);
  if (spec.reference !== undefined) vals.push(spec.reference);
  const xd = spec.xDomain ?? padDomain(extent(vals), 0.08);
  const x = new Scale(xd[0], xd[1], fr.left, fr.width - fr.right);
  const y = new Scale(0, spec.rows.length, fr.top, fr.height - fr.bottom);
  let s = open(spec.chart, fr, spec.title, { rows: spec.rows.length, ...(spec.attrs ?? {}) });
  s += axes(fr, x, new Scale(0, 1, fr.height - fr.bottom, fr.top), spec.xLabel, '', undefined, []);
  if (spec.reference !== undefined)
    s += `<line class="ref" x1="${f1(x.at(spec.reference))}" x2="${f1(x.at(spec.reference))}" y1="${fr.top}" y2="${fr.height - fr.bottom}"/>`;
  spec.rows.forEach((r, i) => {
    const cy = y.at(i + 0.5);
    s += `<text x="${fr.left - 8}" y="${f1(cy + 3.5)}" text-anchor="end">${esc(r.label)}</text>`;
    const txt =
      r.value === null
        ? 'n/a'
        : `${r.value.toFixed(3)}${r.lower != null && r.upper != null ? ` [${r.lower.toFixed(3)}, ${r.upper.toFixed(3)}]` : ''}`;
    s += `<text x="${fr.width - fr.right + 8}" y="${f1(cy + 3.5)}">${esc(txt)}${r.detail ? `<tspan class="muted"> ${esc(r.detail)}</tspan>` : ''}</text>`;
    if (r.value === null) return;
    if (r.lower != null && r.upper != null)
      s += `<line class="whisker" x1="${f1(x.at(r.lower))}" x2="${f1(x.at(r.upper))}" y1="${f1(cy)}" y2="${f1(cy)}"/>`;
    s += `<rect class="est" x="${f1(x.at(r.value) - 4)}" y="${f1(cy - 4)}" width="8" height="8" fill="${color(i === 0 ? 2 : 0)}"/>`;
  });
  return `${s}</svg>`;
}

/** Horizontal bars with value labels (probe results, ablations). */
export function barChart(spec: {
  chart: string;
  title?: string;
  xLabel: string;
  bars: Array<{ label: string; value: number | null; lower?: number | null; upper?: number | null }>;
  xDomain?: [number, number];
  attrs?: Record<string, string | number>;
}): string {
  const rows = spec.bars.map((b) => ({ label: b.label, value: b.value, lower: b.lower, upper: b.upper }));
  const rowH = 20;
  const labelW = Math.min(180, 16 + Math.max(...rows.map((r) => r.label.length)) * 6.4);
  const fr: Frame = {
    width: labelW + 320 + 60,
    height: (spec.title ? 24 : 8) + rows.length * rowH + 40,
    left: labelW,
    right: 60,
    top: spec.title ? 28 : 12,
    bottom: 34,
  };
  const vals = rows.flatMap((r) =>
    [r.value, r.upper].filter((v): v is number => typeof v === 'number' && Number.isFinite(v)),
  );
  const xd = spec.xDomain ?? [Math.min(0, ...vals), Math.max(...vals, 1e-12) * 1.05];
  const x = new Scale(xd[0], xd[1], fr.left, fr.width - fr.right);
  const y = new Scale(0, rows.length, fr.top, fr.height - fr.bottom);
  let s = open(spec.chart, fr, spec.title, { rows: rows.length, ...(spec.attrs ?? {}) });
  s += axes(fr, x, new Scale(0, 1, fr.height - fr.bottom, fr.top), spec.xLabel, '', undefined, []);
  rows.forEach((r, i) => {
    const top = y.at(i) + 3;
    s += `<text x="${fr.left - 8}" y="${f1(top + 11)}" text-anchor="end">${esc(r.label)}</text>`;
    if (r.value === null) {
      s += `<text x="${fr.left + 4}" y="${f1(top + 11)}" class="muted">n/a</text>`;
      return;
    }
    s += `<rect x="${fr.left}" y="${f1(top)}" width="${f1(Math.max(0, x.at(r.value) - fr.left))}" height="${rowH - 6}" fill="${color(i)}"/>`;
    if (r.lower != null && r.upper != null)
      s += `<line class="whisker" x1="${f1(x.at(r.lower))}" x2="${f1(x.at(r.upper))}" y1="${f1(top + (rowH - 6) / 2)}" y2="${f1(top + (rowH - 6) / 2)}"/>`;
    // Label right of the bar or of its CI whisker, whichever ends later.
    const end = Math.max(r.value, r.upper ?? r.value);
    s += `<text x="${f1(x.at(end) + 4)}" y="${f1(top + 11)}">${esc(tickLabel(r.value))}</text>`;
  });
  return `${s}</svg>`;
}

/** CSS for the charts (inlined once in the report page). */
export const CHART_CSS = `
svg.chart{font:10px system-ui,-apple-system,"Segoe UI",sans-serif;background:#fff;overflow:visible}
svg.chart .ct{font-weight:600;font-size:11.5px;fill:#222}
svg.chart .grid line{stroke:#eceff3}
svg.chart .axis line{stroke:#666}
svg.chart .axis text,svg.chart text{fill:#333}
svg.chart .al{fill:#555;font-size:10.5px}
svg.chart .line{fill:none;stroke-width:1.8}
svg.chart .band{opacity:.16;stroke:none}
svg.chart .ref{stroke:#999;stroke-dasharray:4 3}
svg.chart .legend rect{fill:#fff;fill-opacity:.88;stroke:#ddd}
svg.chart .bars rect{fill:#d5dbe3}
svg.chart .whisker{stroke:#333;stroke-width:1.4}
svg.chart .muted{fill:#888}
svg.chart .note{fill:#333;font-size:9.5px}
svg.chart .cell{stroke:#fff}
`;
