import { existsSync } from 'node:fs';
import { DEFAULT_MASTER_PORT, firstHostOfNodelist } from './env';
import { LaunchError, QueueError } from './errors';
import { launch } from './launcher';
import { BatchQueue, type JobHandler, runWorker } from './queue';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface DistributedCommand {
  path: string[];
  description: string;
  arguments?: Array<{ name: string; description: string; required?: boolean }>;
  options?: Array<{ flags: string; description: string; default?: string | number | boolean }>;
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}

function intOption(options: Record<string, unknown>, name: string, flag: string, fallback: number): number {
  const v = options[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new LaunchError(`${flag}: expected a non-negative integer, got '${String(v)}'`);
  return n;
}

/**
 * One GPU per local worker. `--gpus 0,1` is explicit; `auto` (the default) splits the ids of
 * CUDA_VISIBLE_DEVICES when it lists at least one per worker, else uses 0..n−1 when as many NVIDIA
 * devices exist (/dev/nvidiaN), else leaves CUDA_VISIBLE_DEVICES alone (CPU backends).
 */
export function gpuAssignment(
  flag: unknown,
  nproc: number,
  env: NodeJS.ProcessEnv,
  deviceExists: (path: string) => boolean = existsSync,
): string[] | undefined {
  if (flag === 'none') return undefined;
  if (typeof flag === 'string' && flag !== '' && flag !== 'auto') return flag.split(',').map((g) => g.trim());
  const visible = env.CUDA_VISIBLE_DEVICES?.split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '' && g !== '-1');
  if (visible && visible.length >= nproc && nproc > 0) return visible.slice(0, nproc);
  if (visible !== undefined) return undefined; // an explicit mask with too few ids: respect it
  const ids = Array.from({ length: nproc }, (_, i) => String(i));
  return nproc > 0 && ids.every((i) => deviceExists(`/dev/nvidia${i}`)) ? ids : undefined;
}

/**
 * `meddl launch` arguments → launch() options. Unset flags fall back to the scheduler's variables:
 * SLURM (SLURM_NNODES, SLURM_NODEID, first host of SLURM_JOB_NODELIST) or a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX as the node rank), then MASTER_ADDR / MASTER_PORT, then single-node defaults.
 * A worker command starting with `meddl` runs this same CLI (node + its entry script).
 */
export function launchOptionsFromArgs(
  args: string[],
  options: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
  self: string[] = [process.execPath, process.argv[1]],
) {
  if (args.length === 0)
    throw new LaunchError('no worker command: use `meddl launch [options] -- <command>`');
  const nodelist = env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
  const nnodes = intOption(options, 'nnodes', '--nnodes', Number(env.SLURM_NNODES ?? env.MEDDL_NNODES ?? 1));
  const nodeRank = intOption(
    options,
    'nodeRank',
    '--node-rank',
    Number(env.SLURM_NODEID ?? env.JOB_COMPLETION_INDEX ?? env.MEDDL_NODE_RANK ?? 0),
  );
  const masterAddr =
    (options.masterAddr as string | undefined) ??
    env.MASTER_ADDR ??
    (nodelist ? firstHostOfNodelist(nodelist) : '127.0.0.1');
  const nprocPerNode = intOption(options, 'nprocPerNode', '--nproc-per-node', 1);
  const gpus = gpuAssignment(options.gpus, nprocPerNode, env);
  return {
    command: args[0] === 'meddl' ? [...self, ...args.slice(1)] : args,
    nprocPerNode,
    nnodes,
    nodeRank,
    masterAddr,
    masterPort: intOption(
      options,
      'masterPort',
      '--master-port',
      Number(env.MASTER_PORT ?? DEFAULT_MASTER_PORT),
    ),
    maxRestarts: intOption(options, 'maxRestarts', '--max-restarts', 0),
    hangTimeoutSec: options.hangTimeout === undefined ? undefined : Number(options.hangTimeout),
    gpus,
  };
}

function requiredString(options: Record<string, unknown>, name: string, flag: string): string {
  const v = options[name];
  if (typeof v !== 'string' || v === '') throw new QueueError(`${flag} is required`);
  return v;
}

/** Loads `handlers` (kind → JobHandler) from an ES module path or URL. */
export async function loadHandlers(module: string): Promise<Record<string, JobHandler>> {
  const { pathToFileURL } = await import('node:url');
  const { resolve } = await import('node:path');
  const url = /^[a-z]+:/.test(module) ? module : pathToFileURL(resolve(module)).href;
  let mod: { handlers?: Record<string, JobHandler> };
  try {
    mod = await import(url);
  } catch (e) {
    throw new QueueError(`--handlers ${module}: cannot import it (${(e as Error).message})`);
  }
  if (!mod.handlers || typeof mod.handlers !== 'object')
    throw new QueueError(`--handlers ${module}: the module has no 'handlers' export (kind → async function)`);
  return mod.handlers;
}

