import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointCorruptError, CheckpointError } from './errors';
import {
  CheckpointManager,
  type CheckpointManifest,
  type CheckpointPayload,
  disposeCheckpoint,
} from './manager';
import { serializeSafetensors } from './safetensors';
import { createRun, disposeRun, payloadOf, trainSteps } from './test-support/tiny-training';

let root: string;
let n = 0;
const fresh = () => join(root, `m${n++}`);

beforeAll(async () => {
  await initBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'meddl-ckpt-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A payload whose single weight encodes `v`, for retention tests. */
function small(v: number): CheckpointPayload {
  return { model: { w: { dtype: 'F32', shape: [2], data: Float32Array.of(v, -v) } }, state: { v } };
}

function quiet(m: CheckpointManager): CheckpointManager {
  m.onCorrupt = () => {};
  return m;
}

describe('CheckpointManager save / load', () => {
  it('writes the documented layout and round-trips module, optimizer and state exactly', async () => {
    const dir = fresh();
    const run = createRun(5);
    trainSteps(run, 3);
    const mgr = new CheckpointManager(dir, { keepLast: 3 });
    const before = tf.memory().numTensors;
    const saved = await mgr.save(payloadOf(run), {
      epoch: 1,
      step: 3,
      metrics: { val_loss: 0.5 },
      tags: ['warmup'],
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(saved.path).toBe(join(dir, 'ckpt-000001-e1-s3'));
    expect(readdirSync(saved.path).sort()).toEqual([
      'manifest.json',
      'model.safetensors',
      'optimizer.safetensors',
      'state.json',
    ]);
    expect(readFileSync(join(dir, 'latest'), 'utf8').trim()).toBe('ckpt-000001-e1-s3');
    const manifest = JSON.parse(
      readFileSync(join(saved.path, 'manifest.json'), 'utf8'),
    ) as CheckpointManifest;
    for (const [file, entry] of Object.entries(manifest.files)) {
      const bytes = readFileSync(join(saved.path, file));
      expect(entry.size).toBe(bytes.length);
      expect(entry.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
    expect(mgr.list()).toMatchObject([
      { name: 'ckpt-000001-e1-s3', epoch: 1, step: 3, metrics: { val_loss: 0.5 }, tags: ['warmup'] },
    ]);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
      checkpoints: { name: string }[];
    };
    expect(index.checkpoints.map((c) => c.name)).toEqual(['ckpt-000001-e1-s3']);

    const loaded = await mgr.load(saved.path);
    for (const [k, v] of Object.entries(run.model.stateDict())) {
      expect(Array.from(loaded.model[k].dataSync())).toEqual(Array.from(v.dataSync()));
    }
    const opt = run.opt.stateTensors();
    expect(Object.keys(loaded.optimizer!).sort()).toEqual(Object.keys(opt).sort());
    for (const [k, v] of Object.entries(opt))
      expect(Array.from(loaded.optimizer![k].dataSync())).toEqual(Array.from(v.dataSync()));
    expect(loaded.state.globalStep).toBe(3);
    expect(loaded.state.checkpoint).toMatchObject({
      name: 'ckpt-000001-e1-s3',
      seq: 1,
      resumeCount: 0,
      step: 3,
    });
    expect(loaded.state.rng).toEqual(run.dataRng.getState().map((x) => (Number.isNaN(x) ? null : x)));
    expect(loaded.info).toEqual({
      epoch: 1,
      step: 3,
      metrics: { val_loss: 0.5 },
      tags: ['warmup'],
      reason: 'periodic',
    });
    disposeCheckpoint(loaded);
    expect(tf.memory().numTensors).toBe(before);
    disposeRun(run);
  });

  it('gzip compression is flagged in the manifest, shrinks compressible data and round-trips', async () => {
    const dir = fresh();
    const mgr = new CheckpointManager(dir, { compression: 'gzip' });
    const data = new Float32Array(4096).fill(0.25);
    const saved = await mgr.save(
      { model: { w: { dtype: 'F32', shape: [64, 64], data } }, state: {} },
      { epoch: 0, step: 1, metrics: {} },
    );
    const manifest = JSON.parse(
      readFileSync(join(saved.path, 'manifest.json'), 'utf8'),
    ) as CheckpointManifest;
    expect(manifest.compression).toBe('gzip');
    expect(manifest.files['model.safetensors.gz']).toMatchObject({ compression: 'gzip' });
    expect(manifest.files['model.safetensors.gz'].size).toBeLessThan(
      manifest.files['model.safetensors.gz'].rawSize / 10,
    );
    expect(manifest.files['state.json'].compression).toBe('none');
    const loaded = await mgr.load(saved.path);
    expect(Array.from(loaded.model.w.dataSync())).toEqual(Array.from(data));
    disposeCheckpoint(loaded);
    // The worker-thread path compresses the same way.
    await mgr.saveAsync(
      { model: { w: { dtype: 'F32', shape: [64, 64], data } }, state: {} },
      { epoch: 0, step: 2, metrics: {} },
    );
    await mgr.close();
    const again = await mgr.latestValid();
    expect(again?.info.step).toBe(2);
    expect(readdirSync(again!.path).sort()).toEqual(['manifest.json', 'model.safetensors.gz', 'state.json']);
    expect(Array.from(again!.model.w.dataSync())).toEqual(Array.from(data));
    disposeCheckpoint(again!);
  });

  it('saveAsync copies tensors before returning, writes in a worker, keeps order with one save in flight', async () => {
    const dir = fresh();
    const mgr = new CheckpointManager(dir, { keepLast: 5 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const w = tf.fill([3, 3], i);
      const pending = mgr.saveAsync({ model: { w }, state: { i } }, { epoch: 0, step: i, metrics: {} });
      w.dispose(); // the copy was taken synchronously
      await pending;
    }
    await mgr.flush();
    expect(tf.memory().numTensors).toBe(before);
    expect(mgr.list().map((r) => r.step)).toEqual([0, 1, 2]);
    for (const r of mgr.list()) {
      const c = await mgr.load(r.name);
      expect(Array.from(c.model.w.dataSync())).toEqual(new Array(9).fill(r.step));
      disposeCheckpoint(c);
    }
    await mgr.close();
  });

  it('dueReason follows the policy', () => {
    const mgr = new CheckpointManager(fresh(), { emergencyEverySteps: 50 });
    expect(mgr.dueReason({ epoch: 0, step: 50 })).toBe('emergency');
    expect(mgr.dueReason({ epoch: 0, step: 51 })).toBeNull();
    expect(mgr.dueReason({ epoch: 2, step: 51, epochEnd: true })).toBe('epoch');
  });

  it('an invalid policy is a CheckpointError', () => {
    expect(() => new CheckpointManager(fresh(), { keepLast: 0 })).toThrow(CheckpointError);
  });
});

describe('retention policies and registry', () => {
  it('keeps the last N, the best k per monitor, every Nth epoch, and manual checkpoints', async () => {
    const dir = fresh();
    const mgr = new CheckpointManager(dir, {
      keepLast: 2,
      keepBest: [
        { monitor: 'val_loss', mode: 'min', k: 1 },
        { monitor: 'val_auroc', mode: 'max', k: 2 },
      ],
      everyNEpochs: 3,
    });
    const losses = [0.9, 0.4, 0.6, 0.5, 0.7, 0.8, 0.65, 0.75];
    const aurocs = [0.6, 0.7, 0.9, 0.65, 0.85, 0.5, 0.55, 0.6];
    for (let e = 0; e < losses.length; e++) {
      await mgr.save(small(e), {
        epoch: e,
        step: 10 * e,
        metrics: { val_loss: losses[e], val_auroc: aurocs[e] },
        reason: 'epoch',
      });
    }
    // last 2: e6, e7; best loss: e1; best 2 auroc: e2, e4; every 3rd epoch: e0, e3, e6.
    expect(mgr.list().map((r) => r.epoch)).toEqual([0, 1, 2, 3, 4, 6, 7]);
    expect(readdirSync(dir).filter((d) => d.startsWith('ckpt-')).length).toBe(7);
    expect(mgr.best('val_loss', 'min')?.epoch).toBe(1);
    expect(mgr.best('val_auroc', 'max')?.epoch).toBe(2);
    await mgr.save(small(99), { epoch: 8, step: 80, metrics: {}, reason: 'manual' });
    await mgr.save(small(9), { epoch: 9, step: 90, metrics: {}, reason: 'epoch' });
    await mgr.save(small(10), { epoch: 10, step: 100, metrics: {}, reason: 'epoch' });
    expect(mgr.list().map((r) => r.epoch)).toEqual([0, 1, 2, 3, 4, 6, 8, 9, 10]);
  });

  it('an emergency checkpoint is kept until a later checkpoint supersedes it', async () => {
    const mgr = new CheckpointManager(fresh(), { keepLast: 1 });
    await mgr.save(small(1), { epoch: 0, step: 1, metrics: {} });
    await mgr.save(small(2), { epoch: 0, step: 2, metrics: {}, reason: 'emergency' });
    expect(mgr.list().map((r) => [r.step, r.reason])).toEqual([
      [1, 'periodic'],
      [2, 'emergency'],
    ]);
    await mgr.save(small(3), { epoch: 0, step: 3, metrics: {} });
    expect(mgr.list().map((r) => r.step)).toEqual([3]);
  });

  it('list() rebuilds the registry from manifests when index.json is missing or damaged', async () => {
    const dir = fresh();
    const mgr = new CheckpointManager(dir, { keepLast: 5 });
    for (let i = 0; i < 3; i++) await mgr.save(small(i), { epoch: i, step: i, metrics: { loss: i } });
    writeFileSync(join(dir, 'index.json'), '{"checkpoints": [');
    expect(new CheckpointManager(dir, {}).list().map((r) => [r.step, r.metrics.loss])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    unlinkSync(join(dir, 'index.json'));
    const again = new CheckpointManager(dir, { keepLast: 5 });
    expect(again.list().length).toBe(3);
    // Numbering continues after the existing checkpoints.
    expect((await again.save(small(3), { epoch: 3, step: 3, metrics: {} })).record.seq).toBe(4);
  });
});

describe('verification and fallback', () => {
  async function threeCheckpoints(): Promise<{ dir: string; mgr: CheckpointManager; paths: string[] }> {
    const dir = fresh();
    const mgr = quiet(new CheckpointManager(dir, { keepLast: 5 }));
    const paths = [];
    for (let i = 1; i <= 3; i++) {
      const payload = small(i);
      payload.optimizer = { m: { dtype: 'F32', shape: [1], data: Float32Array.of(i) } };
      paths.push((await mgr.save(payload, { epoch: 0, step: i, metrics: {} })).path);
    }
    return { dir, mgr, paths };
  }

  const damage: [string, (ckpt: string) => void, RegExp, string][] = [
    [
      'a flipped byte',
      (c) => {
        const f = join(c, 'model.safetensors');
        const b = readFileSync(f);
        b[b.length - 2] ^= 0x40;
        writeFileSync(f, b);
      },
      /model.safetensors has sha256 .* the manifest says/,
      'model.safetensors',
    ],
    [
      'a truncated file',
      (c) => truncateSync(join(c, 'optimizer.safetensors'), 10),
      /optimizer.safetensors has 10 bytes, the manifest says/,
      'optimizer.safetensors',
    ],
    ['a missing file', (c) => unlinkSync(join(c, 'state.json')), /state.json is missing/, 'state.json'],
    [
      'no manifest (interrupted save)',
      (c) => unlinkSync(join(c, 'manifest.json')),
      /manifest.json cannot be read .*did not complete/,
      'manifest.json',
    ],
    [
      'a garbled manifest',
      (c) => writeFileSync(join(c, 'manifest.json'), '{"format": "meddl-checkpoint"'),
      /manifest.json is not a valid manifest/,
      'manifest.json',
    ],
    [
      'a consistent manifest over an undecodable file',
      (c) => {
        const bad = Buffer.from('not a safetensors file at all');
        writeFileSync(join(c, 'model.safetensors'), bad);
        const m = JSON.parse(readFileSync(join(c, 'manifest.json'), 'utf8')) as CheckpointManifest;
        m.files['model.safetensors'] = {
          ...m.files['model.safetensors'],
          size: bad.length,
          sha256: createHash('sha256').update(bad).digest('hex'),
        };
        writeFileSync(join(c, 'manifest.json'), JSON.stringify(m));
      },
      /model.safetensors cannot be decoded \(.*header length/,
      'model.safetensors',
    ],
  ];

  for (const [what, corrupt, message, file] of damage) {
    it(`${what}: load() throws CheckpointCorruptError naming the file; latestValid() falls back`, async () => {
      const { mgr, paths } = await threeCheckpoints();
      corrupt(paths[2]);
      const err = await mgr.load(paths[2]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointCorruptError);
      expect((err as CheckpointCorruptError).meddl).toBe(true);
      expect((err as CheckpointCorruptError).file).toBe(join(paths[2], file));
      expect((err as Error).message).toMatch(message);
      const reported: string[] = [];
      mgr.onCorrupt = (e) => reported.push(e.file);
      const before = tf.memory().numTensors;
      const latest = await mgr.latestValid();
      expect(latest?.info.step).toBe(2);
      expect(latest?.path).toBe(paths[1]);
      expect(latest?.skipped?.map((s) => s.path)).toEqual([paths[2]]);
      expect(reported).toEqual([join(paths[2], file)]);
      disposeCheckpoint(latest!);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('a new save after a corrupt newest checkpoint goes on top and never overwrites a good one', async () => {
    const { mgr, paths } = await threeCheckpoints();
    truncateSync(join(paths[2], 'model.safetensors'), 3);
    const saved = await mgr.save(small(4), { epoch: 0, step: 4, metrics: {} });
    expect(saved.record.seq).toBe(4);
    const latest = await mgr.latestValid();
    expect(latest?.info.step).toBe(4);
    disposeCheckpoint(latest!);
    for (const p of paths.slice(0, 2)) disposeCheckpoint(await mgr.load(p));
  });

  it('resume() refuses when checkpoints exist but none verifies', async () => {
    const { mgr, paths } = await threeCheckpoints();
    for (const p of paths) unlinkSync(join(p, 'manifest.json'));
    await expect(mgr.resume()).rejects.toThrow(/none of its 3 checkpoint\(s\) verifies/);
  });
});

describe('write failures surface clearly and leave earlier checkpoints intact', () => {
  it('a checkpoint directory under a regular file (ENOTDIR) is a CheckpointError naming it', () => {
    const file = join(root, 'plain-file');
    writeFileSync(file, 'x');
    const err = (() => {
      try {
        new CheckpointManager(join(file, 'checkpoints'), {});
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).code).toBe('ENOTDIR');
    expect((err as Error).message).toContain(join(file, 'checkpoints'));
  });

  it('when the directory disappears under a running manager, save and saveAsync fail with the OS code', async () => {
    const dir = fresh();
    const mgr = new CheckpointManager(dir, {});
    await mgr.save(small(1), { epoch: 0, step: 1, metrics: {} });
    const keep = join(root, 'moved-away');
    execFileSync('mv', [dir, keep]);
    writeFileSync(dir, 'now a file');
    await expect(mgr.save(small(2), { epoch: 0, step: 2, metrics: {} })).rejects.toMatchObject({
      name: 'CheckpointError',
      code: 'ENOTDIR',
    });
    await mgr.saveAsync(small(3), { epoch: 0, step: 3, metrics: {} }); // the copy succeeds
    const flushed = await mgr.flush().catch((e: unknown) => e);
    expect(flushed).toBeInstanceOf(CheckpointError);
    expect((flushed as CheckpointError).code).toBe('ENOTDIR');
    expect((flushed as Error).message).toMatch(
      /cannot write checkpoint .*ckpt-000003-e0-s3: a parent of the checkpoint directory is missing/,
    );
    await mgr.close();
    const earlier = new CheckpointManager(keep, {});
    const c = await earlier.latestValid();
    expect(c?.info.step).toBe(1);
    disposeCheckpoint(c!);
  });

  const isRoot = process.getuid?.() === 0;
  describe.runIf(!isRoot)('permissions (skipped when running as root, which ignores file modes)', () => {
    it('a read-only checkpoint directory gives EACCES and keeps the earlier checkpoint', async () => {
      const dir = fresh();
      const mgr = new CheckpointManager(dir, {});
      await mgr.save(small(1), { epoch: 0, step: 1, metrics: {} });
      chmodSync(dir, 0o555);
      try {
        await expect(mgr.save(small(2), { epoch: 0, step: 2, metrics: {} })).rejects.toMatchObject({
          code: 'EACCES',
        });
      } finally {
        chmodSync(dir, 0o755);
      }
      const c = await mgr.latestValid();
      expect(c?.info.step).toBe(1);
      disposeCheckpoint(c!);
    });
  });

  // A real full disk: a 256 KiB tmpfs. Needs the right to mount (root on Linux); skipped elsewhere.
  const mountPoint = join(tmpdir(), `meddl-enospc-${process.pid}`);
  const canMount = (() => {
    if (process.platform !== 'linux' || !isRoot) return false;
    mkdirSync(mountPoint, { recursive: true });
    const ok =
      spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint], { stdio: 'ignore' })
        .status === 0;
    if (ok) spawnSync('umount', [mountPoint]);
    return ok;
  })();
  describe.runIf(canMount)('a full disk (tmpfs; needs permission to mount)', () => {
    it('ENOSPC fails the save with a clear message, removes the partial write, keeps the earlier checkpoint', async () => {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint]);
      try {
        const mgr = new CheckpointManager(join(mountPoint, 'checkpoints'), { keepLast: 5 });
        await mgr.save(small(1), { epoch: 0, step: 1, metrics: {} });
        const rng = new Generator(1);
        const big = { dtype: 'F32' as const, shape: [128, 1024], data: rng.normalArray(128 * 1024) }; // 512 KiB
        const err = await mgr
          .save({ model: { big }, state: {} }, { epoch: 0, step: 2, metrics: {} })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CheckpointError);
        expect((err as CheckpointError).code).toBe('ENOSPC');
        expect((err as Error).message).toMatch(
          /cannot write checkpoint .*: the disk is full .*earlier checkpoints are untouched/,
        );
        expect(readdirSync(join(mountPoint, 'checkpoints')).filter((e) => e.startsWith('.tmp-'))).toEqual([]);
        const c = await mgr.latestValid();
        expect(c?.info.step).toBe(1);
        expect(Array.from(c!.model.w.dataSync())).toEqual([1, -1]);
        disposeCheckpoint(c!);
      } finally {
        execFileSync('umount', [mountPoint]);
        rmSync(mountPoint, { recursive: true, force: true });
      }
    });
  });
  afterAll(() => {
    if (existsSync(mountPoint) && statSync(mountPoint).isDirectory() && !canMount)
      rmSync(mountPoint, { recursive: true, force: true });
  });
});

it('serializeSafetensors output is what the manager stores (model file bytes match)', async () => {
  const dir = fresh();
  const mgr = new CheckpointManager(dir, {});
  const payload = small(3);
  const saved = await mgr.save(payload, { epoch: 2, step: 7, metrics: {} });
  const expected = serializeSafetensors(payload.model, { format: 'meddl', epoch: '2', step: '7' });
  expect(readFileSync(join(saved.path, 'model.safetensors')).equals(expected)).toBe(true);
});
