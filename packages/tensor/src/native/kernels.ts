import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './addon';
import { outArray, outTensor, rawValues } from './pool';

type TensorInfo = tf.TensorInfo;
type KernelFunc = tf.KernelFunc;
type Args = Parameters<KernelFunc>[0];

/** Kernels the native backend implements itself; every other kernel is tfjs's cpu kernel. */
export const NATIVE_KERNELS: string[] = [];

const BINARY: Record<string, number> = {
  Add: 0,
  Sub: 1,
  Multiply: 2,
  RealDiv: 3,
  Maximum: 4,
  Minimum: 5,
  SquaredDifference: 6,
};
const UNARY: Record<string, number> = {
  Exp: 0,
  Log: 1,
  Tanh: 2,
  Sigmoid: 3,
  Relu: 4,
  Relu6: 5,
  Erf: 6,
  Sqrt: 7,
  Rsqrt: 8,
  Neg: 9,
  Abs: 10,
  Square: 11,
  Reciprocal: 12,
  Elu: 13,
  LeakyRelu: 14,
  Step: 15,
  Sin: 16,
  Cos: 17,
};
const REDUCE: Record<string, number> = { Sum: 0, Mean: 1, Max: 2, Min: 3, Prod: 4 };
const ACTIVATION: Record<string, number> = {
  relu: UNARY.Relu,
  relu6: UNARY.Relu6,
  elu: UNARY.Elu,
  sigmoid: UNARY.Sigmoid,
  leakyrelu: UNARY.LeakyRelu,
};

function f32(backend: MathBackendCPU, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const v = rawValues(backend, t.dataId);
  if (v instanceof Float32Array) return v;
  // A float32 tensor that shares another dtype's storage (the cpu backend's Cast from bool or
  // int32 keeps the Uint8Array/Int32Array): convert for this call rather than take the slow
  // generic cpu kernel.
  if (v instanceof Uint8Array || v instanceof Int32Array) return Float32Array.from(v);
  return null;
}

function i32(backend: MathBackendCPU, t: TensorInfo): Int32Array | null {
  if (t.dtype !== 'int32') return null;
  const v = rawValues(backend, t.dataId);
  return v instanceof Int32Array ? v : null;
}

/** float32 or int32 values (4-byte elements that data-movement kernels copy bit for bit). */
function word(backend: MathBackendCPU, t: TensorInfo): Float32Array | Int32Array | null {
  return f32(backend, t) ?? i32(backend, t);
}

function alloc(like: Float32Array | Int32Array, n: number): Float32Array | Int32Array {
  return like instanceof Float32Array ? outArray(n) : new Int32Array(n);
}

/** A pooled output array holding a copy of `v`. */
function copyOut(v: ArrayLike<number>): Float32Array {
  const out = outArray(v.length);
  out.set(v);
  return out;
}

/** A tensor for a data-movement kernel's output (pooled when float32). */
function wordTensor(
  backend: MathBackendCPU,
  shape: number[],
  dtype: tf.DataType,
  values: Float32Array | Int32Array,
) {
  return values instanceof Float32Array
    ? outTensor(backend, shape, values)
    : backend.makeTensorInfo(shape, dtype, values);
}

function padShape(shape: number[], rank: number): Int32Array {
  const out = new Int32Array(rank).fill(1);
  out.set(shape, rank - shape.length);
  return out;
}

