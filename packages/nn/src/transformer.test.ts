import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { LayerNorm, StateDictError, TransformerEncoder, TransformerEncoderLayer } from './index';
import { disposeAll, expectClose, type Fixture, fixture, stateOf, toTensor } from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

function encoderFor(f: Fixture, rng: Generator): TransformerEncoder {
  const dModel = f.dModel as number;
  return new TransformerEncoder(
    {
      dModel,
      nhead: f.nhead as number,
      dimFeedforward: f.dimFeedforward as number,
      dropout: 0,
      activation: f.activation as 'relu' | 'gelu',
      normFirst: f.normFirst as boolean,
      rng,
    },
    f.numLayers as number,
    { norm: f.finalNorm ? new LayerNorm(dModel) : undefined },
  );
}

const cases = [
  'encoder_postnorm_relu',
  'encoder_postnorm_gelu',
  'encoder_prenorm_relu',
  'encoder_prenorm_gelu',
];

describe('TransformerEncoder against torch.nn.TransformerEncoder (2 layers, batch_first, key padding mask)', () => {
  it.each(cases)('%s: stateDict() has exactly PyTorch keys, order and shapes', (name) => {
    const f = fixture(name);
    const enc = encoderFor(f, new Generator(0));
    const sd = enc.stateDict();
    expect(Object.keys(sd)).toEqual(f.keys);
    const state = f.state as Record<string, { shape: number[] }>;
    for (const k of f.keys as string[]) expect(sd[k].shape, k).toEqual(state[k].shape);
    enc.dispose();
  });

  it.each(cases)('%s: loads strictly and reproduces the outputs within 1e-4', (name) => {
    const f = fixture(name);
    const enc = encoderFor(f, new Generator(1));
    const sd = stateOf(f);
    enc.loadStateDict(sd, { strict: true });
    disposeAll(sd);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = toTensor(f.input);
      const mask = toTensor(f.keyPaddingMask, 'bool');
      // training mode with dropout 0 is the plain math (PyTorch's fixture was made the same way)
      expectClose(enc.forward(x, { srcKeyPaddingMask: mask }), f.output, 1e-4);
      // eval mode: same math; PyTorch's fast path zeroes padded query rows, so compare the rest
      enc.eval();
      const y = enc.forward(x, { srcKeyPaddingMask: mask }).dataSync();
      const ref = (f.outputEval as { data: number[] }).data;
      const pad = (f.keyPaddingMask as { data: number[] }).data;
      const d = f.dModel as number;
      let worst = 0;
      for (let i = 0; i < ref.length; i++)
        if (!pad[Math.floor(i / d)]) worst = Math.max(worst, Math.abs(y[i] - ref[i]));
      expect(worst).toBeLessThanOrEqual(1e-4);
    });
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
  });

  it('rejects a state dict with a missing and an unexpected key, naming them', () => {
    const f = fixture('encoder_postnorm_relu');
    const enc = encoderFor(f, new Generator(0));
    const sd = stateOf(f);
    const moved = sd['layers.1.norm2.bias'];
    delete sd['layers.1.norm2.bias'];
    sd['layers.2.norm2.bias'] = moved;
    expect(() => enc.loadStateDict(sd)).toThrow(StateDictError);
    expect(() => enc.loadStateDict(sd)).toThrow(
      /missing keys: layers\.1\.norm2\.bias; unexpected keys: layers\.2\.norm2\.bias/,
    );
    disposeAll(sd);
    enc.dispose();
  });

  it('a layer factory gives each layer its own parameters', () => {
    const rng = new Generator(4);
    const enc = new TransformerEncoder(
      (i) => new TransformerEncoderLayer(8, 2, { dimFeedforward: 8 + i, rng }),
      2,
    );
    expect(enc.stateDict()['layers.1.linear1.weight'].shape).toEqual([9, 8]);
    expect(enc.stateDict()['norm.weight']).toBeUndefined();
    enc.dispose();
  });
});
