import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ExportedModel,
  exportModule,
  OnnxSession,
  officialOnnxCheck,
  onnxCheckerPython,
  type TensorData,
} from '@meddl/onnx';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from './model';
import { exportTissueBert } from './onnx';
import { PAD_ID } from './tokenizer';

const tmp = mkdtempSync(join(tmpdir(), 'meddl-onnx-tb-'));

async function session(exported: ExportedModel): Promise<OnnxSession> {
  return OnnxSession.create(exported.bytes, { threads: 1, executionProviders: ['cpu'] });
}

/** Largest absolute difference; fails when shapes differ or any value is further than tol. */
function expectMatches(onnx: TensorData, reference: tf.Tensor, tol = 1e-4): number {
  expect([...onnx.dims]).toEqual(reference.shape);
  const ref = reference.dataSync();
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(Number(onnx.data[i]) - ref[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  expect(worst).toBeLessThanOrEqual(tol);
  return worst;
}
/** Debian's python3 with python3-onnx, when installed; the checker test is skipped otherwise. */
const python = onnxCheckerPython();

beforeAll(async () => {
  await initBackend();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A batch of 3-mer token ids: [CLS] k-mers… [SEP] then [PAD] to `length`, methylation states. */
function batch(b: number, length: number, seed: number): { tokens: tf.Tensor2D; states: tf.Tensor2D } {
  const g = new Generator(seed);
  const tokens = new Int32Array(b * length);
  const states = new Int32Array(b * length);
  for (let r = 0; r < b; r++) {
    const used = 2 + g.int(length - 1); // ≥ 2 real tokens
    for (let i = 0; i < length; i++) {
      const id = i >= used ? PAD_ID : i === 0 ? 2 : i === used - 1 ? 3 : 5 + g.int(64);
      tokens[r * length + i] = id;
      states[r * length + i] = g.int(3);
    }
  }
  return {
    tokens: tf.tensor2d(tokens, [b, length], 'int32'),
    states: tf.tensor2d(states, [b, length], 'int32'),
  };
}

/** ONNX Runtime's logits and pooled embedding match the tfjs forward on each [batch, length]. */
async function expectParity(
  model: ReturnType<typeof createModel>,
  exported: ExportedModel,
  sizes: Array<[number, number]>,
  seed: number,
): Promise<void> {
  const s = await session(exported);
  for (const [i, [b, l]] of sizes.entries()) {
    const { tokens, states } = batch(b, l, seed + i);
    const logits = model.forward(tokens, states);
    const embedding = model.encode(tokens, states);
    const out = await s.run({
      token_ids: { data: Int32Array.from(tokens.dataSync()), dims: [b, l] },
      methylation: { data: Int32Array.from(states.dataSync()), dims: [b, l] },
    });
    expectMatches(out.logits, logits);
    expectMatches(out.embedding, embedding);
    tf.dispose([tokens, states, logits, embedding]);
  }
  await s.release();
}

describe('TissueBERT hybrid layout exported to ONNX', () => {
  it('the one-hot convolution stem, no positions, pre-LN layers and max pooling match forward within 1e-4', async () => {
    const model = createModel(
      'tissuebert-tiny',
      { numClasses: 5, stemKernel: 7, positionEmbeddings: false, normFirst: true, pooling: 'max' },
      new Generator(8),
    );
    model.eval();
    await expectParity(
      model,
      exportTissueBert(model),
      [
        [1, 4],
        [3, 20],
        [2, 148],
      ],
      200,
    );
    model.dispose();
  });
});

describe('TissueBERT (tiny preset) exported to ONNX', () => {
  const model = createModel('tissuebert-tiny', { numClasses: 5 }, new Generator(7));
  model.eval();
  const exported = exportTissueBert(model);

  it('logits and pooled embedding match forward within 1e-4 on several batch / sequence sizes', async () => {
    await expectParity(
      model,
      exported,
      [
        [1, 4],
        [2, 17],
        [5, 33],
        [3, 150],
      ],
      100,
    );
  });

  it('keeps the state-dict keys as initializer names', () => {
    const keys = Object.keys(model.stateDict());
    expect(exported.stats.initializers).toBeGreaterThanOrEqual(keys.length);
    expect(exported.stats.weights).toBeGreaterThanOrEqual(model.numParameters());
  });

  it('TissueBert.toOnnx exports through exportModule (logits only) and matches forward', async () => {
    const viaProtocol = exportModule(model, {
      inputs: [
        { name: 'token_ids', dtype: 'int32', dims: ['batch', 'sequence'] },
        { name: 'methylation', dtype: 'int32', dims: ['batch', 'sequence'] },
      ],
      outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', 5] }],
    });
    const s = await session(viaProtocol);
    const { tokens, states } = batch(2, 9, 200);
    const ref = model.forward(tokens, states);
    const out = await s.run({
      token_ids: { data: Int32Array.from(tokens.dataSync()), dims: [2, 9] },
      methylation: { data: Int32Array.from(states.dataSync()), dims: [2, 9] },
    });
    expectMatches(out.logits, ref);
    tf.dispose([tokens, states, ref]);
    await s.release();
  });

  it.skipIf(!python)('passes the official ONNX checker (python3-onnx, full_check)', () => {
    const [result] = officialOnnxCheck({ 'tissuebert-tiny': exported.bytes });
    expect(result).toMatchObject({ ok: true, opset: 17, ir_version: 8 });
  });
});
