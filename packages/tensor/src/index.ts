export * as tf from '@tensorflow/tfjs-core';
export {
  AUTO_ORDER,
  BACKENDS,
  type BackendInfo,
  type BackendName,
  backendInfo,
  cudaVisible,
  currentBackend,
  initBackend,
  type MachineInfo,
  machineInfo,
  type NativeBackendProvider,
  setNativeBackendProvider,
} from './backend';
export { BackendError } from './errors';
export { formatBytes, type MemoryReport, memoryReport, tensorLeak } from './memory';
export type { NativeAddon } from './native/addon';
export {
  type AdamHyper,
  FUSED_KERNELS,
  fusedAdamStep,
  fusedGelu,
  fusedKernelsActive,
  fusedLayerNorm,
  fusedSoftmax,
} from './native/fused';
export { NATIVE_KERNELS } from './native/kernels';
export { nativePoolStats } from './native/pool';
export { formatKernelProfile, type KernelProfile, type KernelTiming, profileKernels } from './native/profile';
export { NATIVE_TFJS_NAME, nativeStatus, registerNativeBackend, setNativeThreads } from './native/provider';
export { defaultRng, Generator, getSeed, setSeed } from './random';
export { noGrad } from './tape';
