import { DistributedError } from './errors';

/** Where this process sits in the job, in torchrun's terms. */
export interface DistributedEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** How many times the launcher has restarted the group (TORCHELASTIC_RESTART_COUNT). */
  restartCount: number;
  source: 'torchrun' | 'slurm' | 'kubernetes' | 'single';
}

export const DEFAULT_MASTER_PORT = 29500;

function int(env: NodeJS.ProcessEnv, name: string, fallback?: number): number {
  const v = env[name];
  if (v === undefined || v === '') {
    if (fallback === undefined) throw new DistributedError(`environment variable ${name} is not set`);
    return fallback;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new DistributedError(`environment variable ${name}='${v}' is not a non-negative integer`);
  return n;
}

/**
 * The first host of a SLURM node list: `node[01-04,07],gpu3` → `node01`, `a,b` → `a`
 * (the compressed hostlist format of `scontrol show hostnames`).
 */
export function firstHostOfNodelist(list: string): string {
  const s = list.trim();
  if (s === '') throw new DistributedError('SLURM_JOB_NODELIST is empty');
  let depth = 0;
  let end = s.length;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '[') depth++;
    else if (s[i] === ']') depth--;
    else if (s[i] === ',' && depth === 0) {
      end = i;
      break;
    }
  }
  const first = s.slice(0, end);
  const m = /^([^[]*)\[([^\]]+)\](.*)$/.exec(first);
  if (!m) return first;
  const range = m[2].split(',')[0].split('-')[0];
  return `${m[1]}${range}${m[3].replace(/\[[^\]]*\]/g, (r) => r.slice(1).split(/[-,\]]/)[0])}`;
}

/**
 * Reads the rank layout from the environment: torchrun's contract (RANK, WORLD_SIZE,
 * LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, set by `meddl launch`), else SLURM
 * (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, first host of SLURM_JOB_NODELIST), else a
 * Kubernetes Indexed Job (JOB_COMPLETION_INDEX as the rank, WORLD_SIZE and MASTER_ADDR from the
 * manifest), else a single process.
 */
export function resolveDistributedEnv(env: NodeJS.ProcessEnv = process.env): DistributedEnv {
  const masterPort = int(env, 'MASTER_PORT', DEFAULT_MASTER_PORT);
  const restartCount = int(env, 'TORCHELASTIC_RESTART_COUNT', 0);
  let out: DistributedEnv;
  if (env.RANK !== undefined && env.WORLD_SIZE !== undefined) {
    const localWorldSize = int(env, 'LOCAL_WORLD_SIZE', int(env, 'WORLD_SIZE'));
    out = {
      rank: int(env, 'RANK'),
      worldSize: int(env, 'WORLD_SIZE'),
      localRank: int(env, 'LOCAL_RANK', 0),
      localWorldSize,
      nodeRank: int(env, 'GROUP_RANK', Math.floor(int(env, 'RANK') / Math.max(1, localWorldSize))),
      masterAddr: env.MASTER_ADDR ?? '127.0.0.1',
      masterPort,
      restartCount,
      source: 'torchrun',
    };
  } else if (env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined) {
    const localWorldSize = int(
      env,
      'SLURM_NTASKS_PER_NODE',
      Number.parseInt(env.SLURM_TASKS_PER_NODE ?? '1', 10),
    );
    out = {
      rank: int(env, 'SLURM_PROCID'),
      worldSize: int(env, 'SLURM_NTASKS'),
      localRank: int(env, 'SLURM_LOCALID', 0),
      localWorldSize,
      nodeRank: int(env, 'SLURM_NODEID', 0),
      masterAddr: env.MASTER_ADDR ?? firstHostOfNodelist(env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST ?? ''),
      masterPort,
      restartCount,
      source: 'slurm',
    };
  } else if (env.JOB_COMPLETION_INDEX !== undefined && env.WORLD_SIZE !== undefined) {
    const rank = int(env, 'JOB_COMPLETION_INDEX');
    if (env.MASTER_ADDR === undefined)
      throw new DistributedError(
        'a Kubernetes Indexed Job needs MASTER_ADDR (the index-0 pod behind the headless Service)',
      );
    out = {
      rank,
      worldSize: int(env, 'WORLD_SIZE'),
      localRank: 0,
      localWorldSize: 1,
      nodeRank: rank,
      masterAddr: env.MASTER_ADDR,
      masterPort,
      restartCount,
      source: 'kubernetes',
    };
  } else {
    out = {
      rank: 0,
      worldSize: 1,
      localRank: 0,
      localWorldSize: 1,
      nodeRank: 0,
      masterAddr: env.MASTER_ADDR ?? '127.0.0.1',
      masterPort,
      restartCount,
      source: 'single',
    };
  }
  if (out.rank >= out.worldSize)
    throw new DistributedError(
      `rank ${out.rank} is not below the world size ${out.worldSize} (from ${out.source} variables)`,
    );
  return out;
}
