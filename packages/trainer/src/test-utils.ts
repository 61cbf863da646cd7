// Shared by the trainer's tests: a small MLP task on a learnable synthetic problem, and an
// in-memory checkpoint sink that serializes tensors to plain arrays (as a file sink would).
import { Dropout, Linear, Module } from '@meddl/nn';
import { Generator, tf } from '@meddl/tensor';
import type { Collated } from './data/collate';
import type { Dataset } from './data/loader';
import { crossEntropy } from './losses';
import type {
  CheckpointInfo,
  CheckpointPayload,
  CheckpointSink,
  TrainingTask,
  ValidationOutput,
} from './trainer';

export class Mlp extends Module {
  readonly fc1: Linear;
  readonly drop: Dropout;
  readonly fc2: Linear;
  constructor(
    hidden: number,
    readonly rng: Generator,
    dropout = 0,
  ) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(2, hidden, { rng }));
    this.drop = this.registerModule('drop', new Dropout(dropout, rng));
    this.fc2 = this.registerModule('fc2', new Linear(hidden, 2, { rng }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(this.drop.forward(tf.tanh(this.fc1.forward(x)))));
  }
}

export interface XorItem {
  x: Float32Array;
  y: number;
}

/** XOR-style quadrants: label 1 where x·y > 0. Not linearly separable. */
export function xorDataset(n: number, seed: number): Dataset<XorItem> {
  const g = new Generator(seed);
  const items = Array.from({ length: n }, () => {
    const a = g.uniform(-1, 1);
    const b = g.uniform(-1, 1);
    return { x: Float32Array.of(a, b), y: a * b > 0 ? 1 : 0 };
  });
  return { length: n, get: (i) => items[i] };
}

type XorBatch = Record<'x' | 'y', Collated>;

function tensors(batch: XorBatch): { x: tf.Tensor2D; y: number[] } {
  const x = batch.x as { data: Float32Array; shape: number[] };
  const y = batch.y as { data: Float32Array };
  return { x: tf.tensor2d(x.data, [x.shape[0], x.shape[1]]), y: Array.from(y.data) };
}

export function xorTask(model: Mlp): TrainingTask<XorBatch> {
  return {
    module: model,
    generators: () => [model.rng],
    trainingStep(batch) {
      const { x, y } = tensors(batch);
      return crossEntropy(model.forward(x), y) as tf.Scalar;
    },
    validationStep(batch): ValidationOutput {
      const { x, y } = tensors(batch);
      const logits = model.forward(x);
      const loss = crossEntropy(logits, y).dataSync()[0];
      const pred = Array.from(tf.argMax(logits, 1).dataSync());
      return { loss, correct: pred.filter((p, i) => p === y[i]).length, n: y.length };
    },
    validationEpochEnd(outputs) {
      const correct = outputs.reduce((a, o) => a + (o.correct as number), 0);
      const n = outputs.reduce((a, o) => a + (o.n as number), 0);
      return { val_accuracy: correct / n };
    },
  };
}

export function weightsOf(m: Module): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [k, Array.from(v.dataSync())]));
}

interface Stored {
  path: string;
  model: Record<string, { shape: number[]; data: number[] }>;
  optimizer: Record<string, { shape: number[]; data: number[] }>;
  state: string;
  info: CheckpointInfo;
}

const ser = (d: Record<string, tf.Tensor>) =>
  Object.fromEntries(
    Object.entries(d).map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.dataSync()) }]),
  );
const de = (d: Record<string, { shape: number[]; data: number[] }>) =>
  Object.fromEntries(Object.entries(d).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));

/** Keeps checkpoints as plain arrays + JSON strings, like a file-based sink would. */
export class MemorySink implements CheckpointSink {
  readonly saved: Stored[] = [];
  async save(payload: CheckpointPayload, info: CheckpointInfo): Promise<string> {
    const path = `mem://${this.saved.length}-${info.reason}`;
    this.saved.push({
      path,
      model: ser(payload.model),
      optimizer: ser(payload.optimizer ?? {}),
      state: JSON.stringify(payload.state),
      info: JSON.parse(JSON.stringify(info)),
    });
    return path;
  }
  async latestValid() {
    const s = this.saved.at(-1);
    if (!s) return null;
    return { path: s.path, model: de(s.model), optimizer: de(s.optimizer), state: JSON.parse(s.state) };
  }
}
