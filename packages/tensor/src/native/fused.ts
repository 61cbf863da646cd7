import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon';
import { outArray, outTensor, rawValues } from './pool';

// Fused kernels of the native backend: each replaces a chain of small tfjs kernels (and their
// gradients) by one native call, which cuts both the arithmetic passes over memory and tfjs's
// per-kernel engine/tape overhead. They exist only on the native backend: callers check
// `fusedKernelsActive()` and otherwise use the composed tfjs ops (the reference numerics; the
// LayerNorm forward and the Adam step are bit-identical to them on the native backend, GELU and the
// gradients agree within float tolerance).

/** tfjs kernel names of the fused kernels (registered on the native backend only). */
export const FUSED_KERNELS = {
  layerNorm: 'MeddlLayerNorm',
  layerNormGrad: 'MeddlLayerNormGrad',
  gelu: 'MeddlGelu',
  geluGrad: 'MeddlGeluGrad',
  softmax: 'MeddlSoftmax',
  softmaxGrad: 'MeddlSoftmaxGrad',
  adam: 'MeddlAdam',
} as const;

type TensorInfo = tf.TensorInfo;

/** The tfjs backend name fused kernels are registered for (set by the provider). */
let nativeName: string | null = null;

function values(backend: MathBackendCPU, t: TensorInfo, what: string): Float32Array {
  const v = rawValues(backend, t.dataId);
  if (t.dtype === 'float32' && (v instanceof Uint8Array || v instanceof Int32Array))
    return Float32Array.from(v);
  if (t.dtype !== 'float32' || !(v instanceof Float32Array)) {
    throw new TypeError(`${what}: expected a float32 tensor, got ${t.dtype}`);
  }
  return v;
}

/** Kernel functions of the fused kernels, keyed by tfjs kernel name. */
export function fusedKernels(addon: NativeAddon, backendName: string): Map<string, tf.KernelFunc> {
  nativeName = backendName;
  const k = new Map<string, tf.KernelFunc>();
  k.set(FUSED_KERNELS.layerNorm, ({ inputs, attrs, backend }) => {
    const b = backend as MathBackendCPU;
    const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
    const { eps } = attrs as unknown as { eps: number };
    const xv = values(b, x, 'layerNorm x');
    const cols = gamma.shape.reduce((p, q) => p * q, 1);
    const rows = cols > 0 ? xv.length / cols : 0;
    const y = outArray(xv.length);
    const mean = outArray(rows);
    const rstd = outArray(rows);
    if (rows > 0)
      addon.layerNorm(
        xv,
        values(b, gamma, 'layerNorm gamma'),
        values(b, beta, 'layerNorm beta'),
        y,
        mean,
        rstd,
        rows,
        cols,
        eps,
      );
    return [outTensor(b, x.shape, y), outTensor(b, [rows], mean), outTensor(b, [rows], rstd)];
  });
  k.set(FUSED_KERNELS.layerNormGrad, ({ inputs, backend }) => {
    const b = backend as MathBackendCPU;
    const { dy, x, gamma, mean, rstd } = inputs as Record<string, TensorInfo>;
    const xv = values(b, x, 'layerNormGrad x');
    const cols = gamma.shape.reduce((p, q) => p * q, 1);
    const rows = mean.shape[0];
    const dx = outArray(xv.length);
    const dg = outArray(cols);
    const db = outArray(cols);
    dg.fill(0);
    db.fill(0);
    if (rows > 0)
      addon.layerNormGrad(
        values(b, dy, 'layerNormGrad dy'),
        xv,
        values(b, gamma, 'layerNormGrad gamma'),
        values(b, mean, 'layerNormGrad mean'),
        values(b, rstd, 'layerNormGrad rstd'),
        dx,
        dg,
        db,
        rows,
        cols,
      );
    return [outTensor(b, x.shape, dx), outTensor(b, gamma.shape, dg), outTensor(b, gamma.shape, db)];
  });
  k.set(FUSED_KERNELS.gelu, ({ inputs, backend }) => {
    const b = backend as MathBackendCPU;
    const { x } = inputs as { x: TensorInfo };
    const xv = values(b, x, 'gelu x');
    const out = outArray(xv.length);
    addon.gelu(xv, out);
    return outTensor(b, x.shape, out);
  });
  k.set(FUSED_KERNELS.geluGrad, ({ inputs, backend }) => {
    const b = backend as MathBackendCPU;
    const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
    const xv = values(b, x, 'geluGrad x');
    const out = outArray(xv.length);
    addon.geluGrad(values(b, dy, 'geluGrad dy'), xv, out);
    return outTensor(b, x.shape, out);
  });
  k.set(FUSED_KERNELS.softmax, ({ inputs, backend }) => {
    const b = backend as MathBackendCPU;
    const { logits } = inputs as { logits: TensorInfo };
    const xv = values(b, logits, 'softmax logits');
    const cols = logits.shape[logits.shape.length - 1];
    const out = outArray(xv.length);
    if (cols > 0) addon.softmax(xv, out, xv.length / cols, cols);
    return outTensor(b, logits.shape, out);
  });
  k.set(FUSED_KERNELS.softmaxGrad, ({ inputs, backend }) => {
    const b = backend as MathBackendCPU;
    const { y, dy } = inputs as { y: TensorInfo; dy: TensorInfo };
    const yv = values(b, y, 'softmaxGrad y');
    const cols = y.shape[y.shape.length - 1];
    const out = outArray(yv.length);
    if (cols > 0) addon.softmaxGrad(yv, values(b, dy, 'softmaxGrad dy'), out, yv.length / cols, cols);
    return outTensor(b, y.shape, out);
  });
  k.set(FUSED_KERNELS.adam, ({ inputs, attrs, backend }) => {
    const b = backend as MathBackendCPU;
    const { param, grad, m, v } = inputs as Record<string, TensorInfo | undefined>;
    const a = attrs as unknown as AdamHyper & { step: number };
    const pv = values(b, param as TensorInfo, 'adam param');
    const gv = values(b, grad as TensorInfo, 'adam grad');
    if (gv.length !== pv.length) throw new RangeError('adam: grad and param sizes differ');
    const first = !m || !v;
    const mv = first ? pv : values(b, m, 'adam exp_avg');
    const vv = first ? pv : values(b, v, 'adam exp_avg_sq');
    const po = outArray(pv.length);
    const mo = outArray(pv.length);
    const vo = outArray(pv.length);
    const hp = Float64Array.of(a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, a.step, a.decoupled ? 1 : 0);
    if (pv.length > 0) addon.adam(pv, gv, mv, vv, po, mo, vo, hp, first);
    const shape = (param as TensorInfo).shape;
    return [outTensor(b, shape, po), outTensor(b, shape, mo), outTensor(b, shape, vo)];
  });
  return k;
}

