import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
// one process (node --import tsx), so the signal reaches the training script directly
const node = process.execPath;
const script = join(pkg, 'test', 'train-xor.ts');
const tmp = mkdtempSync(join(tmpdir(), 'meddl-resume-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function runToEnd(dir: string, ...flags: string[]) {
  const r = spawnSync(node, ['--import', 'tsx', script, dir, ...flags], {
    cwd: pkg,
    encoding: 'utf8',
    env: { ...process.env, MEDDL_BACKEND: 'cpu' },
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return { stdout: r.stdout, final: JSON.parse(readFileSync(join(dir, 'final.json'), 'utf8')) };
}

describe('SIGINT and --resume across processes', () => {
  it('a run interrupted by SIGINT and resumed ends with the same weights as an uninterrupted run', async () => {
    const fullDir = join(tmp, 'full');
    const cutDir = join(tmp, 'cut');
    const full = runToEnd(fullDir);
    expect(full.final.steps).toBe(16);

    const child = spawn(node, ['--import', 'tsx', script, cutDir, '--pause-at', '7'], {
      cwd: pkg,
      env: { ...process.env, MEDDL_BACKEND: 'cpu' },
    });
    let out = '';
    let err = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (!sent && out.includes('PAUSED')) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(err).toBe('');
    expect(code).toBe(130);
    expect(out).toContain('INTERRUPTED at step 7');
    const ckpts = readdirSync(join(cutDir, 'checkpoints')).sort();
    // every 3 steps, every epoch (4 steps), and the emergency one at step 7
    expect(ckpts).toEqual([
      'ckpt-0000-periodic.json',
      'ckpt-0001-epoch.json',
      'ckpt-0002-periodic.json',
      'ckpt-0003-emergency.json',
    ]);

    const resumed = runToEnd(cutDir, '--resume');
    expect(resumed.final.resumedFrom).toMatch(/ckpt-0003-emergency\.json$/);
    expect(resumed.final.steps).toBe(16);
    expect(resumed.final.weights).toEqual(full.final.weights);
  });
});
