import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeStatus } from '../index';

const runner = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'native',
  'test',
  'run-tfjs-core-tests.mjs',
);

describe.runIf(nativeStatus().available)(
  'tfjs-core op specs on the native backend (needs the compiled addon)',
  () => {
    it('passes tfjs-core jasmine specs of every replaced kernel', () => {
      const r = spawnSync(process.execPath, [runner], { encoding: 'utf8', timeout: 120_000 });
      const out = `${r.stdout}${r.stderr}`;
      const m = /(\d+) specs?, (\d+) failures?/.exec(out);
      expect(m, out.slice(-2000)).not.toBeNull();
      expect(Number(m?.[1])).toBeGreaterThan(500);
      expect(Number(m?.[2]), out.slice(-4000)).toBe(0);
      expect(r.status).toBe(0);
    }, 180_000);
  },
);
