import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '@meddl/checkpoint';
import {
  exportRegistry,
  officialOnnxCheck,
  onnxCheckerPython,
  onnxParity,
  type ParityCase,
  runExport,
  type TensorData,
} from '@meddl/onnx';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLINICAL_NUMERIC_DIM } from './clinical';
// The package entry registers 'mdf-net' in the export registry.
import { createModel, exportMdfNet, type MdfNet, type MdfNetModelConfigInput, PRESETS } from './index';

beforeAll(async () => {
  await initBackend();
});

const VOCAB = 40;

function tinyModel(overrides: MdfNetModelConfigInput, seed: number): MdfNet {
  const m = createModel({ ...PRESETS['mdf-net-tiny'], vocabSize: VOCAB, ...overrides }, new Generator(seed));
  m.eval();
  return m;
}

/** Random inputs for batch B and token length L; every row keeps ≥ 1 token, the rest padded. */
function inputs(m: MdfNet, B: number, L: number, seed: number): Record<string, TensorData> {
  const g = new Generator(seed);
  const S = m.config.imageSize;
  const feeds: Record<string, TensorData> = {};
  for (const mod of m.config.modalities) {
    if (mod === 'image') feeds.images = { data: g.normalArray(B * S * S), dims: [B, S, S] };
    else if (mod === 'text') {
      const tokens = new Int32Array(B * L);
      const attention = new Int32Array(B * L);
      for (let r = 0; r < B; r++) {
        const keep = 1 + g.int(L);
        for (let t = 0; t < keep; t++) {
          tokens[r * L + t] = 1 + g.int(VOCAB - 1);
          attention[r * L + t] = 1;
        }
      }
      feeds.tokens = { data: tokens, dims: [B, L] };
      feeds.attention = { data: attention, dims: [B, L] };
    } else {
      feeds.clinical = { data: g.normalArray(B * CLINICAL_NUMERIC_DIM), dims: [B, CLINICAL_NUMERIC_DIM] };
      feeds.sex = { data: Int32Array.from({ length: B }, () => g.int(3)), dims: [B] };
      feeds.acuity = { data: Int32Array.from({ length: B }, () => g.int(6)), dims: [B] };
    }
  }
  return feeds;
}

function parityCase(m: MdfNet, B: number, L: number, seed: number): ParityCase {
  const f = inputs(m, B, L, seed);
  const t = (name: string, dtype: 'float32' | 'int32') =>
    f[name] ? tf.tensor(f[name].data as Float32Array | Int32Array, [...f[name].dims], dtype) : undefined;
  const logits = m.forward({
    images: t('images', 'float32') as tf.Tensor3D | undefined,
    tokens: t('tokens', 'int32') as tf.Tensor2D | undefined,
    attention: t('attention', 'int32') as tf.Tensor2D | undefined,
    clinical: t('clinical', 'float32') as tf.Tensor2D | undefined,
    sex: t('sex', 'int32') as tf.Tensor1D | undefined,
    acuity: t('acuity', 'int32') as tf.Tensor1D | undefined,
  });
  const c: ParityCase = { feeds: f, expected: { logits: { data: logits.dataSync(), dims: logits.shape } } };
  logits.dispose();
  return c;
}

const SIZES: Array<[number, number]> = [
  [1, 5],
  [3, 12],
  [6, 30],
];

// The official ONNX checker (Debian python3-onnx); skipped when it is not installed.
const python = onnxCheckerPython();

describe('mdf-net ONNX export', () => {
  const variants: Array<[string, MdfNetModelConfigInput, string[]]> = [
    ['all modalities, concat fusion', {}, ['images', 'tokens', 'attention', 'clinical', 'sex', 'acuity']],
    [
      'all modalities, attention fusion',
      { fusion: 'attention' },
      ['images', 'tokens', 'attention', 'clinical', 'sex', 'acuity'],
    ],
    ['image only', { modalities: ['image'] }, ['images']],
    [
      'text + clinical',
      { modalities: ['text', 'clinical'] },
      ['tokens', 'attention', 'clinical', 'sex', 'acuity'],
    ],
  ];
  for (const [label, cfg, names] of variants) {
    it(`${label}: logits equal forward within 1e-4 for several batch and token sizes`, async () => {
      const m = tinyModel(cfg, 11);
      const exported = exportMdfNet(m);
      expect(exported.inputs.map((i) => i.name)).toEqual(names);
      const report = await onnxParity(
        exported,
        SIZES.map(([B, L], i) => parityCase(m, B, L, 40 + i)),
      );
      expect(report.failures).toEqual([]);
      expect(report.worst.logits).toBeLessThan(1e-4);
      m.dispose();
    });
  }

  it("registers 'mdf-net' and exports a run's checkpoint directory with a sidecar", async () => {
    expect(exportRegistry.names()).toContain('mdf-net');
    const dir = mkdtempSync(join(tmpdir(), 'mdf-net-onnx-'));
    try {
      const m = tinyModel({ modalities: ['image', 'clinical'] }, 5);
      const ckpt = join(dir, 'run', 'stage2', 'checkpoints', 'epoch-3');
      mkdirSync(ckpt, { recursive: true });
      writeSafetensors(join(ckpt, 'model.safetensors'), m.stateDict(), { format: 'pt' });
      writeFileSync(
        join(dir, 'run', 'mdf-net.json'),
        JSON.stringify({
          config: { normalization: 'xrv', stage2: { enabled: true } },
          modelConfig: m.config,
          clinicalStats: { mean: [], std: [] },
          tokenizer: 'tokenizer.json',
        }),
      );
      const out = join(dir, 'mdf-net.onnx');
      const sidecar = await runExport(exportRegistry, 'mdf-net', { checkpoint: ckpt, out });
      expect((sidecar.labels as string[]).length).toBe(m.config.numLabels);
      expect((sidecar.preprocessing as { imageNormalization: string }).imageNormalization).toBe('xrv');
      const report = await onnxParity(readFileSync(out), [parityCase(m, 2, 4, 9)]);
      expect(report.failures).toEqual([]);
      m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it.skipIf(!python)('every variant passes the official ONNX checker', () => {
    const files: Record<string, Uint8Array> = {};
    variants.forEach(([, cfg], i) => {
      const m = tinyModel(cfg, 11);
      files[`variant${i}`] = exportMdfNet(m).bytes;
      m.dispose();
    });
    const results = officialOnnxCheck(files);
    expect(results.map((r) => [r.ok, r.error])).toEqual(variants.map(() => [true, undefined]));
  });
});
