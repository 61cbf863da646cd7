#!/usr/bin/env node
// The cross-model benchmark suite: meddl vs PyTorch peers (benchmarks/peers/peers.py), same
// architectures, parameter counts, batches and thread counts. Runs against the built dist/.
//   pnpm bench --quick                          (root: turbo run bench --filter=@meddl/bench)
//   node benchmarks/suite/run.mjs [--quick] [--models tissuebert,crc-mil,mdf-net,vjepa3d]
//       [--scenarios train-step,inference] [--peers pytorch|none] [--out DIR]
//       [--compare OLD.json] [--threshold 0.1] [--rounds R] [--steps S]
// Method: per model, one in-process warm-up of each scenario; then R rounds, each running meddl
// (S timed steps → median) and then the peer subprocess (its own warm-up, S timed steps → median)
// back to back; the ratio is computed per round from those pairs; medians and min–max over rounds.
// Writes DIR/results.json (schema in lib.mjs), DIR/results.md and DIR/chart.svg.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compareResults,
  compareTable,
  markdownTable,
  parseResults,
  ratioSummary,
  readResults,
  SCENARIOS,
  SCHEMA_VERSION,
  summarize,
  svgChart,
} from './src/lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : d;
};

const quick = flag('quick');
const threads = Number(process.env.MEDDL_THREADS || os.availableParallelism());
process.env.MEDDL_THREADS = String(threads); // the native backend and the peer read the same value

const { initBackend } = await import('@meddl/tensor');
const { MODELS } = await import('./src/models.mjs');

const models = opt('models', Object.keys(MODELS).join(',')).split(',');
const scenarios = opt('scenarios', SCENARIOS.join(',')).split(',');
const peers = opt('peers', 'pytorch');
const outDir = resolve(process.env.INIT_CWD ?? process.cwd(), opt('out', join(repo, 'benchmarks/suite/out')));
const rounds = Number(opt('rounds', quick ? 3 : 5));
const steps = Number(opt('steps', quick ? 5 : 10));
const warmup = 2;
// Debian's python3-torch lives in the system python; a pyenv/venv python3 on PATH may lack it.
const python = process.env.MEDDL_PYTHON || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
for (const m of models) if (!MODELS[m]) fail(`unknown model '${m}' (${Object.keys(MODELS).join(', ')})`);
for (const s of scenarios)
  if (!SCENARIOS.includes(s)) fail(`unknown scenario '${s}' (${SCENARIOS.join(', ')})`);
if (!['pytorch', 'none'].includes(peers)) fail(`unknown peer '${peers}' (pytorch, none)`);

