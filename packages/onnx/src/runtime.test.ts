import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Linear } from '@meddl/nn';
import { Generator, initBackend } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxModelError, OnnxSignatureError } from './errors';
import { exportModule, writeOnnx } from './export';
import { decodeModelProto } from './proto';
import { defaultExecutionProviders, OnnxSession } from './runtime';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const encoderPath = join(fixtures, 'patch_encoder.onnx');
const tmp = mkdtempSync(join(tmpdir(), 'meddl-onnx-'));

beforeAll(async () => {
  await initBackend();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Case {
  input: { dims: number[]; data: number[] };
  features: { dims: number[]; data: number[] };
}

describe('external ONNX encoders (written by onnx.helper, see fixtures/make_fixtures.py)', () => {
  it('loads, checks the signature, and reproduces the numpy reference', async () => {
    const s = await OnnxSession.create(encoderPath, { threads: 1, graphOptimizationLevel: 'basic' });
    expect(s.executionProviders).toEqual(defaultExecutionProviders());
    expect(s.inputs).toEqual([{ name: 'pixel_values', dtype: 'float32', dims: ['batch', 3, 8, 8] }]);
    s.expectSignature({
      inputs: [{ name: 'pixel_values', dtype: 'float32', dims: [null, 3, 8, 8] }],
      outputs: [{ name: 'features', dtype: 'float32', dims: ['n', 16] }],
    });
    const { cases } = JSON.parse(readFileSync(join(fixtures, 'patch_encoder.json'), 'utf8')) as {
      cases: Case[];
    };
    for (const c of cases) {
      const out = await s.run({
        pixel_values: { data: Float32Array.from(c.input.data), dims: c.input.dims },
      });
      expect(out.features.dims).toEqual(c.features.dims);
      const worst = Math.max(...c.features.data.map((v, i) => Math.abs(v - Number(out.features.data[i]))));
      expect(worst).toBeLessThan(1e-5);
    }
    await s.release();
  });

  it('an encoder that does not fit is a typed error listing every mismatch', async () => {
    const s = await OnnxSession.create(encoderPath, { executionProviders: ['cpu'] });
    let err: unknown;
    try {
      s.expectSignature({
        inputs: [
          { name: 'pixel_values', dtype: 'float32', dims: [null, 3, 224, 224] },
          { name: 'attention_mask', dtype: 'int64', dims: [null, null] },
        ],
        outputs: [{ name: 'features', dtype: 'float16', dims: [null, 16] }],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OnnxSignatureError);
    const problems = (err as OnnxSignatureError).problems;
    expect(problems).toContain("input 'pixel_values': axis 2 expected 224, the model has 8");
    expect(problems).toContain("no input named 'attention_mask' (the model's inputs: 'pixel_values')");
    expect(problems).toContain("output 'features': expected dtype float16, the model has float32");
    expect((err as Error).message).toContain('patch_encoder.onnx');
    await s.release();
  });
});

describe('input validation', () => {
  it('names missing and unexpected inputs, dtypes, ranks, fixed and shared dynamic dims', async () => {
    const lin = new Linear(4, 2, { rng: new Generator(1) });
    const exported = exportModule(lin, {
      inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 2] }],
    });
    const s = await OnnxSession.create(exported.bytes, { executionProviders: ['cpu'] });
    expect(s.check({ x: { data: new Float32Array(8), dims: [2, 4] } })).toEqual([]);
    expect(s.check({})).toEqual(["missing input 'x' (float32 [batch, 4])"]);
    expect(
      s.check({
        x: { data: new Float32Array(8), dims: [2, 4] },
        z: { data: new Float32Array(1), dims: [1] },
      }),
    ).toEqual(["unexpected input 'z' (the model takes 'x')"]);
    expect(s.check({ x: { data: new Int32Array(8), dims: [2, 4] } })).toEqual([
      "input 'x': expected dtype float32, got Int32Array (int32)",
    ]);
    expect(s.check({ x: { data: new Float32Array(6), dims: [2, 3] } })).toEqual([
      "input 'x': axis 1 must be 4, got 3",
    ]);
    expect(s.check({ x: { data: new Float32Array(8), dims: [8] } })).toEqual([
      "input 'x': expected rank 2 float32 [batch, 4], got dims [8]",
    ]);
    expect(s.check({ x: { data: new Float32Array(7), dims: [2, 4] } })).toEqual([
      "input 'x': dims [2,4] need 8 values, got 7",
    ]);
    await expect(s.run({ x: { data: new Float32Array(6), dims: [2, 3] } })).rejects.toThrow(
      OnnxSignatureError,
    );
    await s.release();
  });

  it('a shared dynamic axis must have one size across inputs', async () => {
    const lin = new Linear(3, 3, { rng: new Generator(2) });
    const exported = exportModule(lin, {
      inputs: [
        { name: 'a', dtype: 'float32', dims: ['batch', 3] },
        { name: 'b', dtype: 'float32', dims: ['batch', 3] },
      ],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 3] }],
      forward: (g, [a, b]) => [g.add(a, b)],
    });
    const s = await OnnxSession.create(exported.bytes, { executionProviders: ['cpu'] });
    expect(
      s.check({
        a: { data: new Float32Array(6), dims: [2, 3] },
        b: { data: new Float32Array(9), dims: [3, 3] },
      }),
    ).toEqual(["input 'b': axis 0 ('batch') is 3 but 'batch' of input 'a' is 2"]);
    await s.release();
  });

  it('unreadable and corrupt files are OnnxModelError naming the file', async () => {
    await expect(OnnxSession.create(join(tmp, 'absent.onnx'))).rejects.toThrow(OnnxModelError);
    const bad = join(tmp, 'corrupt.onnx');
    writeFileSync(bad, Buffer.from('not a protobuf at all'));
    await expect(OnnxSession.create(bad)).rejects.toThrow(/corrupt\.onnx: onnxruntime cannot load/);
  });

  it('an unavailable GPU provider falls back to the CPU and says why', async () => {
    const s = await OnnxSession.create(encoderPath, { executionProviders: ['cuda', 'cpu'] });
    if (s.fallbackReason !== null) expect(s.executionProviders).toEqual(['cpu']);
    else expect(s.executionProviders).toEqual(['cuda', 'cpu']);
    await s.release();
  });
});

