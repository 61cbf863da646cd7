#!/usr/bin/env node
// Parameter counts of every model at every suite preset, meddl vs its PyTorch peer, without
// timing anything (the suite checks the same on each run, for the preset it runs).
//   node benchmarks/suite/check-params.mjs [--presets tiny,small,base] [--models ...]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '@meddl/tensor';
import { MODELS, PRESETS } from './src/models.mjs';
import { REPO } from './src/suite.mjs';

const opt = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i >= 0 ? process.argv[i + 1].split(',') : d;
};
const python = process.env.MEDDL_PYTHON || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
await initBackend();
let bad = 0;
console.log('| model | suite preset | package preset | meddl params | PyTorch params | equal |');
console.log('| --- | --- | --- | ---: | ---: | --- |');
for (const name of opt('models', Object.keys(MODELS)))
  for (const p of opt('presets', PRESETS)) {
    const b = MODELS[name].build(p);
    const params = b.model.numParameters();
    const r = spawnSync(python, [join(REPO, 'benchmarks/peers/peers.py')], {
      input: JSON.stringify({ model: name, ...b.peerSpec, steps: 0, warmup: 0, threads: 1, scenarios: [] }),
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    const peer = r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()).params : null;
    if (peer !== params) bad++;
    console.log(
      `| ${name} | ${p} | ${b.preset} | ${params.toLocaleString('en-US')} | ${peer === null ? `failed: ${r.stderr.trim().split('\n').pop()}` : peer.toLocaleString('en-US')} | ${peer === params ? 'yes' : 'NO'} |`,
    );
    b.model.dispose();
    for (const t of b.inputs) t.dispose();
  }
process.exitCode = bad ? 1 : 0;