export function formatSummary(name: string, s: Awaited<ReturnType<BatchQueue['summary']>>): string {
  const lines = [
    `queue ${name}: ${s.completed} completed, ${s.failed} failed, ${s.active} running, ${s.waiting} waiting, ${s.delayed} backing off`,
  ];
  for (const f of s.failedItems)
    lines.push(`  FAILED ${f.id} (${f.kind}, ${f.attempts} attempts): ${f.reason}`);
  return `${lines.join('\n')}\n`;
}

export const commands: DistributedCommand[] = [
  {
    path: ['launch'],
    description:
      "Run a command data-parallel: N workers per node with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, …), restarting the group when a worker dies or hangs",
    arguments: [
      { name: 'command...', description: 'the worker command, after -- (e.g. -- meddl train tissuebert …)' },
    ],
    options: [
      { flags: '--nproc-per-node <n>', description: 'workers on this node (one per GPU)', default: 1 },
      { flags: '--nnodes <n>', description: 'nodes in the job (default: SLURM_NNODES or 1)' },
      {
        flags: '--node-rank <r>',
        description: 'this node (default: SLURM_NODEID, JOB_COMPLETION_INDEX or 0)',
      },
      {
        flags: '--master-addr <host>',
        description: 'node 0 (default: MASTER_ADDR, first SLURM host, 127.0.0.1)',
      },
      {
        flags: '--master-port <port>',
        description: `rendezvous port on node 0 (default ${DEFAULT_MASTER_PORT})`,
      },
      {
        flags: '--max-restarts <k>',
        description: 'restart the group up to k times after a failure',
        default: 0,
      },
      { flags: '--hang-timeout <s>', description: 'restart when a worker sends no heartbeat for s seconds' },
      {
        flags: '--gpus <ids>',
        description:
          "GPU ids, one per local worker (CUDA_VISIBLE_DEVICES); 'auto' splits the visible GPUs, 'none' leaves it unset",
        default: 'auto',
      },
    ],
    async run(args, options) {
      const r = await launch(launchOptionsFromArgs(args, options));
      if (r.interrupted) process.exitCode = 130;
      if (r.restarts > 0) process.stderr.write(`[meddl launch] finished after ${r.restarts} restart(s)\n`);
    },
  },
  {
    path: ['worker'],
    description:
      'Process batch jobs (preprocessing, features, inference) from a Redis queue until stopped; run any number, on any hosts',
    options: [
      { flags: '--queue <url>', description: 'redis://host:port[/db]' },
      { flags: '--name <queue>', description: 'queue name', default: 'meddl' },
      {
        flags: '--handlers <module>',
        description: 'ES module exporting `handlers` (job kind → async function)',
      },
      { flags: '--concurrency <n>', description: 'jobs in flight in this worker', default: 1 },
    ],
    async run(_args, options) {
      const url = requiredString(options, 'queue', '--queue');
      const name = String(options.name ?? 'meddl');
      const handlers = await loadHandlers(requiredString(options, 'handlers', '--handlers'));
      const worker = runWorker(url, name, handlers, { concurrency: Number(options.concurrency ?? 1) });
      worker.on('completed', (job) => process.stderr.write(`[meddl worker] done ${job.id}\n`));
      worker.on('failed', (job, err) =>
        process.stderr.write(
          `[meddl worker] ${job?.id} failed (attempt ${job?.attemptsMade}): ${err.message}\n`,
        ),
      );
      await new Promise<void>((resolve) => {
        const stop = () => void worker.close().then(resolve); // finishes the running jobs first
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    },
  },
  {
    path: ['queue', 'status'],
    description: 'Counts of a batch queue and every item that failed after all its retries',
    options: [
      { flags: '--queue <url>', description: 'redis://host:port[/db]' },
      { flags: '--name <queue>', description: 'queue name', default: 'meddl' },
      { flags: '--wait', description: 'wait until nothing is waiting or running' },
    ],
    async run(_args, options) {
      const name = String(options.name ?? 'meddl');
      const q = new BatchQueue(requiredString(options, 'queue', '--queue'), name);
      try {
        const s = options.wait ? await q.drained() : await q.summary();
        process.stdout.write(formatSummary(name, s));
        if (s.failed > 0) process.exitCode = 1;
      } finally {
        await q.close();
      }
    },
  },
];
