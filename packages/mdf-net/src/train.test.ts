import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, SafetensorsFile } from '@meddl/checkpoint';
import { exportRegistry, runExport } from '@meddl/onnx';
import { readEvalArtifact } from '@meddl/report';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate, modalitySubsets, predict } from './evaluate';
// The package entry registers the 'mdf-net' exporter.
import './index';
import { FINDINGS } from './labels';
import { createModel, PRESETS } from './model';
import { mdfNetLoss } from './task';
import { train } from './train';

beforeAll(async () => {
  await initBackend();
});

describe('MdfNet model', () => {
  it('builds every modality subset and gives 14 logits; unused encoders do not exist', () => {
    const B = 3;
    const inputs = {
      images: tf.randomUniform([B, 32, 32], 0, 1, 'float32', 1) as tf.Tensor3D,
      tokens: tf.tensor2d([2, 7, 3, 0, 2, 8, 9, 3, 2, 3, 0, 0], [B, 4], 'int32'),
      attention: tf.tensor2d([1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0], [B, 4], 'int32'),
      clinical: tf.zeros([B, 16]) as tf.Tensor2D,
      sex: tf.tensor1d([0, 1, 2], 'int32'),
      acuity: tf.tensor1d([0, 3, 5], 'int32'),
    };
    expect(modalitySubsets()).toHaveLength(7);
    for (const modalities of modalitySubsets()) {
      for (const fusion of ['concat', 'attention'] as const) {
        const m = createModel(
          { ...PRESETS['mdf-net-tiny'], vocabSize: 16, modalities, fusion },
          new Generator(0),
        );
        const y = m.forward(inputs);
        expect(y.shape).toEqual([B, FINDINGS.length]);
        expect(m.encoders()).toHaveLength(modalities.length);
        const keys = Object.keys(m.stateDict());
        expect(keys.some((k) => k.startsWith('text_encoder.'))).toBe(modalities.includes('text'));
        if (modalities.includes('image')) expect(keys).toContain('image_encoder.convs.0.weight');
        y.dispose();
        m.dispose();
      }
    }
    tf.dispose(Object.values(inputs));
  });

  it('loss = 0.7·BCE + 0.3·focal over unmasked cells only', () => {
    const logits = tf.tensor2d([
      [2, -1],
      [0.5, 3],
    ]);
    const target = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const w = { bceWeight: 0.7, focalWeight: 0.3, focalAlpha: 0.25, focalGamma: 2 };
    // hand computation for the two unmasked cells (row 0 col 0: x=2,y=1; row 1 col 0: x=0.5,y=0)
    const cell = (x: number, y: number) => {
      const p = 1 / (1 + Math.exp(-x));
      const bce = -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
      const pt = y ? p : 1 - p;
      const at = y ? 0.25 : 0.75;
      return { bce, focal: at * (1 - pt) ** 2 * bce };
    };
    const a = cell(2, 1);
    const b = cell(0.5, 0);
    const expected = 0.7 * ((a.bce + b.bce) / 2) + 0.3 * ((a.focal + b.focal) / 2);
    const loss = mdfNetLoss(
      logits,
      target,
      tf.tensor2d([
        [1, 0],
        [1, 0],
      ]),
      w,
    );
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
  });
});

