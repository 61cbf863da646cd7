import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { BackendError } from './errors';

/** Backends meddl knows, fastest first. */
export const BACKENDS = ['node-gpu', 'node', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendInfo {
  /** meddl's name for the backend. */
  name: BackendName;
  /** The name tfjs registered it under. */
  tfjsName: string;
  /** Version of the package that provides it. */
  version: string;
  tfjsVersion: string;
  /** Threads the backend computes with. */
  threads: number;
  simd: boolean;
  /** How the choice was made. */
  chosenBy: 'argument' | 'MEDDL_BACKEND' | 'auto';
  /** Backends tried and passed over, with why. */
  skipped: { name: BackendName; reason: string }[];
}

const require = createRequire(import.meta.url);
let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** True when a CUDA device node is visible and not hidden by CUDA_VISIBLE_DEVICES. */
export function cudaVisible(): boolean {
  const mask = process.env.CUDA_VISIBLE_DEVICES;
  if (mask !== undefined && (mask.trim() === '' || mask.trim() === '-1')) return false;
  return existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');
}

/** Optional native backend loader, filled in by the native kernels module when it is built. */
export interface NativeBackendProvider {
  /** Registers the backend with tfjs and returns its tfjs name, or throws with the reason. */
  register(): Promise<{ tfjsName: string; version: string; threads: number; simd: boolean }>;
}
let nativeProvider: NativeBackendProvider | null = null;
let nativeUnavailable = 'the native backend is not built (see docs/performance.md)';

export function setNativeBackendProvider(provider: NativeBackendProvider | null, reason?: string): void {
  nativeProvider = provider;
  if (reason) nativeUnavailable = reason;
}

interface Loaded {
  tfjsName: string;
  version: string;
  threads: number;
  simd: boolean;
}

async function load(name: BackendName): Promise<Loaded> {
  switch (name) {
    case 'node-gpu':
    case 'node': {
      if (name === 'node-gpu' && !cudaVisible()) throw new Error('no CUDA device is visible');
      const pkg = name === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      try {
        // A variable specifier keeps bundlers from trying to resolve the optional peer.
        const spec = pkg;
        await import(/* @vite-ignore */ spec);
      } catch (err) {
        throw new Error(
          `${pkg} is not installed or failed to load (${(err as Error).message.split('\n')[0]})`,
        );
      }
      return { tfjsName: 'tensorflow', version: packageVersion(pkg), threads: cpus().length, simd: true };
    }
    case 'native': {
      if (!nativeProvider) throw new Error(nativeUnavailable);
      return nativeProvider.register();
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
      return {
        tfjsName: 'wasm',
        version: packageVersion('@tensorflow/tfjs-backend-wasm'),
        threads: 0, // filled after setBackend, when the module has started
        simd,
        ...{ getThreads: wasm.getThreadsCount },
      } as Loaded;
    }
    case 'cpu':
      return {
        tfjsName: 'cpu',
        version: packageVersion('@tensorflow/tfjs-backend-cpu'),
        threads: 1,
        simd: false,
      };
  }
}

/**
 * The automatic order: the GPU build when a CUDA device is visible, then libtensorflow, then
 * meddl's native CPU kernels, then wasm, then the pure-JS cpu backend. wasm comes before cpu
 * because a transformer training step measured 4-6x faster on it (docs/nn.md, "Backend choice
 * for training"); its one gap met so far, the UnsortedSegmentSum gradient of tf.gather, is
 * avoided by @meddl/nn's Embedding.
 */
export const AUTO_ORDER: readonly BackendName[] = ['node-gpu', 'node', 'native', 'wasm', 'cpu'];

function parseName(value: string, source: string): BackendName {
  const v = value.trim().toLowerCase();
  if ((BACKENDS as readonly string[]).includes(v)) return v as BackendName;
  throw new BackendError(`${source}: unknown backend '${value}'; expected one of ${BACKENDS.join(', ')}`);
}

/**
 * Chooses and initializes the compute backend. An explicit name wins, then MEDDL_BACKEND,
 * then the first backend of AUTO_ORDER that loads. An explicitly requested backend that
 * cannot load is an error; in automatic mode the choice falls through quietly.
 */
export async function initBackend(name?: BackendName | 'auto'): Promise<BackendInfo> {
  const env = process.env.MEDDL_BACKEND;
  let requested: BackendName | null = null;
  let chosenBy: BackendInfo['chosenBy'] = 'auto';
  if (name && name !== 'auto') {
    requested = parseName(name, 'initBackend()');
    chosenBy = 'argument';
  } else if (!name && env && env.trim() !== '' && env.trim() !== 'auto') {
    requested = parseName(env, 'MEDDL_BACKEND');
    chosenBy = 'MEDDL_BACKEND';
  }
  if (current && (requested === null || current.name === requested)) return current;
  if (pending && requested === null) return pending;

  const run = async (): Promise<BackendInfo> => {
    const candidates = requested ? [requested] : AUTO_ORDER;
    const skipped: BackendInfo['skipped'] = [];
    for (const candidate of candidates) {
      try {
        const loaded = (await load(candidate)) as Loaded & { getThreads?: () => number };
        const ok = await tf.setBackend(loaded.tfjsName);
        if (!ok) throw new Error(`tfjs could not initialize the '${loaded.tfjsName}' backend`);
        await tf.ready();
        if (loaded.tfjsName === 'cpu') {
          // The cpu backend prints an advert for tfjs-node on first use; meddl info says it instead.
          (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
        }
        const threads = loaded.getThreads ? loaded.getThreads() : loaded.threads;
        current = {
          name: candidate,
          tfjsName: loaded.tfjsName,
          version: loaded.version,
          tfjsVersion: tf.version_core,
          threads,
          simd: loaded.simd,
          chosenBy,
          skipped,
        };
        return current;
      } catch (err) {
        const reason = (err as Error).message;
        if (requested) {
          throw new BackendError(
            `Backend '${candidate}' (requested by ${chosenBy === 'argument' ? 'initBackend()' : 'MEDDL_BACKEND'}) is unavailable: ${reason}`,
          );
        }
        skipped.push({ name: candidate, reason });
      }
    }
    throw new BackendError(
      `No backend could be loaded: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
    );
  };
  pending = run().finally(() => {
    pending = null;
  });
  return pending;
}

/** What initBackend chose; initializes the automatic choice on first use. */
export async function backendInfo(): Promise<BackendInfo> {
  return current ?? initBackend();
}

/** The chosen backend, or null before initBackend. */
export function currentBackend(): BackendInfo | null {
  return current;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  let model = c[0]?.model ?? 'unknown';
  if (model === 'unknown' && existsSync('/proc/cpuinfo')) {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1];
  }
  return {
    cpuModel: model.trim(),
    cores: c.length,
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}
