import { Linear } from '@meddl/nn';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataLoader } from './data/loader';
import { EMA, EmaCallback } from './ema';
import { MemorySink, Mlp, weightsOf, xorDataset, xorTask } from './test-utils';
import { Trainer } from './trainer';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('EMA', () => {
  it('follows θ̄ ← m·θ̄ + (1−m)·θ with a linear momentum schedule (0.9 → 1.0 over 4 steps)', () => {
    const src = new Linear(2, 1, { rng: new Generator(1) });
    const ema = new EMA(src, { momentum: 0.9, endMomentum: 1, totalSteps: 4 });
    let ref = Array.from(src.weight.dataSync());
    for (let s = 0; s < 6; s++) {
      src.weight.assign(tf.add(src.weight, 1));
      ema.update();
      const m = 0.9 + 0.1 * Math.min(1, s / 4);
      const cur = Array.from(src.weight.dataSync());
      ref = ref.map((r, i) => m * r + (1 - m) * cur[i]);
    }
    const got = Array.from(ema.averaged().weight.dataSync());
    for (const [i, g] of got.entries()) expect(g).toBeCloseTo(ref[i], 5);
    expect(ema.momentumAt(10)).toBe(1);
    ema.dispose();
  });

  it('drives a target module in place and survives checkpoint + resume through the trainer', async () => {
    const student = new Linear(2, 1, { rng: new Generator(2) });
    const teacher = new Linear(2, 1, { rng: new Generator(3) });
    const ema = new EMA(student, { momentum: 0.5, target: teacher });
    student.weight.assign(tf.zerosLike(student.weight));
    student.bias?.assign(tf.zerosLike(student.bias));
    const before = Array.from(teacher.weight.dataSync());
    ema.update();
    expect(Array.from(teacher.weight.dataSync())).toEqual(before.map((v) => Math.fround(v * 0.5)));

    const cfg = {
      runsDir: null,
      handleSignals: false,
      loggers: { console: false },
      maxEpochs: 2,
      seed: 1,
      checkpoint: { everyNEpochs: 1 },
    };
    const make = () => {
      const model = new Mlp(8, new Generator(4));
      const e = new EMA(model, { momentum: 0.9, endMomentum: 1, totalSteps: 16 });
      return {
        model,
        e,
        task: xorTask(model),
        train: new DataLoader(xorDataset(64, 1), { batchSize: 8, shuffle: true }),
      };
    };
    const full = make();
    await new Trainer(cfg, { callbacks: [new EmaCallback(full.e)] }).fit(full.task, { train: full.train });
    const sink = new MemorySink();
    const part = make();
    await new Trainer(
      { ...cfg, maxEpochs: 1 },
      { callbacks: [new EmaCallback(part.e)], checkpointSink: sink },
    ).fit(part.task, { train: part.train });
    const resumed = make();
    await new Trainer(cfg, { callbacks: [new EmaCallback(resumed.e)], checkpointSink: sink }).fit(
      resumed.task,
      { train: resumed.train },
      { resume: true },
    );
    expect(resumed.e.step).toBe(16);
    const avg = (e: EMA) =>
      Object.fromEntries(Object.entries(e.averaged()).map(([k, v]) => [k, Array.from(v.dataSync())]));
    expect(avg(resumed.e)).toEqual(avg(full.e));
    expect(weightsOf(resumed.model)).toEqual(weightsOf(full.model));
  });
});
