// Unit tests of the suite's schema, statistics, comparison, table and chart on synthetic result
// files. Nothing here runs a benchmark or Python.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BenchResultsError,
  compareResults,
  compareTable,
  markdownTable,
  median,
  parseResults,
  quantile,
  ratioSummary,
  readResults,
  SCHEMA_VERSION,
  summarize,
  svgChart,
} from './lib.mjs';

function row(model, scenario, meddlRounds, peerRounds = null) {
  return {
    model,
    preset: `${model}-tiny`,
    description: `${model} synthetic`,
    scenario,
    batch: 8,
    unit: 'samples',
    params: 1000,
    subject: 'meddl',
    meddl: summarize(meddlRounds, 8),
    peer: peerRounds
      ? {
          name: 'pytorch',
          params: 1000,
          paramsMatch: true,
          stats: summarize(peerRounds, 8),
          ratio: ratioSummary(meddlRounds, peerRounds),
        }
      : null,
    ...(peerRounds ? {} : { peerNote: 'PyTorch not installed' }),
  };
}

function file(results) {
  return {
    schemaVersion: SCHEMA_VERSION,
    date: '2026-11-23T12:00:00.000Z',
    command: 'node benchmarks/suite/run.mjs --quick',
    quick: true,
    preset: 'tiny',
    method: { warmup: 1, rounds: 3, steps: 5 },
    machine: {
      cpu: 'Synthetic CPU',
      cores: 2,
      memoryGiB: 8,
      loadAverage: [1, 1, 1],
      platform: 'linux',
      node: 'v20',
      backend: 'native',
      threads: 2,
      meddlVersion: '0.1.0',
      torch: '1.13.1',
      python: '3.11',
      versions: { 'onnxruntime-node': '1.30.0', h5py: null },
    },
    results,
    failures: [],
    skipped: [],
  };
}

const dir = mkdtempSync(join(tmpdir(), 'meddl-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('statistics', () => {
  it('takes medians of odd and even lengths and summarises rounds', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
    const s = summarize([0.02, 0.01, 0.04], 8);
    expect(s).toMatchObject({ median: 0.02, min: 0.01, max: 0.04 });
    expect(s.throughput).toBeCloseTo(400, 6);
    expect(s.p90).toBeUndefined();
  });

  it('interpolates quantiles and adds p90 over all steps when given', () => {
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9)).toBeCloseTo(10, 12);
    expect(quantile([0, 10], 0.9)).toBeCloseTo(9, 12);
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    const steps = Array.from({ length: 20 }, (_, i) => (i + 1) / 1000);
    expect(summarize([0.01, 0.011], 1, steps).p90).toBeCloseTo(0.0181, 9);
  });

  it('computes the ratio per round from pairs, not from the two medians', () => {
    // Pairs (meddl, peer): (1, 1), (2, 4), (9, 3): ratios 1, 0.5, 3 → median 1.
    const r = ratioSummary([1, 2, 9], [1, 4, 3]);
    expect(r).toEqual({ median: 1, min: 0.5, max: 3 });
    // The ratio of medians would be 2 / 3.
    expect(median([1, 2, 9]) / median([1, 4, 3])).toBeCloseTo(2 / 3, 9);
  });
});

describe('results.json schema', () => {
  it('accepts a valid file and round-trips it through disk', () => {
    const f = file([row('tissuebert', 'train-step', [0.01, 0.012, 0.011], [0.02, 0.02, 0.022])]);
    const p = join(dir, 'ok.json');
    writeFileSync(p, JSON.stringify(f));
    expect(readResults(p)).toEqual(f);
  });

  it('reads a version-1 file (PyTorch rows only) as version 2 with defaults', () => {
    const v1 = file([row('tissuebert', 'train-step', [0.01, 0.012, 0.011], [0.02, 0.02, 0.022])]);
    v1.schemaVersion = 1;
    delete v1.preset;
    delete v1.failures;
    delete v1.skipped;
    delete v1.machine.versions;
    delete v1.results[0].unit;
    delete v1.results[0].subject;
    const f = parseResults(v1, 'v1.json');
    expect(f.schemaVersion).toBe(2);
    expect(f.preset).toBe('tiny');
    expect(f.failures).toEqual([]);
    expect(f.results[0]).toMatchObject({ unit: 'items', subject: 'meddl', peer: { name: 'pytorch' } });
  });

  it('rejects other schema versions, bad fields and unreadable files with a typed error naming the file', () => {
    const bad = { ...file([]), schemaVersion: 99 };
    expect(() => parseResults(bad, 'old.json')).toThrow(/old\.json: schemaVersion 99 is not supported/);
    const badRow = file([{ ...row('x', 'train-step', [1]), scenario: 'fly' }]);
    expect(() => parseResults(badRow, 'r.json')).toThrow(/r\.json: results\.0\.scenario/);
    const p = join(dir, 'broken.json');
    writeFileSync(p, '{ not json');
    try {
      readResults(p);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BenchResultsError);
      expect(e.meddl).toBe(true);
      expect(e.message).toContain(p);
    }
  });
});

