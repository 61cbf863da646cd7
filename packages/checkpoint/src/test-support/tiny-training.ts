/**
 * A tiny training run used by the resume-exactness test, in this process and in child processes:
 * a 4-8-1 tanh MLP (@meddl/nn Linear), momentum SGD written out here with torch.optim.SGD's update
 * (buf = momentum * buf + grad, the first buf being grad; p -= lr * buf), and minibatches drawn from a
 * seeded Generator, so that exact continuation needs weights, momentum buffers, RNG and step.
 */
import { Linear, Module } from '@meddl/nn';
import { Generator, tf } from '@meddl/tensor';
import type { CheckpointPayload, LoadedCheckpoint } from '../manager';

export class TinyMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(rng: Generator) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(4, 8, { rng }));
    this.fc2 = this.registerModule('fc2', new Linear(8, 1, { rng }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(tf.tanh(this.fc1.forward(x))));
  }
}

export class MomentumSgd {
  private readonly buffers = new Map<number, tf.Tensor>();
  constructor(
    readonly params: tf.Variable[],
    readonly lr: number,
    readonly momentum: number,
  ) {}

  step(grads: tf.Tensor[]): void {
    this.params.forEach((p, i) => {
      const prev = this.buffers.get(i);
      const buf = prev ? tf.tidy(() => prev.mul(this.momentum).add(grads[i])) : grads[i].clone();
      prev?.dispose();
      this.buffers.set(i, buf);
      tf.tidy(() => p.assign(p.sub(buf.mul(this.lr))));
    });
  }

  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [i, b] of this.buffers) out[`state.${i}.momentum_buffer`] = b;
    return out;
  }

  loadStateTensors(d: Record<string, tf.Tensor>): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
    for (const [k, t] of Object.entries(d)) {
      const m = /^state\.(\d+)\.momentum_buffer$/.exec(k);
      if (m) this.buffers.set(Number(m[1]), t.clone());
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
  }
}

export interface TinyRun {
  model: TinyMlp;
  opt: MomentumSgd;
  dataRng: Generator;
  x: tf.Tensor2D;
  y: tf.Tensor2D;
  step: number;
  lastLoss: number;
}

export function createRun(seed: number): TinyRun {
  const init = new Generator(seed);
  const model = new TinyMlp(init);
  const data = new Generator(1234);
  const x = tf.tensor2d(data.normalArray(64 * 4), [64, 4]);
  const y = tf.tidy(() => tf.sin(x.sum(1, true)) as tf.Tensor2D);
  return {
    model,
    opt: new MomentumSgd(model.parameters(), 0.05, 0.9),
    dataRng: new Generator(seed + 1),
    x,
    y,
    step: 0,
    lastLoss: Number.NaN,
  };
}

export function trainSteps(run: TinyRun, n: number): void {
  const params = run.model.parameters();
  for (let s = 0; s < n; s++) {
    const idx = tf.tensor1d(
      Array.from({ length: 8 }, () => run.dataRng.int(64)),
      'int32',
    );
    const { value, grads } = tf.variableGrads(() => {
      const xb = tf.gather(run.x, idx);
      const yb = tf.gather(run.y, idx);
      return tf.losses.meanSquaredError(yb, run.model.forward(xb)) as tf.Scalar;
    }, params);
    run.opt.step(params.map((p) => grads[p.name]));
    run.lastLoss = value.dataSync()[0];
    value.dispose();
    idx.dispose();
    for (const g of Object.values(grads)) g.dispose();
    run.step++;
  }
}

export function payloadOf(run: TinyRun): CheckpointPayload {
  return {
    model: run.model.stateDict(),
    optimizer: run.opt.stateTensors(),
    state: {
      globalStep: run.step,
      rng: run.dataRng.getState(),
      optimizer: { lr: run.opt.lr, momentum: run.opt.momentum },
    },
  };
}

export function restoreRun(run: TinyRun, loaded: LoadedCheckpoint): void {
  run.model.loadStateDict(loaded.model);
  run.opt.loadStateTensors(loaded.optimizer ?? {});
  run.dataRng.setState(loaded.state.rng as number[]);
  run.step = loaded.state.globalStep as number;
}

export function disposeRun(run: TinyRun): void {
  run.model.dispose();
  run.opt.dispose();
  run.x.dispose();
  run.y.dispose();
}
