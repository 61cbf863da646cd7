import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MdfNetArgumentError } from './errors';
import { ablate, evaluate, predict } from './evaluate';
import { search } from './search';
import { synthesize } from './synth/generator';
import { type MdfNetRunConfig, type MdfNetRunConfigInput, MdfNetRunConfigSchema, train } from './train';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface MdfNetCommand {
  path: string[];
  description: string;
  arguments?: Array<{ name: string; description: string; required?: boolean }>;
  options?: Array<{ flags: string; description: string; default?: string | number | boolean }>;
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}

function intOption(options: Record<string, unknown>, name: string, fallback: number): number {
  const v = options[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n))
    throw new MdfNetArgumentError(`--${name}`, `expected an integer, got '${String(v)}'`);
  return n;
}

/** Reads a YAML run config and applies the common command-line overrides. */
export function loadRunConfig(path: unknown, options: Record<string, unknown>): MdfNetRunConfig {
  if (typeof path !== 'string') throw new MdfNetArgumentError('--config', 'a config file is required');
  let raw: Record<string, unknown>;
  try {
    raw = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new MdfNetArgumentError('--config', `${path}: ${(e as Error).message}`);
  }
  const trainer = { ...((raw.trainer as Record<string, unknown>) ?? {}) };
  if (typeof options.name === 'string') trainer.name = options.name;
  if (typeof options.runsDir === 'string') trainer.runsDir = options.runsDir;
  const stage1 = { ...((raw.stage1 as Record<string, unknown>) ?? {}) };
  const stage2 = { ...((raw.stage2 as Record<string, unknown>) ?? {}) };
  if (options.stage1Epochs !== undefined) stage1.epochs = intOption(options, 'stage1Epochs', 1);
  if (options.stage2Epochs !== undefined) stage2.epochs = intOption(options, 'stage2Epochs', 1);
  const parsed = MdfNetRunConfigSchema.safeParse({ ...raw, trainer, stage1, stage2 });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new MdfNetArgumentError('--config', `${path}: ${issues}`);
  }
  return parsed.data;
}

const configOptions = [
  { flags: '--config <yaml>', description: 'run config (configs/mdf-net/*.yaml)' },
  { flags: '--name <name>', description: 'override trainer.name (the run directory)' },
  { flags: '--runs-dir <dir>', description: 'override trainer.runsDir' },
  { flags: '--stage1-epochs <n>', description: 'override stage1.epochs' },
  { flags: '--stage2-epochs <n>', description: 'override stage2.epochs' },
];

const predictOptions = [
  { flags: '--image <path>', description: 'DICOM or PNG chest radiograph' },
  { flags: '--report <path>', description: 'report text file' },
  {
    flags: '--clinical <k=v,...>',
    description: 'triage values, e.g. age=70,temperature=38.5,o2sat=91,sex=F',
  },
  { flags: '--json', description: 'print one JSON object instead of a table' },
];

async function runPredict(args: string[], options: Record<string, unknown>): Promise<void> {
  if (!args[0]) throw new MdfNetArgumentError('model', 'a run directory or .onnx file is required');
  const clinical: Record<string, string> = {};
  if (typeof options.clinical === 'string') {
    for (const kv of options.clinical.split(',')) {
      const [k, v] = kv.split('=');
      if (!k || v === undefined)
        throw new MdfNetArgumentError('--clinical', `expected key=value, got '${kv}'`);
      clinical[k.trim()] = v.trim();
    }
  }
  let report: string | undefined;
  if (typeof options.report === 'string') {
    try {
      report = readFileSync(options.report, 'utf8');
    } catch (e) {
      throw new MdfNetArgumentError('--report', `${options.report}: ${(e as Error).message}`);
    }
  }
  const p = await predict(args[0], {
    image: typeof options.image === 'string' ? options.image : undefined,
    report,
    clinical,
  });
  if (options.json) console.log(JSON.stringify(p));
  else for (const [f, v] of Object.entries(p)) console.log(`${f.padEnd(28)} ${v.toFixed(4)}`);
}

const f4 = (v: number) => (Number.isNaN(v) ? '  n/a ' : v.toFixed(4));

