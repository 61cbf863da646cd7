// Accuracy within a fixed budget, on synthetic data from the package's own generator (labels
// depend on content). mdf-net: `synthesize` N studies (32² chest images, reports, clinical rows),
// `train` mdf-net-tiny for E + E epochs (stage 1 frozen encoders, stage 2 all), `evaluate` on the
// held-out test split: mean AUROC over the 14 findings with its bootstrap 95 % interval. The
// budget is fixed (studies, epochs, seed), so the number moves only when the model, the trainer
// or the generator changes. There is no known ceiling for this generator.
// tissuebert: `generateSyntheticDataset` (motif-site model), `trainTissueBert` tissuebert-tiny for
// E epochs, `evaluateTissueBert` on the held-out files: read macro-F1 with its file-clustered
// bootstrap interval, and as `ceiling` the macro-F1 of the Bayes-optimal classifier on the same
// reads (the generator's exact posteriors) — the gap is what the model leaves on the table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function runAccuracyScenarios({ models, quick, threads, lib, log }) {
  const rows = [];
  const failures = [];
  if (models.includes('tissuebert')) await tissuebertAccuracy({ quick, threads, lib, log, rows, failures });
  if (!models.includes('mdf-net')) return { rows, failures };
  const mdf = await import('@meddl/mdf-net');
  const studies = quick ? 300 : 1000;
  const epochs = quick ? 2 : 4;
  const root = mkdtempSync(join(tmpdir(), 'meddl-bench-acc-'));
  log(`\naccuracy: mdf-net-tiny, ${studies} synthetic studies, ${epochs} + ${epochs} epochs`);
  try {
    const t0 = performance.now();
    const r = await mdf.train({
      data: { dir: join(root, 'data'), synth: { studies, seed: 3, imageSize: 32 } },
      model: { preset: 'mdf-net-tiny' },
      batchSize: 16,
      stage1: { epochs, warmupEpochs: 0 },
      stage2: { epochs, lrs: { encoders: 1e-3, fusion: 1e-3, head: 1e-3 } },
      trainer: {
        name: 'bench-accuracy',
        runsDir: join(root, 'runs'),
        seed: 0,
        loggers: { console: false, tensorboard: false },
        handleSignals: false,
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const ev = await mdf.evaluate(r.runDir, { resamples: 200, seed: 0 });
    const a = ev.meanAuroc;
    rows.push({
      model: 'mdf-net',
      preset: 'mdf-net-tiny',
      description: `synthesize ${studies} studies (seed 3, 32² images), train ${epochs} + ${epochs} epochs (batch 16, seed 0), evaluate the test split (${ev.studies} studies); time = synthesis + training`,
      scenario: 'accuracy',
      batch: studies,
      unit: 'studies',
      params: 0,
      subject: 'meddl',
      threads,
      meddl: lib.summarize([seconds], studies, [seconds]),
      peer: null,
      peerNote: 'no PyTorch training peer for the accuracy scenario',
      metric: {
        name: 'test mean AUROC (14 findings)',
        value: a.value,
        lower: a.lower,
        upper: a.upper,
        n: ev.studies,
        ceiling: null,
      },
    });
    log(
      `  test mean AUROC ${a.value.toFixed(3)} (${a.lower.toFixed(3)}–${a.upper.toFixed(3)}) in ${seconds.toFixed(0)} s`,
    );
  } catch (e) {
    failures.push({ key: 'mdf-net/mdf-net-tiny/accuracy', message: e.message.slice(0, 300) });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { rows, failures };
}

async function tissuebertAccuracy({ quick, threads, lib, log, rows, failures }) {
  const tb = await import('@meddl/tissuebert');
  const synth = quick
    ? { seed: 5, samples: 66, regions: 48, meanCoverage: 8 }
    : { seed: 5, samples: 88, regions: 200, meanCoverage: 10 };
  const epochs = quick ? 3 : 8;
  const root = mkdtempSync(join(tmpdir(), 'meddl-bench-acc-tb-'));
  log(
    `\naccuracy: tissuebert-tiny, ${synth.samples} synthetic files × ${synth.regions} regions, ${epochs} epochs`,
  );
  try {
    const t0 = performance.now();
    tb.generateSyntheticDataset(join(root, 'data'), synth);
    const r = await tb.trainTissueBert({
      data: {
        dir: join(root, 'data'),
        examplesPerEpoch: quick ? 1024 : 4096,
        valExamplesPerFile: 32,
        valFraction: 0.25,
      },
      model: { preset: 'tissuebert-tiny' },
      batchSize: 64,
      trainer: {
        name: 'bench-accuracy',
        runsDir: join(root, 'runs'),
        maxEpochs: epochs,
        seed: 0,
        optimizer: { name: 'adamw', lr: 2e-3, weightDecay: 0.01 },
        scheduler: { name: 'onecycle', pctStart: 0.1 },
        loggers: { console: false, tensorboard: false },
        handleSignals: false,
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const ev = await tb.evaluateTissueBert({
      runDir: r.runDir,
      mixtures: 4,
      readsPerMixture: 500,
      bootstrapResamples: 100,
    });
    const f1 = ev.classification.macroF1;
    const ceiling = ev.classification.bayes?.macroF1.estimate ?? null;
    rows.push({
      model: 'tissuebert',
      preset: 'tissuebert-tiny',
      description: `synthesize ${synth.samples} files × ${synth.regions} regions (seed ${synth.seed}), train ${epochs} epochs × ${quick ? 16 : 64} steps (batch 64, seed 0), evaluate ${ev.reads} held-out reads of ${ev.files} files; ceiling = Bayes-optimal macro-F1 on the same reads; time = synthesis + training`,
      scenario: 'accuracy',
      batch: ev.reads,
      unit: 'reads',
      params: 0,
      subject: 'meddl',
      threads,
      meddl: lib.summarize([seconds], ev.reads, [seconds]),
      peer: null,
      peerNote: 'no PyTorch training peer for the accuracy scenario',
      metric: {
        name: 'held-out read macro-F1 (22 tissues)',
        value: f1.estimate,
        lower: f1.lower,
        upper: f1.upper,
        n: ev.reads,
        ceiling,
      },
    });
    log(
      `  read macro-F1 ${f1.estimate.toFixed(3)} (${f1.lower.toFixed(3)}–${f1.upper.toFixed(3)}), Bayes ceiling ${ceiling === null ? 'n/a' : ceiling.toFixed(3)}, in ${seconds.toFixed(0)} s`,
    );
  } catch (e) {
    failures.push({ key: 'tissuebert/tissuebert-tiny/accuracy', message: e.message.slice(0, 300) });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
