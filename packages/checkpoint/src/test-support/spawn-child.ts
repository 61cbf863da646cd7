import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles a child entry (kill-child.ts or resume-child.ts) with the package sources into one ESM
 * file, so `node <file>` runs the current code. The resume child lives under this package's
 * node_modules/.cache and resolves other packages to their builds. The kill child gets no-tfjs.ts
 * for @meddl/tensor and bundles everything else too, into a world-readable folder of the system
 * temp dir: one of its tests runs it as uid 65534, which cannot read a checkout under a private
 * (0700) folder such as `mktemp -d` makes. Returns the file's path.
 */
export async function bundleChild(entry: 'kill-child' | 'resume-child'): Promise<string> {
  const selfContained = entry === 'kill-child';
  const outDir = selfContained
    ? mkdtempSync(join(tmpdir(), 'meddl-checkpoint-child-'))
    : join(here, '..', '..', 'node_modules', '.cache', 'meddl-checkpoint-tests');
  mkdirSync(outDir, { recursive: true });
  if (selfContained) chmodSync(outDir, 0o755);
  const outfile = join(outDir, `${entry}-${process.pid}.mjs`);
  await build({
    entryPoints: [join(here, `${entry}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: selfContained ? 'bundle' : 'external',
    logLevel: 'error',
    plugins:
      entry === 'kill-child'
        ? [
            {
              name: 'no-tfjs',
              setup(b) {
                b.onResolve({ filter: /^@meddl\/tensor$/ }, () => ({ path: join(here, 'no-tfjs.ts') }));
              },
            },
          ]
        : [],
  });
  return outfile;
}