export const commands: MdfNetCommand[] = [
  {
    path: ['synth', 'mdf-net'],
    description:
      'Write a synthetic CXR data set: DICOM images with planted findings, reports, triage vitals, CheXpert-style labels, WordPiece tokenizer',
    options: [
      { flags: '--out <dir>', description: 'output directory' },
      { flags: '--seed <n>', description: 'random seed', default: 0 },
      { flags: '--studies <n>', description: 'number of studies', default: 600 },
      { flags: '--image-size <n>', description: 'stored image size (pixels)', default: 128 },
    ],
    run(_args, options) {
      const out = options.out;
      if (typeof out !== 'string' || out === '')
        throw new MdfNetArgumentError('--out', 'an output directory is required');
      const ds = synthesize(out, {
        seed: intOption(options, 'seed', 0),
        studies: intOption(options, 'studies', 600),
        imageSize: intOption(options, 'imageSize', 128),
      });
      const mono1 = ds.studies.filter((s) => s.photometric === 'MONOCHROME1').length;
      console.log(
        `wrote ${ds.studies.length} studies (${mono1} MONOCHROME1 images), vocabulary ${ds.vocabSize} to ${out}`,
      );
    },
  },
  {
    path: ['train', 'mdf-net'],
    description: 'Train MDF-Net (stage 1 frozen encoders → stage 2 end-to-end) from a YAML config',
    options: configOptions,
    async run(_args, options) {
      const config = loadRunConfig(options.config, options);
      const r = await train(config);
      for (const [name, s] of [
        ['stage 1', r.stage1],
        ['stage 2', r.stage2],
      ] as const) {
        if (s)
          console.log(
            `${name}: ${s.summary.status}, ${s.summary.epochs} epochs, best val mean AUROC ${f4(s.best?.metrics.val_mean_auroc ?? Number.NaN)}`,
          );
      }
      console.log(`run: ${r.runDir} (${r.durationSec.toFixed(1)} s); best checkpoint ${r.bestCheckpoint}`);
      if (r.stage2?.summary.status === 'interrupted' || r.stage1?.summary.status === 'interrupted')
        process.exitCode = 130;
    },
  },
  {
    path: ['eval', 'mdf-net'],
    description:
      'Evaluate a run on its test split: per-finding AUROC (DeLong CIs), mean AUROC/AUPRC and F1 with bootstrap CIs',
    arguments: [{ name: 'runDir', description: 'run directory written by train mdf-net', required: true }],
    options: [
      { flags: '--split <name>', description: 'train, val or test', default: 'test' },
      { flags: '--resamples <n>', description: 'bootstrap resamples', default: 500 },
    ],
    async run(args, options) {
      if (!args[0]) throw new MdfNetArgumentError('runDir', 'a run directory is required');
      const split = (options.split ?? 'test') as string;
      if (!['train', 'val', 'test'].includes(split))
        throw new MdfNetArgumentError('--split', `expected train, val or test, got '${split}'`);
      const r = await evaluate(args[0], {
        split: split as 'train' | 'val' | 'test',
        resamples: intOption(options, 'resamples', 500),
      });
      console.log(`${r.split}: ${r.studies} studies, modalities ${r.modalities.join('+')}`);
      for (const l of r.perLabel)
        console.log(
          `${l.finding.padEnd(28)} AUROC ${f4(l.auroc)} [${f4(l.aurocLower)}, ${f4(l.aurocUpper)}]  n+ ${l.positives}`,
        );
      const iv = (i: { value: number; lower: number; upper: number }) =>
        `${f4(i.value)} [${f4(i.lower)}, ${f4(i.upper)}]`;
      console.log(`mean AUROC ${iv(r.meanAuroc)}  mean AUPRC ${iv(r.meanAuprc)}`);
      console.log(
        `macro F1 ${iv(r.macroF1)}  micro F1 ${iv(r.microF1)}  worst-class AUROC ${f4(r.minAuroc)}`,
      );
      console.log(`wrote ${r.runDir}/mdf-net-eval.json, eval.json (report), per_label.csv, predictions.csv`);
    },
  },
  {
    path: ['mdf-net', 'ablate'],
    description:
      'Train and evaluate the 7 modality subsets; results_summary.csv with CIs and DeLong p-values against the full model',
    options: [
      ...configOptions,
      { flags: '--resamples <n>', description: 'bootstrap resamples', default: 500 },
    ],
    async run(_args, options) {
      const config = loadRunConfig(options.config, options);
      const { dir, rows } = await ablate(config, { resamples: intOption(options, 'resamples', 500) });
      for (const r of rows)
        console.log(
          `${r.modalities.join('+').padEnd(22)} mean AUROC ${f4(r.eval.meanAuroc.value)} [${f4(r.eval.meanAuroc.lower)}, ${f4(r.eval.meanAuroc.upper)}]  Δ vs full ${f4(r.meanAurocDiff.value)}`,
        );
      console.log(`wrote ${dir}/results_summary.csv`);
    },
  },
  {
    path: ['predict', 'mdf-net'],
    description:
      'Calibrated probabilities of the 14 findings for one study, from a run directory (checkpoint) or an exported .onnx (meddl export mdf-net)',
    arguments: [
      {
        name: 'model',
        description: 'trained run directory, or an exported .onnx with its .onnx.json sidecar',
        required: true,
      },
    ],
    options: predictOptions,
    run: runPredict,
  },
  {
    path: ['mdf-net', 'predict'],
    description: 'Same as predict mdf-net',
    arguments: [{ name: 'model', description: 'run directory or exported .onnx', required: true }],
    options: predictOptions,
    run: runPredict,
  },
  {
    path: ['mdf-net', 'search'],
    description:
      'Hyperparameter search (grid / random / TPE) over learning rates, weight decay, dropout, BCE weight, focal α and γ; objective val mean AUROC',
    options: [
      ...configOptions,
      { flags: '--sampler <kind>', description: 'grid, random or tpe', default: 'tpe' },
      { flags: '--trials <n>', description: 'number of trials', default: 20 },
    ],
    async run(_args, options) {
      const config = loadRunConfig(options.config, options);
      const sampler = String(options.sampler ?? 'tpe');
      if (sampler !== 'grid' && sampler !== 'random' && sampler !== 'tpe')
        throw new MdfNetArgumentError('--sampler', `expected grid, random or tpe, got '${sampler}'`);
      const s = await search(config, { sampler, trials: intOption(options, 'trials', 20) });
      for (const r of s.ranking.slice(0, 5))
        console.log(
          `trial ${r.trial} ${r.status} mean AUROC ${f4(r.objective)} worst ${f4(r.secondary ?? Number.NaN)} ${JSON.stringify(r.params)}`,
        );
      console.log(`wrote ${s.dir}/results.csv`);
    },
  },
];

