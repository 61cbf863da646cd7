#!/usr/bin/env node
// Compiles the native CPU backend (native/src/addon.cc) against OpenBLAS with node-gyp.
// Never fails: when the compiler, node-gyp, the Node headers or OpenBLAS are missing, it writes
// the reason to build/Release/native-unavailable.txt, which the loader reports (`meddl info`
// shows "skipped native: <reason>") and @meddl/tensor falls back to the pure-JS cpu backend.
// MEDDL_NATIVE=0 skips the build on purpose.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkgRoot = resolve(here, '..');
const outDir = join(pkgRoot, 'build', 'Release');
const target = join(outDir, 'meddl_native.node');
const reasonFile = join(outDir, 'native-unavailable.txt');

function unavailable(reason) {
  mkdirSync(outDir, { recursive: true });
  rmSync(target, { force: true });
  writeFileSync(reasonFile, `${reason}\n`);
  console.warn(`@meddl/tensor: native backend not built: ${reason}`);
  process.exit(0);
}

// Nothing here may fail the install: an unexpected error is recorded like a missing prerequisite.
process.on('uncaughtException', (err) => {
  try {
    unavailable(`build script error: ${err.message.split('\n')[0]}`);
  } catch {
    process.exit(0);
  }
});

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

if (process.env.MEDDL_NATIVE === '0') unavailable('MEDDL_NATIVE=0 at build time');

// Runs at `pnpm install` (install script) and again in `build`: skip when the addon is newer
// than its sources (MEDDL_NATIVE_REBUILD=1 forces a rebuild).
if (process.env.MEDDL_NATIVE_REBUILD !== '1' && existsSync(target) && !existsSync(reasonFile)) {
  const sources = [
    join(here, 'binding.gyp'),
    join(here, 'build.mjs'),
    ...readdirSync(join(here, 'src')).map((f) => join(here, 'src', f)),
  ];
  const built = statSync(target).mtimeMs;
  if (sources.every((f) => statSync(f).mtimeMs <= built)) {
    console.log(`@meddl/tensor: native addon up to date (${target})`);
    process.exit(0);
  }
}
if (!which('pkg-config')) unavailable('pkg-config not found (apt-get install pkg-config libopenblas-dev)');
if (spawnSync('pkg-config', ['--exists', 'openblas']).status !== 0)
  unavailable('OpenBLAS not found by pkg-config (apt-get install libopenblas-dev)');
if (!which(process.env.CXX ?? 'c++')) unavailable('no C++ compiler (apt-get install g++ make)');
if (!which('make')) unavailable('make not found (apt-get install make)');

const require = createRequire(import.meta.url);
let napiInclude;
try {
  napiInclude = require('node-addon-api').include_dir;
} catch {
  unavailable('node-addon-api is not installed');
}

// node-gyp: the copy bundled with npm next to this Node, else one on PATH.
const npmGyp = [
  join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  ),
  process.env.npm_config_node_gyp,
].find((p) => p && existsSync(p));
const gyp = npmGyp ? [process.execPath, npmGyp] : which('node-gyp') ? ['node-gyp'] : null;
if (!gyp) unavailable('node-gyp not found (it ships with npm)');

// Node headers: npm's nodedir setting, else the headers installed next to this Node.
let nodedir = process.env.npm_config_nodedir;
if (!nodedir) {
  try {
    nodedir = execFileSync('npm', ['config', 'get', 'nodedir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    nodedir = undefined;
  }
}
if (!nodedir || nodedir === 'undefined' || nodedir === 'null') {
  const local = resolve(dirname(process.execPath), '..');
  nodedir = existsSync(join(local, 'include', 'node', 'node_api.h')) ? local : undefined;
}
if (!nodedir)
  unavailable('Node headers not found (set `npm config set nodedir <prefix>` or install nodejs headers)');

// Build in a private copy of the sources, so concurrent builds (turbo, a manual rebuild) never
// share node-gyp's build directory.
const work = mkdtempSync(join(tmpdir(), 'meddl-native-'));
cpSync(join(here, 'src'), join(work, 'src'), { recursive: true });
writeFileSync(
  join(work, 'binding.gyp'),
  readFileSync(join(here, 'binding.gyp'), 'utf8').replace(
    `<!(node -p \\"require('node-addon-api').include_dir\\")`,
    resolve(napiInclude.replace(/^"|"$/g, '')),
  ),
);
const args = [...gyp.slice(1), 'rebuild', `--directory=${work}`, `--nodedir=${nodedir}`, '--release'];
const res = spawnSync(gyp[0], args, { encoding: 'utf8', env: { ...process.env, JOBS: '2' } });
const built = join(work, 'build', 'Release', 'meddl_native.node');
if (res.status !== 0 || !existsSync(built)) {
  const tail = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  rmSync(work, { recursive: true, force: true });
  unavailable(`node-gyp failed (exit ${res.status}): ${tail || res.error?.message}`);
}
mkdirSync(outDir, { recursive: true });
// Copy then rename: a running process that has the old addon mapped keeps its inode.
copyFileSync(built, `${target}.tmp`);
renameSync(`${target}.tmp`, target);
rmSync(work, { recursive: true, force: true });
rmSync(reasonFile, { force: true });
console.log(`@meddl/tensor: built ${target}`);
