/**
 * A small ONNX graph builder: graph inputs with named dynamic axes, weights as initializers named
 * by their state-dict keys, nodes in topological order (the order they are added), graph outputs.
 * `toBytes()` encodes a ModelProto through protobufjs and the onnx.proto subset in ./proto.
 */

import type { Module } from '@meddl/nn';
import type { tf } from '@meddl/tensor';
import { OnnxExportError } from './errors';
import { ATTR_TYPE, encodeModelProto, ONNX_DTYPE, type OnnxDType } from './proto';

/** A value in the graph: the name of a graph input, initializer or node output. */
export interface OnnxValue {
  readonly name: string;
  /** Element type, where the builder knows it (graph inputs, casts, comparisons, constants). */
  readonly dtype?: OnnxDType;
}

/** A dimension: a fixed size, or a name shared by every axis of the same (dynamic) size. */
export type Dim = number | string;

export interface TensorSignature {
  name: string;
  dtype: OnnxDType;
  dims: Dim[];
}

/** Forces a number attribute to be written as FLOAT even when it is integral (e.g. alpha = 1). */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export const floatAttr = (value: number): FloatAttr => new FloatAttr(value);

/**
 * Attribute values: integral numbers are INT, other numbers FLOAT (wrap in `floatAttr` to force
 * FLOAT), number arrays INTS unless one is non-integral (then FLOATS), strings STRING.
 */
export type AttrValue = number | FloatAttr | number[] | FloatAttr[] | string | string[];

