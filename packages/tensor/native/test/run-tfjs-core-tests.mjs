#!/usr/bin/env node
// Runs tfjs-core's own op test suite (the jasmine specs shipped in @tensorflow/tfjs-core/dist)
// against meddl's native backend, with the jasmine environment tfjs-node uses
// (jasmine_util.setTestEnvs + describeWithFlags). The specs are ES modules with
// extensionless imports, so they are bundled with esbuild first, together with the backend
// sources, into one module that shares a single tfjs-core.
// Usage: node native/test/run-tfjs-core-tests.mjs [spec ...]   (spec: e.g. ops/add_test; default: all
// specs of the kernels the native backend replaces). Exit status 1 on any failure.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const pkgRoot = resolve(here, '..', '..');
const require = createRequire(join(pkgRoot, 'package.json'));
const coreDist = dirname(require.resolve('@tensorflow/tfjs-core/package.json')) + '/dist';

/** Spec files covering the kernels in src/native/kernels.ts. */
export const NATIVE_SPECS = [
  'ops/add_test',
  'ops/sub_test',
  'ops/arithmetic_test',
  'ops/binary_ops_test',
  'ops/add_n_test',
  'ops/exp_test',
  'ops/log_test',
  'ops/tanh_test',
  'ops/sigmoid_test',
  'ops/relu_test',
  'ops/relu6_test',
  'ops/erf_test',
  'ops/sqrt_test',
  'ops/rsqrt_test',
  'ops/neg_test',
  'ops/abs_test',
  'ops/square_test',
  'ops/reciprocal_test',
  'ops/elu_test',
  'ops/leaky_relu_test',
  'ops/step_test',
  'ops/sin_test',
  'ops/cos_test',
  'ops/sum_test',
  'ops/mean_test',
  'ops/max_test',
  'ops/min_test',
  'ops/prod_test',
  'ops/softmax_test',
  'ops/transpose_test',
  'ops/gather_test',
  'ops/unsorted_segment_sum_test',
  'ops/mat_mul_test',
  'ops/fused/fused_mat_mul_test',
  'ops/conv2d_test',
  'ops/conv3d_test',
  'ops/conv2d_transpose_test',
  'ops/conv3d_transpose_test',
  'tensor_test', // Cast
  'ops/slice_test',
  'ops/slice1d_test',
  'ops/slice2d_test',
  'ops/slice3d_test',
  'ops/slice4d_test',
  'ops/split_test',
];

const specs = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const chosen = specs.length ? specs : NATIVE_SPECS;
const outDir = join(pkgRoot, 'build', 'tfjs-core-tests');
mkdirSync(outDir, { recursive: true });

const setup = join(outDir, 'setup.ts');
writeFileSync(
  setup,
  `import Jasmine from 'jasmine';
import { setTestEnvs } from '@tensorflow/tfjs-core/dist/jasmine_util';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';
import { registerNativeBackend } from ${JSON.stringify(join(pkgRoot, 'src', 'native', 'provider.ts'))};
export const runner = new Jasmine({ globals: true });
runner.configureDefaultReporter({ showColors: false });
const { tfjsName } = registerNativeBackend();
setTestEnvs([{ name: 'meddl-native', backendName: tfjsName, flags: {}, isDataSync: true }]);
`,
);
const entry = join(outDir, 'entry.ts');
writeFileSync(
  entry,
  `import { runner } from './setup';
${chosen.map((s) => `import ${JSON.stringify(join(coreDist, s))};`).join('\n')}
runner.exitOnCompletion = false;
const result = await runner.execute();
process.exitCode = result.overallStatus === 'passed' ? 0 : 1;
`,
);
const bundle = join(outDir, 'bundle.mjs');
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: bundle,
  // One tfjs-core: the ESM sources the specs import relatively.
  mainFields: ['module', 'main'],
  // tfjs-core's package.json marks most files side-effect free; the specs register on import.
  ignoreAnnotations: true,
  plugins: [
    {
      // jasmine_util requires jasmine-core, which only jasmine depends on: point it there.
      name: 'jasmine-core',
      setup(b) {
        const fromJasmine = createRequire(require.resolve('jasmine'));
        b.onResolve({ filter: /^jasmine-core\// }, (args) => ({
          path: fromJasmine.resolve(args.path),
          external: true,
        }));
      },
    },
  ],
  external: ['jasmine', 'node-fetch', 'util', 'fs', 'path', 'os', 'worker_threads'],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'error',
});
const r = spawnSync(process.execPath, [bundle], { stdio: 'inherit', cwd: pkgRoot });
process.exit(r.status ?? 1);
