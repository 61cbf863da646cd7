// Seeded synthetic run directories, one per kind of domain report, for the tests (and as a worked
// example of the eval.json contract). Not exported from the package.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { SeededRandom } from '@meddl/metrics';
import { writeEvalArtifact } from '../artifact';
import type { Section } from '../schema';
import {
  ablationSection,
  binaryCalibrationSection,
  calibrationSection,
  classificationSection,
  confusionSection,
  embeddingHealth,
  embeddingSection,
  gallerySection,
  headline,
  multilabelClassificationSection,
  scatterSection,
  subgroupAurocSection,
  survivalSection,
  tableSection,
} from '../sections';

export type FixtureKind = 'tissuebert' | 'crc-mil' | 'mdf-net' | 'vjepa3d';
export const FIXTURE_KINDS: FixtureKind[] = ['tissuebert', 'crc-mil', 'mdf-net', 'vjepa3d'];

class Rng {
  private readonly r: SeededRandom;
  constructor(seed: number) {
    this.r = new SeededRandom(seed);
  }
  uniform(): number {
    return this.r.nextFloat();
  }
  int(n: number): number {
    return this.r.nextInt(n);
  }
  normal(): number {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

function pngChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

/** Minimal RGB PNG encoder (filter 0) for fixture images. */
export function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++)
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function writeTrainingFiles(
  root: string,
  model: string,
  epochs: number,
  rng: Rng,
  metricNames: string[],
): void {
  mkdirSync(join(root, 'logs'), { recursive: true });
  mkdirSync(join(root, 'checkpoints'), { recursive: true });
  writeFileSync(
    join(root, 'config.yaml'),
    `model:\n  name: ${model}\n  preset: tiny\nbatchSize: 16\ntrainer:\n  name: ${model}-fixture\n  maxEpochs: ${epochs}\n  seed: 7\n  optimizer:\n    name: adamw\n    lr: 0.001\n`,
  );
  writeFileSync(
    join(root, 'run.json'),
    JSON.stringify(
      {
        name: `${model}-fixture`,
        startTime: '2026-11-23T10:00:00.000Z',
        resumed: false,
        seed: 7,
        codeRevision: 'e0f275a0000000000000000000000000deadbeef',
        backend: {
          name: 'native',
          tfjsName: 'cpu',
          version: '0.1.0',
          tfjsVersion: '4.22.0',
          threads: 2,
          simd: true,
          chosenBy: 'auto',
          skipped: [],
        },
        versions: { node: process.version, '@meddl/trainer': '0.1.0' },
        argv: ['train', model, '--config', `configs/${model}/quickstart.yaml`],
      },
      null,
      2,
    ),
  );
  const cols = ['epoch', 'step', 'train_loss', 'lr', 'duration_s', 'val_loss', ...metricNames];
  const lines = [cols.join(',')];
  for (let e = 0; e < epochs; e++) {
    const decay = Math.exp(-e / 4);
    const row = [
      e,
      (e + 1) * 20,
      1.2 * decay + 0.2 + 0.02 * rng.normal(),
      1e-3 * 0.5 * (1 + Math.cos((Math.PI * e) / epochs)),
      3 + rng.uniform(),
      1.3 * decay + 0.3 + 0.03 * rng.normal(),
    ];
    for (let k = 0; k < metricNames.length; k++)
      row.push(Math.min(1, 0.5 + 0.4 * (1 - decay) + 0.02 * rng.normal()));
    lines.push(row.join(','));
  }
  writeFileSync(join(root, 'logs', 'metrics.csv'), `${lines.join('\n')}\n`);
  const steps: string[] = [];
  for (let t = 1; t <= epochs * 20; t++) {
    const skipped = t === 7;
    steps.push(
      JSON.stringify({
        epoch: Math.floor((t - 1) / 20),
        step: t,
        batchIndex: (t - 1) % 20,
        loss: skipped ? null : 1.3 * Math.exp(-t / 60) + 0.2 + 0.08 * rng.normal(),
        lr: [1e-3],
        gradNorm: 2 * Math.exp(-t / 80) + 0.3 * rng.uniform(),
        samples: 16,
        samplesPerSec: 40 + rng.normal(),
        stepSeconds: 0.4,
        skipped,
        time: 1795000000 + t,
      }),
    );
    if (t % 20 === 0)
      steps.push(
        JSON.stringify({ step: t, epoch: t / 20 - 1, validation: { val_loss: 0.5 }, time: 1795000000 + t }),
      );
  }
  // A run killed mid-write leaves a truncated last line; the reader ignores it.
  writeFileSync(join(root, 'logs', 'steps.jsonl'), `${steps.join('\n')}\n{"epoch":`);
  writeFileSync(
    join(root, 'checkpoints', 'index.json'),
    JSON.stringify({
      version: 1,
      checkpoints: [
        {
          name: `ckpt-000${epochs}-e${epochs - 1}-s${epochs * 20}`,
          seq: epochs,
          epoch: epochs - 1,
          step: epochs * 20,
          metrics: { val_loss: 0.41 },
          tags: ['best-val_loss'],
          reason: 'epoch',
          createdAt: '2026-11-23T10:05:00.000Z',
          bytes: 1234567,
          compression: 'none',
        },
      ],
    }),
  );
}

/** Multi-class logits whose argmax tracks the label (overconfident by `scale`, so temperature > 1). */
function multiclassLogits(
  rng: Rng,
  n: number,
  K: number,
  scale: number,
): { y: number[]; logits: number[][] } {
  const y: number[] = [];
  const logits: number[][] = [];
  for (let i = 0; i < n; i++) {
    const c = rng.int(K);
    y.push(c);
    logits.push(Array.from({ length: K }, (_, k) => scale * ((k === c ? 1.6 : 0) + rng.normal())));
  }
  return { y, logits };
}

function softmaxRows(logits: number[][]): number[][] {
  return logits.map((r) => {
    const m = Math.max(...r);
    const e = r.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
}

/** What a fixture's report must contain: chart kind → count, and gallery images. */
export interface FixtureExpectation {
  charts: Record<string, number>;
  images: number;
}

const TRAINING = {
  'training-loss': 1,
  'training-metrics': 1,
  'training-lr': 1,
  'training-step-loss': 1,
  'training-grad-norm': 1,
};

/** Writes a complete synthetic run directory of `kind` under `root`; returns what its report must show. */
export function buildFixtureRun(root: string, kind: FixtureKind, seed = 1): FixtureExpectation {
  const rng = new Rng(seed);
  mkdirSync(root, { recursive: true });
  const sections: Section[] = [];
  const head = [];
  let expect: FixtureExpectation;
  let data: { name: string; facts: Record<string, string | number> };
  if (kind === 'tissuebert') {
    writeTrainingFiles(root, kind, 8, rng, ['val_accuracy', 'val_macro_f1']);
    const tissues = ['blood', 'liver', 'colon', 'lung', 'pancreas'];
    const { y, logits } = multiclassLogits(rng, 300, tissues.length, 2.2);
    const probs = softmaxRows(logits);
    const cls = classificationSection(y, probs, tissues);
    sections.push(
      cls,
      calibrationSection(y, logits, { fittedOn: 'the evaluated split itself (optimistic)' }),
      confusionSection(y, probs, tissues),
    );
    // Deconvolution: 24 mixtures, true proportions from a Dirichlet-ish draw, estimates with noise.
    const truth: number[][] = [];
    const est: number[][] = [];
    for (let i = 0; i < 24; i++) {
      const g = tissues.map(() => -Math.log(1 - rng.uniform()));
      const s = g.reduce((a, b) => a + b, 0);
      const t = g.map((v) => v / s);
      truth.push(t);
      est.push(t.map((v) => Math.max(0, v + 0.04 * rng.normal())));
    }
    sections.push(
      scatterSection(truth, est, tissues, {
        title: 'Deconvolution: true vs estimated proportion',
        xLabel: 'true fraction',
        yLabel: 'estimated',
      }),
    );
    head.push(
      headline('macro_auroc', cls.macroAuroc ?? { value: null }, { label: 'Macro AUROC' }),
      headline('accuracy', cls.accuracy ?? Number.NaN, { label: 'Accuracy', format: 'percent' }),
    );
    data = {
      name: 'synthetic methylation',
      facts: { samples: 88, 'validation reads': 300, tissues: tissues.length },
    };
    expect = {
      charts: { ...TRAINING, roc: 1, pr: 1, reliability: 2, confusion: 1, scatter: tissues.length },
      images: 0,
    };
  } else if (kind === 'crc-mil') {
    writeTrainingFiles(root, kind, 6, rng, ['val_auroc']);
    const n = 160;
    const y: number[] = [];
    const score: number[] = [];
    const site: string[] = [];
    const time: number[] = [];
    const event: number[] = [];
    for (let i = 0; i < n; i++) {
      const lab = rng.uniform() < 0.4 ? 1 : 0;
      y.push(lab);
      score.push(1 / (1 + Math.exp(-(1.5 * (lab - 0.5) * 2 + rng.normal()))));
      site.push(['site A', 'site B', 'site C'][rng.int(3)]);
      const hazard = lab ? 0.08 : 0.03;
      const t = -Math.log(1 - rng.uniform()) / hazard;
      const c = 10 + 50 * rng.uniform();
      time.push(Math.min(t, c));
      event.push(t <= c ? 1 : 0);
    }
    const cls = classificationSection(y, score, ['MSS', 'MSI']);
    mkdirSync(join(root, 'eval', 'heatmaps'), { recursive: true });
    const images = [];
    for (let k = 0; k < 3; k++) {
      const w = 48;
      const h = 32;
      const px = new Uint8Array(w * h * 3);
      const cx = w * rng.uniform();
      const cy = h * rng.uniform();
      for (let yy = 0; yy < h; yy++)
        for (let xx = 0; xx < w; xx++) {
          const a = Math.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 60);
          px.set(
            [Math.round(255 * a), Math.round(80 * (1 - a)), Math.round(200 * (1 - a))],
            (yy * w + xx) * 3,
          );
        }
      const p = `eval/heatmaps/slide-${k}.png`;
      writeFileSync(join(root, p), encodeRgbPng(px, w, h));
      images.push({ path: p, caption: `slide ${k}: attention` });
    }
    sections.push(
      cls,
      binaryCalibrationSection(y, score, { bins: 10 }),
      subgroupAurocSection(y, score, site, { title: 'MSI AUROC by site' }),
      survivalSection(
        time,
        event,
        y.map((v) => (v ? 'MSI' : 'MSS')),
        { timeUnit: 'months', risk: score },
      ),
      gallerySection(images, { title: 'Attention heatmaps' }),
    );
    head.push(headline('auroc', cls.perClass[0].auroc, { label: 'MSI AUROC' }));
    data = { name: 'synthetic WSI bags', facts: { slides: n, 'MSI prevalence': 0.4 } };
    expect = { charts: { ...TRAINING, roc: 1, pr: 1, reliability: 1, forest: 1, km: 1 }, images: 3 };
  } else if (kind === 'mdf-net') {
    writeTrainingFiles(root, kind, 5, rng, ['val_auroc']);
    const n = 200;
    const y: number[] = [];
    const full: number[] = [];
    const noClinical: number[] = [];
    const imageOnly: number[] = [];
    const sex: string[] = [];
    for (let i = 0; i < n; i++) {
      const lab = rng.uniform() < 0.35 ? 1 : 0;
      y.push(lab);
      const z = rng.normal();
      full.push(2 * lab + z);
      noClinical.push(1.5 * lab + z + 0.6 * rng.normal());
      imageOnly.push(lab + z + rng.normal());
      sex.push(rng.uniform() < 0.5 ? 'female' : 'male');
    }
    const p = full.map((s) => 1 / (1 + Math.exp(-(s - 0.7))));
    // Multi-label findings: the first is the ablated one, two more with weaker signal.
    const Y = y.map((v) => [v, rng.uniform() < 0.2 ? 1 : 0, rng.uniform() < 0.5 ? 1 : 0]);
    const S = Y.map((row, i) => [p[i], 0.8 * row[1] + rng.normal(), 0.5 * row[2] + rng.normal()]);
    const findings = multilabelClassificationSection(Y, S, ['effusion', 'pneumothorax', 'cardiomegaly']);
    sections.push(
      findings,
      binaryCalibrationSection(y, p, { bins: 10, platt: true, title: 'Calibration (effusion)' }),
      ablationSection(y, [
        { name: 'full model', score: full },
        { name: 'no clinical fusion', score: noClinical },
        { name: 'image only', score: imageOnly },
      ]),
      subgroupAurocSection(y, p, sex, { title: 'Effusion AUROC by sex' }),
    );
    head.push(
      headline('mean_auroc', findings.macroAuroc ?? { value: null }, { label: 'Mean AUROC' }),
      headline('effusion_auroc', findings.perClass[0].auroc, { label: 'Effusion AUROC' }),
    );
    data = { name: 'synthetic chest X-ray + EHR', facts: { studies: n } };
    expect = { charts: { ...TRAINING, roc: 1, pr: 1, reliability: 2, ablation: 1, forest: 1 }, images: 0 };
  } else {
    writeTrainingFiles(root, kind, 10, rng, ['val_knn_acc']);
    const epochs = Array.from({ length: 10 }, (_, e) => e + 1);
    const d = 12;
    const emb = Array.from({ length: 80 }, () =>
      Array.from({ length: d }, (_, j) => (j < 6 ? rng.normal() : 1e-7 * rng.normal())),
    );
    const h = embeddingHealth(emb);
    sections.push(
      embeddingSection({
        series: [
          {
            name: 'effective rank',
            x: epochs,
            y: epochs.map((e) => 2 + (h.effectiveRank - 2) * (1 - Math.exp(-e / 3))),
          },
          { name: 'mean per-dim std', x: epochs, y: epochs.map((e) => h.meanStd * (0.5 + 0.05 * e)) },
        ],
        probes: [
          {
            name: 'linear probe',
            metric: 'balanced accuracy',
            value: 0.71,
            lower: 0.65,
            upper: 0.77,
            method: 'bootstrap',
          },
          { name: 'kNN (k=20)', metric: 'balanced accuracy', value: 0.66 },
        ],
      }),
      tableSection(
        ['statistic', 'value'],
        [
          ['effective rank (final)', h.effectiveRank],
          ['collapsed dims', h.collapsedDims],
        ],
        { title: 'Final embedding statistics' },
      ),
    );
    head.push(
      headline('effective_rank', h.effectiveRank, { label: 'Effective rank' }),
      headline(
        'probe_bacc',
        { value: 0.71, lower: 0.65, upper: 0.77, confidence: 0.95, method: 'bootstrap' },
        { label: 'Linear probe bal. acc.' },
      ),
    );
    data = { name: 'synthetic CT volumes', facts: { volumes: 80, 'embedding dim': d } };
    expect = { charts: { ...TRAINING, 'embedding-series': 2, probes: 1 }, images: 0 };
  }
  writeEvalArtifact(root, {
    model: kind,
    split: 'val',
    checkpoint: 'checkpoints/ckpt-best',
    data,
    headline: head,
    sections,
    wallSeconds: 1.25,
    createdAt: '2026-11-23T10:06:00.000Z',
  });
  return expect;
}