describe('two-stage training, evaluation and prediction (tiny)', () => {
  it('runs stage 1 → stage 2, writes checkpoints, eval.json and predictions', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mdf-train-'));
    const r = await train({
      data: { dir: join(root, 'data'), synth: { studies: 40, seed: 3, imageSize: 32 } },
      model: { preset: 'mdf-net-tiny' },
      batchSize: 16,
      stage1: { epochs: 1, warmupEpochs: 0 },
      stage2: { epochs: 1, lrs: { encoders: 1e-3, fusion: 1e-3, head: 1e-3 } },
      trainer: {
        name: 'tiny',
        runsDir: join(root, 'runs'),
        seed: 0,
        loggers: { console: false, tensorboard: false },
        handleSignals: false,
      },
    });
    expect(r.stage1?.summary.status).toBe('completed');
    expect(r.stage2?.summary.epochs).toBe(1);
    expect(existsSync(join(r.bestCheckpoint, 'model.safetensors'))).toBe(true);
    const files = JSON.parse(readFileSync(join(r.runDir, 'mdf-net.json'), 'utf8'));
    expect(files.clinicalStats.mean).toHaveLength(8);
    // stage 1 froze the encoders: in its checkpoint they still hold the (seeded) initial weights,
    // while fusion moved; stage 2 moved the encoders too
    const init = createModel(files.modelConfig, new Generator(0));
    const initial = (k: string) => Array.from(init.stateDict()[k].dataSync());
    const saved = (ckpt: string, k: string) => {
      const f = SafetensorsFile.open(join(ckpt, 'model.safetensors'));
      const v = Array.from(f.read(k).data as Float32Array);
      f.close();
      return v;
    };
    const s1 = join(r.runDir, 'stage1', 'checkpoints', r.stage1?.best?.name ?? '');
    for (const k of [
      'image_encoder.convs.0.weight',
      'text_encoder.position_embeddings',
      'clinical_encoder.mlp.fc1.weight',
    ])
      expect(saved(s1, k)).toEqual(initial(k));
    expect(saved(s1, 'fusion.proj.weight')).not.toEqual(initial('fusion.proj.weight'));
    expect(saved(r.bestCheckpoint, 'image_encoder.convs.0.weight')).not.toEqual(
      initial('image_encoder.convs.0.weight'),
    );
    init.dispose();
    const ev = await evaluate(r.runDir, { resamples: 20 });
    expect(ev.perLabel).toHaveLength(14);
    expect(ev.studies).toBeGreaterThan(0);
    expect(existsSync(join(r.runDir, 'mdf-net-eval.json'))).toBe(true);
    // eval.json follows the @meddl/report contract (what `meddl report` renders).
    const artifact = readEvalArtifact(r.runDir);
    expect(artifact?.model).toBe('mdf-net');
    expect(artifact?.sections.map((x) => x.type)).toEqual([
      'forest',
      'classification',
      'calibration',
      'table',
    ]);
    // ROC and PR curves per finding, over certain labels only.
    const curves = artifact?.sections[1];
    if (curves?.type !== 'classification') throw new Error('expected a classification section');
    expect(curves.task).toBe('multilabel');
    const defined = curves.perClass.filter((c) => c.auroc.value !== null);
    expect(defined.length).toBeGreaterThan(3);
    for (const c of defined) {
      expect(c.roc.x[0]).toBe(0);
      expect(c.roc.x.at(-1)).toBe(1);
      expect(c.pr.x.length).toBeGreaterThan(1);
      const row = ev.perLabel.find((l) => l.finding === c.className);
      if (row && Number.isFinite(row.auroc)) expect(c.auroc.value).toBeCloseTo(row.auroc, 10);
    }
    expect(readFileSync(join(r.runDir, 'per_label.csv'), 'utf8').split('\n')[0]).toContain('auroc_lower');
    const p = await predict(r.runDir, {
      image: join(root, 'data', 'images', 's00000.dcm'),
      report: 'No pneumothorax. Small left pleural effusion.',
      clinical: { age: '70', temperature: '38.9', sex: 'F' },
    });
    expect(Object.keys(p)).toEqual([...FINDINGS]);
    for (const v of Object.values(p)) expect(v).toBeGreaterThan(0);
    // The same study through the exported ONNX graph (OnnxSession) gives the same probabilities.
    const out = join(root, 'export', 'mdf-net.onnx');
    await runExport(exportRegistry, 'mdf-net', { checkpoint: r.runDir, out });
    const q = await predict(out, {
      image: join(root, 'data', 'images', 's00000.dcm'),
      report: 'No pneumothorax. Small left pleural effusion.',
      clinical: { age: '70', temperature: '38.9', sex: 'F' },
    });
    expect(Object.keys(q)).toEqual([...FINDINGS]);
    for (const f of FINDINGS) expect(Math.abs(q[f] - p[f])).toBeLessThan(1e-4);
    // Calibration was fitted on val and is applied by both paths (and shown in eval.json).
    const reliability = artifact?.sections[2];
    if (reliability?.type !== 'calibration') throw new Error('expected a calibration section');
    expect(reliability.fittedOn).toBe('val');
    expect(reliability.after?.counts.reduce((a, b) => a + b, 0)).toBe(
      reliability.before.counts.reduce((a, b) => a + b, 0),
    );
    const cal = JSON.parse(readFileSync(join(r.runDir, 'calibration.json'), 'utf8'));
    expect(cal.temperatures).toHaveLength(14);
    expect(cal.temperatures.some((t: number) => t !== 1)).toBe(true);
  }, 120_000);
});

