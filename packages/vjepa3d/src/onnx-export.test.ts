import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '@meddl/checkpoint';
import { Hdf5File } from '@meddl/data';
import {
  exportModule,
  exportRegistry,
  officialOnnxCheck,
  onnxCheckerPython,
  onnxParity,
  type ParityCase,
  runExport,
} from '@meddl/onnx';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
// The package entry registers 'vjepa3d' in the export registry.
import {
  createModel,
  embedVolumes,
  embedVolumesOnnx,
  exportVJepaEncoder,
  loadOctDataset,
  openOnnxEncoder,
  patchify,
  predict,
  synthesize,
  type VisionTransformer3d,
  type VJepa3d,
} from './index';

beforeAll(async () => {
  await initBackend();
});

// vit3d-tiny with a smaller volume: [8, 16, 16] in [2, 8, 8] tubelets → 4·2·2 = 16 tokens.
const OVERRIDES = { inputShape: [8, 16, 16] as [number, number, number] };

function model(seed: number): VJepa3d {
  const m = createModel('vit3d-tiny', OVERRIDES, new Generator(seed));
  m.eval();
  return m;
}

/** The module's outputs for B random volumes: tokens = enc.forward(patchify(v)), embedding = mean. */
function parityCase(enc: VisionTransformer3d, B: number, seed: number): ParityCase {
  const [D, H, W] = enc.config.inputShape;
  const volumes = new Generator(seed).normalArray(B * D * H * W);
  const tubelets = patchify(volumes, B, enc.config.inputShape, enc.config.tubelet);
  const K = enc.config.tubelet[0] * enc.config.tubelet[1] * enc.config.tubelet[2];
  const tokens = enc.forward(tf.tensor3d(tubelets, [B, enc.numTokens, K]));
  const embedding = tf.mean(tokens, 1);
  const c: ParityCase = {
    feeds: { volumes: { data: volumes, dims: [B, 1, D, H, W] } },
    expected: {
      tokens: { data: tokens.dataSync(), dims: tokens.shape },
      embedding: { data: embedding.dataSync(), dims: embedding.shape },
    },
  };
  tokens.dispose();
  embedding.dispose();
  return c;
}

// The official ONNX checker (Debian python3-onnx); skipped when it is not installed.
const python = onnxCheckerPython();

