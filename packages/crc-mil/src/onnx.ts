// ONNX patch encoders, the way users bring pretrained pathology encoders: any model taking
// `[N, 3, H, W]` float pixels (normalized with per-channel mean/std, as timm models expect) and
// returning `[N, D]` features, run by onnxruntime-node. `writeConvEncoderOnnx` writes a small
// seeded convolutional encoder as a real ONNX file (ModelProto encoded with the published field
// numbers of onnx.proto), used by the tests and as a template.
import { renameSync, writeFileSync } from 'node:fs';
import { Generator } from '@meddl/tensor';
import * as ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { CrcMilDataError } from './errors';
import { type Rgb, resizeArea } from './image';

// The subset of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto) needed to write a model.
const ONNX_PROTO = `
syntax = "proto3";
package onnx;
message AttributeProto { string name = 1; float f = 2; int64 i = 3; bytes s = 4; repeated int64 ints = 8; int32 type = 20; }
message ValueInfoProto { string name = 1; TypeProto type = 2; }
message NodeProto { repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4; repeated AttributeProto attribute = 5; }
message TensorProto { repeated int64 dims = 1; int32 data_type = 2; repeated float float_data = 4 [packed = true]; string name = 8; }
message TensorShapeProto { message Dimension { int64 dim_value = 1; string dim_param = 2; } repeated Dimension dim = 1; }
message TypeProto { message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; } Tensor tensor_type = 1; }
message GraphProto { repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message ModelProto { int64 ir_version = 1; string producer_name = 2; string producer_version = 3; GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8; }
`;
const ATTR_INT = 2;
const ATTR_INTS = 7;
const FLOAT = 1;

export interface ConvEncoderWeights {
  /** Conv weights [out, in, k, k] row-major and biases, per layer. */
  layers: { weight: Float32Array; bias: Float32Array; out: number; in: number; k: number; stride: number }[];
}

/** Seeded weights for a conv → ReLU → conv → ReLU → global-average-pool encoder. */
export function convEncoderWeights(channels: [number, number] = [8, 16], seed = 0): ConvEncoderWeights {
  const rng = new Generator(seed);
  const spec = [
    { in: 3, out: channels[0], k: 3, stride: 2 },
    { in: channels[0], out: channels[1], k: 3, stride: 2 },
  ];
  return {
    layers: spec.map((s) => {
      const fanIn = s.in * s.k * s.k;
      const bound = 1 / Math.sqrt(fanIn); // PyTorch Conv2d default (kaiming_uniform with a = √5)
      const weight = Float32Array.from({ length: s.out * fanIn }, () => rng.uniform(-bound, bound));
      const bias = Float32Array.from({ length: s.out }, () => rng.uniform(-bound, bound));
      return { ...s, weight, bias };
    }),
  };
}

/** Writes the conv encoder as an ONNX model (opset 13): input `pixels` [N,3,H,W], output `features` [N,D]. */
export function writeConvEncoderOnnx(path: string, weights: ConvEncoderWeights): void {
  const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  const Model = root.lookupType('onnx.ModelProto');
  const nodes: object[] = [];
  const initializer: object[] = [];
  let prev = 'pixels';
  weights.layers.forEach((l, i) => {
    initializer.push({
      name: `conv${i}.weight`,
      dims: [l.out, l.in, l.k, l.k],
      data_type: FLOAT,
      float_data: Array.from(l.weight),
    });
    initializer.push({
      name: `conv${i}.bias`,
      dims: [l.out],
      data_type: FLOAT,
      float_data: Array.from(l.bias),
    });
    const pad = (l.k - 1) >> 1;
    nodes.push({
      name: `conv${i}`,
      op_type: 'Conv',
      input: [prev, `conv${i}.weight`, `conv${i}.bias`],
      output: [`conv${i}_out`],
      attribute: [
        { name: 'kernel_shape', type: ATTR_INTS, ints: [l.k, l.k] },
        { name: 'strides', type: ATTR_INTS, ints: [l.stride, l.stride] },
        { name: 'pads', type: ATTR_INTS, ints: [pad, pad, pad, pad] },
      ],
    });
    nodes.push({ name: `relu${i}`, op_type: 'Relu', input: [`conv${i}_out`], output: [`relu${i}_out`] });
    prev = `relu${i}_out`;
  });
  nodes.push({ name: 'pool', op_type: 'GlobalAveragePool', input: [prev], output: ['pooled'] });
  nodes.push({
    name: 'flatten',
    op_type: 'Flatten',
    input: ['pooled'],
    output: ['features'],
    attribute: [{ name: 'axis', type: ATTR_INT, i: 1 }],
  });
  const dim = (weights.layers[weights.layers.length - 1] as { out: number }).out;
  const tensorType = (dims: object[]) => ({ tensor_type: { elem_type: FLOAT, shape: { dim: dims } } });
  const model = Model.create({
    ir_version: 8,
    producer_name: 'meddl',
    producer_version: '0.1.0',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'meddl_conv_encoder',
      node: nodes,
      initializer,
      input: [
        {
          name: 'pixels',
          type: tensorType([{ dim_param: 'N' }, { dim_value: 3 }, { dim_param: 'H' }, { dim_param: 'W' }]),
        },
      ],
      output: [{ name: 'features', type: tensorType([{ dim_param: 'N' }, { dim_value: dim }]) }],
    },
  });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, Model.encode(model).finish());
  renameSync(tmp, path);
}

