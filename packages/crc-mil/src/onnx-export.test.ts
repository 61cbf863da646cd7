import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '@meddl/checkpoint';
import {
  exportRegistry,
  OnnxSession,
  officialOnnxCheck,
  onnxCheckerPython,
  onnxParity,
  type ParityCase,
  runExport,
} from '@meddl/onnx';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpointRunner, exportGatedAttentionMil, onnxRunner, predictBag } from './index'; // the package entry registers 'crc-mil'
import { GatedAttentionMil, MIL_PRESETS } from './model';
import { PreprocessConfigSchema } from './preprocess';

beforeAll(async () => {
  await initBackend();
});

const IN_DIM = 24;

function model(scales: number, seed: number, head: 'softmax' | 'evidential' = 'softmax'): GatedAttentionMil {
  const m = new GatedAttentionMil(
    { ...MIL_PRESETS.tiny, inDim: IN_DIM, numClasses: 3, scales, head },
    new Generator(seed),
  );
  // Non-trivial standardization so the buffers are exercised.
  const g = new Generator(seed + 100);
  m.setFeatureStats(
    Float32Array.from({ length: IN_DIM }, () => g.normal() * 0.5),
    Float32Array.from({ length: IN_DIM }, () => 0.5 + g.uniform(0, 1)),
  );
  m.eval();
  return m;
}

function bag(n: number, seed: number): Float32Array {
  return new Generator(seed).normalArray(n * IN_DIM);
}

function parityCase(m: GatedAttentionMil, n: number, seed: number, scaleIndex?: Int32Array): ParityCase {
  const data = bag(n, seed);
  const out = m.forward(tf.tensor2d(data, [n, IN_DIM]), scaleIndex);
  const c: ParityCase = {
    feeds: { bag: { data, dims: [n, IN_DIM] } },
    expected: {
      logits: { data: out.logits.dataSync(), dims: out.logits.shape },
      attention: { data: out.attention.dataSync(), dims: out.attention.shape },
    },
  };
  if (scaleIndex) c.feeds.scale_index = { data: scaleIndex, dims: [n] };
  out.logits.dispose();
  out.attention.dispose();
  return c;
}

function saveModelDir(m: GatedAttentionMil, modelDir: string, temperature: number): void {
  mkdirSync(modelDir, { recursive: true });
  writeSafetensors(join(modelDir, 'model.safetensors'), m.stateDict(), { format: 'pt' });
  writeFileSync(
    join(modelDir, 'model.json'),
    JSON.stringify({
      classes: ['CMS1', 'CMS2', 'CMS4'],
      model: m.config,
      temperature,
      preprocess: PreprocessConfigSchema.parse({ magnification: 20 }),
      trainPatients: [],
      valPatients: [],
    }),
  );
}

// The official ONNX checker (Debian python3-onnx); skipped when it is not installed.
const python = onnxCheckerPython();

