// The suite runner behind `pnpm bench` (run.mjs) and `meddl bench` (commands.mjs): one options
// object, one results file. See run.mjs for the method and docs/benchmarks.md for the scenarios.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BenchResultsError,
  compareResults,
  compareTable,
  DEFAULT_SCENARIOS,
  MODEL_SCENARIOS,
  markdownTable,
  median,
  PIPELINE_SCENARIOS,
  parseResults,
  QUICK_SCENARIOS,
  ratioSummary,
  readResults,
  SCENARIOS,
  SCHEMA_VERSION,
  summarize,
  svgChart,
} from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
const PRESET_NAMES = ['tiny', 'small', 'base'];
const MODEL_NAMES = ['tissuebert', 'crc-mil', 'mdf-net', 'vjepa3d'];
const PEERS = ['pytorch', 'none'];

export class BenchArgumentError extends Error {
  meddl = true;
  constructor(option, message) {
    super(`${option}: ${message}`);
    this.name = 'BenchArgumentError';
    this.option = option;
  }
}

const list = (v) =>
  String(v)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
function positiveInt(option, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new BenchArgumentError(option, `expected a positive integer, got '${v}'`);
  return n;
}

/**
 * Validated suite options from loose values (CLI flags or commander's options): quick, preset,
 * models, scenarios, peers, out, compare, threshold, rounds, steps. `cwd` resolves relative paths.
 */
export function suiteOptions(raw = {}, cwd = process.cwd()) {
  const quick = Boolean(raw.quick);
  const preset = raw.preset ?? (quick ? 'tiny' : 'small');
  if (!PRESET_NAMES.includes(preset))
    throw new BenchArgumentError('--preset', `unknown preset '${preset}' (${PRESET_NAMES.join(', ')})`);
  const models = raw.models ? list(raw.models) : MODEL_NAMES;
  for (const m of models)
    if (!MODEL_NAMES.includes(m))
      throw new BenchArgumentError('--models', `unknown model '${m}' (${MODEL_NAMES.join(', ')})`);
  const scenarios = raw.scenarios ? list(raw.scenarios) : quick ? QUICK_SCENARIOS : DEFAULT_SCENARIOS;
  for (const s of scenarios)
    if (!SCENARIOS.includes(s))
      throw new BenchArgumentError('--scenarios', `unknown scenario '${s}' (${SCENARIOS.join(', ')})`);
  const peers = raw.peers ?? 'pytorch';
  if (!PEERS.includes(peers))
    throw new BenchArgumentError('--peers', `unknown peer '${peers}' (${PEERS.join(', ')})`);
  const threshold = Number(raw.threshold ?? 0.1);
  if (!(threshold >= 0))
    throw new BenchArgumentError('--threshold', `expected a number ≥ 0, got '${raw.threshold}'`);
  return {
    quick,
    preset,
    models,
    scenarios,
    peers,
    out: resolve(cwd, raw.out ?? join(REPO, 'benchmarks/suite/out')),
    compare: raw.compare ? resolve(cwd, raw.compare) : null,
    threshold,
    rounds: positiveInt('--rounds', raw.rounds ?? 3),
    steps: positiveInt('--steps', raw.steps ?? 5),
  };
}

/** `--flag value` / `--flag` argv → suiteOptions' raw input (unknown flags are errors). */
export function parseArgv(argv) {
  const valued = ['preset', 'models', 'scenarios', 'peers', 'out', 'compare', 'threshold', 'rounds', 'steps'];
  const raw = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') ? a.slice(2) : null;
    if (name === 'quick') raw.quick = true;
    else if (name && valued.includes(name)) {
      if (argv[i + 1] === undefined) throw new BenchArgumentError(a, 'needs a value');
      raw[name] = argv[++i];
    } else
      throw new BenchArgumentError(
        a,
        `unknown argument (flags: --quick, ${valued.map((v) => `--${v}`).join(', ')})`,
      );
  }
  return raw;
}

