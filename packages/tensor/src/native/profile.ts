import * as tf from '@tensorflow/tfjs-core';

export interface KernelTiming {
  /** tfjs kernel name. */
  name: string;
  calls: number;
  /** Summed kernel time in milliseconds. */
  ms: number;
}

export interface KernelProfile {
  /** Per kernel name, slowest first. */
  kernels: KernelTiming[];
  /** Sum of kernel times, ms. */
  kernelMs: number;
  /** Wall time of fn, ms (includes profiling overhead). */
  wallMs: number;
}

/**
 * Runs fn under tf.profile and sums the kernel times per kernel name, so the next hot spot
 * of, for example, a training step is visible. fn's returned tensors are disposed.
 */
export async function profileKernels(
  fn: () => tf.TensorContainer | Promise<tf.TensorContainer>,
): Promise<KernelProfile> {
  const t0 = performance.now();
  const info = await tf.profile(fn as () => tf.TensorContainer);
  const wallMs = performance.now() - t0;
  const byName = new Map<string, KernelTiming>();
  let kernelMs = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    kernelMs += ms;
    const entry = byName.get(k.name) ?? { name: k.name, calls: 0, ms: 0 };
    entry.calls++;
    entry.ms += ms;
    byName.set(k.name, entry);
  }
  const result = [...byName.values()].sort((a, b) => b.ms - a.ms);
  return { kernels: result, kernelMs, wallMs };
}

/** A fixed-width table of a profile, one kernel per line, with its share of kernel time. */
export function formatKernelProfile(p: KernelProfile, top = 20): string {
  const lines = [`${'kernel'.padEnd(28)}${'calls'.padStart(7)}${'ms'.padStart(10)}${'share'.padStart(8)}`];
  for (const k of p.kernels.slice(0, top)) {
    const share = p.kernelMs > 0 ? (100 * k.ms) / p.kernelMs : 0;
    lines.push(
      `${k.name.padEnd(28)}${String(k.calls).padStart(7)}${k.ms.toFixed(1).padStart(10)}${`${share.toFixed(1)}%`.padStart(8)}`,
    );
  }
  lines.push(`kernel total ${p.kernelMs.toFixed(1)} ms, wall ${p.wallMs.toFixed(1)} ms`);
  return lines.join('\n');
}
