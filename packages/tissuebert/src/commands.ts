import { nnlsDeconvolve } from './deconv/nnls';
import { TissueBertArgumentError } from './errors';
import { evaluateTissueBert } from './evaluate';
import { alignByRowId, readNumericTable } from './formats/atlas';
import { formatPredictions, predictTissueBert } from './predict';
import { generateSyntheticDataset } from './synth/generator';
import { prepareStore, readTissueBertConfig, trainTissueBert } from './train';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface TissueBertCommand {
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
    throw new TissueBertArgumentError(`--${name}`, `expected an integer, got '${String(v)}'`);
  return n;
}

/** Deconvolves every column of a mixture CSV against an atlas CSV; returns printable CSV text. */
export function runNnlsCommand(mixturePath: string, atlasPath: string): string {
  const atlas = readNumericTable(atlasPath);
  const mixture = readNumericTable(mixturePath);
  const { atlasRows, mixtureRows, ids } = alignByRowId(atlas, mixture);
  if (ids.length === 0)
    throw new TissueBertArgumentError('mixture', `${mixturePath} shares no CpG ids with ${atlasPath}`);
  const results = mixture.columns.map((_, j) => {
    const keep = mixtureRows.map((r) => !Number.isNaN(r[j]));
    const rows = atlasRows.filter((_, i) => keep[i]);
    const b = mixtureRows.filter((_, i) => keep[i]).map((r) => r[j]);
    return nnlsDeconvolve(rows, b).proportions;
  });
  const lines = [['cell_type', ...mixture.columns].join(',')];
  atlas.columns.forEach((c, t) => {
    lines.push([c, ...results.map((r) => r[t].toFixed(4))].join(','));
  });
  return `${lines.join('\n')}\n`;
}