/** Builds the native kernel table; `cpu` maps kernel names to tfjs's cpu kernel functions (the fallbacks). */
export function nativeKernels(addon: NativeAddon, cpu: Map<string, KernelFunc>): Map<string, KernelFunc> {
  const kernels = new Map<string, KernelFunc>();
  const fallback = (name: string, args: Args) => {
    const f = cpu.get(name);
    if (!f) throw new Error(`native backend: no cpu kernel '${name}' to fall back to`);
    return f(args);
  };

  function binaryInto(
    op: number,
    a: Float32Array,
    aShape: number[],
    b: Float32Array,
    bShape: number[],
    out: Float32Array,
    outShape: number[],
  ): void {
    const rank = Math.max(outShape.length, 1);
    addon.binary(op, a, padShape(aShape, rank), b, padShape(bShape, rank), out, padShape(outShape, rank));
  }

  function matmul(
    backend: MathBackendCPU,
    a: TensorInfo,
    b: TensorInfo,
    transposeA: boolean,
    transposeB: boolean,
  ): TensorInfo | null {
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const k2 = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (k !== k2) return null;
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    const batch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
    const nb = tf.util.sizeFromShape(batch);
    const aOff = new Int32Array(nb);
    const bOff = new Int32Array(nb);
    const pa = padShape(batchA, batch.length);
    const pb = padShape(batchB, batch.length);
    for (let i = 0; i < nb; i++) {
      let rem = i;
      let ia = 0;
      let ib = 0;
      let sa = 1;
      let sb = 1;
      for (let d = batch.length - 1; d >= 0; d--) {
        const idx = rem % batch[d];
        rem = Math.floor(rem / batch[d]);
        if (pa[d] !== 1) ia += idx * sa;
        if (pb[d] !== 1) ib += idx * sb;
        sa *= pa[d];
        sb *= pb[d];
      }
      aOff[i] = ia * m * k;
      bOff[i] = ib * k * n;
    }
    const out = outArray(nb * m * n);
    if (out.length > 0) addon.sgemmBatch(av, bv, out, m, n, k, transposeA, transposeB, aOff, bOff);
    return outTensor(backend, [...batch, m, n], out);
  }

  // Cast to float32 from bool/int32 materializes a Float32Array (the cpu kernel shares the
  // source's Uint8Array/Int32Array, which every float kernel here would have to convert).
  kernels.set('Cast', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype } = args.attrs as { dtype: string };
    const v = rawValues(backend, x.dataId);
    if (dtype === 'float32' && (x.dtype === 'bool' || x.dtype === 'int32')) {
      if (v instanceof Uint8Array || v instanceof Int32Array) return outTensor(backend, x.shape, copyOut(v));
    }
    return fallback('Cast', args);
  });

  kernels.set('BatchMatMul', (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    return (
      matmul(args.backend as MathBackendCPU, a, b, transposeA, transposeB) ?? fallback('BatchMatMul', args)
    );
  });

  kernels.set('_FusedMatMul', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { a, b, bias } = args.inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo };
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as {
      transposeA: boolean;
      transposeB: boolean;
      activation: string;
      leakyreluAlpha?: number;
    };
    const act = activation ?? 'linear';
    if (act !== 'linear' && ACTIVATION[act] === undefined) return fallback('_FusedMatMul', args);
    const biasV = bias ? f32(backend, bias) : null;
    if (bias && !biasV) return fallback('_FusedMatMul', args);
    const res = matmul(backend, a, b, transposeA, transposeB);
    if (!res) return fallback('_FusedMatMul', args);
    const out = rawValues(backend, res.dataId) as Float32Array;
    if (bias && biasV) {
      const shape = tf.backend_util.assertAndGetBroadcastShape(res.shape, bias.shape);
      if (!tf.util.arraysEqual(shape, res.shape)) {
        backend.disposeIntermediateTensorInfo(res);
        return fallback('_FusedMatMul', args);
      }
      binaryInto(BINARY.Add, out, res.shape, biasV, bias.shape, out, res.shape);
    }
    if (act !== 'linear') addon.unary(ACTIVATION[act], out, out, leakyreluAlpha ?? 0.2);
    return res;
  });

  for (const [name, op] of Object.entries(BINARY)) {
    kernels.set(name, (args) => {
      const backend = args.backend as MathBackendCPU;
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const av = f32(backend, a);
      const bv = f32(backend, b);
      if (!av || !bv) return fallback(name, args);
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const out = outArray(tf.util.sizeFromShape(shape));
      if (out.length > 0) binaryInto(op, av, a.shape, bv, b.shape, out, shape);
      return outTensor(backend, shape, out);
    });
  }

  kernels.set('AddN', (args) => {
    const backend = args.backend as MathBackendCPU;
    const tensors = args.inputs as unknown as TensorInfo[];
    const vals = tensors.map((t) => f32(backend, t));
    if (
      vals.some((v) => v === null) ||
      tensors.some((t) => !tf.util.arraysEqual(t.shape, tensors[0].shape))
    ) {
      return fallback('AddN', args);
    }
    const shape = tensors[0].shape;
    const out = copyOut(vals[0] as Float32Array);
    for (let i = 1; i < vals.length; i++)
      binaryInto(BINARY.Add, out, shape, vals[i] as Float32Array, shape, out, shape);
    return outTensor(backend, shape, out);
  });

  for (const [name, op] of Object.entries(UNARY)) {
    kernels.set(name, (args) => {
      const backend = args.backend as MathBackendCPU;
      const { x } = args.inputs as { x: TensorInfo };
      const xv = f32(backend, x);
      if (!xv) return fallback(name, args);
      const alpha = (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0;
      const out = outArray(xv.length);
      addon.unary(op, xv, out, alpha);
      return outTensor(backend, x.shape, out);
    });
  }

  function transposeValues(
    xv: Float32Array | Int32Array,
    shape: number[],
    perm: number[],
  ): { values: Float32Array | Int32Array; shape: number[] } {
    const out = alloc(xv, xv.length);
    addon.transpose(xv, Int32Array.from(shape), Int32Array.from(perm), out);
    return { values: out, shape: perm.map((p) => shape[p]) };
  }

  kernels.set('Transpose', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const { perm } = args.attrs as { perm: number[] };
    const xv = word(backend, x);
    if (!xv) return fallback('Transpose', args);
    const r = transposeValues(xv, x.shape, perm);
    return wordTensor(backend, r.shape, x.dtype, r.values);
  });

  /** Copies the box [begin, begin + size) of x natively; null when x is not float32/int32. */
  function sliceNative(
    backend: MathBackendCPU,
    x: TensorInfo,
    begin: number[],
    size: number[],
  ): TensorInfo | null {
    const xv = word(backend, x);
    if (!xv) return null;
    const n = tf.util.sizeFromShape(size);
    const out = alloc(xv, n);
    if (n > 0) addon.slice(xv, Int32Array.from(x.shape), Int32Array.from(begin), Int32Array.from(size), out);
    return wordTensor(backend, size, x.dtype, out);
  }

  // Non-contiguous slices (e.g. [:, k:, :]) go native; contiguous ones stay with the cpu kernel,
  // which returns a zero-copy view.
  kernels.set('Slice', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const { begin, size } = args.attrs as { begin: number | number[]; size?: number | number[] };
    const [b, sz] = tf.slice_util.parseSliceParams(x, begin, size);
    tf.slice_util.assertParamsValid(x, b, sz);
    if (tf.slice_util.isSliceContinous(x.shape, b, sz)) return fallback('Slice', args);
    return sliceNative(backend, x, b, sz) ?? fallback('Slice', args);
  });

  // SplitV (the gradient of concat) as one slice per piece.
  kernels.set('SplitV', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    if (!word(backend, x)) return fallback('SplitV', args);
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array(x.shape.length).fill(0);
    return sizes.map((piece) => {
      const size = [...x.shape];
      size[ax] = piece;
      const out = tf.slice_util.isSliceContinous(x.shape, begin, size)
        ? (fallback('Slice', { inputs: { x }, backend, attrs: { begin: [...begin], size } }) as TensorInfo)
        : (sliceNative(backend, x, [...begin], size) as TensorInfo);
      begin[ax] += piece;
      return out;
    });
  });

  for (const [name, op] of Object.entries(REDUCE)) {
    kernels.set(name, (args) => {
      const backend = args.backend as MathBackendCPU;
      const { x } = args.inputs as { x: TensorInfo };
      const attrs = args.attrs as {
        axis?: number | number[];
        reductionIndices?: number | number[];
        keepDims: boolean;
      };
      const xv = f32(backend, x);
      if (!xv || xv.length === 0) return fallback(name, args);
      const axisAttr = attrs.axis ?? attrs.reductionIndices ?? null;
      const rank = x.shape.length;
      let axes = tf.util.parseAxisParam(axisAttr as number | number[], x.shape);
      const sorted = [...axes].sort((p, q) => p - q);
      const contiguous = sorted.every((a, i) => i === 0 || a === sorted[i - 1] + 1);
      if (contiguous && sorted.length > 0 && sorted[sorted.length - 1] < rank - 1) {
        // Reduce over a block of middle axes in place: [outer, red, inner] -> [outer, inner].
        const first = sorted[0];
        const last = sorted[sorted.length - 1];
        const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
        const red = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
        const inner = tf.util.sizeFromShape(x.shape.slice(last + 1));
        if (red === 0) return fallback(name, args);
        const out = outArray(outer * inner);
        addon.reduceMiddle(op, xv, out, outer, red, inner);
        const outShape = x.shape.filter((_, d) => !sorted.includes(d));
        const finalShape = attrs.keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, sorted) : outShape;
        return outTensor(backend, finalShape, out);
      }
      let values: Float32Array = xv;
      let shape = x.shape;
      const perm = tf.backend_util.getAxesPermutation(axes, rank);
      if (perm != null) {
        const t = transposeValues(xv, x.shape, perm);
        values = t.values as Float32Array;
        shape = t.shape;
        axes = tf.backend_util.getInnerMostAxes(axes.length, rank);
      }
      const [outShape, reduceShape] = tf.backend_util.computeOutAndReduceShapes(shape, axes);
      const inner = tf.util.sizeFromShape(reduceShape);
      const outer = tf.util.sizeFromShape(outShape);
      const out = outArray(outer);
      if (inner === 0) return fallback(name, args);
      addon.reduce(op, values, out, outer, inner);
      const finalShape = attrs.keepDims
        ? tf.backend_util.expandShapeToKeepDim(
            outShape,
            tf.util.parseAxisParam(axisAttr as number | number[], x.shape),
          )
        : outShape;
      return outTensor(backend, finalShape, out);
    });
  }

  kernels.set('Softmax', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { logits } = args.inputs as { logits: TensorInfo };
    const { dim } = args.attrs as { dim: number };
    const xv = f32(backend, logits);
    const rank = logits.shape.length;
    if (!xv || rank === 0 || (dim !== -1 && dim !== rank - 1)) return fallback('Softmax', args);
    const cols = logits.shape[rank - 1];
    const out = outArray(xv.length);
    if (cols > 0) addon.softmax(xv, out, xv.length / cols, cols);
    return outTensor(backend, logits.shape, out);
  });

  kernels.set('GatherV2', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number };
    const xv = word(backend, x);
    const iv = i32(backend, indices);
    if (!xv || !iv || (batchDims ?? 0) !== 0) return fallback('GatherV2', args);
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const outer = tf.util.sizeFromShape(x.shape.slice(0, ax));
    const inner = tf.util.sizeFromShape(x.shape.slice(ax + 1));
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    const out = alloc(xv, outer * iv.length * inner);
    if (out.length > 0 && addon.gather(xv, iv, out, outer, x.shape[ax], inner) >= 0) {
      return fallback('GatherV2', args); // the cpu kernel raises tfjs's out-of-range error
    }
    return wordTensor(backend, outShape, x.dtype, out);
  });

  kernels.set('UnsortedSegmentSum', (args) => {
    const backend = args.backend as MathBackendCPU;
    const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = args.attrs as { numSegments: number };
    const xv = f32(backend, x);
    const ids = i32(backend, segmentIds);
    if (!xv || !ids || segmentIds.shape.length !== 1 || x.shape.length < 1 || x.shape[0] !== ids.length) {
      return fallback('UnsortedSegmentSum', args);
    }
    const inner = tf.util.sizeFromShape(x.shape.slice(1));
    const out = outArray(numSegments * inner);
    addon.segmentSum(xv, ids, out, ids.length, inner, numSegments);
    return outTensor(backend, [numSegments, ...x.shape.slice(1)], out);
  });

  type ConvInfo = {
    batchSize: number;
    inDepth?: number;
    inHeight: number;
    inWidth: number;
    inChannels: number;
    outDepth?: number;
    outHeight: number;
    outWidth: number;
    outChannels: number;
    filterDepth?: number;
    filterHeight: number;
    filterWidth: number;
    strideDepth?: number;
    strideHeight: number;
    strideWidth: number;
    dilationDepth?: number;
    dilationHeight: number;
    dilationWidth: number;
    padInfo: { front?: number; top: number; left: number };
    dataFormat: string;
  };
  const convParams = (c: ConvInfo) =>
    Int32Array.from([
      c.batchSize,
      c.inDepth ?? 1,
      c.inHeight,
      c.inWidth,
      c.inChannels,
      c.filterDepth ?? 1,
      c.filterHeight,
      c.filterWidth,
      c.outChannels,
      c.outDepth ?? 1,
      c.outHeight,
      c.outWidth,
      c.strideDepth ?? 1,
      c.strideHeight,
      c.strideWidth,
      c.dilationDepth ?? 1,
      c.dilationHeight,
      c.dilationWidth,
      c.padInfo.front ?? 0,
      c.padInfo.top,
      c.padInfo.left,
    ]);
  type ConvAttrs = {
    strides: number | number[];
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat?: 'NHWC' | 'NCHW' | 'NDHWC' | 'NCDHW';
    dilations?: number | number[];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape?: number[];
    filterShape?: number[];
  };
  const channelsLast = (f?: string) => f === undefined || f === 'NHWC' || f === 'NDHWC';
  /** dy has exactly the output shape the convolution geometry implies (else the cpu kernel handles it). */
  const dyMatches = (dy: TensorInfo, c: ConvInfo, three: boolean) =>
    tf.util.arraysEqual(
      dy.shape,
      three
        ? [c.batchSize, c.outDepth ?? 1, c.outHeight, c.outWidth, c.outChannels]
        : [c.batchSize, c.outHeight, c.outWidth, c.outChannels],
    );
  const convInfo2d = (xShape: number[], fShape: number[], a: ConvAttrs) =>
    tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      fShape as [number, number, number, number],
      a.strides as number,
      (a.dilations ?? 1) as number,
      a.pad,
      a.dimRoundingMode,
      false,
      'channelsLast',
    ) as unknown as ConvInfo;
  const convInfo3d = (xShape: number[], fShape: number[], a: ConvAttrs) =>
    tf.backend_util.computeConv3DInfo(
      xShape as [number, number, number, number, number],
      fShape as [number, number, number, number, number],
      a.strides as number,
      (a.dilations ?? 1) as number,
      a.pad as 'valid' | 'same',
    ) as unknown as ConvInfo;

  for (const [name, three] of [
    ['Conv2D', false],
    ['Conv3D', true],
  ] as const) {
    kernels.set(name, (args) => {
      const backend = args.backend as MathBackendCPU;
      const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
      const attrs = args.attrs as unknown as ConvAttrs;
      const xv = f32(backend, x);
      const fv = f32(backend, filter);
      if (!xv || !fv || !channelsLast(attrs.dataFormat)) return fallback(name, args);
      const c = three ? convInfo3d(x.shape, filter.shape, attrs) : convInfo2d(x.shape, filter.shape, attrs);
      const outShape = three
        ? [c.batchSize, c.outDepth ?? 1, c.outHeight, c.outWidth, c.outChannels]
        : [c.batchSize, c.outHeight, c.outWidth, c.outChannels];
      const out = outArray(tf.util.sizeFromShape(outShape));
      if (out.length > 0) addon.conv(0, xv, fv, out, convParams(c));
      return outTensor(backend, outShape, out);
    });
  }

  for (const [name, three] of [
    ['Conv2DBackpropInput', false],
    ['Conv3DBackpropInputV2', true],
  ] as const) {
    kernels.set(name, (args) => {
      const backend = args.backend as MathBackendCPU;
      const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
      const attrs = args.attrs as unknown as ConvAttrs;
      const dyv = f32(backend, dy);
      const fv = f32(backend, filter);
      const inputShape = attrs.inputShape as number[];
      if (!dyv || !fv || !channelsLast(attrs.dataFormat)) return fallback(name, args);
      const c = three
        ? convInfo3d(inputShape, filter.shape, { ...attrs, dilations: 1 })
        : convInfo2d(inputShape, filter.shape, { ...attrs, dilations: 1 });
      if (!dyMatches(dy, c, three)) return fallback(name, args);
      const out = outArray(tf.util.sizeFromShape(inputShape));
      if (out.length > 0 && dyv.length > 0) addon.conv(1, dyv, fv, out, convParams(c));
      else out.fill(0);
      return outTensor(backend, inputShape, out);
    });
  }

  for (const [name, three] of [
    ['Conv2DBackpropFilter', false],
    ['Conv3DBackpropFilterV2', true],
  ] as const) {
    kernels.set(name, (args) => {
      const backend = args.backend as MathBackendCPU;
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as unknown as ConvAttrs;
      const xv = f32(backend, x);
      const dyv = f32(backend, dy);
      const filterShape = attrs.filterShape as number[];
      if (!xv || !dyv || !channelsLast(attrs.dataFormat)) return fallback(name, args);
      const c = three
        ? convInfo3d(x.shape, filterShape, { ...attrs, dilations: 1 })
        : convInfo2d(x.shape, filterShape, { ...attrs, dilations: 1 });
      if (!dyMatches(dy, c, three)) return fallback(name, args);
      const out = outArray(tf.util.sizeFromShape(filterShape));
      if (out.length > 0) addon.conv(2, xv, dyv, out, convParams(c));
      return outTensor(backend, filterShape, out);
    });
  }

  NATIVE_KERNELS.splice(0, NATIVE_KERNELS.length, ...kernels.keys());
  return kernels;
}
