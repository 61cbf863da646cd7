import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportRegistry, OnnxSession, runExport } from '@meddl/onnx';
import { readEvalArtifact } from '@meddl/report';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTemperature, dividePrior, mixtureMle } from './deconv/mixture';
import { TissueBertArgumentError } from './errors';
import { evaluateTissueBert } from './evaluate';
import { registerTissueBertExporter } from './onnx';
import { formatPredictions, predictTissueBert } from './predict';
import { loadRunModel, runImpliedPrior, runTemperature } from './run-model';
import { generateSyntheticDataset } from './synth/generator';
import {
  loadStore,
  readTissueBertConfig,
  splitFiles,
  TissueBertRunConfigSchema,
  trainTissueBert,
} from './train';

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

  it('reads every shipped config, with overrides, and names the file and field of a bad one', () => {
    const dir = join(__dirname, '../../../configs/tissuebert');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')))
      expect(() => readTissueBertConfig(join(dir, f)), f).not.toThrow();
    const c = readTissueBertConfig(join(dir, 'small-hybrid.yaml'), {
      data: { dir: '/tmp/x' },
      trainer: { name: 'n', maxEpochs: 2 },
    });
    expect(c.data.dir).toBe('/tmp/x');
    expect(c.data.examplesPerEpoch).toBe(8192); // the file's other data fields stay
    expect(c.trainer.maxEpochs).toBe(2);
    expect(c.model.overrides).toEqual({
      stemKernel: 7,
      positionEmbeddings: false,
      normFirst: true,
      pooling: 'max',
    });
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, 'data: { dir: x }\nbatchSize: -3\n');
    expect(() => readTissueBertConfig(bad)).toThrow(/bad\.yaml: batchSize/);
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
  }, 300_000);

  it('evaluates the run: read metrics with CIs, calibration, deconvolution vs NNLS', async () => {
    expect(runDir).not.toBe('');
    const r = await evaluateTissueBert({
      runDir,
      mixtures: 4,
      readsPerMixture: 400,
      bootstrapResamples: 50,
      referenceReadsPerFile: 100,
    });
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
      // The read-level atlas counted from the training files, deconvolved by the same MLE.
      expect(Number.isFinite(k.atlas.rmse)).toBe(true);
      // Synthetic data: the same MLE on the generator's exact read posteriors is reported too.
      expect(Number.isFinite(k.bayes?.rmse)).toBe(true);
    }
    // …and the Bayes-optimal classifier on the same reads, which beats chance.
    expect(r.classification.bayes?.balancedAccuracy.estimate).toBeGreaterThan(1 / 22);
    expect(r.classification.atlas.balancedAccuracy.estimate).toBeGreaterThan(0);
    expect(r.deconvolution.atlasTemperature).toBeGreaterThan(0);
    // The class prior the model implies on training reads: a distribution over every tissue.
    const prior = Object.values(r.deconvolution.impliedPrior);
    expect(prior).toHaveLength(22);
    expect(prior.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(Math.min(...prior)).toBeGreaterThan(0);
    expect(r.deconvolution.referenceReads).toBeGreaterThan(0);
    for (const k of r.deconvolution.kinds) {
      expect(Number.isFinite(k.modelNominalPrior.rmse)).toBe(true);
      // The paired gap is the difference of the two RMSEs, inside its interval.
      expect(k.nnlsMinusModel.estimate).toBeCloseTo(k.nnls.rmse - k.model.rmse, 10);
      expect(k.nnlsMinusModel.lower).toBeLessThanOrEqual(k.nnlsMinusModel.estimate);
      expect(k.nnlsMinusModel.upper).toBeGreaterThanOrEqual(k.nnlsMinusModel.estimate);
    }
    const saved = JSON.parse(readFileSync(join(runDir, 'tissuebert-eval.json'), 'utf8'));
    expect(saved.deconvolution.kinds).toHaveLength(r.deconvolution.kinds.length);
    // eval.json follows the @meddl/report contract (what `meddl report` renders).
    const artifact = readEvalArtifact(runDir);
    expect(artifact?.model).toBe('tissuebert');
    expect(artifact?.sections.map((x) => x.type)).toEqual([
      'classification',
      'calibration',
      'confusion',
      'scatter',
      'table',
    ]);
    const csv = readFileSync(join(runDir, 'deconvolution.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('kind,mixture,tissue,true,model,model_nominal_prior,nnls,atlas,bayes');
  }, 300_000);

  it('predicts tissue proportions of held-out pat files with the calibrated run', async () => {
    expect(runDir).not.toBe('');
    const meta = JSON.parse(readFileSync(join(runDir, 'tissuebert.json'), 'utf8'));
    const manifest = readFileSync(join(root, 'data', 'manifest.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    const byName = new Map(
      manifest.map((l) => l.split(',')).map(([sample, tissue, file]) => [sample, { tissue, file }]),
    );
    const held = (meta.valSamples as string[]).slice(0, 3).map((s) => byName.get(s)!);
    const evaluated = JSON.parse(readFileSync(join(runDir, 'tissuebert-eval.json'), 'utf8'));
    const evalT = evaluated.calibration.temperature;
    const evalPrior = (meta.tissues as string[]).map((t) => evaluated.deconvolution.impliedPrior[t]);
    const r = await predictTissueBert({
      runDir,
      samples: held.map((h) => join(root, 'data', h.file)),
      maxReads: 300,
      outDir: join(root, 'pred'),
    });
    expect(r.temperatureSource).toBe('tissuebert-eval.json');
    expect(r.temperature).toBe(evalT);
    expect(r.impliedPrior).toEqual(evalPrior);
    expect(r.samples).toHaveLength(3);
    for (const s of r.samples) {
      expect(s.scored).toBeLessThanOrEqual(300);
      const total = s.tissues.reduce((a, t) => a + t.proportion, 0);
      expect(total).toBeCloseTo(1, 6);
      expect(s.tissues.reduce((a, t) => a + t.meanPosterior, 0)).toBeCloseTo(1, 6);
      for (const t of s.tissues) {
        expect(t.lower).toBeLessThanOrEqual(t.proportion + 1e-12);
        expect(t.upper).toBeGreaterThanOrEqual(t.proportion - 1e-12);
      }
    }
    // The tiny 4-epoch run barely learns (val accuracy ~0.1), so no accuracy claim here; instead the
    // pat → example path of predict must give exactly what the training store + model give.
    const own = r.samples.map((x, i) => x.tissues.find((t) => t.tissue === held[i].tissue)?.proportion ?? -1);
    console.log('predict: own-tissue proportions', own.map((x) => x.toFixed(3)).join(' '));
    const store = await loadStore(join(root, 'data'), { hdf5: false });
    const s0 = store.samples.find((x) => x.sample === (meta.valSamples as string[])[0])!;
    expect(r.samples[0].reads).toBe(s0.n);
    const k = Math.min(s0.n, 300);
    const picks = Array.from({ length: k }, (_, i) => Math.floor((i * s0.n) / k));
    const run = await loadRunModel(runDir);
    const L = store.tokenLength;
    const probs = tf.tidy(() =>
      tf.softmax(
        run.model.forward(
          tf.tensor2d(
            Int32Array.from(picks.flatMap((e) => Array.from(s0.tokens.subarray(e * L, (e + 1) * L)))),
            [k, L],
            'int32',
          ),
          tf.tensor2d(
            Int32Array.from(picks.flatMap((e) => Array.from(s0.methylation.subarray(e * L, (e + 1) * L)))),
            [k, L],
            'int32',
          ),
        ),
      ),
    );
    const K = store.tissues.length;
    const cal = dividePrior(
      applyTemperature({ probs: Float64Array.from(probs.dataSync()), nReads: k, nClasses: K }, evalT),
      evalPrior,
    );
    probs.dispose();
    run.model.dispose();
    const expected = mixtureMle(cal, { weights: Float64Array.from(picks, (e) => s0.count[e]) }).proportions;
    r.samples[0].tissues.forEach((t, i) => {
      expect(t.proportion).toBeCloseTo(expected[i], 6);
    });
    const csv = readFileSync(join(root, 'pred', 'predictions.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('sample,tissue,proportion,lower,upper,standard_error,mean_posterior');
    expect(csv).toHaveLength(1 + 3 * r.samples[0].tissues.length);
    expect(formatPredictions(r)).toContain('from tissuebert-eval.json');
    // Bootstrap intervals from the same reads; a run without eval.json falls back to T = 1.
    const b = await predictTissueBert({
      runDir,
      samples: [join(root, 'data', held[0].file)],
      maxReads: 100,
      ci: 'bootstrap',
      bootstrapReplicates: 20,
      outDir: null,
    });
    expect(b.files).toBeNull();
    expect(b.samples[0].tissues.some((t) => t.upper > t.lower)).toBe(true);
    expect(runTemperature(join(root, 'data'))).toEqual({ value: 1, source: 'default' });
    expect(runImpliedPrior(join(root, 'data'), ['a', 'b'])).toBeNull();
    // An evaluation file whose implied prior misses a tissue is refused, naming file and tissue.
    const bad = mkdtempSync(join(tmpdir(), 'tb-prior-'));
    writeFileSync(
      join(bad, 'tissuebert-eval.json'),
      JSON.stringify({ deconvolution: { impliedPrior: { a: 0.5 } } }),
    );
    expect(() => runImpliedPrior(bad, ['a', 'b'])).toThrow(/tissuebert-eval\.json.*no entry for tissue 'b'/);
    rmSync(bad, { recursive: true });
    await expect(predictTissueBert({ runDir, samples: [join(root, 'nope.pat.gz')] })).rejects.toThrow(
      TissueBertArgumentError,
    );
  }, 180_000);

  it('meddl export tissuebert writes an ONNX file that matches the checkpoint within 1e-4', async () => {
    expect(runDir).not.toBe('');
    registerTissueBertExporter(); // idempotent (index.ts registers on import)
    const out = join(root, 'tb.onnx');
    const sidecar = await runExport(exportRegistry, 'tissuebert', { checkpoint: runDir, out });
    const evalT = JSON.parse(readFileSync(join(runDir, 'tissuebert-eval.json'), 'utf8')).calibration
      .temperature;
    expect(sidecar.temperature).toBe(evalT);
    const run = await loadRunModel(runDir);
    expect(sidecar.impliedPrior).toEqual(run.impliedPrior);
    expect(run.impliedPrior).toHaveLength(22);
    expect(sidecar.labels).toEqual(run.meta.tissues);
    const g = new Generator(11);
    const B = 3;
    const L = 148;
    const tokens = Int32Array.from({ length: B * L }, () => 5 + g.int(64));
    const meth = Int32Array.from({ length: B * L }, () => g.int(3));
    const ref = tf.tidy(() =>
      run.model.forward(tf.tensor2d(tokens, [B, L], 'int32'), tf.tensor2d(meth, [B, L], 'int32')),
    );
    const s = await OnnxSession.create(readFileSync(out), { threads: 1, executionProviders: ['cpu'] });
    const o = await s.run({
      token_ids: { data: tokens, dims: [B, L] },
      methylation: { data: meth, dims: [B, L] },
    });
    const want = ref.dataSync();
    let worst = 0;
    for (let i = 0; i < want.length; i++)
      worst = Math.max(worst, Math.abs(Number(o.logits.data[i]) - want[i]));
    console.log(`export: max |onnx - tfjs| logits ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
    ref.dispose();
    run.model.dispose();
    await s.release();

    // The same predict API runs the exported model through onnxruntime: same proportions.
    const meta = JSON.parse(readFileSync(join(runDir, 'tissuebert.json'), 'utf8'));
    const manifest = new Map(
      readFileSync(join(root, 'data', 'manifest.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','))
        .map(([sample, , file]) => [sample, file]),
    );
    const samples = (meta.valSamples as string[])
      .slice(0, 2)
      .map((x) => join(root, 'data', manifest.get(x)!));
    const viaRun = await predictTissueBert({ runDir, samples, maxReads: 200, outDir: null });
    const viaOnnx = await predictTissueBert({ onnx: out, samples, maxReads: 200, outDir: null });
    expect(viaOnnx.runtime).toBe('onnxruntime');
    expect(viaOnnx.temperature).toBe(viaRun.temperature);
    expect(viaOnnx.impliedPrior).toEqual(viaRun.impliedPrior);
    viaRun.samples.forEach((sr, i) => {
      sr.tissues.forEach((t, k) => {
        expect(Math.abs(viaOnnx.samples[i].tissues[k].meanPosterior - t.meanPosterior)).toBeLessThan(1e-4);
        expect(Math.abs(viaOnnx.samples[i].tissues[k].proportion - t.proportion)).toBeLessThan(1e-3);
      });
    });
    // A model that does not match its sidecar is refused, naming the file.
    const tampered = join(root, 'tampered.onnx');
    writeFileSync(tampered, Buffer.concat([readFileSync(out), Buffer.from([0])]));
    writeFileSync(`${tampered}.json`, readFileSync(`${out}.json`));
    await expect(predictTissueBert({ onnx: tampered, samples, outDir: null })).rejects.toThrow(
      /tampered\.onnx does not match its sidecar/,
    );
  }, 180_000);
});