describe('compare', () => {
  const baseline = file([
    row('tissuebert', 'train-step', [0.1, 0.1, 0.1]),
    row('tissuebert', 'inference', [0.05, 0.05, 0.05]),
    row('crc-mil', 'train-step', [0.2, 0.2, 0.2]),
    row('gone', 'inference', [0.3, 0.3, 0.3]),
  ]);
  const current = file([
    row('tissuebert', 'train-step', [0.125, 0.125, 0.125]), // +25 %: regression
    row('tissuebert', 'inference', [0.054, 0.054, 0.054]), // +8 %: within 10 %
    row('crc-mil', 'train-step', [0.1, 0.1, 0.1]), // −50 %: faster
    row('new', 'inference', [0.3, 0.3, 0.3]),
  ]);

  it('flags only slow-downs beyond the threshold', () => {
    const cmp = compareResults(baseline, current, 0.1);
    expect(cmp.regressions.map((r) => r.key)).toEqual(['tissuebert/tissuebert-tiny/train-step']);
    expect(cmp.regressions[0].change).toBeCloseTo(0.25, 9);
    const faster = cmp.rows.find((r) => r.key.startsWith('crc-mil'));
    expect(faster).toMatchObject({ regression: false, improvement: true });
    expect(cmp.added).toEqual(['new/new-tiny/inference']);
    expect(cmp.removed).toEqual(['gone/gone-tiny/inference']);
    expect(compareTable(cmp)).toMatch(
      /tissuebert\/tissuebert-tiny\/train-step \| 100 \| 125 \| 25\.0 % \| REGRESSION/,
    );
  });

  it('flags an accuracy metric that falls below the baseline interval, even when time is flat', () => {
    const acc = (value, lower, upper) => {
      const r = row('mdf-net', 'accuracy', [40]);
      r.metric = { name: 'test mean AUROC', value, lower, upper, n: 44, ceiling: null };
      return r;
    };
    const drop = compareResults(file([acc(0.63, 0.55, 0.68)]), file([acc(0.52, 0.45, 0.6)]));
    expect(drop.regressions).toHaveLength(1);
    expect(drop.rows[0]).toMatchObject({
      metricBefore: 0.63,
      metricAfter: 0.52,
      metricDrop: true,
      change: 0,
    });
    expect(compareTable(drop)).toContain('REGRESSION metric 0.630 → 0.520 (below the baseline interval)');
    const within = compareResults(file([acc(0.63, 0.55, 0.68)]), file([acc(0.58, 0.5, 0.66)]));
    expect(within.regressions).toEqual([]);
  });

  it('honours a looser threshold and finds nothing when compared with itself', () => {
    expect(compareResults(baseline, current, 0.3).regressions).toEqual([]);
    expect(compareResults(current, current).regressions).toEqual([]);
  });
});

describe('table and chart', () => {
  // Per-round ratios 0.5, 0.6, 0.55 → median 0.55.
  const f = file([
    row('tissuebert', 'train-step', [0.01, 0.012, 0.011], [0.02, 0.02, 0.02]),
    row('mdf-net', 'inference', [0.004, 0.004, 0.005]),
  ]);

  it('prints ratios for rows with a peer and the reason for rows without', () => {
    const md = markdownTable(f);
    const lines = md.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain(
      '| tissuebert | tissuebert-tiny | train-step | 8 | 1,000 | meddl | 11.0 (10.0–12.0) | — | 727 samples/s | — | — | — | PyTorch | 20.0 (20.0–20.0) |',
    );
    expect(lines[2]).toContain('0.55× (0.50–0.60)');
    expect(lines[3]).toContain('— (PyTorch not installed)');
  });

  it('shows the output check and lists failed scenarios', () => {
    const r = row('crc-mil', 'onnx-latency', [0.001, 0.001, 0.001], [0.002, 0.002, 0.002]);
    r.subject = 'meddl onnxruntime';
    r.peer.name = 'tfjs';
    r.check = { what: 'logits', maxAbsDiff: 2e-7, tolerance: 1e-4, ok: true };
    r.firstStep = { meddl: 0.0123, peer: 0.456 };
    const f2 = {
      ...file([r]),
      failures: [{ key: 'vjepa3d/vit3d-tiny/onnx-latency', message: 'differs' }],
      skipped: [{ key: 'data/-/wsi-tiles', reason: 'slide absent' }],
    };
    const md = markdownTable(parseResults(f2));
    expect(md).toContain('| meddl onnxruntime |');
    expect(md).toContain('| meddl tfjs |');
    expect(md).toContain('ok: logits max abs diff 2.0e-7');
    expect(md).toContain(
      '| 8000 samples/s | 12.3 | — | — | meddl tfjs | 2.00 (2.00–2.00) | 0.50× (0.50–0.50) | 456 | — |',
    );
    expect(md).toContain('| vjepa3d/vit3d-tiny/onnx-latency | FAILED: differs |');
    expect(md).toContain('| data/-/wsi-tiles | skipped: slide absent |');
    const acc = row('mdf-net', 'accuracy', [40], null);
    acc.metric = { name: 'test mean AUROC', value: 0.6261, lower: 0.55, upper: 0.683, n: 44, ceiling: null };
    expect(markdownTable(parseResults(file([acc])))).toContain(
      'test mean AUROC 0.626 (95 % CI 0.550–0.683, n 44) |',
    );
  });

  it('shows peak RSS and tensor memory of both sides in MB and validates the memory block', () => {
    const r = row('tissuebert', 'train-step', [0.01, 0.01, 0.01], [0.02, 0.02, 0.02]);
    r.memory = {
      meddl: { rssPeakBytes: 214_300_000, rssReset: true, tensorPeakBytes: 34_020_000 },
      peer: { rssPeakBytes: 1_265_000_000, rssReset: true, tensorPeakBytes: null },
    };
    const md = markdownTable(parseResults(file([r])));
    expect(md).toContain('| 800 samples/s | — | 214 | 34.0 | PyTorch |');
    expect(md).toContain('| 1265 |');
    r.memory.meddl.rssPeakBytes = -1;
    expect(() => parseResults(file([r]))).toThrow(/memory\.meddl\.rssPeakBytes/);
  });

  it('draws one bar per peered scenario', () => {
    const svg = svgChart(f);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect /g)).toHaveLength(2); // background + one bar
    expect(svg).toContain('0.55×');
    expect(svgChart(file([]))).toContain('no peer results');
  });
});
