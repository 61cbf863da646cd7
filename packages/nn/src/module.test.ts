import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { Linear, Module, ModuleList, StateDictError } from './index';

class Block extends Module {
  readonly fc1: Linear;
  readonly layers: ModuleList<Linear>;
  constructor(rng: Generator) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(4, 3, { rng }));
    this.registerBuffer('scale', tf.ones([3]));
    this.layers = this.registerModule(
      'layers',
      new ModuleList([new Linear(3, 2, { rng }), new Linear(2, 2, { bias: false, rng })]),
    );
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let h = this.fc1.forward(x);
      for (const l of this.layers) h = l.forward(h);
      return h;
    });
  }
}

beforeAll(async () => {
  await initBackend('cpu');
});

describe('Module', () => {
  it('names parameters and buffers hierarchically in PyTorch order', () => {
    const m = new Block(new Generator(0));
    const sd = m.stateDict();
    expect(Object.keys(sd)).toEqual([
      'scale',
      'fc1.weight',
      'fc1.bias',
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
    ]);
    expect(sd['fc1.weight'].shape).toEqual([3, 4]);
    expect(m.numParameters()).toBe(12 + 3 + 6 + 2 + 4);
    m.dispose();
  });

  it('is reproducible for a seed', () => {
    const a = new Block(new Generator(5));
    const b = new Block(new Generator(5));
    expect(Array.from(a.fc1.weight.dataSync())).toEqual(Array.from(b.fc1.weight.dataSync()));
    a.dispose();
    b.dispose();
  });

  it('loads a state dict strictly and reports missing, unexpected and misshapen keys', () => {
    const a = new Block(new Generator(1));
    const b = new Block(new Generator(2));
    b.loadStateDict(a.stateDict());
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    expect(Array.from(b.forward(x).dataSync())).toEqual(Array.from(a.forward(x).dataSync()));
    const partial = { ...a.stateDict() } as Record<string, tf.Tensor>;
    delete partial['layers.1.weight'];
    partial.extra = tf.zeros([1]);
    expect(() => b.loadStateDict(partial)).toThrow(StateDictError);
    expect(() => b.loadStateDict(partial)).toThrow(/missing keys: layers\.1\.weight; unexpected keys: extra/);
    expect(b.loadStateDict(partial, { strict: false })).toEqual({
      missingKeys: ['layers.1.weight'],
      unexpectedKeys: ['extra'],
    });
    const bad = { ...a.stateDict(), 'fc1.weight': tf.zeros([4, 3]) };
    expect(() => b.loadStateDict(bad)).toThrow(/fc1\.weight expected \[3,4\] got \[4,3\]/);
    a.dispose();
    b.dispose();
  });

  it('freezes a subtree and switches train/eval recursively', () => {
    const m = new Block(new Generator(3));
    m.layers.freeze();
    expect(m.trainableParameters().length).toBe(2);
    m.eval();
    expect(m.layers.at(0).training).toBe(false);
    m.train();
    expect(m.layers.at(1).training).toBe(true);
    m.unfreeze();
    expect(m.trainableParameters().length).toBe(5);
    m.dispose();
  });
});
