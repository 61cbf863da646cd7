// Shared vitest settings: workspace packages resolve to their TypeScript sources, so a test
// never runs against a stale build of a sibling package.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

export function meddlVitestConfig(overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: {
      alias: [{ find: /^@meddl\/([a-z0-9-]+)$/, replacement: resolve(root, 'packages/$1/src/index.ts') }],
    },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
      ...overrides,
    },
  });
}
