import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LaunchError } from './errors';
import { TCPStoreServer } from './store';

export interface LaunchOptions {
  /** The worker command and its arguments (e.g. ['meddl', 'train', 'tissuebert', '--config', 'x.yaml']). */
  command: string[];
  nprocPerNode: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  /** Restarts of the whole group after a worker dies or hangs (default 0). */
  maxRestarts?: number;
  /** A worker whose heartbeat file is older than this is hung (seconds; default: no hang detection). */
  hangTimeoutSec?: number;
  /** Seconds between SIGTERM and SIGKILL when stopping a group (default 5). */
  stopGraceSec?: number;
  /** GPU ids, one per local rank, exported as CUDA_VISIBLE_DEVICES (default: not set). */
  gpus?: string[];
  env?: NodeJS.ProcessEnv;
  /** Where launcher messages go (default: stderr with a [meddl launch] prefix). */
  log?: (message: string) => void;
}

export interface LaunchResult {
  /** Group restarts that happened. */
  restarts: number;
  /** Set when the launcher received SIGINT/SIGTERM: it was forwarded and nothing was restarted. */
  interrupted?: NodeJS.Signals;
  /** Exit codes of the last attempt's local workers. */
  exitCodes: number[];
}

interface Failure {
  localRank: number;
  rank: number;
  reason: string;
}

/**
 * torchrun for meddl: starts `nprocPerNode` workers on this node with torchrun's environment
 * (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT,
 * TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS). Node 0 hosts the rendezvous store for the
 * whole job, so it survives worker restarts; each restart uses a fresh key namespace
 * (MEDDL_RDZV_PREFIX). When a worker exits non-zero, is killed, or its heartbeat goes stale, the
 * launcher stops the local group and starts it again (workers are expected to resume from their
 * newest valid checkpoint), up to `maxRestarts` times.
 */
export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  const nproc = options.nprocPerNode;
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  const masterAddr = options.masterAddr ?? '127.0.0.1';
  const masterPort = options.masterPort ?? 29500;
  const maxRestarts = options.maxRestarts ?? 0;
  const log = options.log ?? ((m: string) => process.stderr.write(`[meddl launch] ${m}\n`));
  if (!Number.isInteger(nproc) || nproc < 1)
    throw new LaunchError(`--nproc-per-node must be a positive integer, got ${nproc}`);
  if (!Number.isInteger(nnodes) || nnodes < 1)
    throw new LaunchError(`--nnodes must be a positive integer, got ${nnodes}`);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes)
    throw new LaunchError(`--node-rank ${nodeRank} is outside 0..${nnodes - 1}`);
  if (options.command.length === 0) throw new LaunchError('no worker command given (put it after --)');
  if (options.gpus && options.gpus.length < nproc)
    throw new LaunchError(`${nproc} workers per node but only ${options.gpus.length} GPUs listed`);
  const worldSize = nproc * nnodes;
  const store = nodeRank === 0 ? await TCPStoreServer.listen(masterPort) : null;
  const beatDir = mkdtempSync(join(tmpdir(), 'meddl-launch-'));
  let current: ChildProcess[] = [];
  let interrupted: NodeJS.Signals | undefined;
  const forward = (sig: NodeJS.Signals) => {
    interrupted = sig;
    log(`received ${sig}; forwarding to workers (they may save an emergency checkpoint)`);
    for (const c of current) if (c.exitCode === null) c.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      const children = Array.from({ length: nproc }, (_, localRank) => {
        const rank = nodeRank * nproc + localRank;
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          ...options.env,
          RANK: String(rank),
          LOCAL_RANK: String(localRank),
          WORLD_SIZE: String(worldSize),
          LOCAL_WORLD_SIZE: String(nproc),
          GROUP_RANK: String(nodeRank),
          MASTER_ADDR: masterAddr,
          MASTER_PORT: String(masterPort),
          TORCHELASTIC_RESTART_COUNT: String(attempt),
          TORCHELASTIC_MAX_RESTARTS: String(maxRestarts),
          MEDDL_STORE_HOSTED: '1',
          MEDDL_RDZV_PREFIX: `attempt${attempt}/`,
          MEDDL_HEARTBEAT_FILE: join(beatDir, `rank-${rank}-attempt-${attempt}`),
        };
        if (options.gpus) env.CUDA_VISIBLE_DEVICES = options.gpus[localRank];
        return spawn(options.command[0], options.command.slice(1), { env, stdio: 'inherit' });
      });
      current = children;
      const failure = await watch(
        children,
        nodeRank * nproc,
        options.hangTimeoutSec,
        beatDir,
        attempt,
        started,
      );
      if (!failure) return { restarts: attempt, exitCodes: children.map((c) => c.exitCode ?? 0) };
      if (interrupted) {
        // Workers exit on the forwarded signal (the trainer exits 130 after its emergency checkpoint): no restart.
        await stopAll(children, options.stopGraceSec ?? 30, null);
        return { restarts: attempt, interrupted, exitCodes: children.map((c) => c.exitCode ?? -1) };
      }
      log(`worker rank ${failure.rank} (local ${failure.localRank}) ${failure.reason}; stopping the group`);
      await stopAll(children, options.stopGraceSec ?? 5);
      if (attempt >= maxRestarts)
        throw new LaunchError(
          `worker rank ${failure.rank} ${failure.reason}; giving up after ${attempt} restart${attempt === 1 ? '' : 's'} (--max-restarts ${maxRestarts})`,
        );
      log(`restarting all ${nproc} local workers (restart ${attempt + 1} of ${maxRestarts})`);
    }
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    await store?.close();
    rmSync(beatDir, { recursive: true, force: true });
  }
}