export const MIN_OPSET = 17;
export const MAX_OPSET = 21;
/** ONNX IR version paired with each default-domain opset (onnx/helper.py VERSION_TABLE). */
const IR_FOR_OPSET: Record<number, number> = { 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

export interface GraphBuilderOptions {
  /** Default-domain opset (17–21, default 17). Opset 20 adds a native Gelu. */
  opset?: number;
  graphName?: string;
}

export interface ModelOptions {
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  modelVersion?: number;
  /** Written to ModelProto.metadata_props (readable from onnxruntime's session metadata). */
  metadata?: Record<string, string>;
}

type Data = Float32Array | Int32Array | BigInt64Array | Uint8Array;

interface Initializer {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  data: Data;
}

interface NodeRecord {
  op_type: string;
  name: string;
  input: string[];
  output: string[];
  attribute: Record<string, unknown>[];
  domain?: string;
}

export class GraphBuilder {
  readonly opset: number;
  readonly graphName: string;
  private readonly inputs: TensorSignature[] = [];
  private readonly outputs: TensorSignature[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly nodes: NodeRecord[] = [];
  private readonly names = new Set<string>();
  private readonly tensorNames = new Map<tf.Tensor, string>();
  private readonly tensorValues = new Map<tf.Tensor, OnnxValue>();
  private readonly constants = new Map<string, OnnxValue>();
  private readonly scopes: string[] = [];
  private counter = 0;

  constructor(options: GraphBuilderOptions = {}) {
    this.opset = options.opset ?? MIN_OPSET;
    if (!Number.isInteger(this.opset) || this.opset < MIN_OPSET || this.opset > MAX_OPSET) {
      throw new OnnxExportError(`opset ${this.opset} is not supported (use ${MIN_OPSET}–${MAX_OPSET})`);
    }
    this.graphName = options.graphName ?? 'meddl';
  }

  /**
   * Names the parameters and buffers of `module` (and its descendants) by their state-dict keys,
   * so `param(variable)` writes them as initializers under the names a PyTorch user expects.
   */
  bindModule(module: Module, prefix = ''): this {
    for (const [k, v] of module.namedParameters(prefix)) this.tensorNames.set(v, k);
    for (const [k, v] of module.namedBuffers(prefix)) this.tensorNames.set(v, k);
    return this;
  }

  /** Runs `fn` with node names prefixed by `scope` (e.g. the module's state-dict path). */
  scope<T>(scope: string, fn: () => T): T {
    if (!scope) return fn();
    this.scopes.push(scope);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private unique(base: string): string {
    let name = base;
    while (this.names.has(name)) name = `${base}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  private scoped(base: string): string {
    return this.scopes.length ? `${this.scopes.join('/')}/${base}` : base;
  }

  // ---- graph inputs and outputs ----------------------------------------------------------

  /** A graph input. String dims are dynamic axes (dim_param), e.g. ['batch', 'sequence']. */
  input(name: string, dtype: OnnxDType, dims: Dim[]): OnnxValue {
    if (this.names.has(name)) throw new OnnxExportError(`graph input name '${name}' is already used`);
    this.names.add(name);
    this.inputs.push({ name, dtype, dims: [...dims] });
    return { name, dtype };
  }

  /** Marks `value` as a graph output called `name` (an Identity node renames it if needed). */
  output(value: OnnxValue, name: string, dtype: OnnxDType, dims: Dim[]): void {
    if (this.outputs.some((o) => o.name === name))
      throw new OnnxExportError(`graph output name '${name}' is already used`);
    if (value.name !== name) {
      if (this.names.has(name)) throw new OnnxExportError(`graph output name '${name}' is already used`);
      this.names.add(name);
      this.nodes.push({
        op_type: 'Identity',
        name: this.unique(this.scoped(`output_${name}`)),
        input: [value.name],
        output: [name],
        attribute: [],
      });
    }
    this.outputs.push({ name, dtype, dims: [...dims] });
  }

  // ---- initializers ------------------------------------------------------------------------

  /**
   * A weight as an initializer. A tensor bound with `bindModule` is named by its state-dict key;
   * otherwise by `nameHint`. The same tensor always maps to the same initializer.
   */
  param(tensor: tf.Tensor, nameHint?: string): OnnxValue {
    const seen = this.tensorValues.get(tensor);
    if (seen) return seen;
    const base = this.tensorNames.get(tensor) ?? nameHint ?? this.scoped('weight');
    const dtype: OnnxDType =
      tensor.dtype === 'int32' ? 'int32' : tensor.dtype === 'bool' ? 'bool' : 'float32';
    const raw = tensor.dataSync();
    const data =
      dtype === 'float32'
        ? Float32Array.from(raw as Float32Array)
        : dtype === 'int32'
          ? Int32Array.from(raw as Int32Array)
          : Uint8Array.from(raw as Uint8Array);
    const value = this.initializer(base, dtype, tensor.shape, data);
    this.tensorValues.set(tensor, value);
    return value;
  }

  /** A named initializer from raw data (row-major). */
  initializer(name: string, dtype: OnnxDType, dims: readonly number[], data: Data): OnnxValue {
    const size = dims.reduce((a, d) => a * d, 1);
    if (data.length !== size)
      throw new OnnxExportError(`initializer '${name}': ${data.length} values for dims [${dims}]`);
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dtype, dims: [...dims], data });
    return { name: unique, dtype };
  }

  /** A constant initializer, shared between identical requests. */
  constant(dtype: OnnxDType, dims: readonly number[], values: readonly number[]): OnnxValue {
    const key = `${dtype}|${dims.join(',')}|${values.join(',')}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const data: Data =
      dtype === 'int64'
        ? BigInt64Array.from(values, (v) => BigInt(v))
        : dtype === 'int32'
          ? Int32Array.from(values)
          : dtype === 'bool' || dtype === 'uint8'
            ? Uint8Array.from(values)
            : Float32Array.from(values);
    if (
      dtype !== 'int64' &&
      dtype !== 'int32' &&
      dtype !== 'bool' &&
      dtype !== 'uint8' &&
      dtype !== 'float32'
    )
      throw new OnnxExportError(`constant of dtype ${dtype} is not supported`);
    const value = this.initializer(`const_${dtype}_${this.constants.size}`, dtype, dims, data);
    this.constants.set(key, value);
    return value;
  }

  /** A float32 scalar constant. */
  scalar(value: number, dtype: OnnxDType = 'float32'): OnnxValue {
    return this.constant(dtype, [], [value]);
  }

  /** An int64 vector constant (shapes, axes, indices for Slice/Reshape/Unsqueeze). */
  ints(values: readonly number[]): OnnxValue {
    return this.constant('int64', [values.length], values);
  }

  // ---- nodes -------------------------------------------------------------------------------

  /**
   * Adds a node and returns its outputs. `inputs` may contain `null` for an omitted optional
   * input. `dtype` records the element type of the outputs when the caller knows it.
   */
  op(
    opType: string,
    inputs: ReadonlyArray<OnnxValue | null>,
    attrs: Record<string, AttrValue | undefined> = {},
    options: { outputs?: number; dtype?: OnnxDType; name?: string; domain?: string } = {},
  ): OnnxValue[] {
    const n = options.outputs ?? 1;
    const nodeName = this.unique(this.scoped(options.name ?? opType));
    const outs = Array.from({ length: n }, (_, i) => this.unique(n === 1 ? nodeName : `${nodeName}:${i}`));
    const attribute = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => encodeAttr(k, v));
    this.nodes.push({
      op_type: opType,
      name: nodeName,
      input: inputs.map((v) => v?.name ?? ''),
      output: outs,
      attribute,
      ...(options.domain ? { domain: options.domain } : {}),
    });
    return outs.map((name) => (options.dtype ? { name, dtype: options.dtype } : { name }));
  }

  /** `op` for single-output nodes. */
  node(
    opType: string,
    inputs: ReadonlyArray<OnnxValue | null>,
    attrs: Record<string, AttrValue | undefined> = {},
    dtype?: OnnxDType,
  ): OnnxValue {
    return this.op(opType, inputs, attrs, { dtype })[0];
  }

  // ---- common operators --------------------------------------------------------------------

  add(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Add', [a, b], {}, a.dtype);
  }
  sub(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Sub', [a, b], {}, a.dtype);
  }
  mul(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Mul', [a, b], {}, a.dtype);
  }
  div(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Div', [a, b], {}, a.dtype);
  }
  max(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Max', [a, b], {}, a.dtype);
  }
  matmul(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('MatMul', [a, b], {}, a.dtype);
  }
  transpose(x: OnnxValue, perm: number[]): OnnxValue {
    return this.node('Transpose', [x], { perm }, x.dtype);
  }
  /** Reshape; 0 copies the input's dim, -1 is inferred (ONNX semantics, allowzero = 0). */
  reshape(x: OnnxValue, shape: number[] | OnnxValue): OnnxValue {
    const s = Array.isArray(shape) ? this.ints(shape) : shape;
    return this.node('Reshape', [x, s], {}, x.dtype);
  }
  unsqueeze(x: OnnxValue, axes: number[]): OnnxValue {
    return this.node('Unsqueeze', [x, this.ints(axes)], {}, x.dtype);
  }
  squeeze(x: OnnxValue, axes: number[]): OnnxValue {
    return this.node('Squeeze', [x, this.ints(axes)], {}, x.dtype);
  }
  concat(values: OnnxValue[], axis: number): OnnxValue {
    return this.node('Concat', values, { axis }, values[0]?.dtype);
  }
  /** Gather along `axis` (embedding lookup with axis 0). */
  gather(data: OnnxValue, indices: OnnxValue, axis = 0): OnnxValue {
    return this.node('Gather', [data, indices], { axis }, data.dtype);
  }
  cast(x: OnnxValue, to: OnnxDType): OnnxValue {
    if (x.dtype === to) return x;
    return this.node('Cast', [x], { to: ONNX_DTYPE[to] }, to);
  }
  softmax(x: OnnxValue, axis = -1): OnnxValue {
    return this.node('Softmax', [x], { axis }, x.dtype);
  }
  equal(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Equal', [a, b], {}, 'bool');
  }
  not(x: OnnxValue): OnnxValue {
    return this.node('Not', [x], {}, 'bool');
  }
  or(a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Or', [a, b], {}, 'bool');
  }
  where(cond: OnnxValue, a: OnnxValue, b: OnnxValue): OnnxValue {
    return this.node('Where', [cond, a, b], {}, a.dtype ?? b.dtype);
  }
  shape(x: OnnxValue, start?: number, end?: number): OnnxValue {
    return this.node('Shape', [x], { start, end }, 'int64');
  }
  /** Slice along `axes` from `starts` to `ends` (constants or int64 values). */
  slice(x: OnnxValue, starts: number[] | OnnxValue, ends: number[] | OnnxValue, axes: number[]): OnnxValue {
    const s = Array.isArray(starts) ? this.ints(starts) : starts;
    const e = Array.isArray(ends) ? this.ints(ends) : ends;
    return this.node('Slice', [x, s, e, this.ints(axes)], {}, x.dtype);
  }

  /**
   * Convolution over channels-first input [N, C, …spatial] with a PyTorch-layout weight
   * [out, in/groups, …kernel] (nn.Conv1d/2d/3d): patch embeddings use stride = kernel.
   * `pads` is per spatial axis, symmetric (PyTorch's `padding`).
   */
  conv(
    x: OnnxValue,
    weight: OnnxValue,
    bias: OnnxValue | null,
    options: { kernel: number[]; strides?: number[]; pads?: number[]; dilations?: number[]; groups?: number },
  ): OnnxValue {
    const k = options.kernel.length;
    const pads = options.pads ?? Array(k).fill(0);
    return this.node(
      'Conv',
      bias ? [x, weight, bias] : [x, weight],
      {
        kernel_shape: options.kernel,
        strides: options.strides ?? Array(k).fill(1),
        pads: [...pads, ...pads],
        dilations: options.dilations ?? Array(k).fill(1),
        group: options.groups ?? 1,
      },
      x.dtype,
    );
  }

  /**
   * ReduceSum/ReduceMean/ReduceMax over `axes`. Axes are an input from opset 18 on (ReduceSum
   * from 13), an attribute before; this picks the right form for the builder's opset.
   */
  reduce(
    op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin',
    x: OnnxValue,
    axes: number[],
    keepdims = false,
  ): OnnxValue {
    const keep = keepdims ? 1 : 0;
    if (op === 'ReduceSum' || this.opset >= 18)
      return this.node(op, [x, this.ints(axes)], { keepdims: keep }, x.dtype);
    return this.node(op, [x], { axes, keepdims: keep }, x.dtype);
  }

  /** Any-dtype mask → bool (nonzero / true is true), as the meddl layers read masks. */
  toBool(mask: OnnxValue): OnnxValue {
    if (mask.dtype === 'bool') return mask;
    return this.node('Not', [this.equal(this.cast(mask, 'float32'), this.scalar(0))], {}, 'bool');
  }

  // ---- model -------------------------------------------------------------------------------

  /** The ModelProto as a plain object (field names as in onnx.proto). */
  toModelProto(options: ModelOptions = {}): Record<string, unknown> {
    if (this.outputs.length === 0) throw new OnnxExportError('the graph has no outputs');
    return {
      ir_version: IR_FOR_OPSET[this.opset],
      opset_import: [{ domain: '', version: this.opset }],
      producer_name: options.producerName ?? 'meddl',
      producer_version: options.producerVersion ?? '0.1.0',
      model_version: options.modelVersion ?? 1,
      doc_string: options.docString ?? '',
      metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers.map(encodeInitializer),
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    };
  }

  /** The encoded ModelProto. */
  toBytes(options: ModelOptions = {}): Uint8Array {
    return encodeModelProto(this.toModelProto(options));
  }

  /** Counts for reports: nodes, initializers and the number of weight values. */
  stats(): { nodes: number; initializers: number; weights: number } {
    return {
      nodes: this.nodes.length,
      initializers: this.initializers.length,
      weights: this.initializers.reduce((a, i) => a + i.data.length, 0),
    };
  }
}

function encodeAttr(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === 'string') return { name, type: ATTR_TYPE.STRING, s: new TextEncoder().encode(v) };
  if (v instanceof FloatAttr) return { name, type: ATTR_TYPE.FLOAT, f: v.value };
  if (typeof v === 'number')
    return Number.isInteger(v) ? { name, type: ATTR_TYPE.INT, i: v } : { name, type: ATTR_TYPE.FLOAT, f: v };
  if (v.length > 0 && typeof v[0] === 'string')
    return {
      name,
      type: ATTR_TYPE.STRINGS,
      strings: (v as string[]).map((s) => new TextEncoder().encode(s)),
    };
  const nums = (v as Array<number | FloatAttr>).map((x) => (x instanceof FloatAttr ? x.value : x));
  const floats = (v as Array<number | FloatAttr>).some((x) => x instanceof FloatAttr || !Number.isInteger(x));
  return floats ? { name, type: ATTR_TYPE.FLOATS, floats: nums } : { name, type: ATTR_TYPE.INTS, ints: nums };
}

function encodeInitializer(init: Initializer): Record<string, unknown> {
  // raw_data is little-endian, as every platform onnxruntime-node ships for.
  const bytes = new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength);
  return { name: init.name, data_type: ONNX_DTYPE[init.dtype], dims: init.dims, raw_data: bytes };
}

function valueInfo(sig: TensorSignature): Record<string, unknown> {
  return {
    name: sig.name,
    type: {
      tensor_type: {
        elem_type: ONNX_DTYPE[sig.dtype],
        shape: { dim: sig.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}
