import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateTissueBert } from './evaluate';
import { generateSyntheticDataset } from './synth/generator';
import { loadStore, splitFiles, TissueBertRunConfigSchema, trainTissueBert } from './train';

describe('trainTissueBert (tiny preset, synthetic data)', () => {
  let root: string;
  let runDir = '';
  beforeAll(async () => {
    await initBackend();
    root = mkdtempSync(join(tmpdir(), 'tb-train-'));
    generateSyntheticDataset(join(root, 'data'), { seed: 3, samples: 66, regions: 24, meanCoverage: 6 });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('keeps the preset unless a field is overridden', () => {
    const c = TissueBertRunConfigSchema.parse({ data: { dir: 'x' }, model: { preset: 'tissuebert-tiny' } });
    expect(c.model.overrides).toEqual({});
    const o = TissueBertRunConfigSchema.parse({ data: { dir: 'x' }, model: { overrides: { dropout: 0 } } });
    expect(o.model.overrides).toEqual({ dropout: 0 });
  });

  it('splits files by tissue with no sample in both halves', async () => {
    const store = await loadStore(join(root, 'data'));
    const { train, val } = splitFiles(store, 0.25, 0);
    expect(train.length + val.length).toBe(store.samples.length);
    const trainSamples = new Set(train.map((i) => store.samples[i].sample));
    expect(val.every((i) => !trainSamples.has(store.samples[i].sample))).toBe(true);
  });

  it('lowers the loss, writes checkpoints and metrics, and auto-resumes to the same end', async () => {
    const config = {
      data: { dir: join(root, 'data'), examplesPerEpoch: 256, valExamplesPerFile: 8, valFraction: 0.25 },
      model: { preset: 'tissuebert-tiny' as const },
      batchSize: 32,
      trainer: {
        name: 'tiny',
        runsDir: join(root, 'runs'),
        maxEpochs: 3,
        seed: 7,
        optimizer: { name: 'adamw' as const, lr: 3e-3, weightDecay: 0.01 },
        logEveryNSteps: 1000,
      },
    };
    const first = await trainTissueBert(config);
    const losses = first.summary.history.map((h) => h.metrics.val_loss);
    expect(losses).toHaveLength(3);
    expect(losses[2]).toBeLessThan(losses[0]);
    expect(first.metrics.val_accuracy).toBeGreaterThan(1 / first.store.tissues);
    const saved = JSON.parse(readFileSync(join(first.runDir, 'metrics.json'), 'utf8'));
    expect(saved.perTissue).toHaveLength(first.store.tissues);
    // Asking for more epochs continues from the checkpoint instead of starting over.
    const second = await trainTissueBert({ ...config, trainer: { ...config.trainer, maxEpochs: 4 } });
    expect(second.summary.history.at(-1)?.epoch).toBe((first.summary.history.at(-1)?.epoch ?? 0) + 1);
    runDir = first.runDir;
  }, 120_000);

  it('evaluates the run: read metrics with CIs, calibration, deconvolution vs NNLS', async () => {
    expect(runDir).not.toBe('');
    const r = await evaluateTissueBert({ runDir, mixtures: 4, readsPerMixture: 400, bootstrapResamples: 50 });
    const acc = r.classification.accuracy;
    expect(acc.lower).toBeLessThanOrEqual(acc.estimate);
    expect(acc.upper).toBeGreaterThanOrEqual(acc.estimate);
    expect(r.calibration.temperature).toBeGreaterThan(0);
    // Fitting T on half the reads cannot make the NLL on the other half much worse.
    expect(r.calibration.nllAfter).toBeLessThan(r.calibration.nllBefore + 0.05);
    expect(r.deconvolution.kinds.map((k) => k.kind)).toContain('dirichlet');
    for (const k of r.deconvolution.kinds) {
      expect(Number.isFinite(k.model.rmse)).toBe(true);
      expect(Number.isFinite(k.nnls.rmse)).toBe(true);
    }
    const saved = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    expect(saved.deconvolution.kinds).toHaveLength(r.deconvolution.kinds.length);
    const csv = readFileSync(join(runDir, 'deconvolution.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('kind,mixture,tissue,true,model,nnls');
  }, 120_000);
});