describe('crc-mil ONNX export', () => {
  it('single-scale: logits and attention equal forward within 1e-4 for bags of 1, 7 and 60 patches', async () => {
    const m = model(1, 3);
    const exported = exportGatedAttentionMil(m);
    expect(exported.inputs.map((i) => i.name)).toEqual(['bag']);
    expect(exported.outputs.map((o) => o.name)).toEqual(['logits', 'attention']);
    const cases = [1, 7, 60].map((n, i) => parityCase(m, n, 10 + i));
    const report = await onnxParity(exported, cases);
    expect(report.failures).toEqual([]);
    expect(report.worst.logits).toBeLessThan(1e-4);
    expect(report.worst.attention).toBeLessThan(1e-4);
    // The attention output is a distribution over the bag.
    const s = await OnnxSession.create(exported.bytes, { threads: 1, executionProviders: ['cpu'] });
    const out = await s.run(cases[2].feeds);
    expect(Array.from(out.attention.data as Float32Array).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
    await s.release();
    m.dispose();
  });

  it('multi-scale: equal to forward, including a bag with a scale missing', async () => {
    const m = model(2, 5);
    const exported = exportGatedAttentionMil(m);
    expect(exported.inputs.map((i) => i.name)).toEqual(['bag', 'scale_index']);
    const g = new Generator(9);
    const mixed = (n: number) => Int32Array.from({ length: n }, () => g.int(2));
    const cases = [
      parityCase(m, 9, 20, mixed(9)),
      parityCase(m, 33, 21, mixed(33)),
      parityCase(m, 5, 22, new Int32Array(5)), // only scale 0 present
      parityCase(m, 4, 23, Int32Array.from([1, 1, 1, 1])), // only scale 1 present
    ];
    const report = await onnxParity(exported, cases);
    expect(report.failures).toEqual([]);
    m.dispose();
  });

  it('transformer aggregator: logits and attention equal forward within 1e-4; passes the ONNX checker', async () => {
    const m = new GatedAttentionMil(
      { ...MIL_PRESETS.tiny, inDim: IN_DIM, numClasses: 3, aggregator: 'transformer', heads: 4, layers: 2 },
      new Generator(11),
    );
    const g = new Generator(12);
    m.setFeatureStats(
      Float32Array.from({ length: IN_DIM }, () => g.normal() * 0.5),
      Float32Array.from({ length: IN_DIM }, () => 0.5 + g.uniform(0, 1)),
    );
    m.eval();
    const exported = exportGatedAttentionMil(m);
    const report = await onnxParity(
      exported,
      [1, 7, 50].map((n, i) => parityCase(m, n, 60 + i)),
    );
    expect(report.failures).toEqual([]);
    expect(report.worst.logits).toBeLessThan(1e-4);
    expect(report.worst.attention).toBeLessThan(1e-4);
    if (python) expect(officialOnnxCheck({ transformer: exported.bytes }).map((r) => r.ok)).toEqual([true]);
    m.dispose();
  });

  it('auxiliary heads become an extra `aux` output equal to forward (gated, multi-scale, transformer)', async () => {
    const g = new Generator(31);
    for (const extra of [
      { scales: 1 },
      { scales: 2 },
      { aggregator: 'transformer' as const, heads: 4, layers: 1 },
    ]) {
      const m = new GatedAttentionMil(
        { ...MIL_PRESETS.tiny, inDim: IN_DIM, numClasses: 3, auxiliary: ['immune', 'stromal'], ...extra },
        new Generator(30),
      );
      m.eval();
      const exported = exportGatedAttentionMil(m);
      expect(exported.outputs.map((o) => o.name)).toEqual(['logits', 'attention', 'aux']);
      const cases = [3, 17].map((n, i) => {
        const sc = extra.scales === 2 ? Int32Array.from({ length: n }, () => g.int(2)) : undefined;
        const c = parityCase(m, n, 70 + i, sc);
        const data = c.feeds.bag?.data as Float32Array;
        const out = m.forward(tf.tensor2d(data, [n, IN_DIM]), sc);
        c.expected.aux = { data: (out.aux as tf.Tensor2D).dataSync(), dims: [1, 2] };
        tf.dispose([out.logits, out.attention, out.aux as tf.Tensor]);
        return c;
      });
      const report = await onnxParity(exported, cases);
      expect(report.failures).toEqual([]);
      expect(report.worst.aux).toBeLessThan(1e-4);
      m.dispose();
    }
  });

  it("registers 'crc-mil' and exports a saved <run>/final directory with a sidecar", async () => {
    expect(exportRegistry.names()).toContain('crc-mil');
    const dir = mkdtempSync(join(tmpdir(), 'crc-mil-onnx-'));
    try {
      const m = model(1, 7);
      const modelDir = join(dir, 'final');
      mkdirSync(modelDir, { recursive: true });
      writeSafetensors(join(modelDir, 'model.safetensors'), m.stateDict(), { format: 'pt' });
      writeFileSync(
        join(modelDir, 'model.json'),
        JSON.stringify({
          classes: ['CMS1', 'CMS2', 'CMS4'],
          model: m.config,
          temperature: 1.7,
          preprocess: PreprocessConfigSchema.parse({ magnification: 20 }),
          trainPatients: [],
          valPatients: [],
        }),
      );
      const out = join(dir, 'crc-mil.onnx');
      const sidecar = await runExport(exportRegistry, 'crc-mil', { checkpoint: modelDir, out });
      expect(sidecar.labels).toEqual(['CMS1', 'CMS2', 'CMS4']);
      expect(sidecar.temperature).toBe(1.7);
      expect(JSON.parse(readFileSync(`${out}.json`, 'utf8')).sha256).toBe(sidecar.sha256);
      const report = await onnxParity(readFileSync(out), [parityCase(m, 12, 30)]);
      expect(report.failures).toEqual([]);
      m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('predict over the ONNX export (OnnxSession, session options) equals the checkpoint path within 1e-4', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crc-mil-onnx-predict-'));
    try {
      for (const [scales, head, T] of [
        [1, 'evidential', 0.6],
        [2, 'softmax', 1.9],
      ] as const) {
        const m = model(scales, 40 + scales, head);
        const modelDir = join(dir, `final-${scales}`);
        saveModelDir(m, modelDir, T);
        m.dispose();
        const out = join(dir, `crc-mil-${scales}.onnx`);
        await runExport(exportRegistry, 'crc-mil', { checkpoint: modelDir, out });
        const ckpt = checkpointRunner(modelDir);
        const onnx = await onnxRunner(out, {
          threads: 1,
          graphOptimizationLevel: 'basic',
          executionProviders: ['cpu'],
        });
        expect([ckpt.engine, onnx.engine]).toEqual(['checkpoint', 'onnx']);
        expect(onnx.info.classes).toEqual(ckpt.info.classes);
        expect(onnx.info.temperature).toBe(T);
        expect(onnx.info.preprocess).toEqual(ckpt.info.preprocess);
        const g = new Generator(77);
        for (const n of [1, 9, 40]) {
          const features = bag(n, 100 + n);
          const si = scales > 1 ? Int32Array.from({ length: n }, () => g.int(2)) : undefined;
          const a = await predictBag(ckpt, features, n, IN_DIM, si);
          const b = await predictBag(onnx, features, n, IN_DIM, si);
          expect(b.uncertainty.kind).toBe(a.uncertainty.kind);
          expect(Math.abs(b.uncertainty.value - a.uncertainty.value)).toBeLessThan(1e-4);
          a.probabilities.forEach((p, i) => {
            expect(Math.abs((b.probabilities[i] as number) - p)).toBeLessThan(1e-4);
          });
          expect(b.attention.length).toBe(n);
          a.attention.forEach((v, i) => {
            expect(Math.abs((b.attention[i] as number) - v)).toBeLessThan(1e-4);
          });
          // Calibration is applied on both paths: T ≠ 1 changes the probabilities.
          expect(a.probabilities.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);
        }
        await ckpt.dispose();
        await onnx.dispose();
      }
      // A model file that no longer matches its sidecar is refused, naming the file.
      const out = join(dir, 'crc-mil-1.onnx');
      const bytes = readFileSync(out);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      writeFileSync(out, bytes);
      await expect(onnxRunner(out)).rejects.toThrow(/crc-mil-1\.onnx: sha256 .* does not match/);
      rmSync(`${join(dir, 'crc-mil-2.onnx')}.json`);
      await expect(onnxRunner(join(dir, 'crc-mil-2.onnx'))).rejects.toThrow(/missing sidecar/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!python)('the single- and multi-scale exports pass the official ONNX checker', () => {
    const one = model(1, 3);
    const two = model(2, 5);
    const results = officialOnnxCheck({
      single: exportGatedAttentionMil(one).bytes,
      multi: exportGatedAttentionMil(two).bytes,
    });
    one.dispose();
    two.dispose();
    expect(results.map((r) => [r.ok, r.error])).toEqual([
      [true, undefined],
      [true, undefined],
    ]);
  });
});
