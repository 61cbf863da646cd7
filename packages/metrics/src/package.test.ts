// Guards the architecture rule: @meddl/metrics is pure TypeScript with no tensor or tfjs dependency.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('@meddl/metrics dependencies', () => {
  it('declares no runtime dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
  });

  it('library sources import only relative modules', () => {
    const sources = readdirSync(here).filter(
      (f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'test-utils.ts',
    );
    expect(sources.length).toBeGreaterThan(10);
    for (const f of sources) {
      const text = readFileSync(join(here, f), 'utf8');
      const specifiers = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
      for (const s of specifiers) expect(s.startsWith('./'), `${f} imports ${s}`).toBe(true);
    }
  });
});
