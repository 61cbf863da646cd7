import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxDiff, TINY, trainReference } from '../test/tiny-task';
import { LaunchError } from './errors';
import { launch } from './launcher';
import { freePort } from './test-utils';

const worker = join(new URL('.', import.meta.url).pathname, '../test/ddp-worker.ts');
const tmp = mkdtempSync(join(tmpdir(), 'meddl-launch-test-'));
const quiet = () => undefined;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('meddl launch', () => {
  it("exports torchrun's environment contract to every local worker", async () => {
    const out = mkdtempSync(join(tmp, 'env-'));
    const script =
      "require('fs').writeFileSync(require('path').join(process.env.OUT, 'env-' + process.env.RANK + '.json'), JSON.stringify(process.env))";
    const r = await launch({
      command: [process.execPath, '-e', script],
      nprocPerNode: 2,
      nnodes: 3,
      nodeRank: 1,
      masterAddr: '10.1.2.3',
      masterPort: 29511,
      gpus: ['4', '5'],
      env: { OUT: out },
      log: quiet,
    });
    expect(r).toEqual({ restarts: 0, exitCodes: [0, 0] });
    const envs = readdirSync(out)
      .sort()
      .map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')) as Record<string, string>);
    expect(
      envs.map((e) => [
        e.RANK,
        e.LOCAL_RANK,
        e.WORLD_SIZE,
        e.LOCAL_WORLD_SIZE,
        e.GROUP_RANK,
        e.CUDA_VISIBLE_DEVICES,
      ]),
    ).toEqual([
      ['2', '0', '6', '2', '1', '4'],
      ['3', '1', '6', '2', '1', '5'],
    ]);
    expect(envs[0].MASTER_ADDR).toBe('10.1.2.3');
    expect(envs[0].MASTER_PORT).toBe('29511');
    expect(envs[0].TORCHELASTIC_RESTART_COUNT).toBe('0');
  });

  it('gives up after --max-restarts with an error naming the failing rank', async () => {
    let starts = 0;
    const err = await launch({
      command: [process.execPath, '-e', "process.exit(process.env.RANK === '1' ? 7 : 0)"],
      nprocPerNode: 2,
      masterPort: await freePort(),
      maxRestarts: 1,
      log: (m) => void (m.startsWith('restarting') && starts++),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.message).toMatch(/worker rank 1 exited with code 7; giving up after 1 restart/);
    expect(starts).toBe(1);
    await expect(launch({ command: [], nprocPerNode: 1 })).rejects.toThrow(/no worker command/);
    // A worker that beats once and then stalls is declared hung and the group is stopped.
    const hung = await launch({
      command: [
        process.execPath,
        '-e',
        "require('fs').writeFileSync(process.env.MEDDL_HEARTBEAT_FILE, ''); setTimeout(() => {}, 60000)",
      ],
      nprocPerNode: 1,
      masterPort: await freePort(),
      hangTimeoutSec: 0.6,
      stopGraceSec: 1,
      log: quiet,
    }).catch((e) => e);
    expect(hung).toBeInstanceOf(LaunchError);
    expect(hung.message).toMatch(/worker rank 0 sent no heartbeat for 0.6 s \(hung\)/);
  });

  it('forwards SIGINT to the workers and does not restart them', async () => {
    const out = mkdtempSync(join(tmp, 'sigint-'));
    const script =
      "process.on('SIGINT', () => process.exit(130)); require('fs').writeFileSync(require('path').join(process.env.OUT, process.env.RANK), ''); setTimeout(() => {}, 60000)";
    const running = launch({
      command: [process.execPath, '-e', script],
      nprocPerNode: 2,
      masterPort: await freePort(),
      maxRestarts: 3,
      env: { OUT: out },
      log: quiet,
    });
    while (readdirSync(out).length < 2) await new Promise((r) => setTimeout(r, 20));
    process.emit('SIGINT', 'SIGINT'); // what the launcher's own process receives on Ctrl-C
    expect(await running).toEqual({ restarts: 0, interrupted: 'SIGINT', exitCodes: [130, 130] });
  });

  describe('elastic restart of a DDP job', () => {
    let reference: Record<string, number[]>;
    beforeAll(async () => {
      await initBackend();
      reference = await trainReference();
    });

    it('a worker dies mid-epoch → the group restarts, resumes from the newest checkpoint, ends at the uninterrupted weights', async () => {
      const out = mkdtempSync(join(tmp, 'elastic-'));
      const messages: string[] = [];
      const r = await launch({
        command: [process.execPath, '--import', 'tsx', worker],
        nprocPerNode: 2,
        masterPort: await freePort(),
        maxRestarts: 2,
        stopGraceSec: 2,
        env: { OUT_DIR: out, CKPT_DIR: join(out, 'ckpt'), FAULT: 'exit' },
        log: (m) => messages.push(m),
      });
      expect(r.restarts).toBe(1);
      expect(messages[0]).toMatch(/worker rank 1 .*exited with code 3/);
      const ranks = [0, 1].map((k) => JSON.parse(readFileSync(join(out, `rank${k}.json`), 'utf8')));
      for (const rank of ranks) {
        expect(rank.restartCount).toBe(1);
        expect(rank.resumedFrom).toMatch(/ckpt/); // resumed, not restarted from scratch
        expect(rank.steps).toBe((TINY.n / TINY.globalBatch) * TINY.epochs);
        const d = maxDiff(reference, rank.weights);
        console.info(
          `elastic restart (2 workers, rank 1 killed after step 5): max |w - w_ref| = ${d.toExponential(2)}`,
        );
        expect(d).toBeLessThan(1e-5);
      }
    });
  });
});

describe('launch command arguments', () => {
  it('falls back to SLURM and Kubernetes variables and runs `meddl …` workers with this CLI', async () => {
    const { launchOptionsFromArgs } = await import('./commands');
    const { firstHostOfNodelist, resolveDistributedEnv } = await import('./env');
    const slurm = { SLURM_NNODES: '4', SLURM_NODEID: '2', SLURM_JOB_NODELIST: 'gpu[07-10],login1' };
    const o = launchOptionsFromArgs(['meddl', 'train', 'x'], { nprocPerNode: '2' }, slurm, [
      'node',
      'cli.js',
    ]);
    expect(o).toMatchObject({
      nnodes: 4,
      nodeRank: 2,
      masterAddr: 'gpu07',
      nprocPerNode: 2,
      masterPort: 29500,
    });
    expect(o.command).toEqual(['node', 'cli.js', 'train', 'x']);
    const k8s = launchOptionsFromArgs(
      ['x'],
      { nnodes: '3' },
      { JOB_COMPLETION_INDEX: '1', MASTER_ADDR: 'job-0.svc' },
    );
    expect(k8s).toMatchObject({ nnodes: 3, nodeRank: 1, masterAddr: 'job-0.svc' });
    expect(() => launchOptionsFromArgs(['x'], { nprocPerNode: 'two' }, {})).toThrow(/--nproc-per-node/);
    const { gpuAssignment } = await import('./commands');
    expect(gpuAssignment('auto', 2, { CUDA_VISIBLE_DEVICES: '3,5,6' })).toEqual(['3', '5']);
    expect(gpuAssignment('auto', 4, { CUDA_VISIBLE_DEVICES: '3,5' })).toBeUndefined();
    expect(gpuAssignment('auto', 2, {}, (p) => p === '/dev/nvidia0' || p === '/dev/nvidia1')).toEqual([
      '0',
      '1',
    ]);
    expect(gpuAssignment('auto', 2, {}, () => false)).toBeUndefined();
    expect(gpuAssignment('2,3', 2, {})).toEqual(['2', '3']);
    expect(gpuAssignment('none', 2, { CUDA_VISIBLE_DEVICES: '0,1' })).toBeUndefined();
    expect(firstHostOfNodelist('a1,b2')).toBe('a1');
    expect(firstHostOfNodelist('rack[3-4]-n[10-12]')).toBe('rack3-n10');
    expect(
      resolveDistributedEnv({
        SLURM_PROCID: '5',
        SLURM_NTASKS: '8',
        SLURM_LOCALID: '1',
        SLURM_NTASKS_PER_NODE: '4',
        SLURM_NODEID: '1',
        SLURM_JOB_NODELIST: 'n[1-2]',
      }),
    ).toMatchObject({
      rank: 5,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 4,
      nodeRank: 1,
      masterAddr: 'n1',
      source: 'slurm',
    });
    expect(() => resolveDistributedEnv({ RANK: '4', WORLD_SIZE: '4' })).toThrow(/rank 4 is not below/);
    expect(resolveDistributedEnv({})).toMatchObject({ rank: 0, worldSize: 1, source: 'single' });
  });
});
