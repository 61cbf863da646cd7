import * as tf from '@tensorflow/tfjs-core';
import { setNativeBackendProvider } from '../backend';
import { loadAddon, packageVersion } from './addon';
import { fusedKernels, registerFusedGradients } from './fused';
import { NATIVE_KERNELS, nativeKernels } from './kernels';
import { NativeCpuBackend } from './pool';

/** The name the native backend is registered under in tfjs. */
export const NATIVE_TFJS_NAME = 'meddl-native';

let registered = false;

/**
 * Registers the native backend with tfjs: every kernel of tfjs's cpu backend, copied under
 * NATIVE_TFJS_NAME, with the hot ones replaced by the addon's. Throws with the reason when
 * the addon is not available.
 */
export function registerNativeBackend(): {
  tfjsName: string;
  version: string;
  threads: number;
  simd: boolean;
} {
  const { addon, reason } = loadAddon();
  if (!addon) throw new Error(reason);
  if (!registered) {
    const cpuConfigs = tf.getKernelsForBackend('cpu');
    const cpu = new Map(cpuConfigs.map((k) => [k.kernelName, k.kernelFunc]));
    const native = nativeKernels(addon, cpu);
    tf.registerBackend(
      NATIVE_TFJS_NAME,
      () => {
        const backend = new NativeCpuBackend();
        // The cpu backend advertises tfjs-node on first use; meddl info reports the backend instead.
        (backend as unknown as { firstUse: boolean }).firstUse = false;
        return backend;
      },
      0,
    );
    for (const k of cpuConfigs) {
      if (native.has(k.kernelName)) continue;
      tf.registerKernel({ ...k, backendName: NATIVE_TFJS_NAME });
    }
    for (const [kernelName, kernelFunc] of native) {
      tf.registerKernel({ kernelName, backendName: NATIVE_TFJS_NAME, kernelFunc });
    }
    for (const [kernelName, kernelFunc] of fusedKernels(addon, NATIVE_TFJS_NAME)) {
      tf.registerKernel({ kernelName, backendName: NATIVE_TFJS_NAME, kernelFunc });
    }
    registerFusedGradients();
    registered = true;
  }
  return { tfjsName: NATIVE_TFJS_NAME, version: packageVersion(), threads: addon.getThreads(), simd: true };
}

/** Status of the native addon: whether it loaded, why not, threads and the BLAS build. */
export function nativeStatus(): {
  available: boolean;
  reason: string;
  threads: number;
  blas: string;
  kernels: string[];
} {
  const { addon, reason } = loadAddon();
  if (!addon) return { available: false, reason, threads: 0, blas: '', kernels: [] };
  if (NATIVE_KERNELS.length === 0) nativeKernels(addon, new Map());
  return {
    available: true,
    reason: '',
    threads: addon.getThreads(),
    blas: addon.blasConfig().trim(),
    kernels: [...NATIVE_KERNELS],
  };
}

/** Sets the threads of the native kernels and of OpenBLAS (MEDDL_THREADS sets the default). */
export function setNativeThreads(n: number): number {
  const { addon, reason } = loadAddon();
  if (!addon) throw new Error(`native backend unavailable: ${reason}`);
  return addon.setThreads(Math.max(1, Math.floor(n)));
}

const status = loadAddon();
setNativeBackendProvider(
  status.addon ? { register: async () => registerNativeBackend() } : null,
  status.reason || undefined,
);