describe('writeOnnx', () => {
  it('writes the model and a sidecar with its hash, signature and metadata', async () => {
    const lin = new Linear(4, 2, { rng: new Generator(3) });
    const exported = exportModule(lin, {
      inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 2] }],
      model: { metadata: { labels: 'a,b' } },
    });
    const path = join(tmp, 'out', 'linear.onnx');
    const sidecar = writeOnnx(path, exported, { model: 'linear', labels: ['a', 'b'], temperature: 1.5 });
    const onDisk = JSON.parse(readFileSync(`${path}.json`, 'utf8'));
    expect(onDisk).toEqual(sidecar);
    expect(onDisk.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(onDisk.temperature).toBe(1.5);
    expect(decodeModelProto(readFileSync(path)).metadata_props).toEqual([{ key: 'labels', value: 'a,b' }]);
    const s = await OnnxSession.create(path, { executionProviders: ['cpu'] });
    expect(s.metadata).toEqual({ labels: 'a,b' });
    await s.release();
  });
});

describe('onnxParity', () => {
  it('reports the worst difference per output and fails shape or value mismatches', async () => {
    const { onnxParity } = await import('./parity');
    const { tf } = await import('@meddl/tensor');
    const lin = new Linear(3, 2, { rng: new Generator(5) });
    const exported = exportModule(lin, {
      inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 3] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 2] }],
    });
    const cases = [1, 4].map((n) => {
      const x = tf.tensor2d(new Generator(n).normalArray(n * 3), [n, 3]);
      const y = lin.forward(x);
      const c = {
        feeds: { x: { data: Float32Array.from(x.dataSync()), dims: [n, 3] } },
        expected: { y: { data: Float32Array.from(y.dataSync()), dims: y.shape } },
      };
      tf.dispose([x, y]);
      return c;
    });
    const good = await onnxParity(exported, cases);
    expect(good.ok).toBe(true);
    expect(good.worst.y).toBeLessThan(1e-5);
    const shifted = cases.map((c) => ({
      ...c,
      expected: { y: { data: c.expected.y.data.map((v) => v + 0.01), dims: c.expected.y.dims } },
    }));
    const bad = await onnxParity(exported, shifted);
    expect(bad.ok).toBe(false);
    expect(bad.failures[0]).toMatch(/case 0 output 'y': max \|difference\| 1\.00e-2 > 0\.0001/);
    const wrongDims = await onnxParity(exported, [
      { ...cases[0], expected: { y: { ...cases[0].expected.y, dims: [2, 1] } } },
    ]);
    expect(wrongDims.failures).toEqual(["case 0 output 'y': dims [1,2] but expected [2,1]"]);
  });
});
