import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Generator, initBackend } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointManager, disposeCheckpoint } from './manager';
import { loopPayload, loopValue } from './test-support/payloads';
import { bundleChild } from './test-support/spawn-child';

let child: string;
let root: string;

beforeAll(async () => {
  await initBackend('cpu');
  child = await bundleChild('kill-child');
  root = mkdtempSync(join(tmpdir(), 'meddl-kill-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(child, { force: true });
  if (child.includes('meddl-checkpoint-child-')) rmSync(dirname(child), { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  /** The newest step the child reported as durably saved (-1 before the first). */
  lastSaved: () => number;
  /** Resolves once the child has reported `count` saves (or has exited). */
  savesReported: (count: number) => Promise<void>;
}

/** Spawns the child and resolves once it printed `ready`; tracks its `saved <step>` lines. */
function start(args: string[]): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let last = -1;
    let saves = 0;
    let ready = false;
    const waiters: { count: number; done: () => void }[] = [];
    const wake = () => {
      for (const w of waiters.splice(0)) {
        if (saves >= w.count || proc.exitCode !== null || proc.signalCode !== null) w.done();
        else waiters.push(w);
      }
    };
    const savesReported = (count: number) =>
      new Promise<void>((done) => {
        waiters.push({ count, done });
        wake();
      });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready' && !ready) {
          ready = true;
          resolve({ proc, lastSaved: () => last, savesReported });
        }
        const m = /^saved (\d+)$/.exec(line);
        if (m) {
          last = Number(m[1]);
          saves++;
        }
      }
      wake();
    });
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.on('exit', (code, signal) => {
      wake();
      if (!ready) reject(new Error(`child exited (${code ?? signal}) before ready: ${err}`));
    });
  });
}