function fail(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const info = await initBackend();
const load = os.loadavg()[0];
if (load > os.cpus().length)
  console.log(
    `warning: load average ${load.toFixed(1)} on ${os.cpus().length} cores: timings are contention-bound; multi-threaded peers (OpenMP) suffer most. Compare runs at MEDDL_THREADS=1 too.`,
  );

/** Probes python3 + torch once; null when absent (peers are then skipped with a note). */
function probeTorch() {
  if (peers === 'none') return { torch: null, python: null, note: 'peers disabled (--peers none)' };
  const r = spawnSync(python, ['-c', 'import sys, torch; print(torch.__version__, sys.version.split()[0])'], {
    encoding: 'utf8',
  });
  if (r.status !== 0)
    return { torch: null, python: null, note: 'PyTorch not installed (apt-get install python3-torch)' };
  const [torch, pythonVersion] = r.stdout.trim().split(' ');
  return { torch, python: pythonVersion, note: null };
}
const torchInfo = probeTorch();
if (torchInfo.note) console.log(`peers: ${torchInfo.note}`);

function runPeer(model, peerSpec, scen) {
  const input = JSON.stringify({ model, ...peerSpec, steps, warmup, threads, scenarios: scen });
  const r = spawnSync(python, [join(repo, 'benchmarks/peers/peers.py')], {
    input,
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0)
    throw new Error(`peer ${model} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const timeSteps = (fn, n) => {
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return ts;
};

const t0 = performance.now();
const results = [];
for (const name of models) {
  const spec = MODELS[name];
  const b = spec.build(quick);
  const params = b.model.numParameters();
  const fns = { 'train-step': b.trainStep, inference: b.inferStep };
  console.log(`\n${name}: ${spec.describe(quick)}, ${params.toLocaleString('en-US')} parameters`);
  for (const s of scenarios) timeSteps(fns[s], warmup);
  const meddlRounds = Object.fromEntries(scenarios.map((s) => [s, []]));
  const peerRounds = Object.fromEntries(scenarios.map((s) => [s, []]));
  let peerParams = null;
  let peerNote = torchInfo.note ?? undefined;
  for (let r = 0; r < rounds; r++) {
    for (const s of scenarios) meddlRounds[s].push(med(timeSteps(fns[s], steps)));
    if (torchInfo.torch && !peerNote) {
      try {
        const p = runPeer(name, b.peerSpec, scenarios);
        peerParams = p.params;
        if (p.params !== params) peerNote = `parameter count differs: PyTorch ${p.params}, meddl ${params}`;
        if (p.train) peerRounds['train-step']?.push(med(p.train));
        if (p.inference) peerRounds.inference?.push(med(p.inference));
      } catch (e) {
        peerNote = e.message.slice(0, 300);
      }
    }
    process.stdout.write(`  round ${r + 1}/${rounds} done\n`);
  }
  for (const s of scenarios) {
    const meddl = summarize(meddlRounds[s], b.batch);
    const havePeer = !peerNote && peerRounds[s].length === rounds;
    results.push({
      model: name,
      preset: b.preset,
      description: spec.describe(quick),
      scenario: s,
      batch: b.batch,
      params,
      meddl,
      peer: havePeer
        ? {
            name: 'pytorch',
            params: peerParams,
            paramsMatch: peerParams === params,
            stats: summarize(peerRounds[s], b.batch),
            ratio: ratioSummary(meddlRounds[s], peerRounds[s]),
          }
        : null,
      ...(havePeer ? {} : { peerNote: peerNote ?? 'peer did not run' }),
    });
  }
  b.model.dispose();
  for (const t of b.inputs) t.dispose();
}

const pkg = JSON.parse(readFileSync(join(repo, 'packages/tensor/package.json'), 'utf8'));
const file = parseResults({
  schemaVersion: SCHEMA_VERSION,
  date: new Date().toISOString(),
  command: `node benchmarks/suite/run.mjs ${argv.join(' ')}`.trim(),
  quick,
  method: { warmup, rounds, steps },
  machine: {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    backend: `${info.name} (${info.tfjsName} ${info.version}, tfjs ${info.tfjsVersion})`,
    threads: info.threads || threads,
    meddlVersion: pkg.version,
    torch: torchInfo.torch,
    python: torchInfo.python,
  },
  results,
});

mkdirSync(outDir, { recursive: true });
const writeAtomic = (name, text) => {
  const p = join(outDir, name);
  writeFileSync(`${p}.tmp`, text);
  renameSync(`${p}.tmp`, p);
};
const table = markdownTable(file);
writeAtomic('results.json', `${JSON.stringify(file, null, 2)}\n`);
writeAtomic('results.md', table);
writeAtomic('chart.svg', svgChart(file));
const m = file.machine;
console.log(
  `\n${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, load ${m.loadAverage.join(' ')}; backend ${m.backend} × ${m.threads} threads; node ${m.node}; torch ${m.torch ?? 'absent'}`,
);
console.log(`\n${table}`);
console.log(
  `wrote ${outDir}/results.{json,md} and chart.svg in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);

const comparePath = opt('compare', null);
if (comparePath) {
  const cmp = compareResults(
    readResults(resolve(process.env.INIT_CWD ?? process.cwd(), comparePath)),
    file,
    Number(opt('threshold', 0.1)),
  );
  console.log(
    `\ncompared with ${comparePath} (threshold ${(cmp.threshold * 100).toFixed(0)} %):\n${compareTable(cmp)}`,
  );
  if (cmp.added.length) console.log(`not in the baseline: ${cmp.added.join(', ')}`);
  if (cmp.removed.length) console.log(`in the baseline only: ${cmp.removed.join(', ')}`);
  if (cmp.regressions.length) {
    console.log(`${cmp.regressions.length} regression(s): ${cmp.regressions.map((r) => r.key).join(', ')}`);
    process.exitCode = 1;
  }
}
