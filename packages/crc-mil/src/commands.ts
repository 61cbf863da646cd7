import { readFileSync } from 'node:fs';
import type { OnnxSessionOptions } from '@meddl/onnx';
import { parse as parseYaml } from 'yaml';
import type { CrcMilRunConfigInput } from './config';
import { CrcMilArgumentError } from './errors';
import { evaluate } from './evaluate';
import { predict, train } from './predict';
import { preprocess } from './preprocess';
import { synthesize } from './synth/generator';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface CrcMilCommand {
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
    throw new CrcMilArgumentError(`--${name}`, `expected an integer, got '${String(v)}'`);
  return n;
}

function requireString(options: Record<string, unknown>, name: string, what: string): string {
  const v = options[name];
  if (typeof v !== 'string' || v === '') throw new CrcMilArgumentError(`--${name}`, `${what} is required`);
  return v;
}

const GRAPH_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** onnxruntime session options from --threads / --graph-optimization / --execution-providers. */
export function onnxOptions(options: Record<string, unknown>): OnnxSessionOptions {
  const o: OnnxSessionOptions = {};
  if (options.threads !== undefined) {
    const t = intOption(options, 'threads', 0);
    if (t < 0) throw new CrcMilArgumentError('--threads', `expected >= 0, got ${t}`);
    o.threads = t;
  }
  const level = options.graphOptimization;
  if (level !== undefined) {
    if (!GRAPH_LEVELS.includes(level as (typeof GRAPH_LEVELS)[number]))
      throw new CrcMilArgumentError(
        '--graph-optimization',
        `expected one of ${GRAPH_LEVELS.join(', ')}, got '${String(level)}'`,
      );
    o.graphOptimizationLevel = level as OnnxSessionOptions['graphOptimizationLevel'];
  }
  const eps = options.executionProviders;
  if (typeof eps === 'string' && eps !== '')
    o.executionProviders = eps === 'auto' ? 'auto' : eps.split(',').map((e) => e.trim());
  return o;
}

/** Reads a YAML run config and applies --name / --max-epochs overrides. */
export function loadRunConfig(path: string, options: Record<string, unknown> = {}): CrcMilRunConfigInput {
  let raw: Record<string, unknown>;
  try {
    raw = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CrcMilArgumentError('--config', `${path}: ${(err as Error).message}`);
  }
  if (typeof options.name === 'string') raw.name = options.name;
  if (options.maxEpochs !== undefined)
    raw.training = { ...((raw.training as object) ?? {}), maxEpochs: intOption(options, 'maxEpochs', 1) };
  return raw as CrcMilRunConfigInput;
}

