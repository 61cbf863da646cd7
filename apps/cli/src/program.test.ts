import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CommandSpec } from './command';
import { buildProgram } from './program';

const bin = fileURLToPath(new URL('../dist/meddl.js', import.meta.url));

describe('command registry', () => {
  it('mounts nested commands and passes arguments and options', async () => {
    const seen: unknown[] = [];
    const spec: CommandSpec = {
      path: ['train', 'toy'],
      description: 'train a toy',
      arguments: [{ name: 'data', description: 'data dir' }],
      options: [{ flags: '--epochs <n>', description: 'epochs', default: '3' }],
      run: (args, opts) => {
        seen.push(args, opts);
      },
    };
    await buildProgram([spec], '0.0.0').parseAsync([
      'node',
      'meddl',
      'train',
      'toy',
      '/tmp/x',
      '--epochs',
      '5',
    ]);
    expect(seen).toEqual([['/tmp/x'], { epochs: '5' }]);
  });
});

describe.runIf(existsSync(bin))('meddl binary', () => {
  it('prints the chosen backend with `info`', () => {
    const out = execFileSync(process.execPath, [bin, 'info'], {
      env: { ...process.env, MEDDL_BACKEND: 'cpu' },
    });
    expect(out.toString()).toMatch(/backend\s+cpu .*chosen by MEDDL_BACKEND/);
  });

  it('uses wasm when asked', () => {
    const out = execFileSync(process.execPath, [bin, 'info', '--json'], {
      env: { ...process.env, MEDDL_BACKEND: 'wasm' },
    });
    expect(JSON.parse(out.toString()).backend.name).toBe('wasm');
  });

  it('fails clearly, without a stack trace, for an unavailable backend', () => {
    const r = spawnSync(process.execPath, [bin, 'info'], {
      env: { ...process.env, MEDDL_BACKEND: 'node-gpu' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/^meddl: BackendError: Backend 'node-gpu' .*unavailable/);
    expect(r.stderr.toString()).not.toMatch(/\n\s+at /);
  });
});
