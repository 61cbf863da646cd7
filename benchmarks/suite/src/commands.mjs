// `meddl bench`: the suite as a CLI command (mounted by apps/cli from this package's `commands`),
// with the same flags as `pnpm bench` / benchmarks/suite/run.mjs. The CommandSpec shape is the
// structural one of apps/cli/src/command.ts (see index.d.ts).
import { SCENARIOS } from './lib.mjs';

/** @type {import('./index').BenchCommand[]} */
export const commands = [
  {
    path: ['bench'],
    description:
      'Run the benchmark suite: models (training step, inference, ONNX Runtime vs tfjs) beside PyTorch peers, data pipelines beside pydicom/OpenSlide/h5py, allreduce beside raw TCP, mdf-net accuracy within a fixed budget; writes results.json, results.md, chart.svg',
    options: [
      { flags: '--quick', description: 'short run: tiny preset, 3 rounds × 5 steps' },
      {
        flags: '--preset <name>',
        description: 'model sizes: tiny, small or base (default: tiny with --quick, else small)',
      },
      {
        flags: '--models <list>',
        description: 'comma-separated: tissuebert,crc-mil,mdf-net,vjepa3d (default all)',
      },
      {
        flags: '--scenarios <list>',
        description: `comma-separated, from ${SCENARIOS.join(', ')} (default all)`,
      },
      {
        flags: '--peers <name>',
        description: 'pytorch (run every peer that is installed) or none',
        default: 'pytorch',
      },
      { flags: '--out <dir>', description: 'output folder (default benchmarks/suite/out)' },
      {
        flags: '--compare <file>',
        description: 'an older results.json: flag scenarios slower by more than --threshold',
      },
      {
        flags: '--threshold <x>',
        description: 'regression threshold for --compare (0.1 = 10 %)',
        default: '0.1',
      },
      { flags: '--rounds <n>', description: 'alternating meddl/peer rounds (default 3 quick, 5 full)' },
      { flags: '--steps <n>', description: 'timed steps per round (default 5 quick, 10 full)' },
    ],
    async run(_args, options) {
      const { runSuite, suiteOptions } = await import('./suite.mjs');
      const opts = suiteOptions(options, process.cwd());
      const flags = Object.entries(options)
        .filter(([, v]) => v !== undefined && v !== false)
        .map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`));
      const { exitCode } = await runSuite(opts, { command: ['meddl bench', ...flags].join(' ') });
      if (exitCode) process.exitCode = exitCode;
    },
  },
];
