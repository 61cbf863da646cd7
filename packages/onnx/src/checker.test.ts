// Runs the official ONNX checker (Debian python3-onnx) over exports of every lowering; skipped
// when no python3 with the onnx package is installed (tests must not need Python).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Embedding, LayerNorm, MLP, MultiheadAttention, Sequential, TransformerEncoder } from '@meddl/nn';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GraphBuilder } from './builder';
import { ONNX_CHECKER_SCRIPT, officialOnnxCheck, onnxCheckerPython } from './checker';
import { type ExportedModel, exportModule } from './export';
import { lowerModule, maskedMeanPool } from './lower';

const python = onnxCheckerPython();
const tmp = mkdtempSync(join(tmpdir(), 'meddl-onnx-check-'));

beforeAll(async () => {
  await initBackend();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function models(): Record<string, ExportedModel> {
  const rng = new Generator(3);
  const E = 8;
  const mha = new MultiheadAttention(E, 2, { rng });
  const encoder = new TransformerEncoder(
    { dModel: E, nhead: 2, dimFeedforward: 16, activation: 'gelu', normFirst: true, rng },
    2,
    { norm: new LayerNorm(E) },
  );
  const seq = new Sequential(new MLP(E, 16, E, { activation: 'gelu_tanh', rng }), new LayerNorm(E));
  const emb = new Embedding(10, E, { rng });
  const conv = new GraphBuilder();
  const video = conv.input('video', 'float32', ['batch', 2, 'depth', 'height', 'width']);
  const w = tf.ones([4, 2, 2, 2, 2]);
  conv.output(
    conv.conv(video, conv.param(w, 'proj.weight'), null, { kernel: [2, 2, 2], strides: [2, 2, 2] }),
    'tokens',
    'float32',
    ['batch', 4, 'd', 'h', 'w'],
  );
  w.dispose();
  const x = { name: 'x', dtype: 'float32' as const, dims: ['batch', 'sequence', E] };
  return {
    attention: exportModule(mha, {
      inputs: [x, { name: 'mask', dtype: 'int32', dims: ['batch', 'sequence'] }],
      outputs: [
        { name: 'y', dtype: 'float32', dims: ['batch', 'sequence', E] },
        { name: 'w', dtype: 'float32', dims: ['batch', 'sequence', 'sequence'] },
      ],
      forward: (b, [v, m]) => lowerModule(b, mha, [v, v, v], { keyPaddingMask: m, needWeights: true }),
    }),
    encoder: exportModule(encoder, {
      inputs: [x, { name: 'padding', dtype: 'bool', dims: ['batch', 'sequence'] }],
      outputs: [{ name: 'pooled', dtype: 'float32', dims: ['batch', E] }],
      forward: (b, [v, p]) => [
        maskedMeanPool(b, lowerModule(b, encoder, [v], { srcKeyPaddingMask: p })[0], p),
      ],
    }),
    sequential: exportModule(seq, {
      inputs: [x],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 'sequence', E] }],
    }),
    embedding: exportModule(emb, {
      inputs: [{ name: 'ids', dtype: 'int64', dims: ['batch', 'sequence'] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 'sequence', E] }],
    }),
    conv3d: { bytes: conv.toBytes(), inputs: [], outputs: [], opset: 17, stats: conv.stats() },
  };
}

it.skipIf(!python)('every lowering passes onnx.checker.check_model(full_check=True)', () => {
  const results = officialOnnxCheck(
    Object.fromEntries(Object.entries(models()).map(([n, m]) => [n, m.bytes])),
  );
  expect(results.filter((r) => !r.ok)).toEqual([]);
  expect(results.map((r) => r.file)).toEqual(Object.keys(models()));
});

it.skipIf(!python)('the checker script rejects a malformed graph', () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['n']);
  b.output(b.node('NoSuchOperator', [x]), 'y', 'float32', ['n']);
  const path = join(tmp, 'bad.onnx');
  writeFileSync(path, b.toBytes());
  expect(() =>
    execFileSync(python as string, [ONNX_CHECKER_SCRIPT, path], { encoding: 'utf8', stdio: 'pipe' }),
  ).toThrow();
});