describe('pretrained ONNX encoders in training (tiny)', () => {
  it('trains on cached embeddings, reuses them in a second run, and predicts alike from checkpoint and ONNX', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mdf-enc-'));
    const fixtures = join(__dirname, '../fixtures/encoders');
    const config = (name: string) => ({
      data: { dir: join(root, 'data'), synth: { studies: 40, seed: 4, imageSize: 48 } },
      model: { preset: 'mdf-net-tiny' as const },
      encoders: {
        image: { path: join(fixtures, 'image_encoder.onnx') },
        text: { path: join(fixtures, 'text_encoder.onnx') },
        cacheDir: join(root, 'cache'),
      },
      batchSize: 16,
      stage1: { epochs: 1, warmupEpochs: 0 },
      stage2: { epochs: 1, lrs: { encoders: 1e-3, fusion: 1e-3, head: 1e-3 } },
      trainer: {
        name,
        runsDir: join(root, 'runs'),
        seed: 0,
        loggers: { console: false, tensorboard: false },
        handleSignals: false,
      },
    });
    const a = await train(config('first'));
    expect(a.embeddingCache.image?.computed).toBeGreaterThan(0);
    expect(a.embeddingCache.text?.computed).toBeGreaterThan(0);
    const files = JSON.parse(readFileSync(join(a.runDir, 'mdf-net.json'), 'utf8'));
    // The image encoder fixes 32 × 32 inputs; both encoders give 16-wide embeddings.
    expect(files.modelConfig).toMatchObject({ imageSize: 32, imageEmbeddingDim: 16, textEmbeddingDim: 16 });
    expect(files.encoderSha256.image).toMatch(/^[0-9a-f]{64}$/);
    const cacheFiles = [a.embeddingCache.image?.file, a.embeddingCache.text?.file] as string[];
    const before = cacheFiles.map((f) => readFileSync(f));
    // The in-model CNN and transformer are not built; the adapters are trained.
    const keys = Object.keys(readSafetensors(join(a.bestCheckpoint, 'model.safetensors')).tensors);
    expect(keys.some((k) => k.startsWith('image_encoder.') || k.startsWith('text_encoder.'))).toBe(false);
    expect(keys).toContain('image_adapter.proj.weight');
    expect(keys).toContain('text_adapter.norm.weight');

    // A second run: every embedding comes from the cache, and the files are unchanged.
    const b = await train({ ...config('second'), stage2: { enabled: false } });
    expect(b.embeddingCache.image).toMatchObject({ computed: 0, reused: 40 });
    expect(b.embeddingCache.text).toMatchObject({ computed: 0, reused: 40 });
    cacheFiles.forEach((f, i) => {
      expect(readFileSync(f).equals(before[i])).toBe(true);
    });

    const ev = await evaluate(a.runDir, { resamples: 10 });
    expect(ev.studies).toBeGreaterThan(0);
    const study = {
      image: join(root, 'data', 'images', 's00001.dcm'),
      report: 'Mild cardiomegaly. No effusion.',
      clinical: { age: '55', o2sat: '91', sex: 'M' },
    };
    const p = await predict(a.runDir, study);
    const out = join(root, 'export', 'mdf-net-encoders.onnx');
    const sidecar = await runExport(exportRegistry, 'mdf-net', { checkpoint: a.runDir, out });
    expect(sidecar.inputs.map((i) => i.name)).toEqual([
      'image_embeddings',
      'text_embeddings',
      'clinical',
      'sex',
      'acuity',
    ]);
    const q = await predict(out, study);
    for (const f of FINDINGS) expect(Math.abs(q[f] - p[f])).toBeLessThan(1e-4);
  }, 120_000);
});

describe('hyperparameter search space', () => {
  it('maps trial parameters onto the run config (focal weight = 1 − BCE weight)', async () => {
    const { applySearchParams } = await import('./search');
    const { MdfNetRunConfigSchema } = await import('./train');
    const base = MdfNetRunConfigSchema.parse({ data: { dir: 'x' } });
    const cfg = MdfNetRunConfigSchema.parse(
      applySearchParams(base, {
        encoderLr: 2e-5,
        fusionLr: 5e-4,
        bceWeight: 0.6,
        focalGamma: 1.5,
        fusionDropout: 0.1,
      }),
    );
    expect(cfg.stage2.lrs).toEqual({ encoders: 2e-5, fusion: 5e-4, head: 5e-4 });
    expect(cfg.loss.bceWeight).toBe(0.6);
    expect(cfg.loss.focalWeight).toBeCloseTo(0.4, 12);
    expect(cfg.loss.focalGamma).toBe(1.5);
    expect(cfg.loss.focalAlpha).toBe(0.25);
    expect(cfg.model.overrides.fusionDropout).toBe(0.1);
  });
});

