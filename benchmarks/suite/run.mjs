#!/usr/bin/env node
// The cross-model benchmark suite: meddl vs PyTorch peers (benchmarks/peers/peers.py), same
// architectures, parameter counts, batches and thread counts; the ONNX Runtime path vs the tfjs
// path of each model; data pipelines vs Python libraries; allreduce vs raw TCP; mdf-net's test
// AUROC within a fixed training budget. Runs against the built dist/ of the packages.
//   pnpm bench --quick                          (root: turbo run bench --filter=@meddl/bench)
//   node benchmarks/suite/run.mjs [--quick] [--preset tiny|small|base]
//       [--models tissuebert,crc-mil,mdf-net,vjepa3d] [--scenarios train-step,inference,...]
//       [--peers pytorch|none] [--out DIR] [--compare OLD.json] [--threshold 0.1]
//       [--rounds R] [--steps S]
// `meddl bench` (src/commands.mjs) takes the same flags.
// Method: per model, one in-process warm-up of each scenario; then R rounds, each running meddl
// (S timed steps → median) and then the peer (its own warm-up, S timed steps → median) back to
// back; the ratio is computed per round from those pairs; medians and min–max over rounds, p90
// over all steps. Writes DIR/results.json (schema in src/lib.mjs), DIR/results.md, DIR/chart.svg.
import { parseArgv, runSuite, suiteOptions } from './src/suite.mjs';

const argv = process.argv.slice(2);
try {
  const opts = suiteOptions(parseArgv(argv), process.env.INIT_CWD ?? process.cwd());
  const { exitCode } = await runSuite(opts, {
    command: `node benchmarks/suite/run.mjs ${argv.join(' ')}`.trim(),
  });
  process.exitCode = exitCode;
} catch (e) {
  if (e?.meddl) {
    console.error(`bench: ${e.message}`);
    process.exitCode = 2;
  } else throw e;
}
