// The pipeline scenarios' pure inputs (no benchmark runs here).
import { auroc } from '@meddl/metrics';
import { describe, expect, it } from 'vitest';
import { PIPELINE_SCENARIOS, SCENARIOS } from './lib.mjs';
import { metricsData } from './pipelines.mjs';

describe('metrics scenario data', () => {
  it('is seeded, about 30 % positive, has ties and a learnable signal', () => {
    const a = metricsData(5000, 1);
    const b = metricsData(5000, 1);
    expect(a.labels).toEqual(b.labels);
    expect(a.scores).toEqual(b.scores);
    const pos = a.labels.reduce((s, v) => s + v, 0) / a.labels.length;
    expect(pos).toBeGreaterThan(0.25);
    expect(pos).toBeLessThan(0.35);
    expect(new Set(a.scores).size).toBeLessThan(a.scores.length); // ties
    const auc = auroc(a.labels, a.scores).value;
    expect(auc).toBeGreaterThan(0.65);
    expect(auc).toBeLessThan(0.9);
    expect(metricsData(5000, 2).labels).not.toEqual(a.labels);
  });

  it('every new pipeline scenario is selectable', () => {
    for (const s of ['wsi-preprocess', 'methylation-parse', 'methylation-tokenize', 'methylation-store'])
      expect(PIPELINE_SCENARIOS).toContain(s);
    for (const s of ['metrics-auroc', 'metrics-bootstrap']) expect(SCENARIOS).toContain(s);
  });
});
