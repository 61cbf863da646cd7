import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { meddl: 'src/meddl.ts', index: 'src/index.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