describe('search (tiny)', () => {
  it('runs random-search trials as run directories and ranks them in results.csv', async () => {
    const { search } = await import('./search');
    const root = mkdtempSync(join(tmpdir(), 'mdf-search-'));
    const s = await search(
      {
        data: { dir: join(root, 'data'), synth: { studies: 30, seed: 5, imageSize: 32 } },
        model: { preset: 'mdf-net-tiny', overrides: { modalities: ['text', 'clinical'] } },
        batchSize: 16,
        stage1: { epochs: 1, warmupEpochs: 0 },
        stage2: { epochs: 1 },
        trainer: {
          name: 'tiny',
          runsDir: join(root, 'runs'),
          loggers: { console: false, tensorboard: false },
          handleSignals: false,
        },
      },
      { sampler: 'random', trials: 2, space: { encoderLr: { type: 'loguniform', low: 1e-4, high: 1e-3 } } },
    );
    expect(s.results).toHaveLength(2);
    expect(s.results.every((r) => r.status === 'complete')).toBe(true);
    expect(s.results[0].params.encoderLr).not.toBe(s.results[1].params.encoderLr);
    expect(readFileSync(join(s.dir, 'results.csv'), 'utf8').split('\n').length).toBeGreaterThanOrEqual(3);
  }, 120_000);
});

describe('ablation (tiny, two subsets)', () => {
  it('writes results_summary.csv with CIs and DeLong p-values against the reference model', async () => {
    const { ablate } = await import('./evaluate');
    const root = mkdtempSync(join(tmpdir(), 'mdf-ablate-'));
    const { dir, rows } = await ablate(
      {
        data: {
          dir: join(root, 'data'),
          synth: { studies: 48, seed: 6, imageSize: 32 },
          ratios: { train: 0.5, val: 0.2, test: 0.3 },
        },
        model: { preset: 'mdf-net-tiny' },
        batchSize: 16,
        stage1: { epochs: 1, warmupEpochs: 0 },
        stage2: { epochs: 1, lrs: { encoders: 1e-3, fusion: 1e-3, head: 1e-3 } },
        trainer: {
          name: 'abl',
          runsDir: join(root, 'runs'),
          loggers: { console: false, tensorboard: false },
          handleSignals: false,
        },
      },
      { subsets: [['text', 'clinical'], ['clinical']], resamples: 20 },
    );
    expect(rows.map((r) => r.modalities.join('+'))).toEqual(['text+clinical', 'clinical']);
    // the reference row has no p-values and a zero difference; the other has at least one p-value
    expect(rows[0].delongP.every((p) => Number.isNaN(p))).toBe(true);
    expect(rows[0].meanAurocDiff.value).toBe(0);
    expect(rows[1].delongP.some((p) => p >= 0 && p <= 1)).toBe(true);
    const csv = readFileSync(join(dir, 'results_summary.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(3);
    const header = csv[0].split(',');
    expect(header.slice(0, 4)).toEqual(['modalities', 'mean_auroc', 'mean_auroc_lower', 'mean_auroc_upper']);
    expect(header).toContain('"delong_p:Pleural Effusion"');
    expect(csv[2].split(',')).toHaveLength(header.length);
    // The ablation directory's eval.json (@meddl/report contract) carries the same numbers.
    const artifact = readEvalArtifact(dir);
    const abl = artifact?.sections.find((x) => x.type === 'ablation');
    if (abl?.type !== 'ablation') throw new Error('expected an ablation section');
    expect(abl.reference).toBe('text + clinical');
    expect(abl.rows.map((r) => r.name)).toEqual(['text + clinical', 'clinical']);
    expect(abl.rows[1].value).toBeCloseTo(rows[1].eval.meanAuroc.value, 10);
    const pTable = artifact?.sections.find((x) => x.type === 'table' && x.title?.startsWith('DeLong'));
    if (pTable?.type !== 'table') throw new Error('expected the DeLong table');
    const k = FINDINGS.indexOf('Pleural Effusion');
    const p = rows[1].delongP[k];
    expect(pTable.rows[k][1]).toBe(Number.isFinite(p) ? p : null);
  }, 120_000);
});

describe('configs', () => {
  it('configs/mdf-net/*.yaml parse, and quickstart.yaml equals QUICKSTART_CONFIG', async () => {
    const { loadRunConfig, QUICKSTART_CONFIG } = await import('./commands');
    const { MdfNetRunConfigSchema } = await import('./train');
    const dir = join(__dirname, '../../../configs/mdf-net');
    for (const f of ['tiny.yaml', 'quickstart.yaml', 'ablation.yaml', 'onnx-encoders.yaml'])
      loadRunConfig(join(dir, f), {});
    const fromYaml = loadRunConfig(join(dir, 'quickstart.yaml'), {});
    const fromCode = MdfNetRunConfigSchema.parse({
      ...QUICKSTART_CONFIG,
      data: { ...QUICKSTART_CONFIG.data, dir: fromYaml.data.dir },
      trainer: fromYaml.trainer,
    });
    expect(fromCode).toEqual(fromYaml);
    expect(() => loadRunConfig(join(dir, 'missing.yaml'), {})).toThrow(/--config/);
  });
});