export interface OnnxEncoderOptions {
  /** Patches are area-resized to this edge before the model (e.g. 224). */
  inputSize: number;
  /** Per-channel normalization of [0,1] pixels (default ImageNet's, as timm encoders use). */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Patches per session.run. */
  batchSize?: number;
  threads?: number;
}

/** An ONNX encoder: `encode` takes RGB patches and returns row-major features. */
export class OnnxPatchEncoder {
  readonly dim: number;
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly options: Required<Omit<OnnxEncoderOptions, 'threads'>>,
    dim: number,
    private readonly path: string,
  ) {
    this.dim = dim;
  }

  static async open(path: string, options: OnnxEncoderOptions): Promise<OnnxPatchEncoder> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, {
        intraOpNumThreads: options.threads ?? 1,
        interOpNumThreads: 1,
      });
    } catch (err) {
      throw new CrcMilDataError(path, `cannot load the ONNX encoder: ${(err as Error).message}`);
    }
    const opts = {
      inputSize: options.inputSize,
      mean: options.mean ?? ([0.485, 0.456, 0.406] as [number, number, number]),
      std: options.std ?? ([0.229, 0.224, 0.225] as [number, number, number]),
      batchSize: options.batchSize ?? 32,
    };
    const enc = new OnnxPatchEncoder(session, opts, 0, path);
    // Probe the output width with one blank patch.
    const probe = await enc.run([{ width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).fill(200) }]);
    (enc as { dim: number }).dim = probe.length;
    return enc;
  }

  /** NCHW float input for a batch of patches. */
  pixels(patches: readonly Rgb[]): Float32Array {
    const s = this.options.inputSize;
    const out = new Float32Array(patches.length * 3 * s * s);
    patches.forEach((p, n) => {
      const img = resizeArea(p, s, s);
      for (let c = 0; c < 3; c++) {
        const m = this.options.mean[c] as number;
        const sd = this.options.std[c] as number;
        const base = (n * 3 + c) * s * s;
        for (let i = 0; i < s * s; i++) out[base + i] = ((img.data[3 * i + c] as number) / 255 - m) / sd;
      }
    });
    return out;
  }

  private async run(patches: readonly Rgb[]): Promise<Float32Array> {
    const s = this.options.inputSize;
    const inputName = this.session.inputNames[0] as string;
    const outputName = this.session.outputNames[0] as string;
    const feeds = { [inputName]: new ort.Tensor('float32', this.pixels(patches), [patches.length, 3, s, s]) };
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(feeds);
    } catch (err) {
      throw new CrcMilDataError(this.path, `ONNX encoder failed: ${(err as Error).message}`);
    }
    const t = result[outputName] as ort.Tensor;
    if (t.dims.length !== 2 || t.dims[0] !== patches.length) {
      throw new CrcMilDataError(
        this.path,
        `the encoder must return [N, D] features, got [${t.dims.join(', ')}]`,
      );
    }
    return Float32Array.from(t.data as Float32Array);
  }

  /** Features [patches.length, dim], run in batches. */
  async encode(patches: readonly Rgb[]): Promise<Float32Array> {
    const out = new Float32Array(patches.length * this.dim);
    for (let i = 0; i < patches.length; i += this.options.batchSize) {
      const batch = patches.slice(i, i + this.options.batchSize);
      out.set(await this.run(batch), i * this.dim);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
