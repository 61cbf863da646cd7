import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MLP } from '@meddl/nn';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ExportRegistry, exportCommands } from './commands';
import { OnnxArgumentError } from './errors';
import { exportModule } from './export';
import { OnnxSession } from './runtime';
import { expectMatches, randn } from './test-utils';

const tmp = mkdtempSync(join(tmpdir(), 'meddl-onnx-cmd-'));
beforeAll(async () => {
  await initBackend();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A toy exporter standing in for a domain package's: builds an MLP from a "checkpoint". */
function registry(model: MLP): ExportRegistry {
  return new ExportRegistry().register('toy-mlp', {
    description: 'an MLP',
    export: ({ checkpoint, opset, options }) => {
      if (!existsSync(checkpoint)) throw new Error(`no checkpoint at ${checkpoint}`);
      return {
        exported: exportModule(model, {
          opset,
          inputs: [{ name: 'features', dtype: 'float32', dims: ['batch', 6] }],
          outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', 3] }],
        }),
        sidecar: { labels: ['a', 'b', 'c'], temperature: Number(options.temperature ?? 1) },
      };
    },
  });
}

describe('meddl export', () => {
  const model = new MLP(6, 8, 3, { rng: new Generator(4) }).eval();
  const [exportCmd, inspectCmd] = exportCommands(registry(model));

  it('writes the model and its sidecar through a registered exporter', async () => {
    const ckpt = join(tmp, 'ckpt');
    mkdirSync(ckpt, { recursive: true });
    const out = join(tmp, 'exports', 'toy.onnx');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await exportCmd.run(['toy-mlp'], { checkpoint: ckpt, out, opset: '18', temperature: '1.7' });
    await inspectCmd.run([out], {});
    const printed = log.mock.calls.map((c) => String(c[0])).join('\n');
    log.mockRestore();
    expect(printed).toContain('features: float32 [batch, 6]');
    const sidecar = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
    expect(sidecar).toMatchObject({ model: 'toy-mlp', opset: 18, labels: ['a', 'b', 'c'], temperature: 1.7 });

    // the file runs from plain onnxruntime, in batches too, and matches forward
    const s = await OnnxSession.create(out, { executionProviders: ['cpu'] });
    const x = randn([7, 6], 1);
    const ref = model.forward(x);
    const whole = await s.run({ features: { data: Float32Array.from(x.dataSync()), dims: [7, 6] } });
    const chunked = await s.runBatched(
      { features: { data: Float32Array.from(x.dataSync()), dims: [7, 6] } },
      3,
    );
    expectMatches(whole.logits, ref);
    expectMatches(chunked.logits, ref);
    tf.dispose([x, ref]);
    await s.release();
  });

  it('unknown models and missing options are typed errors', async () => {
    await expect(exportCmd.run(['nope'], { checkpoint: tmp, out: join(tmp, 'x.onnx') })).rejects.toThrow(
      /no exporter for 'nope' \(known: toy-mlp\)/,
    );
    await expect(exportCmd.run(['toy-mlp'], { out: join(tmp, 'x.onnx') })).rejects.toThrow(OnnxArgumentError);
    await expect(exportCmd.run(['toy-mlp'], { checkpoint: tmp, out: join(tmp, 'x.bin') })).rejects.toThrow(
      /--out: an output path ending in \.onnx/,
    );
    expect(() =>
      new ExportRegistry().register('Bad Name', { description: '', export: () => ({}) as never }),
    ).toThrow(OnnxArgumentError);
  });
});
