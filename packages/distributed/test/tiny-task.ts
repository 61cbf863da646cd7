// A tiny learnable classification task shared by the DDP equivalence test (in-process reference)
// and the worker processes it spawns: label = argmax of a fixed random projection of x.
import { Linear, Module } from '@meddl/nn';
import { Generator, tf } from '@meddl/tensor';
import { type Collated, crossEntropy, type Dataset, type TrainingTask } from '@meddl/trainer';

export class TinyMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(seed: number) {
    super();
    const rng = new Generator(seed);
    this.fc1 = this.registerModule('fc1', new Linear(4, 16, { rng }));
    this.fc2 = this.registerModule('fc2', new Linear(16, 3, { rng }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(tf.tanh(this.fc1.forward(x))));
  }
}

export interface Item {
  x: Float32Array;
  y: number;
}

export function tinyDataset(n: number, seed: number): Dataset<Item> {
  const g = new Generator(seed);
  const proj = Array.from({ length: 12 }, () => g.uniform(-1, 1));
  const items = Array.from({ length: n }, () => {
    const x = Float32Array.from({ length: 4 }, () => g.uniform(-1, 1));
    const scores = [0, 1, 2].map((c) => x.reduce((a, v, i) => a + v * proj[c * 4 + i], 0));
    return { x, y: scores.indexOf(Math.max(...scores)) };
  });
  return { length: n, get: (i) => items[i] };
}

type Batch = Record<'x' | 'y', Collated>;

export function tinyTask(model: TinyMlp): TrainingTask<Batch> {
  return {
    module: model,
    trainingStep(batch) {
      const x = batch.x as { data: Float32Array; shape: number[] };
      const y = Array.from((batch.y as { data: Float32Array }).data);
      return crossEntropy(model.forward(tf.tensor2d(x.data, [x.shape[0], 4])), y) as tf.Scalar;
    },
  };
}

export const TINY = {
  n: 48,
  dataSeed: 3,
  samplerSeed: 9,
  modelSeed: 100,
  globalBatch: 8,
  epochs: 2,
  lr: 0.01,
};

export function weights(m: Module): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [k, Array.from(v.dataSync())]));
}

/** Trains TinyMlp in one process on the global batch (the order of DistributedSampler's union). */
export async function trainReference(): Promise<Record<string, number[]>> {
  const { DataLoader, RandomSampler, Trainer } = await import('@meddl/trainer');
  const model = new TinyMlp(TINY.modelSeed);
  const train = new DataLoader(tinyDataset(TINY.n, TINY.dataSeed), {
    batchSize: TINY.globalBatch,
    sampler: new RandomSampler(TINY.n, TINY.samplerSeed),
  });
  const trainer = new Trainer({
    maxEpochs: TINY.epochs,
    optimizer: { name: 'adamw', lr: TINY.lr },
    runsDir: null,
    loggers: { console: false, csv: false, jsonl: false, tensorboard: false },
    handleSignals: false,
  });
  await trainer.fit(tinyTask(model), { train });
  return weights(model);
}

export function maxDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let d = 0;
  for (const k of Object.keys(a)) for (const [i, v] of a[k].entries()) d = Math.max(d, Math.abs(v - b[k][i]));
  return d;
}
