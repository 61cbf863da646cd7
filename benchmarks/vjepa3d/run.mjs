#!/usr/bin/env node
// Runs one of @meddl/vjepa3d's CLI commands without the meddl binary (until the CLI mounts them):
//   node benchmarks/vjepa3d/run.mjs train vjepa3d --config configs/vjepa3d/quickstart.yaml
//   node benchmarks/vjepa3d/run.mjs vjepa3d manifest DIR --format json
// Needs `pnpm --filter @meddl/vjepa3d build` first. Options are parsed like commander does
// (--max-epochs 3 → maxEpochs; a flag without a value → true).
import { commands } from '../../packages/vjepa3d/dist/index.js';

const argv = process.argv.slice(2);
const command = commands.find((c) => c.path.every((p, i) => argv[i] === p));
if (!command) {
  console.error(`usage: run.mjs <${commands.map((c) => c.path.join(' ')).join(' | ')}> [args] [--options]`);
  process.exit(2);
}
const rest = argv.slice(command.path.length);
const args = [];
const options = {};
for (let i = 0; i < rest.length; i++) {
  const a = rest[i];
  if (a.startsWith('--')) {
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const next = rest[i + 1];
    if (next === undefined || next.startsWith('--')) options[key] = true;
    else {
      options[key] = next;
      i++;
    }
  } else args.push(a);
}
const started = Date.now();
try {
  await command.run(args, options);
  console.error(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  if (e?.meddl) {
    console.error(`meddl: ${e.name}: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