export const commands: CrcMilCommand[] = [
  {
    path: ['synth', 'crc-mil'],
    description:
      'Write synthetic pyramidal TIFF slides (subtype-dependent tissue, stain variation, blur and pen artifacts) and a clinical CSV',
    options: [
      { flags: '--out <dir>', description: 'output directory' },
      { flags: '--seed <n>', description: 'random seed', default: 0 },
      { flags: '--patients <n>', description: 'number of patients', default: 12 },
      { flags: '--width <px>', description: 'level-0 width', default: 1024 },
      { flags: '--height <px>', description: 'level-0 height', default: 768 },
    ],
    async run(_args, options) {
      const out = requireString(options, 'out', 'an output directory');
      const r = await synthesize(out, {
        seed: intOption(options, 'seed', 0),
        patients: intOption(options, 'patients', 12),
        width: intOption(options, 'width', 1024),
        height: intOption(options, 'height', 768),
      });
      console.log(
        `wrote ${r.slides.length} slides of ${new Set(r.slides.map((s) => s.patient_id)).size} patients and ${r.clinicalCsv}`,
      );
    },
  },
  {
    path: ['crc-mil', 'preprocess'],
    description:
      'Tissue detection, patch grid at a magnification, QC, Macenko, features → one CLAM-layout HDF5 bag per slide',
    arguments: [
      {
        name: 'slides',
        description: 'folder of slides or a clinical CSV with a slide_file column',
        required: true,
      },
    ],
    options: [
      {
        flags: '--out <dir>',
        description: 'output directory (bags/, thumbnails/, manifest.json, qc_report.csv)',
      },
      { flags: '--config <yaml>', description: 'run config whose `preprocess` section to use' },
      { flags: '--magnification <x>', description: 'target magnification (e.g. 20)' },
      { flags: '--mpp <um>', description: 'target microns per pixel (instead of magnification)' },
      { flags: '--patch-size <px>', description: 'patch edge at the target resolution', default: 256 },
    ],
    async run(args, options) {
      if (!args[0]) throw new CrcMilArgumentError('slides', 'a slide folder or clinical CSV is required');
      const out = requireString(options, 'out', 'an output directory');
      let cfg: Record<string, unknown> = {};
      if (typeof options.config === 'string')
        cfg = { ...((loadRunConfig(options.config).preprocess as object) ?? {}) };
      if (options.magnification !== undefined) cfg.magnification = Number(options.magnification);
      if (options.mpp !== undefined) cfg.mpp = Number(options.mpp);
      if (options.patchSize !== undefined) cfg.patchSize = intOption(options, 'patchSize', 256);
      if (cfg.magnification === undefined && cfg.mpp === undefined) cfg.magnification = 20;
      const r = await preprocess(args[0], out, cfg);
      const t = r.totals;
      console.log(
        `${t.done}/${t.slides} slides done, ${t.skipped} skipped; ${t.accepted} patches kept; rejected: ${Object.entries(
          t.rejected,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} (see ${out}/qc_report.csv)`,
      );
    },
  },
  {
    path: ['train', 'crc-mil'],
    description:
      'Train the gated-attention MIL model on all patients of a config (saves <run>/final/model.safetensors)',
    options: [
      { flags: '--config <yaml>', description: 'run config (configs/crc-mil/*.yaml)' },
      { flags: '--name <name>', description: 'override the run name' },
      { flags: '--max-epochs <n>', description: 'override training.maxEpochs' },
    ],
    async run(_args, options) {
      const r = await train(loadRunConfig(requireString(options, 'config', 'a config file'), options));
      console.log(`model: ${r.modelPath} (${r.epochs} epochs, temperature ${r.temperature.toFixed(3)})`);
      for (const [k, v] of Object.entries(r.lastMetrics)) console.log(`${k.padEnd(20)} ${v.toFixed(4)}`);
    },
  },
  {
    path: ['eval', 'crc-mil'],
    description:
      'Patient-grouped stratified k-fold CV: metrics with CIs, subgroups, survival, heatmaps (crc-mil-eval.json, eval.json for meddl report, CSVs)',
    options: [
      { flags: '--config <yaml>', description: 'run config (configs/crc-mil/*.yaml)' },
      { flags: '--name <name>', description: 'override the run name' },
      { flags: '--max-epochs <n>', description: 'override training.maxEpochs' },
    ],
    async run(_args, options) {
      const r = await evaluate(loadRunConfig(requireString(options, 'config', 'a config file'), options));
      const e = r.pooled;
      const fmt = (x: { estimate: number | null; lower: number | null; upper: number | null }) =>
        x.estimate === null
          ? 'n/a'
          : `${x.estimate.toFixed(3)} [${x.lower?.toFixed(3) ?? '?'}, ${x.upper?.toFixed(3) ?? '?'}]`;
      console.log(
        `pooled over ${e.n} patients: accuracy ${fmt(e.accuracy)}, macro AUROC ${fmt(e.macroAuroc)}, macro F1 ${fmt(e.macroF1)}`,
      );
      console.log(`ECE before ${fmt(e.eceBefore)}, after temperature scaling ${fmt(e.eceAfter)}`);
      console.log(
        `results in ${r.runDir} (crc-mil-eval.json, eval.json, folds.csv, subgroups.csv, predictions.csv, km.csv, heatmaps/), ${r.seconds.toFixed(1)} s`,
      );
    },
  },
  {
    path: ['predict', 'crc-mil'],
    description:
      'Whole chain on slides: tiling → QC → features → MIL → calibrated probabilities, uncertainty, heatmap',
    arguments: [{ name: 'slides...', description: 'slide files', required: true }],
    options: [
      {
        flags: '--model <path>',
        description:
          'model directory written by `meddl train crc-mil` (<run>/final), or a .onnx from `meddl export crc-mil` (with its .onnx.json sidecar)',
      },
      { flags: '--out <dir>', description: 'output directory', default: 'predictions' },
      { flags: '--threads <n>', description: 'ONNX: onnxruntime intra-op threads (0 = its default)' },
      {
        flags: '--graph-optimization <level>',
        description: 'ONNX: disabled | basic | extended | all (default all)',
      },
      {
        flags: '--execution-providers <list>',
        description: "ONNX: comma-separated providers in order, e.g. 'cuda,cpu' (default auto)",
      },
    ],
    async run(args, options) {
      if (args.length === 0) throw new CrcMilArgumentError('slides', 'at least one slide is required');
      const model = requireString(options, 'model', 'a model directory or .onnx file');
      const out = typeof options.out === 'string' ? options.out : 'predictions';
      const r = await predict(args, model, out, undefined, { onnx: onnxOptions(options) });
      for (const p of r) {
        console.log(
          p.status === 'predicted'
            ? `${p.slide}\t${p.predicted}\t${Object.entries(p.probabilities ?? {})
                .map(([c, v]) => `${c}=${v.toFixed(3)}`)
                .join(
                  ' ',
                )}\t${p.uncertainty?.kind}=${p.uncertainty?.value.toFixed(3)}\t${p.seconds.toFixed(2)} s`
            : `${p.slide}\tREJECTED\t${p.reason}\t${p.seconds.toFixed(2)} s`,
        );
      }
    },
  },
];
