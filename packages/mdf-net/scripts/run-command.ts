/**
 * Runs one of @meddl/mdf-net's CLI commands without the CLI app (same code path as
 * `meddl <path…>` once the CLI mounts `commands`), e.g.
 *   npx tsx packages/mdf-net/scripts/run-command.ts train mdf-net --config configs/mdf-net/quickstart.yaml
 * Options are --kebab-case <value>; they reach the command camelCased, as commander passes them.
 */
import { initBackend } from '@meddl/tensor';
import { commands } from '../src/index';

const argv = process.argv.slice(2);
const cmd = commands.find((c) => c.path.every((p, i) => argv[i] === p));
if (!cmd) {
  console.error(`unknown command; one of:\n${commands.map((c) => `  ${c.path.join(' ')}`).join('\n')}`);
  process.exit(2);
}
const rest = argv.slice(cmd.path.length);
const args: string[] = [];
const options: Record<string, unknown> = {};
for (let i = 0; i < rest.length; i++) {
  const a = rest[i];
  if (a.startsWith('--')) {
    const key = a.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    options[key] = rest[i + 1];
    i++;
  } else args.push(a);
}
await initBackend();
const t0 = Date.now();
try {
  await cmd.run(args, options);
} catch (e) {
  if (e && typeof e === 'object' && 'meddl' in e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  }
  throw e;
}
console.log(`wall time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