describe('vjepa3d ONNX export', () => {
  it('context encoder: tokens and embedding equal forward within 1e-4 for batch 1, 2 and 4', async () => {
    const m = model(3);
    const exported = exportVJepaEncoder(m);
    expect(exported.inputs[0]?.dims).toEqual(['batch', 1, 8, 16, 16]);
    const report = await onnxParity(
      exported,
      [1, 2, 4].map((B, i) => parityCase(m.encoder, B, 50 + i)),
    );
    expect(report.failures).toEqual([]);
    expect(report.worst.tokens).toBeLessThan(1e-4);
    expect(report.worst.embedding).toBeLessThan(1e-4);
    m.dispose();
  });

  it('toOnnx on VisionTransformer3d (tubelet input) equals forward', async () => {
    const m = model(4);
    const enc = m.encoder;
    const K = 2 * 8 * 8;
    const exported = exportModule(enc, {
      inputs: [{ name: 'tubelets', dtype: 'float32', dims: ['batch', enc.numTokens, K] }],
      outputs: [{ name: 'tokens', dtype: 'float32', dims: ['batch', enc.numTokens, 48] }],
    });
    const cases = [1, 3].map((B, i) => {
      const data = new Generator(70 + i).normalArray(B * enc.numTokens * K);
      const out = enc.forward(tf.tensor3d(data, [B, enc.numTokens, K]));
      const c: ParityCase = {
        feeds: { tubelets: { data, dims: [B, enc.numTokens, K] } },
        expected: { tokens: { data: out.dataSync(), dims: out.shape } },
      };
      out.dispose();
      return c;
    });
    const report = await onnxParity(exported, cases);
    expect(report.failures).toEqual([]);
    m.dispose();
  });

  it("registers 'vjepa3d' and exports the target encoder of a checkpoint directory", async () => {
    expect(exportRegistry.names()).toContain('vjepa3d');
    const dir = mkdtempSync(join(tmpdir(), 'vjepa3d-onnx-'));
    try {
      const m = model(6);
      // Make the target encoder differ from the context encoder (as EMA does after training).
      // (A constant bias shift would not do: the pre-norm blocks and the final norm cancel it.)
      const w = m.targetEncoder.patchEmbed.weight;
      w.assign(tf.mul(w, 1.5));
      const ckpt = join(dir, 'run', 'checkpoints', 'epoch-1');
      mkdirSync(ckpt, { recursive: true });
      writeSafetensors(join(ckpt, 'model.safetensors'), m.stateDict(), { format: 'pt' });
      writeFileSync(
        join(dir, 'run', 'vjepa3d.json'),
        JSON.stringify({
          data: { dir: join(dir, 'data') },
          model: { preset: 'vit3d-tiny', overrides: OVERRIDES },
          trainer: { name: 'run' },
        }),
      );
      const out = join(dir, 'vjepa3d.onnx');
      const sidecar = await runExport(exportRegistry, 'vjepa3d', {
        checkpoint: ckpt,
        out,
        encoder: 'target',
      });
      expect(sidecar.encoder).toBe('target');
      const target = await onnxParity(readFileSync(out), [parityCase(m.targetEncoder, 2, 80)]);
      expect(target.failures).toEqual([]);
      const context = await onnxParity(readFileSync(out), [parityCase(m.encoder, 2, 80)]);
      expect(context.ok).toBe(false); // the file holds the target encoder, not the context one
      await expect(
        runExport(exportRegistry, 'vjepa3d', { checkpoint: ckpt, out, encoder: 'student' }),
      ).rejects.toThrow(/context' or 'target'/);

      // Embeddings from the exported file (onnxruntime) equal the checkpoint path's within 1e-4:
      // embedVolumesOnnx for both poolings, and predict({ onnx }) with the sidecar alone.
      const dataDir = join(dir, 'data');
      synthesize(dataDir, { seed: 2, patients: 3, scale: 0.3, bothEyes: 0 });
      const data = await loadOctDataset(dataDir, [9, 18, 18]);
      const session = await openOnnxEncoder(out, [8, 16, 16]);
      try {
        for (const pooling of ['mean', 'mean-max'] as const) {
          const ref = embedVolumes(m, data.volumes, 'target', pooling);
          const got = await embedVolumesOnnx(session, data.volumes, [8, 16, 16], pooling, 2);
          expect(got.dim).toBe(ref.dim);
          const diff = Math.max(...got.embeddings.map((v, i) => Math.abs(v - ref.embeddings[i]!)));
          expect(diff).toBeLessThan(1e-4);
        }
      } finally {
        await session.release();
      }
      await expect(openOnnxEncoder(out, [8, 32, 32])).rejects.toThrow(/does not match/);
      const h5 = join(dir, 'emb.h5');
      const p = await predict({ onnx: out, input: dataDir, out: h5 });
      expect(p).toEqual({ count: data.volumes.length, dim: 48, source: 'onnx' });
      const ref = embedVolumes(m, data.volumes, 'target', 'mean');
      const f = await Hdf5File.open(h5, 'r');
      try {
        const emb = f.read('embeddings') as Float32Array;
        expect(Math.max(...emb.map((v, i) => Math.abs(v - ref.embeddings[i]!)))).toBeLessThan(1e-4);
        expect(f.attributes('embeddings').encoder).toBe('target');
      } finally {
        f.close();
      }
      m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it.skipIf(!python)('the encoder export passes the official ONNX checker', () => {
    const m = model(3);
    const results = officialOnnxCheck({ encoder: exportVJepaEncoder(m).bytes });
    m.dispose();
    expect(results.map((r) => [r.ok, r.error])).toEqual([[true, undefined]]);
  });
});