/** Resolves null when every worker exited 0, else the first failure (exit, signal or stale heartbeat). */
function watch(
  children: ChildProcess[],
  firstRank: number,
  hangTimeoutSec: number | undefined,
  beatDir: string,
  attempt: number,
  started: number,
): Promise<Failure | null> {
  return new Promise((resolve) => {
    let remaining = children.length;
    let done = false;
    const finish = (f: Failure | null) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(f);
    };
    children.forEach((c, localRank) => {
      const rank = firstRank + localRank;
      c.on('error', (e) => finish({ localRank, rank, reason: `could not start: ${e.message}` }));
      c.on('exit', (code, signal) => {
        if (code === 0) {
          if (--remaining === 0) finish(null);
        } else
          finish({
            localRank,
            rank,
            reason: signal ? `was killed by ${signal}` : `exited with code ${code}`,
          });
      });
    });
    const timer = setInterval(
      () => {
        if (hangTimeoutSec === undefined) return;
        const now = Date.now();
        children.forEach((c, localRank) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const rank = firstRank + localRank;
          let last: number;
          try {
            last = statSync(join(beatDir, `rank-${rank}-attempt-${attempt}`)).mtimeMs;
          } catch {
            last = started; // no beat yet: count from the start
          }
          if (now - last > hangTimeoutSec * 1000)
            finish({ localRank, rank, reason: `sent no heartbeat for ${hangTimeoutSec} s (hung)` });
        });
      },
      Math.min(1000, Math.max(50, ((hangTimeoutSec ?? 1) * 1000) / 4)),
    );
  });
}

/** Sends `first` (none: they were already signalled) and SIGKILLs what is still alive after the grace period. */
async function stopAll(
  children: ChildProcess[],
  graceSec: number,
  first: NodeJS.Signals | null = 'SIGTERM',
): Promise<void> {
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    alive.map(
      (c) =>
        new Promise<void>((resolve) => {
          const kill = setTimeout(() => c.kill('SIGKILL'), graceSec * 1000);
          c.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          if (first) c.kill(first);
        }),
    ),
  );
}