/** configs/mdf-net/quickstart.yaml as code (a test keeps the two equal), minus paths and names. */
export const QUICKSTART_CONFIG = {
  data: { synth: { studies: 800, seed: 0, imageSize: 128 }, ratios: { train: 0.7, val: 0.15, test: 0.15 } },
  model: { preset: 'mdf-net-small', overrides: { fusion: 'concat' } },
  normalization: 'imagenet',
  augment: true,
  uncertainPolicy: 'ignore',
  loss: { bceWeight: 0.7, focalWeight: 0.3, focalAlpha: 0.25, focalGamma: 2 },
  batchSize: 32,
  weightDecay: 0.01,
  stage1: { epochs: 4, lr: 1e-3, warmupEpochs: 1, freezeEncoders: true },
  stage2: {
    epochs: 16,
    lrs: { encoders: 1e-3, fusion: 1e-3, head: 1e-3 },
    patience: 5,
    gradClipNorm: 1.0,
    accumulateGradBatches: 1,
  },
  checkpoints: { keepLast: 3, everyNEpochs: 5 },
} as const;

/** The CLI's `meddl quickstart` entry (structural QuickstartSpec): synthesize, train, evaluate, summarize. */
export const quickstart = {
  model: 'mdf-net',
  async run(options: { outDir: string }): Promise<Record<string, string | number>> {
    const t0 = Date.now();
    const r = await train({
      ...QUICKSTART_CONFIG,
      data: { ...QUICKSTART_CONFIG.data, dir: join(options.outDir, 'mdf-net-data') },
      trainer: {
        name: 'mdf-net',
        runsDir: options.outDir,
        seed: 0,
        loggers: { console: false, tensorboard: false },
      },
    } as MdfNetRunConfigInput);
    const ev = await evaluate(r.runDir);
    return {
      'test mean AUROC': Number(ev.meanAuroc.value.toFixed(4)),
      '95% CI': `${ev.meanAuroc.lower.toFixed(4)}-${ev.meanAuroc.upper.toFixed(4)}`,
      'worst-class AUROC': Number(ev.minAuroc.toFixed(4)),
      'test studies': ev.studies,
      seconds: Math.round((Date.now() - t0) / 1000),
      run: r.runDir,
    };
  },
};
