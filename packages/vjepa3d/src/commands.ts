import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { MANIFEST_COLUMNS, manifestToCsv, scanManifest, splitManifest } from './data/manifest';
import { VJepaArgumentError } from './errors';
import { SYNTH_DEVICES, synthesize } from './synth/oct';
import { evaluate, PretrainConfigSchema, predict, pretrain } from './train';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface VJepaCommand {
  path: string[];
  description: string;
  arguments?: Array<{ name: string; description: string; required?: boolean }>;
  options?: Array<{ flags: string; description: string; default?: string | number | boolean }>;
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}

function numberOption(
  options: Record<string, unknown>,
  name: string,
  fallback: number,
  integer = true,
): number {
  const v = options[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new VJepaArgumentError(
      `--${name}`,
      `expected ${integer ? 'an integer' : 'a number'}, got '${String(v)}'`,
    );
  return n;
}

function requireString(options: Record<string, unknown>, name: string, what: string): string {
  const v = options[name];
  if (typeof v !== 'string' || v === '') throw new VJepaArgumentError(`--${name}`, `${what} is required`);
  return v;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Loads a YAML pretraining config with CLI overrides, validated (errors name the field). */
export function loadPretrainConfig(
  path: string,
  overrides: { maxEpochs?: number; name?: string; dataDir?: string } = {},
) {
  const raw = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
  const trainer = { ...((raw.trainer as Record<string, unknown>) ?? {}) };
  if (overrides.maxEpochs !== undefined) trainer.maxEpochs = overrides.maxEpochs;
  if (overrides.name !== undefined) trainer.name = overrides.name;
  const data = { ...((raw.data as Record<string, unknown>) ?? {}) };
  if (overrides.dataDir !== undefined) data.dir = overrides.dataDir;
  const parsed = PretrainConfigSchema.safeParse({ ...raw, data, trainer });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new VJepaArgumentError('--config', `${path}: ${issues}`);
  }
  return parsed.data;
}

export const commands: VJepaCommand[] = [
  {
    path: ['synth', 'vjepa3d'],
    description: `Write synthetic multi-frame OCT DICOMs (${SYNTH_DEVICES.map((d) => d.modelName).join(', ')}) with a pathology label (normal / fluid / drusen) and labels.csv`,
    options: [
      { flags: '--out <dir>', description: 'output directory' },
      { flags: '--seed <n>', description: 'random seed', default: 0 },
      { flags: '--patients <n>', description: 'number of patients (1–2 eyes each)', default: 24 },
      { flags: '--scale <x>', description: 'size factor for rows/columns/frames', default: 1 },
    ],
    run(_args, options) {
      const out = requireString(options, 'out', 'an output directory');
      const records = synthesize(out, {
        seed: numberOption(options, 'seed', 0),
        patients: numberOption(options, 'patients', 24),
        scale: numberOption(options, 'scale', 1, false),
      });
      const counts: Record<string, number> = {};
      for (const r of records) counts[`${r.device}/${r.label}`] = (counts[`${r.device}/${r.label}`] ?? 0) + 1;
      console.log(`wrote ${records.length} OCT volumes to ${out}`);
      for (const [k, v] of Object.entries(counts).sort()) console.log(`  ${k.padEnd(32)} ${v}`);
    },
  },
  {
    path: ['vjepa3d', 'manifest'],
    description: 'Scan a folder of DICOMs (headers only): device, shape, spacing, patient split; CSV or JSON',
    arguments: [{ name: 'dir', description: 'folder to scan (recursively)', required: true }],
    options: [
      { flags: '--out <file>', description: 'write here instead of stdout' },
      { flags: '--format <fmt>', description: 'csv or json', default: 'csv' },
      { flags: '--seed <n>', description: 'split seed', default: 0 },
      { flags: '--oct-only', description: 'reject DICOMs that are not Ophthalmic Tomography' },
      { flags: '--strict', description: 'exit non-zero when any file is rejected' },
    ],
    async run(args, options) {
      if (!args[0]) throw new VJepaArgumentError('dir', 'a folder to scan is required');
      const format = String(options.format ?? 'csv');
      if (format !== 'csv' && format !== 'json')
        throw new VJepaArgumentError('--format', `expected csv or json, got '${format}'`);
      const m = await scanManifest(args[0], { octOnly: options.octOnly === true });
      const rows = m.rows.length > 0 ? splitManifest(m.rows, { seed: numberOption(options, 'seed', 0) }) : [];
      const text =
        format === 'csv'
          ? manifestToCsv(rows)
          : `${JSON.stringify({ root: m.root, columns: MANIFEST_COLUMNS, rows, rejected: m.rejected }, null, 2)}\n`;
      if (typeof options.out === 'string') writeAtomic(options.out, text);
      else process.stdout.write(text);
      for (const r of m.rejected) console.error(`rejected ${r.path}: ${r.error}`);
      console.error(`${rows.length} DICOM file(s) listed, ${m.rejected.length} rejected`);
      if (options.strict === true && m.rejected.length > 0) process.exitCode = 1;
    },
  },
  {
    path: ['train', 'vjepa3d'],
    description:
      'Pretrain V-JEPA on OCT volumes from a YAML config (auto-resumes), then probe vs random init',
    options: [
      { flags: '--config <yaml>', description: 'run config (configs/vjepa3d/*.yaml)' },
      { flags: '--max-epochs <n>', description: 'override trainer.maxEpochs' },
      { flags: '--name <name>', description: 'override trainer.name (the run directory)' },
      { flags: '--data <dir>', description: 'override data.dir' },
    ],
    async run(_args, options) {
      const config = loadPretrainConfig(requireString(options, 'config', 'a config file'), {
        ...(options.maxEpochs !== undefined ? { maxEpochs: numberOption(options, 'maxEpochs', 1) } : {}),
        ...(typeof options.name === 'string' ? { name: options.name } : {}),
        ...(typeof options.data === 'string' ? { dataDir: options.data } : {}),
      });
      const r = await pretrain(config);
      console.log(
        `run: ${r.runDir} (${r.summary.status}, ${r.summary.epochs} epochs, ${r.summary.steps} steps, ${r.summary.durationSec.toFixed(1)} s)`,
      );
      console.log(`train loss per epoch: ${r.summary.history.map((h) => h.trainLoss.toFixed(4)).join(' ')}`);
      for (const [k, v] of Object.entries(r.metrics)) console.log(`${k.padEnd(24)} ${v.toFixed(4)}`);
      if (r.probe) printProbe(r.probe);
      if (r.summary.status === 'interrupted') process.exitCode = 130;
    },
  },
  {
    path: ['eval', 'vjepa3d'],
    description: 'Linear probe and k-NN on frozen features: pretrained run vs random init',
    options: [
      { flags: '--run <dir>', description: 'run directory of `meddl train vjepa3d`' },
      { flags: '--data <dir>', description: 'labelled folder (default: the run’s data)' },
      { flags: '--labels <csv>', description: 'labels CSV (path,label_index); default <data>/labels.csv' },
      { flags: '--encoder <which>', description: 'target (EMA) or context encoder; default: the run config' },
      { flags: '--pooling <how>', description: 'mean or mean-max; default: the run config' },
      {
        flags: '--repeats <n>',
        description: 'repeat the probes over n patient splits (paired gain, 95% CI)',
      },
      {
        flags: '--l2 <x>',
        description: "linear probe L2 penalty, or 'cv' (inner CV per split); default: the run config",
      },
    ],
    async run(_args, options) {
      const encoder = options.encoder;
      if (encoder !== undefined && encoder !== 'target' && encoder !== 'context')
        throw new VJepaArgumentError('--encoder', `expected target or context, got '${String(encoder)}'`);
      const pooling = options.pooling;
      if (pooling !== undefined && pooling !== 'mean' && pooling !== 'mean-max')
        throw new VJepaArgumentError('--pooling', `expected mean or mean-max, got '${String(pooling)}'`);
      const repeats = options.repeats === undefined ? undefined : Number(options.repeats);
      if (repeats !== undefined && (!Number.isInteger(repeats) || repeats < 1 || repeats > 31))
        throw new VJepaArgumentError(
          '--repeats',
          `expected an integer 1–31, got '${String(options.repeats)}'`,
        );
      const l2 = options.l2 === undefined || options.l2 === 'cv' ? options.l2 : Number(options.l2);
      if (typeof l2 === 'number' && !(l2 > 0))
        throw new VJepaArgumentError(
          '--l2',
          `expected a positive number or 'cv', got '${String(options.l2)}'`,
        );
      const r = await evaluate({
        ...(l2 !== undefined ? { l2: l2 as number | 'cv' } : {}),
        ...(encoder !== undefined ? { encoder } : {}),
        ...(repeats !== undefined ? { repeats } : {}),
        ...(pooling !== undefined ? { pooling } : {}),
        run: requireString(options, 'run', 'a run directory'),
        ...(typeof options.data === 'string' ? { dataDir: options.data } : {}),
        ...(typeof options.labels === 'string' ? { labels: options.labels } : {}),
      });
      printProbe(r);
    },
  },
  {
    path: ['predict', 'vjepa3d'],
    description:
      'Write per-volume embeddings (HDF5: embeddings [N, D], labels, file list) for a folder of OCT DICOMs',
    arguments: [{ name: 'input', description: 'folder of DICOM volumes', required: true }],
    options: [
      { flags: '--run <dir>', description: 'run directory of `meddl train vjepa3d`' },
      {
        flags: '--onnx <file>',
        description: 'embed with an exported encoder (`meddl export vjepa3d`) through onnxruntime',
      },
      { flags: '--out <h5>', description: 'output HDF5 file' },
    ],
    async run(args, options) {
      if (!args[0]) throw new VJepaArgumentError('input', 'a folder of volumes is required');
      const onnx = typeof options.onnx === 'string' ? options.onnx : undefined;
      const r = await predict({
        ...(onnx ? { onnx } : {}),
        ...(onnx && typeof options.run !== 'string'
          ? {}
          : { run: requireString(options, 'run', 'a run directory') }),
        input: args[0],
        out: requireString(options, 'out', 'an output .h5 path'),
      });
      console.log(
        `wrote ${r.count} embeddings of dimension ${r.dim} (${r.source}) to ${String(options.out)}`,
      );
    },
  },
];

function printProbe(p: import('./train').ProbeComparison): void {
  const f = (x: number) => x.toFixed(3);
  console.log(
    `probe (${p.pretrained.nTrain} train / ${p.pretrained.nTest} test volumes; classes ${p.labelNames.join(', ')})`,
  );
  console.log('encoder        linear_acc  linear_bacc  linear_auroc  knn_acc  knn_bacc');
  for (const [name, r] of [
    ['pretrained', p.pretrained],
    ['random-init', p.randomInit],
  ] as const) {
    console.log(
      `${name.padEnd(14)} ${f(r.linear.accuracy).padStart(10)}  ${f(r.linear.balancedAccuracy).padStart(11)}  ${f(r.linear.aurocMacro).padStart(12)}  ${f(r.knn.accuracy).padStart(7)}  ${f(r.knn.balancedAccuracy).padStart(8)}`,
    );
  }
  const rp = p.repeated;
  if (rp) {
    const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
    const g = (x: { mean: number; lower: number; upper: number }) =>
      `${x.mean >= 0 ? '+' : ''}${f(x.mean)} [${f(x.lower)}, ${f(x.upper)}]`;
    console.log(`over ${rp.splitSeeds.length} patient splits (seeds ${rp.splitSeeds.join(', ')}):`);
    console.log(
      `  linear acc pretrained ${f(mean(rp.pretrained.linear))} vs random init ${f(mean(rp.randomInit.linear))}: gain ${g(rp.linearGain)} (95% CI)`,
    );
    console.log(
      `  k-NN acc   pretrained ${f(mean(rp.pretrained.knn))} vs random init ${f(mean(rp.randomInit.knn))}: gain ${g(rp.knnGain)} (95% CI)`,
    );
  }
}