export const commands: TissueBertCommand[] = [
  {
    path: ['synth', 'tissuebert'],
    description:
      'Write a synthetic methylation data set (FASTA+fai, CpG index, regions BED, .pat.gz/.beta per sample, manifest, ground truth)',
    options: [
      { flags: '--out <dir>', description: 'output directory' },
      { flags: '--seed <n>', description: 'random seed', default: 0 },
      { flags: '--samples <n>', description: 'number of sample files (≥ 29)', default: 88 },
      { flags: '--regions <n>', description: 'number of 150-bp panel regions', default: 200 },
      { flags: '--coverage <n>', description: 'mean reads per region per sample', default: 10 },
    ],
    run(_args, options) {
      const out = options.out;
      if (typeof out !== 'string' || out === '')
        throw new TissueBertArgumentError('--out', 'an output directory is required');
      const ds = generateSyntheticDataset(out, {
        seed: intOption(options, 'seed', 0),
        samples: intOption(options, 'samples', 88),
        regions: intOption(options, 'regions', 200),
        meanCoverage: Number(options.coverage ?? 10),
      });
      const reads = ds.samples.reduce((a, s) => a + s.reads, 0);
      console.log(
        `wrote ${ds.samples.length} samples (${reads} reads), ${ds.groundTruth.regions.length} regions, ${ds.nSites} CpGs to ${out}`,
      );
    },
  },
  {
    path: ['tissuebert', 'nnls'],
    description:
      'Deconvolve mixtures (CSV: CpG id, one column per mixture) against a reference atlas by NNLS (MethAtlas)',
    arguments: [{ name: 'mixture', description: 'mixture CSV', required: true }],
    options: [
      { flags: '--atlas <csv>', description: 'reference atlas CSV (CpG id, one column per cell type)' },
    ],
    run(args, options) {
      const atlas = options.atlas;
      if (typeof atlas !== 'string') throw new TissueBertArgumentError('--atlas', 'an atlas CSV is required');
      if (!args[0]) throw new TissueBertArgumentError('mixture', 'a mixture CSV is required');
      process.stdout.write(runNnlsCommand(args[0], atlas));
    },
  },
  {
    path: ['tissuebert', 'prepare'],
    description:
      'Prepare a data folder (manifest, pat files, regions, CpG index, genome) into one HDF5 training store; training and eval read it while it is newer than manifest.csv',
    arguments: [{ name: 'dir', description: 'data folder (manifest.csv, regions.bed, …)', required: true }],
    options: [{ flags: '--out <file>', description: 'output HDF5 file (default <dir>/store.h5)' }],
    async run(args, options) {
      if (!args[0]) throw new TissueBertArgumentError('dir', 'a data folder is required');
      const r = await prepareStore(args[0], typeof options.out === 'string' ? options.out : undefined);
      console.log(
        `wrote ${r.file}: ${r.samples} samples, ${r.examples} examples, ${r.regions} regions, ${r.tissues} tissues`,
      );
    },
  },
  {
    path: ['train', 'tissuebert'],
    description: 'Train TissueBERT from a YAML config (auto-resumes from the run directory)',
    options: [
      { flags: '--config <yaml>', description: 'run config (configs/tissuebert/*.yaml)' },
      { flags: '--max-epochs <n>', description: 'override trainer.maxEpochs' },
      { flags: '--name <name>', description: 'override trainer.name (the run directory)' },
    ],
    async run(_args, options) {
      if (typeof options.config !== 'string')
        throw new TissueBertArgumentError('--config', 'a config file is required');
      const trainer: Record<string, unknown> = {};
      if (options.maxEpochs !== undefined) trainer.maxEpochs = intOption(options, 'maxEpochs', 1);
      if (typeof options.name === 'string') trainer.name = options.name;
      const r = await trainTissueBert(readTissueBertConfig(options.config, { trainer }));
      console.log(
        `run: ${r.runDir} (${r.summary.status}, ${r.summary.epochs} epochs, ${r.summary.steps} steps)`,
      );
      for (const [k, v] of Object.entries(r.metrics)) console.log(`${k.padEnd(24)} ${v.toFixed(4)}`);
      if (r.summary.status === 'interrupted') process.exitCode = 130;
    },
  },
  {
    path: ['eval', 'tissuebert'],
    description:
      'Evaluate a run on its held-out files: read-level metrics with CIs, temperature calibration, deconvolution of in-silico mixtures vs NNLS',
    arguments: [{ name: 'run', description: 'run directory (runs/<name>)', required: true }],
    options: [
      { flags: '--data <dir>', description: 'data folder (default: the one the run trained on)' },
      { flags: '--mixtures <n>', description: 'in-silico mixtures per kind', default: 20 },
      { flags: '--reads <n>', description: 'reads per mixture', default: 2000 },
      { flags: '--checkpoint <which>', description: 'best (val loss) or last', default: 'best' },
    ],
    async run(args, options) {
      if (!args[0]) throw new TissueBertArgumentError('run', 'a run directory is required');
      const which = options.checkpoint === 'last' ? 'last' : 'best';
      const r = await evaluateTissueBert({
        runDir: args[0],
        dataDir: typeof options.data === 'string' ? options.data : undefined,
        mixtures: intOption(options, 'mixtures', 20),
        readsPerMixture: intOption(options, 'reads', 2000),
        checkpoint: which,
      });
      const ci = (e: { estimate: number; lower: number; upper: number }) =>
        `${e.estimate.toFixed(4)} [${e.lower.toFixed(4)}, ${e.upper.toFixed(4)}]`;
      console.log(
        `run ${r.runDir} (checkpoint ${r.checkpoint}); ${r.reads} reads from ${r.files} held-out files`,
      );
      console.log(`read accuracy          ${ci(r.classification.accuracy)}`);
      console.log(`read balanced accuracy ${ci(r.classification.balancedAccuracy)}`);
      console.log(`read macro-F1          ${ci(r.classification.macroF1)}`);
      console.log(`file accuracy          ${r.classification.fileAccuracy.toFixed(4)}`);
      const c = r.calibration;
      console.log(
        `temperature ${c.temperature.toFixed(3)}: NLL ${c.nllBefore.toFixed(4)} -> ${c.nllAfter.toFixed(4)}, ECE ${c.eceBefore.toFixed(4)} -> ${c.eceAfter.toFixed(4)}`,
      );
      for (const k of r.deconvolution.kinds)
        console.log(
          `deconvolution ${k.kind.padEnd(16)} RMSE model ${k.model.rmse.toFixed(4)} (nominal prior ${k.modelNominalPrior.rmse.toFixed(4)}) vs NNLS ${k.nnls.rmse.toFixed(4)} (NNLS − model ${k.nnlsMinusModel.estimate.toFixed(4)} [${k.nnlsMinusModel.lower.toFixed(4)}, ${k.nnlsMinusModel.upper.toFixed(4)}]); Pearson r ${k.model.pearson.toFixed(3)} vs ${k.nnls.pearson.toFixed(3)}`,
        );
      console.log(`wrote ${r.runDir}/tissuebert-eval.json, eval.json (report) and deconvolution.csv`);
    },
  },
  {
    path: ['predict', 'tissuebert'],
    description:
      'Tissue-of-origin proportions of samples (.pat.gz) with a trained run or its ONNX export: calibrated read posteriors, mixture MLE with 95% CI, mean posterior',
    arguments: [
      {
        name: 'model',
        description: 'run directory (runs/<name>, tfjs) or an exported .onnx with its sidecar (onnxruntime)',
        required: true,
      },
      { name: 'samples...', description: 'wgbstools .pat.gz files, one per sample', required: true },
    ],
    options: [
      { flags: '--max-reads <n>', description: 'score at most n distinct reads per sample (evenly spaced)' },
      { flags: '--ci <kind>', description: 'fisher or bootstrap', default: 'fisher' },
      { flags: '--checkpoint <which>', description: 'best (val loss) or last', default: 'best' },
      { flags: '--out <dir>', description: 'output folder (default <run>/predictions)' },
      { flags: '--seed <n>', description: 'bootstrap seed', default: 0 },
      {
        flags: '--panel <dir>',
        description: "panel folder (regions.bed, CpG.bed.gz, genome.fa); default the run's / the sidecar's",
      },
      { flags: '--threads <n>', description: 'onnxruntime intra-op threads (.onnx models)', default: 1 },
    ],
    async run(args, options) {
      const [model, ...rest] = args.flat();
      if (!model) throw new TissueBertArgumentError('model', 'a run directory or .onnx file is required');
      const isOnnx = model.endsWith('.onnx');
      if (rest.length === 0)
        throw new TissueBertArgumentError('samples', 'at least one .pat.gz file is required');
      const ci = options.ci ?? 'fisher';
      if (ci !== 'fisher' && ci !== 'bootstrap')
        throw new TissueBertArgumentError('--ci', `expected fisher or bootstrap, got '${String(ci)}'`);
      const r = await predictTissueBert({
        ...(isOnnx
          ? { onnx: model, onnxSession: { threads: intOption(options, 'threads', 1) } }
          : { runDir: model }),
        panelDir: typeof options.panel === 'string' ? options.panel : undefined,
        samples: rest,
        maxReads: options.maxReads === undefined ? undefined : intOption(options, 'maxReads', 0),
        ci,
        checkpoint: options.checkpoint === 'last' ? 'last' : 'best',
        outDir: typeof options.out === 'string' ? options.out : undefined,
        seed: intOption(options, 'seed', 0),
      });
      process.stdout.write(formatPredictions(r));
      if (r.files) console.log(`wrote ${r.files.csv} and ${r.files.json}`);
    },
  },
];
