import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles a child entry (kill-child.ts or resume-child.ts) with the package sources into one ESM
 * file under this package's node_modules/.cache, so `node <file>` runs the current code. Other
 * packages stay external and resolve to their builds, except that the kill child gets no-tfjs.ts
 * for @meddl/tensor. Returns the file's path.
 */
export async function bundleChild(entry: 'kill-child' | 'resume-child'): Promise<string> {
  const outDir = join(here, '..', '..', 'node_modules', '.cache', 'meddl-checkpoint-tests');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `${entry}-${process.pid}.mjs`);
  await build({
    entryPoints: [join(here, `${entry}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
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
