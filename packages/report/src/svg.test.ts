import { describe, expect, it } from 'vitest';
import { barChart, esc, forestPlot, heatmap, lineChart, niceTicks, scatterChart, tickLabel } from './svg';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe('svg chart kit', () => {
  it('niceTicks covers the range with round steps', () => {
    expect(niceTicks(0, 1, 5)).toEqual(
      [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1].map((v) => expect.closeTo(v, 12)),
    );
    expect(niceTicks(3, 97, 4)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(-0.3, 0.3, 3)).toEqual([-0.2, 0, 0.2].map((v) => expect.closeTo(v, 12)));
    expect(niceTicks(5, 5)).toEqual([5]);
    expect(niceTicks(Number.NaN, 1)).toEqual([]);
  });

  it('tickLabel is short', () => {
    expect(tickLabel(0.30000000000000004)).toBe('0.3');
    expect(tickLabel(25000)).toBe('25k');
    expect(tickLabel(0.0001)).toBe('1e-4');
    expect(tickLabel(0.00095)).toBe('9.5e-4');
    expect(tickLabel(0.000105)).toBe('1.05e-4');
  });

  it('escapes text and attributes', () => {
    expect(esc(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    const s = lineChart({
      chart: 'x',
      title: 'A < B & "C"',
      xLabel: '<x>',
      yLabel: 'y',
      series: [{ name: '<s>', x: [0, 1], y: [0, 1] }],
    });
    expect(s).not.toMatch(/<x>|<s>|A < B/);
    expect(s).toContain('A &lt; B &amp; &quot;C&quot;');
  });

  it('lineChart: one svg tagged with its kind, one path per series, a band and a diagonal', () => {
    const s = lineChart({
      chart: 'roc',
      xLabel: 'fpr',
      yLabel: 'tpr',
      xDomain: [0, 1],
      yDomain: [0, 1],
      diagonal: true,
      series: [
        { name: 'a', x: [0, 0.5, 1], y: [0, 0.8, 1] },
        { name: 'b', x: [0, 1], y: [0, 1], band: { lower: [0, 0.9], upper: [0, 1] } },
      ],
    });
    expect(count(s, /<svg /g)).toBe(1);
    expect(s).toContain('data-chart="roc"');
    expect(s).toContain('data-series="2"');
    expect(count(s, /class="line"/g)).toBe(2);
    expect(count(s, /class="band"/g)).toBe(1);
    expect(count(s, /class="ref"/g)).toBe(1);
    // Points map into the plot frame: (0,0) at the bottom-left corner (left 46, bottom 280-34).
    expect(s).toContain('d="M46 246L');
  });

  it('step series draw horizontal-then-vertical segments, and gaps break the line', () => {
    const s = lineChart({
      chart: 'km',
      xLabel: 't',
      yLabel: 'S',
      xDomain: [0, 2],
      yDomain: [0, 1],
      series: [{ name: 'g', x: [0, 1, 2], y: [1, 0.5, 0.25], step: true }],
    });
    expect(s).toMatch(/d="M46 10H[\d.]+V[\d.]+H[\d.]+V[\d.]+"/);
    const gap = lineChart({
      chart: 'g',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'g', x: [0, 1, 2, 3], y: [1, Number.NaN, 2, 3] }],
    });
    expect(count(gap.match(/class="line" d="([^"]*)"/)?.[1] ?? '', /M/g)).toBe(2);
  });

  it('heatmap has one cell per entry with its value', () => {
    const s = heatmap({
      chart: 'confusion',
      rowLabels: ['a', 'b', 'c'],
      colLabels: ['a', 'b', 'c'],
      values: [
        [5, 1, 0],
        [2, 7, 1],
        [0, 0, 9],
      ],
      normalizeRows: true,
    });
    expect(count(s, /class="cell"/g)).toBe(9);
    expect(s).toContain('data-rows="3"');
    expect(s).toContain('>7</text>');
    // The diagonal of row c is 100 % of the row: the darkest colour.
    expect(s).toContain('fill="rgb(43,92,138)"');
  });

  it('forest plot draws whiskers only where the CI exists and marks n/a rows', () => {
    const s = forestPlot({
      chart: 'forest',
      xLabel: 'AUROC',
      reference: 0.8,
      rows: [
        { label: 'All', value: 0.8, lower: 0.7, upper: 0.9 },
        { label: 'g1', value: 0.75 },
        { label: 'g2', value: null },
      ],
    });
    expect(count(s, /class="whisker"/g)).toBe(1);
    expect(count(s, /class="est"/g)).toBe(2);
    expect(s).toContain('n/a');
  });

  it('scatter and bar charts', () => {
    const sc = scatterChart({
      chart: 'scatter',
      xLabel: 't',
      yLabel: 'e',
      x: [0, 0.5, 1],
      y: [0.1, 0.4, 0.9],
      identity: true,
    });
    expect(count(sc, /<circle /g)).toBe(3);
    expect(count(sc, /class="ref"/g)).toBe(1);
    const b = barChart({
      chart: 'probes',
      xLabel: 's',
      bars: [
        { label: 'p', value: 0.7, lower: 0.6, upper: 0.8 },
        { label: 'q', value: null },
      ],
    });
    expect(count(b, /<rect x=/g)).toBe(1);
    expect(b).toContain('n/a');
  });
});