let gradientsRegistered = false;

/** Gradients of the fused forward kernels (global in tfjs, keyed by the unique kernel names). */
export function registerFusedGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  tf.registerGradient({
    kernelName: FUSED_KERNELS.layerNorm,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x, gamma, mean, rstd] = saved;
      // One kernel computes all three gradients, eagerly: tfjs runs each input's gradient
      // closure inside its own tidy, which would dispose outputs computed for the others.
      const [dx, dgamma, dbeta] = tf.engine().runKernel(FUSED_KERNELS.layerNormGrad, {
        dy,
        x,
        gamma,
        mean,
        rstd,
      }) as tf.Tensor[];
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    },
  });
  tf.registerGradient({
    kernelName: FUSED_KERNELS.gelu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({
      x: () =>
        tf.engine().runKernel(FUSED_KERNELS.geluGrad, { dy: dy as tf.Tensor, x: saved[0] }) as tf.Tensor,
    }),
  });
  tf.registerGradient({
    kernelName: FUSED_KERNELS.softmax,
    outputsToSave: [true],
    gradFunc: (dy, saved) => ({
      logits: () =>
        tf.engine().runKernel(FUSED_KERNELS.softmaxGrad, { y: saved[0], dy: dy as tf.Tensor }) as tf.Tensor,
    }),
  });
}

/** Whether the fused kernels can run: the active tfjs backend is the native one. */
export function fusedKernelsActive(): boolean {
  return nativeName !== null && tf.getBackend() === nativeName;
}

function requireActive(what: string): void {
  if (!fusedKernelsActive()) {
    throw new Error(`${what}: fused kernels need the native backend (check fusedKernelsActive() first)`);
  }
}

/**
 * LayerNorm over the trailing dims of `gamma`'s shape (x's last dims must equal it), biased
 * variance, in one native kernel, with a one-kernel gradient for x, gamma and beta.
 * torch.nn.functional.layer_norm semantics; native backend only.
 */
export function fusedLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  requireActive('fusedLayerNorm');
  const out = tf.engine().runKernel(FUSED_KERNELS.layerNorm, { x, gamma, beta }, {
    eps,
  } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return out[0];
}

/** Exact (erf) GELU in one native kernel, with a one-kernel gradient; native backend only. */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  requireActive('fusedGelu');
  return tf.engine().runKernel(FUSED_KERNELS.gelu, { x }) as tf.Tensor;
}

/**
 * Softmax over the last axis whose gradient is one native kernel (y·(dy − Σ dy·y)) instead of
 * tfjs's four; native backend only.
 */
export function fusedSoftmax(logits: tf.Tensor): tf.Tensor {
  requireActive('fusedSoftmax');
  return tf.engine().runKernel(FUSED_KERNELS.softmax, { logits }) as tf.Tensor;
}

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW's decoupled decay (p *= 1 − lr·wd) instead of Adam's L2 term added to the gradient. */
  decoupled: boolean;
}

/**
 * One torch.optim.Adam / AdamW step for one parameter in one native kernel: returns the new
 * parameter, exp_avg and exp_avg_sq (bit-identical to @meddl/trainer's composed update).
 * `m`/`v` null on the first step. Native backend only; no gradient.
 */
export function fusedAdamStep(
  param: tf.Tensor,
  grad: tf.Tensor,
  m: tf.Tensor | null,
  v: tf.Tensor | null,
  hyper: AdamHyper,
  step: number,
): { param: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  requireActive('fusedAdamStep');
  const inputs: tf.NamedTensorMap = { param, grad };
  if (m && v) {
    inputs.m = m;
    inputs.v = v;
  }
  const [p, mo, vo] = tf.engine().runKernel(FUSED_KERNELS.adam, inputs, {
    ...hyper,
    step,
  } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { param: p, m: mo, v: vo };
}
