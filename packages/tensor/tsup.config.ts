import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // tfjs-core's Node entry (CJS) registers neither the gradients nor the chained tensor methods;
  // those exist only as ESM files inside the package, which Node cannot import from a CJS
  // package. Bundle them: tfjs keeps its kernel, gradient and tensor-class registries on the
  // global object, so the bundled registrations land on the same engine.
  noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
});
