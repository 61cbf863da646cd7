// Runs one of the package's CLI commands without the meddl binary (the lead mounts `commands` in
// apps/cli). Usage from the repo root:
//   npx tsx packages/crc-mil/scripts/run.ts eval crc-mil --config configs/crc-mil/quickstart.yaml
import { commands } from '../src/commands';

const argv = process.argv.slice(2);
const cmd = commands.find((c) => c.path.every((p, i) => argv[i] === p));
if (!cmd) {
  console.error(`unknown command; one of: ${commands.map((c) => c.path.join(' ')).join(' | ')}`);
  process.exit(2);
}
const rest = argv.slice(cmd.path.length);
const args: string[] = [];
const options: Record<string, unknown> = {};
for (let i = 0; i < rest.length; i++) {
  const a = rest[i] as string;
  if (a.startsWith('--')) {
    const key = a.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    options[key] = rest[i + 1];
    i++;
  } else args.push(a);
}
const t0 = performance.now();
try {
  await cmd.run(args, options);
  console.error(`wall time ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} catch (err) {
  if ((err as { meddl?: boolean }).meddl) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  }
  throw err;
}