/** Resets the kernel's RSS high-water mark to the current RSS (Linux ≥ 4.0); false elsewhere. */
export function resetPeakRss() {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** VmHWM in bytes (RSS high-water mark since the last reset); resourceUsage().maxRSS elsewhere. */
export function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

const timeSteps = (fn, n, into) => {
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  into?.push(...ts);
  return ts;
};

/**
 * Runs the suite and writes results.json, results.md and chart.svg into `opts.out`. Returns
 * { file, table, exitCode } (exitCode 1 when --compare found regressions or a scenario failed).
 */
export async function runSuite(opts, { log = console.log, command = null } = {}) {
  const threads = Number(process.env.MEDDL_THREADS || os.availableParallelism());
  process.env.MEDDL_THREADS = String(threads); // the native backend and the peers read the same value
  const warmup = 2;
  const { rounds, steps, preset } = opts;
  // Debian's python3-torch lives in the system python; a pyenv/venv python3 on PATH may lack it.
  const python =
    process.env.MEDDL_PYTHON || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const { initBackend, tf } = await import('@meddl/tensor');
  const info = await initBackend();
  const load = os.loadavg()[0];
  if (load > os.cpus().length)
    log(
      `warning: load average ${load.toFixed(1)} on ${os.cpus().length} cores: timings are contention-bound; multi-threaded peers (OpenMP) suffer most. Compare runs at MEDDL_THREADS=1 too.`,
    );

  const probe = (code, absent) => {
    if (opts.peers === 'none') return { version: null, note: 'peers disabled (--peers none)' };
    const r = spawnSync(python, ['-c', code], { encoding: 'utf8' });
    if (r.status !== 0) return { version: null, note: absent };
    return { version: r.stdout.trim(), note: null };
  };
  const torchProbe = probe(
    'import sys, torch; print(torch.__version__, sys.version.split()[0])',
    'PyTorch not installed (apt-get install python3-torch)',
  );
  const [torchVersion, pythonVersion] = torchProbe.version ? torchProbe.version.split(' ') : [null, null];
  if (torchProbe.note) log(`peers: ${torchProbe.note}`);

  const runPeer = (model, peerSpec, scen) => {
    const input = JSON.stringify({ model, ...peerSpec, steps, warmup, threads, scenarios: scen });
    const r = spawnSync(python, [join(REPO, 'benchmarks/peers/peers.py')], {
      input,
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: String(threads) },
      maxBuffer: 1 << 24,
    });
    if (r.status !== 0)
      throw new Error(`peer ${model} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };

  const t0 = performance.now();
  const results = [];
  const failures = [];
  const skipped = [];
  const versions = {};
  const modelScenarios = opts.scenarios.filter((s) => MODEL_SCENARIOS.includes(s));
  const torchScenarios = modelScenarios.filter((s) => s === 'train-step' || s === 'inference');
  const onnxScenarios = modelScenarios.filter((s) => s.startsWith('onnx-'));
  const lib = { summarize, ratioSummary, median };
  if (onnxScenarios.length) {
    const { onnxRuntimeVersion } = await import('./onnx.mjs');
    versions['onnxruntime-node'] = await onnxRuntimeVersion();
  }
  const { MODELS } = modelScenarios.length ? await import('./models.mjs') : { MODELS: {} };
  for (const name of modelScenarios.length ? opts.models : []) {
    const spec = MODELS[name];
    const description = spec.describe(preset);
    const b = spec.build(preset);
    const params = b.model.numParameters();
    const fns = { 'train-step': b.trainStep, inference: b.inferStep };
    log(`\n${name}: ${description}, ${params.toLocaleString('en-US')} parameters`);
    // Time to first step: the first call of each scenario in this process (kernel compilation,
    // first allocations), then the rest of the warm-up.
    const firstStep = {};
    for (const s of torchScenarios) {
      firstStep[s] = timeSteps(fns[s], 1)[0];
      timeSteps(fns[s], warmup - 1);
    }
    // Memory of one more step per scenario: tfjs's engine peak (tf.profile peakBytes: every live
    // tensor, weights included) and the process's RSS high-water mark, reset just before it.
    const memory = {};
    for (const s of torchScenarios) {
      const reset = resetPeakRss();
      const prof = await tf.profile(() => {
        fns[s]();
      });
      memory[s] = { rssPeakBytes: peakRss(), rssReset: reset, tensorPeakBytes: prof.peakBytes };
    }
    const peerRss = Object.fromEntries(torchScenarios.map((s) => [s, []]));
    const peerFirst = Object.fromEntries(torchScenarios.map((s) => [s, []]));
    const meddlRounds = Object.fromEntries(torchScenarios.map((s) => [s, []]));
    const meddlAll = Object.fromEntries(torchScenarios.map((s) => [s, []]));
    const peerRounds = Object.fromEntries(torchScenarios.map((s) => [s, []]));
    const peerAll = Object.fromEntries(torchScenarios.map((s) => [s, []]));
    let peerParams = null;
    let peerNote = torchProbe.note ?? undefined;
    for (let r = 0; r < (torchScenarios.length ? rounds : 0); r++) {
      for (const s of torchScenarios) meddlRounds[s].push(median(timeSteps(fns[s], steps, meddlAll[s])));
      if (torchVersion && !peerNote) {
        try {
          const p = runPeer(name, b.peerSpec, torchScenarios);
          peerParams = p.params;
          if (p.params !== params) peerNote = `parameter count differs: PyTorch ${p.params}, meddl ${params}`;
          if (p.first?.train !== undefined) peerFirst['train-step']?.push(p.first.train);
          if (p.first?.inference !== undefined) peerFirst.inference?.push(p.first.inference);
          if (p.rss?.train !== undefined) peerRss['train-step']?.push(p.rss.train);
          if (p.rss?.inference !== undefined) peerRss.inference?.push(p.rss.inference);
          if (p.train) {
            peerRounds['train-step']?.push(median(p.train));
            peerAll['train-step']?.push(...p.train);
          }
          if (p.inference) {
            peerRounds.inference?.push(median(p.inference));
            peerAll.inference?.push(...p.inference);
          }
        } catch (e) {
          peerNote = e.message.slice(0, 300);
        }
      }
      log(`  round ${r + 1}/${rounds} done`);
    }
    for (const s of torchScenarios) {
      const havePeer = !peerNote && peerRounds[s].length === rounds;
      results.push({
        model: name,
        preset: b.preset,
        description,
        scenario: s,
        batch: b.batch,
        unit: name === 'crc-mil' ? 'bags' : 'samples',
        params,
        subject: 'meddl',
        threads,
        meddl: summarize(meddlRounds[s], b.batch, meddlAll[s]),
        firstStep: {
          meddl: firstStep[s],
          peer: havePeer && peerFirst[s].length ? median(peerFirst[s]) : null,
        },
        memory: {
          meddl: memory[s],
          peer:
            havePeer && peerRss[s].length
              ? { rssPeakBytes: Math.max(...peerRss[s]), rssReset: true, tensorPeakBytes: null }
              : null,
        },
        peer: havePeer
          ? {
              name: 'pytorch',
              params: peerParams,
              paramsMatch: peerParams === params,
              stats: summarize(peerRounds[s], b.batch, peerAll[s]),
              ratio: ratioSummary(meddlRounds[s], peerRounds[s]),
            }
          : null,
        ...(havePeer ? {} : { peerNote: peerNote ?? 'peer did not run' }),
      });
    }
    if (onnxScenarios.length) {
      const { runOnnxScenarios } = await import('./onnx.mjs');
      try {
        const o = await runOnnxScenarios({
          name,
          b,
          description,
          scenarios: onnxScenarios,
          rounds,
          steps,
          warmup,
          threads,
          lib,
          log,
        });
        results.push(...o.rows);
        failures.push(...o.failures);
      } catch (e) {
        for (const s of onnxScenarios)
          failures.push({ key: `${name}/${b.preset}/${s}`, message: e.message.slice(0, 300) });
        log(`  onnx failed: ${e.message}`);
      }
    }
    b.trainStep.dispose();
    b.model.dispose();
    for (const t of b.inputs) t.dispose();
  }

  const pipelineScenarios = opts.scenarios.filter((s) => PIPELINE_SCENARIOS.includes(s));
  if (pipelineScenarios.length) {
    const { runPipelineScenarios } = await import('./pipelines.mjs');
    const p = await runPipelineScenarios({
      scenarios: pipelineScenarios,
      rounds,
      quick: opts.quick,
      threads,
      python,
      peers: opts.peers,
      lib,
      log,
    });
    results.push(...p.rows);
    failures.push(...p.failures);
    skipped.push(...p.skipped);
    Object.assign(versions, p.versions);
  }

  if (opts.scenarios.includes('accuracy')) {
    const { runAccuracyScenarios } = await import('./accuracy.mjs');
    const a = await runAccuracyScenarios({ models: opts.models, quick: opts.quick, threads, lib, log });
    results.push(...a.rows);
    failures.push(...a.failures);
  }

  const pkg = JSON.parse(readFileSync(join(REPO, 'packages/tensor/package.json'), 'utf8'));
  const file = parseResults({
    schemaVersion: SCHEMA_VERSION,
    date: new Date().toISOString(),
    command: command ?? 'node benchmarks/suite/run.mjs',
    quick: opts.quick,
    preset,
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
      torch: torchVersion,
      python: pythonVersion,
      versions,
    },
    results,
    failures,
    skipped,
  });

  mkdirSync(opts.out, { recursive: true });
  const writeAtomic = (name, text) => {
    const p = join(opts.out, name);
    writeFileSync(`${p}.tmp`, text);
    renameSync(`${p}.tmp`, p);
  };
  const table = markdownTable(file);
  writeAtomic('results.json', `${JSON.stringify(file, null, 2)}\n`);
  writeAtomic('results.md', table);
  writeAtomic('chart.svg', svgChart(file));
  const m = file.machine;
  log(
    `\n${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, load ${m.loadAverage.join(' ')}; backend ${m.backend} × ${m.threads} threads; node ${m.node}; torch ${m.torch ?? 'absent'}${Object.entries(
      versions,
    )
      .map(([k, v]) => `; ${k} ${v ?? 'absent'}`)
      .join('')}`,
  );
  log(`\n${table}`);
  log(
    `wrote ${opts.out}/results.{json,md} and chart.svg in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );

  let exitCode = failures.length ? 1 : 0;
  if (failures.length) log(`${failures.length} scenario(s) failed: ${failures.map((f) => f.key).join(', ')}`);
  if (opts.compare) {
    const cmp = compareResults(readResults(opts.compare), file, opts.threshold);
    log(
      `\ncompared with ${opts.compare} (threshold ${(cmp.threshold * 100).toFixed(0)} %):\n${compareTable(cmp)}`,
    );
    if (cmp.added.length) log(`not in the baseline: ${cmp.added.join(', ')}`);
    if (cmp.removed.length) log(`in the baseline only: ${cmp.removed.join(', ')}`);
    if (cmp.regressions.length) {
      log(`${cmp.regressions.length} regression(s): ${cmp.regressions.map((r) => r.key).join(', ')}`);
      exitCode = 1;
    }
  }
  return { file, table, exitCode };
}

export { BenchResultsError };
