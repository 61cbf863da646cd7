import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from './errors';
import { CheckpointManager, disposeCheckpoint, resume } from './manager';
import { readSafetensors } from './safetensors';
import { bundleChild } from './test-support/spawn-child';
import { createRun, disposeRun, payloadOf, trainSteps } from './test-support/tiny-training';

let child: string;
let root: string;

beforeAll(async () => {
  await initBackend('cpu');
  child = await bundleChild('resume-child');
  root = mkdtempSync(join(tmpdir(), 'meddl-resume-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(child, { force: true });
});

function runChild(args: string[]): string {
  const r = spawnSync(process.execPath, [child, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child ${args[0]} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

describe('resume exactness', () => {
  it('2N steps straight equal N steps + save + fresh process + resume + N steps (momentum SGD, seeded batches)', () => {
    const N = 15;
    const straight = createRun(11);
    trainSteps(straight, 2 * N);
    const expected = Object.fromEntries(
      Object.entries(straight.model.stateDict()).map(([k, v]) => [k, Array.from(v.dataSync())]),
    );
    disposeRun(straight);

    const runDir = join(root, 'exact');
    runChild(['resume-first', runDir, String(N)]);
    const out = join(root, 'resumed.safetensors');
    const report = JSON.parse(runChild(['resume-second', runDir, String(N), out])) as {
      step: number;
      resumeCount: number;
    };
    expect(report).toEqual({ step: 2 * N, resumeCount: 1 });

    const resumed = readSafetensors(out).tensors;
    expect(Object.keys(resumed).sort()).toEqual(Object.keys(expected).sort());
    let maxDiff = 0;
    for (const [k, values] of Object.entries(expected)) {
      const got = resumed[k].data as Float32Array;
      for (let i = 0; i < values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - values[i]));
    }
    console.log(
      `resume exactness: max |straight - resumed| over all weights after ${2 * N} steps = ${maxDiff}`,
    );
    expect(maxDiff).toBeLessThanOrEqual(1e-6);

    // Without restoring the momentum buffers the weights differ: the check above can fail.
    const broken = createRun(11);
    trainSteps(broken, N);
    broken.opt.loadStateTensors({});
    trainSteps(broken, N);
    const diff = Math.max(
      ...Object.entries(broken.model.stateDict()).map(([k, v]) =>
        Math.max(...Array.from(v.dataSync(), (x, i) => Math.abs(x - expected[k][i]))),
      ),
    );
    expect(diff).toBeGreaterThan(1e-4);
    disposeRun(broken);
  });

  it('counts resumes in checkpoints/resume.json and refuses beyond maxResumes with a clear error', async () => {
    const runDir = join(root, 'limit');
    const run = createRun(3);
    trainSteps(run, 2);
    const mgr = new CheckpointManager(join(runDir, 'checkpoints'), { maxResumes: 2 });
    await mgr.save(payloadOf(run), { epoch: 0, step: 2, metrics: {} });
    disposeRun(run);
    for (const n of [1, 2]) {
      const loaded = await resume(runDir, { maxResumes: 2 });
      expect(loaded?.resumeCount).toBe(n);
      expect(loaded?.info.step).toBe(2);
      disposeCheckpoint(loaded!);
    }
    await expect(resume(runDir, { maxResumes: 2 })).rejects.toThrow(
      /refusing to resume .*limit.*: it has already been resumed 2 time\(s\) and the limit \(maxResumes\) is 2/,
    );
    await expect(mgr.resume()).rejects.toBeInstanceOf(CheckpointError);
    const counter = JSON.parse(readFileSync(join(runDir, 'checkpoints', 'resume.json'), 'utf8')) as {
      count: number;
      history: unknown[];
    };
    expect(counter.count).toBe(2);
    expect(counter.history).toHaveLength(2);
    // A run with no checkpoints is a fresh start, not a resume.
    expect(await resume(join(root, 'fresh'))).toBeNull();
  });
});