function exited(proc: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve(proc.signalCode ?? proc.exitCode);
    else proc.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

describe('kill test', () => {
  it('survives SIGKILL at 21 seeded random moments: the newest valid checkpoint always loads and verifies', async () => {
    const dir = join(root, 'loop');
    const rng = new Generator(20260413);
    const kills = 21;
    let survived = 0;
    let leftovers = 0;
    let durableStep = -1; // the newest step a child reported as saved
    const silent = new CheckpointManager(dir, {});
    silent.onCorrupt = () => {};
    for (let k = 0; k < kills; k++) {
      const { proc, lastSaved, savesReported } = await start(['loop', dir]);
      // Kill after 0-3 completed saves plus a random delay of up to about two saves (a save takes
      // ~10-60 ms here), so kills land before, between and inside writes whatever the machine load.
      await savesReported(rng.int(4));
      await new Promise((r) => setTimeout(r, rng.uniform(0, 80)));
      proc.kill('SIGKILL');
      expect(await exited(proc)).toBe('SIGKILL');
      durableStep = Math.max(durableStep, lastSaved());
      if (readdirSync(dir).some((e) => e.startsWith('.tmp-'))) leftovers++;

      const m = new CheckpointManager(dir, {});
      m.onCorrupt = () => {};
      const loaded = await m.latestValid();
      if (durableStep < 0 && loaded === null) {
        survived++;
        continue;
      }
      expect(
        loaded,
        `kill ${k}: no valid checkpoint after step ${durableStep} was reported saved`,
      ).not.toBeNull();
      const step = loaded!.info.step;
      // Nothing reported durable is lost; the state and every tensor belong to the same save.
      expect(step).toBeGreaterThanOrEqual(durableStep);
      expect(loaded!.state.globalStep).toBe(step);
      expect(Object.keys(loaded!.model).sort()).toEqual([
        'layers.0.weight',
        'layers.1.weight',
        'layers.2.weight',
        'layers.3.weight',
        'step_counter',
      ]);
      expect(loaded!.model.step_counter.dataSync()[0]).toBe(step);
      for (let j = 0; j < 4; j++) {
        const w = loaded!.model[`layers.${j}.weight`].dataSync();
        const opt = loaded!.optimizer![`state.${j}.exp_avg`].dataSync();
        for (const i of [0, 1, 96, 97, w.length - 1]) {
          expect(w[i]).toBe(loopValue(step, j, i));
          expect(opt[i]).toBe(-loopValue(step, j, i));
        }
      }
      expect(loaded!.skipped).toEqual([]);
      disposeCheckpoint(loaded!);
      survived++;
    }
    // Stale temporary directories of dead writers are cleaned by the next manager.
    new CheckpointManager(dir, {});
    expect(readdirSync(dir).filter((e) => e.startsWith('.tmp-') || e.startsWith('.trash-'))).toEqual([]);
    console.log(
      `kill test: survived ${survived}/${kills} SIGKILLs (newest durable step ${durableStep}; ${leftovers} kills landed mid-write and left a .tmp- directory)`,
    );
    expect(survived).toBe(kills);
    expect(durableStep).toBeGreaterThan(10);
  }, 120_000);

  it('SIGTERM writes an emergency checkpoint, then the process still ends by the signal', async () => {
    const dir = join(root, 'signal');
    const { proc } = await start(['signal', dir]);
    proc.kill('SIGTERM');
    expect(await exited(proc)).toBe('SIGTERM');
    const m = new CheckpointManager(dir, {});
    const loaded = await m.latestValid();
    expect(loaded?.info.reason).toBe('emergency');
    expect(loaded?.info.step).toBe(7);
    expect(loaded!.model['layers.2.weight'].dataSync()[5]).toBe(loopValue(7, 2, 5));
    disposeCheckpoint(loaded!);
  });
});

const hasBash = spawnSync('bash', ['-c', 'ulimit -f 64'], { stdio: 'ignore' }).status === 0;

describe('write failures in a child process', () => {
  it.runIf(hasBash)(
    'a file-size limit (EFBIG, like a full disk; needs bash for ulimit) fails the save clearly and leaves the earlier checkpoint intact',
    async () => {
      const dir = join(root, 'big');
      // 128 blocks of 512 bytes: the 16x16 checkpoint fits, the 512x512 one (4 MB) does not.
      const r = spawnSync(
        'bash',
        ['-c', `ulimit -f 128; exec "${process.execPath}" "${child}" big "${dir}"`],
        {
          encoding: 'utf8',
        },
      );
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as {
        ok: boolean;
        name: string;
        meddl: boolean;
        code: string;
        message: string;
        typed: boolean;
      };
      expect(result.ok).toBe(false);
      expect(result.typed).toBe(true);
      expect(result.meddl).toBe(true);
      expect(result.code).toBe('EFBIG');
      expect(result.message).toMatch(
        /cannot write checkpoint .*ckpt-000002-e0-s2: the file is larger than the file-size limit allows/,
      );
      expect(result.message).toMatch(/earlier checkpoints are untouched/);
      const m = new CheckpointManager(dir, {});
      expect(m.list().map((c) => c.step)).toEqual([1]);
      expect(readdirSync(dir).filter((e) => e.startsWith('.tmp-'))).toEqual([]);
      const loaded = await m.latestValid();
      expect(loaded?.info.step).toBe(1);
      expect(loaded!.model['layers.0.weight'].dataSync()[3]).toBe(loopValue(1, 0, 3));
      disposeCheckpoint(loaded!);
    },
  );

  it.runIf(process.getuid?.() === 0)(
    'no write permission (EACCES; as root, the child drops to uid 65534 since root ignores file modes)',
    async () => {
      const dir = join(root, 'readonly');
      const mgr = new CheckpointManager(dir, {});
      await mgr.save(loopPayload(1, 16), { epoch: 0, step: 1, metrics: {} });
      chmodSync(root, 0o755);
      const r = spawnSync(process.execPath, [child, 'try-save', dir], {
        encoding: 'utf8',
        uid: 65534,
        gid: 65534,
      });
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as { ok: boolean; code: string; message: string; typed: boolean };
      expect(result).toMatchObject({ ok: false, typed: true, code: 'EACCES' });
      expect(result.message).toMatch(/cannot write checkpoint .*readonly.*: permission denied/);
      const loaded = await new CheckpointManager(dir, {}).latestValid();
      expect(loaded?.info.step).toBe(1);
      expect(readdirSync(dir).filter((e) => e.startsWith('ckpt-'))).toEqual(['ckpt-000001-e0-s1']);
      disposeCheckpoint(loaded!);
    },
  );
});
