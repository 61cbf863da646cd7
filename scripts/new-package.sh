#!/usr/bin/env bash
# Creates the boilerplate of a workspace package: scripts/new-package.sh packages/<name> "<description>"
set -euo pipefail
dir=$1; desc=${2:-}
name=@meddl/$(basename "$dir")
mkdir -p "$dir/src"
rel=$(realpath --relative-to="$dir" .)
[ -f "$dir/package.json" ] || cat > "$dir/package.json" <<JSON
{
  "name": "$name",
  "version": "0.1.0",
  "description": "$desc",
  "type": "module",
  "license": "Apache-2.0",
  "exports": {
    ".": { "types": "./src/index.ts", "default": "./dist/index.js" }
  },
  "publishConfig": {
    "exports": { ".": { "types": "./dist/index.d.ts", "default": "./dist/index.js" } }
  },
  "files": ["dist"],
  "scripts": {
    "build": "tsup",
    "typecheck": "tsc -p tsconfig.json",
    "test": "vitest run"
  },
  "dependencies": {}
}
JSON
[ -f "$dir/tsconfig.json" ] || cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "$rel/tsconfig.base.json",
  "include": ["src", "test"]
}
JSON
[ -f "$dir/tsup.config.ts" ] || cat > "$dir/tsup.config.ts" <<TS
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
TS
[ -f "$dir/vitest.config.ts" ] || cat > "$dir/vitest.config.ts" <<TS
import { meddlVitestConfig } from '$rel/vitest.shared.ts';

export default meddlVitestConfig();
TS
echo "created $dir"
