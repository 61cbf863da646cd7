// The ONNX encoder path: a model file written with onnx.proto's field numbers, run by
// onnxruntime-node, checked against the same network computed independently with tfjs ops.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFeatureBag } from '@meddl/data';
import { initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { CrcMilDataError } from './errors';
import { convEncoderWeights, OnnxPatchEncoder, writeConvEncoderOnnx } from './onnx';
import { preprocess } from './preprocess';
import { synthesize } from './synth/generator';

const dir = mkdtempSync(join(tmpdir(), 'crc-mil-onnx-'));
const modelPath = join(dir, 'encoder.onnx');
const weights = convEncoderWeights([4, 6], 7);

beforeAll(async () => {
  await initBackend();
  writeConvEncoderOnnx(modelPath, weights);
});

/** The same network in tfjs: NHWC conv (explicit padding) → ReLU → conv → ReLU → global mean. */
function reference(pixelsNchw: Float32Array, n: number, s: number): Float32Array {
  return tf.tidy(() => {
    let x: tf.Tensor4D = tf.transpose(tf.tensor4d(pixelsNchw, [n, 3, s, s]), [0, 2, 3, 1]);
    for (const l of weights.layers) {
      // ONNX weight [out, in, kh, kw] → tfjs filter [kh, kw, in, out]
      const w = tf.transpose(tf.tensor4d(l.weight, [l.out, l.in, l.k, l.k]), [2, 3, 1, 0]) as tf.Tensor4D;
      const p = (l.k - 1) >> 1;
      x = tf.relu(
        tf.add(
          tf.conv2d(x, w, l.stride, [
            [0, 0],
            [p, p],
            [p, p],
            [0, 0],
          ]),
          tf.tensor1d(l.bias),
        ),
      ) as tf.Tensor4D;
    }
    return tf.mean(x, [1, 2]).dataSync() as Float32Array;
  });
}

describe('ONNX patch encoder', () => {
  it('onnxruntime output equals an independent tfjs computation of the same network', async () => {
    const enc = await OnnxPatchEncoder.open(modelPath, { inputSize: 16, batchSize: 2 });
    expect(enc.dim).toBe(6);
    const patches = [0, 1, 2].map((k) => {
      const data = new Uint8Array(20 * 20 * 3);
      for (let i = 0; i < data.length; i++) data[i] = (i * 37 + k * 101) % 256;
      return { width: 20, height: 20, data };
    });
    const got = await enc.encode(patches);
    const want = reference(enc.pixels(patches), 3, 16);
    expect(got.length).toBe(18);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i] as number, 4);
    await enc.close();
  });

  it('refuses a file that is not an ONNX model with a typed error', async () => {
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, 'not a model');
    await expect(OnnxPatchEncoder.open(bad, { inputSize: 16 })).rejects.toThrow(CrcMilDataError);
  });

  it('preprocess writes bags of ONNX features (Reinhard-normalized patches)', async () => {
    const synth = await synthesize(join(dir, 'data'), {
      seed: 5,
      patients: 3,
      width: 384,
      height: 256,
      multiSlideFraction: 0,
    });
    const r = await preprocess(
      [{ slideId: 'one', path: join(dir, 'data', synth.slides[0]?.slide_file as string) }],
      join(dir, 'pre'),
      {
        patchSize: 32,
        magnification: 20,
        tissue: { maxSize: 128, minTissueArea: 5000, minHoleArea: 4000 },
        stainNorm: 'reinhard',
        encoder: { name: 'onnx', path: modelPath, inputSize: 16, batchSize: 4 },
      },
      () => {},
    );
    expect(r.slides[0]?.status).toBe('done');
    const bag = await readFeatureBag(join(dir, 'pre', r.slides[0]?.bag as string));
    expect(bag.dim).toBe(6);
    expect(bag.count).toBe(r.slides[0]?.accepted);
    expect(bag.attributes.encoder).toBe('onnx');
    expect(bag.attributes.stain_norm).toBe('reinhard');
  });
});
