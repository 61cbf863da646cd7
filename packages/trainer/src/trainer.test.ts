import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Callback, MemoryMonitor } from './callbacks';
import type { TrainerConfigInput } from './config';
import { DataLoader } from './data/loader';
import { CallbackError, NonFiniteLossError } from './errors';
import { MemorySink, Mlp, weightsOf, xorDataset, xorTask } from './test-utils';
import { Trainer, type TrainerOptions } from './trainer';

const tmp = mkdtempSync(join(tmpdir(), 'meddl-trainer-'));
beforeAll(async () => {
  await initBackend('cpu');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const quiet = {
  loggers: { console: false, csv: false, jsonl: false, tensorboard: false },
  runsDir: null,
  handleSignals: false,
};

function setup(cfg: TrainerConfigInput, opts: TrainerOptions = {}, batchSize = 32, hidden = 16, dropout = 0) {
  const model = new Mlp(hidden, new Generator(7), dropout);
  const task = xorTask(model);
  const train = new DataLoader(xorDataset(256, 1), { batchSize, shuffle: true, seed: 3 });
  const val = new DataLoader(xorDataset(256, 2), { batchSize: 128 });
  const trainer = new Trainer({ ...quiet, ...cfg }, opts);
  return { model, task, train, val, trainer };
}

describe('Trainer', () => {
  it('learns XOR to ≥ 95% validation accuracy in 160 steps, bit-identically across two seeded runs', async () => {
    const cfg: TrainerConfigInput = {
      seed: 11,
      maxEpochs: 20, // 8 steps per epoch
      optimizer: { name: 'adamw', lr: 0.05, weightDecay: 1e-4 },
      scheduler: { name: 'onecycle' },
      valEveryNEpochs: 20,
    };
    const a = setup(cfg);
    const sa = await a.trainer.fit(a.task, { train: a.train, val: a.val });
    const b = setup(cfg);
    const sb = await b.trainer.fit(b.task, { train: b.train, val: b.val });
    expect(sa.steps).toBe(160);
    expect(sa.lastMetrics.val_accuracy).toBeGreaterThanOrEqual(0.95);
    expect(sb.lastMetrics).toEqual(sa.lastMetrics);
    expect(weightsOf(b.model)).toEqual(weightsOf(a.model));
  });

  it('gradient accumulation of 4×8 equals one step on the batch of 32 (within 1e-6)', async () => {
    const run = async (batchSize: number, accumulateGradBatches: number) => {
      const s = setup(
        { maxEpochs: 1, maxSteps: 3, accumulateGradBatches, optimizer: { name: 'adamw', lr: 0.01 } },
        {},
        batchSize,
      );
      const summary = await s.trainer.fit(s.task, { train: s.train });
      return { w: weightsOf(s.model), summary };
    };
    const big = await run(32, 1);
    const acc = await run(8, 4);
    expect(acc.summary.steps).toBe(3);
    for (const k of Object.keys(big.w)) {
      const d = Math.max(...big.w[k].map((v, i) => Math.abs(v - acc.w[k][i])));
      expect(d).toBeLessThan(1e-6);
    }
    expect(acc.summary.lastTrainLoss).toBeCloseTo(big.summary.lastTrainLoss, 6);
  });

  it('reduceGradients sees every window before clipping and the step (2× grads = 2× lr for SGD)', async () => {
    const sgd = { maxSteps: 2, optimizer: { name: 'sgd' as const, lr: 0.05, weightDecay: 0 } };
    const plain = setup({ ...sgd, optimizer: { ...sgd.optimizer, lr: 0.1 } });
    await plain.trainer.fit(plain.task, { train: plain.train });
    let calls = 0;
    const doubled = setup(sgd, {
      reduceGradients: async (grads) => {
        calls++;
        const out = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, 2)]));
        tf.dispose(Object.values(grads));
        return out;
      },
    });
    await doubled.trainer.fit(doubled.task, { train: doubled.train });
    expect(calls).toBe(2);
    const a = weightsOf(plain.model);
    const b = weightsOf(doubled.model);
    for (const k of Object.keys(a)) for (const [i, v] of a[k].entries()) expect(b[k][i]).toBeCloseTo(v, 6);
  });

  it('clips the global gradient norm like torch.nn.utils.clip_grad_norm_', async () => {
    const s = setup({ maxSteps: 1, gradClipNorm: 0.01, optimizer: { name: 'sgd', lr: 1, weightDecay: 0 } });
    const before = weightsOf(s.model);
    const steps: number[] = [];
    const cb: Callback = { name: 'probe', onTrainStepEnd: (_t, r) => void steps.push(r.gradNorm) };
    const t = new Trainer(
      { ...quiet, maxSteps: 1, gradClipNorm: 0.01, optimizer: { name: 'sgd', lr: 1, weightDecay: 0 } },
      { callbacks: [cb] },
    );
    await t.fit(s.task, { train: s.train });
    const after = weightsOf(s.model);
    let sq = 0;
    for (const k of Object.keys(before))
      for (const [i, v] of before[k].entries()) sq += (after[k][i] - v) ** 2;
    expect(steps[0]).toBeGreaterThan(0.01);
    // update = -lr · g · maxNorm/(‖g‖+1e-6)
    expect(Math.sqrt(sq)).toBeCloseTo((0.01 * steps[0]) / (steps[0] + 1e-6), 6);
  });

  it('skips and counts non-finite steps, then aborts with a clear message', async () => {
    const nanEveryThird = (base: ReturnType<typeof setup>['task']) => ({
      ...base,
      trainingStep: (
        batch: Parameters<typeof base.trainingStep>[0],
        ctx: Parameters<typeof base.trainingStep>[1],
      ) =>
        ctx.batchIndex % 3 === 1
          ? (tf.mul(base.trainingStep(batch, ctx), Number.NaN) as tf.Scalar)
          : base.trainingStep(batch, ctx),
    });
    const s = setup({ maxEpochs: 1, maxNonFiniteSteps: 3 });
    const before = weightsOf(s.model);
    const summary = await s.trainer.fit(nanEveryThird(s.task), { train: s.train });
    expect(summary.nonFiniteSteps).toBe(3); // batches 1, 4 and 7 of 8
    expect(summary.steps).toBe(5);
    expect(weightsOf(s.model)).not.toEqual(before);
    expect(Object.values(weightsOf(s.model)).flat().every(Number.isFinite)).toBe(true);
    const s2 = setup({ maxEpochs: 1, maxNonFiniteSteps: 1 });
    await expect(s2.trainer.fit(nanEveryThird(s2.task), { train: s2.train })).rejects.toThrow(
      /Training aborted: 2 optimizer steps had a non-finite loss or gradient.*maxNonFiniteSteps=1/,
    );
    const s3 = setup({ maxEpochs: 1, maxNonFiniteSteps: 0 });
    await expect(s3.trainer.fit(nanEveryThird(s3.task), { train: s3.train })).rejects.toThrow(
      NonFiniteLossError,
    );
  });

  it('leaves frozen subtrees untouched and does not leak tensors per step', async () => {
    const s = setup({ maxEpochs: 2, leakCheckEveryNSteps: 1, optimizer: { name: 'adamw', lr: 0.01 } });
    s.model.fc1.freeze();
    const before = weightsOf(s.model);
    await s.trainer.fit(s.task, { train: s.train });
    const after = weightsOf(s.model);
    expect(after['fc1.weight']).toEqual(before['fc1.weight']);
    expect(after['fc2.weight']).not.toEqual(before['fc2.weight']);
    // A task that leaks one tensor per step is caught by the leak monitor.
    const leaky = setup({ maxEpochs: 1, leakCheckEveryNSteps: 1 });
    const kept: tf.Tensor[] = [];
    const task = {
      ...leaky.task,
      trainingStep: (
        b: Parameters<typeof leaky.task.trainingStep>[0],
        c: Parameters<typeof leaky.task.trainingStep>[1],
      ) => {
        kept.push(tf.keep(tf.zeros([1])));
        return leaky.task.trainingStep(b, c);
      },
    };
    await expect(leaky.trainer.fit(task, { train: leaky.train })).rejects.toThrow(CallbackError);
    tf.dispose(kept);
  });

  it('stops early when the monitored metric stops improving', async () => {
    const s = setup({
      maxEpochs: 50,
      optimizer: { name: 'sgd', lr: 1e-9 },
      earlyStopping: { monitor: 'val_accuracy', mode: 'max', patience: 2 },
    });
    const summary = await s.trainer.fit(s.task, { train: s.train, val: s.val });
    expect(summary.status).toBe('stopped');
    expect(summary.stopReason).toMatch(/early stopping: val_accuracy/);
    expect(summary.epochs).toBe(4); // best at epoch 1, then 3 validations without improvement
  });

  it('warmup in epochs, validation every N steps, and the time budget', async () => {
    const lrs: number[] = [];
    const vals: number[] = [];
    const probe: Callback = {
      name: 'probe',
      onTrainStepEnd: (_t, r) => void lrs.push(r.lr[0]),
      onValidationEnd: (t) => void vals.push(t.globalStep),
    };
    const s = setup(
      {
        maxEpochs: 2,
        valEveryNSteps: 5,
        optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9 },
        scheduler: { name: 'warmup-cosine', warmupEpochs: 1 }, // 8 steps per epoch
      },
      { callbacks: [probe] },
    );
    await s.trainer.fit(s.task, { train: s.train, val: s.val });
    // lr after step k is the schedule at k: k/8·0.1 during warmup
    expect(lrs.slice(0, 8).map((v) => +v.toFixed(10))).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((k) => +((k / 8) * 0.1).toFixed(10)),
    );
    expect(lrs[15]).toBeCloseTo(0, 12);
    expect(vals).toEqual([5, 8, 10, 15, 16]); // every 5 steps plus each epoch end

    const sink = new MemorySink();
    const t = setup(
      { maxEpochs: 5, timeBudgetSeconds: 1e-6, checkpoint: { everyNEpochs: 10 } },
      { checkpointSink: sink },
    );
    const summary = await t.trainer.fit(t.task, { train: t.train });
    expect(summary.status).toBe('time-budget');
    expect(summary.steps).toBe(1);
    expect(sink.saved.map((x) => x.info.reason)).toEqual(['emergency']);
    expect(sink.saved[0].info.tags).toEqual(['time-budget']);
  });

  it('SIGINT → emergency checkpoint → resume gives the same final weights as an uninterrupted run', async () => {
    const cfg: TrainerConfigInput = {
      seed: 5,
      maxEpochs: 3,
      accumulateGradBatches: 2,
      optimizer: { name: 'adamw', lr: 0.02 },
      scheduler: { name: 'warmup-cosine', warmupSteps: 3 },
      handleSignals: true,
      checkpoint: { everyNEpochs: 1 },
    };
    // dropout draws from the trainer-seeded default generator: resume must restore it too
    const full = setup(cfg, {}, 32, 16, 0.2);
    await full.trainer.fit(full.task, { train: full.train, val: full.val });

    const sink = new MemorySink();
    const interrupter: Callback = {
      name: 'interrupter',
      onTrainStepEnd: (_t, r) => {
        if (r.step === 7) process.emit('SIGINT', 'SIGINT'); // mid-epoch 1 (4 steps per epoch)
      },
    };
    const first = setup(cfg, { checkpointSink: sink, callbacks: [interrupter] }, 32, 16, 0.2);
    const s1 = await first.trainer.fit(first.task, { train: first.train, val: first.val });
    expect(s1.status).toBe('interrupted');
    expect(s1.steps).toBe(7);
    expect(sink.saved.map((x) => x.info.reason)).toEqual(['epoch', 'emergency']);
    expect(sink.saved[1].info.tags).toEqual(['SIGINT']);

    const second = setup(cfg, { checkpointSink: sink }, 32, 16, 0.2);
    new Mlp(16, new Generator(99)); // different init / rng consumption before resume
    const s2 = await second.trainer.fit(
      second.task,
      { train: second.train, val: second.val },
      { resume: true },
    );
    expect(s2.resumedFrom).toBe('mem://1-emergency');
    expect(s2.status).toBe('completed');
    expect(s2.steps).toBe(12);
    expect(weightsOf(second.model)).toEqual(weightsOf(full.model));
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('a signal delivered by the event loop (as Node delivers SIGTERM) stops the fit within a step', async () => {
    // Node runs signal handlers as event-loop callbacks, not inside the step loop; a loop that
    // never yields to the event loop would only see the signal at the end of the fit.
    const cfg: TrainerConfigInput = {
      seed: 5,
      maxEpochs: 3,
      optimizer: { name: 'adamw', lr: 0.02 },
      handleSignals: true,
    };
    const sink = new MemorySink();
    let sentAt = -1;
    const sender: Callback = {
      name: 'sender',
      onTrainStepEnd: (_t, r) => {
        if (r.step === 3)
          setTimeout(() => {
            sentAt = r.step;
            process.emit('SIGTERM', 'SIGTERM');
          }, 0);
      },
    };
    const run = setup(cfg, { checkpointSink: sink, callbacks: [sender] });
    const s = await run.trainer.fit(run.task, { train: run.train, val: run.val });
    expect(sentAt).toBe(3);
    expect(s.status).toBe('interrupted');
    expect(s.steps).toBeLessThanOrEqual(5); // of 24 (8 per epoch)
    expect(sink.saved.at(-1)?.info.tags).toEqual(['SIGTERM']);
    expect(process.listenerCount('SIGTERM')).toBe(0);
  });

  it('writes the run directory: config.yaml, run.json, metrics.csv, steps.jsonl, events file', async () => {
    const s = setup(
      {
        name: 'xor',
        runsDir: tmp,
        maxEpochs: 2,
        loggers: { console: false, csv: true, jsonl: true, tensorboard: true },
      },
      { callbacks: [new MemoryMonitor()] },
    );
    const summary = await s.trainer.fit(s.task, { train: s.train, val: s.val });
    const root = summary.runDir as string;
    expect(root).toBe(join(tmp, 'xor'));
    const config = parse(readFileSync(join(root, 'config.yaml'), 'utf8'));
    expect(config.maxEpochs).toBe(2);
    expect(config.optimizer.name).toBe('adamw');
    const run = JSON.parse(readFileSync(join(root, 'run.json'), 'utf8'));
    expect(run.backend.name).toBe('cpu');
    expect(run.seed).toBe(0);
    expect(typeof run.codeRevision === 'string' || run.codeRevision === null).toBe(true);
    const csv = readFileSync(join(root, 'logs', 'metrics.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('epoch,step,train_loss,lr,duration_s,val_loss,val_accuracy');
    expect(csv).toHaveLength(3);
    const steps = readFileSync(join(root, 'logs', 'steps.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(steps.filter((x) => x.validation === undefined)).toHaveLength(16);
    expect(steps[0]).toMatchObject({ epoch: 0, step: 1, skipped: false });
    expect(steps[0]['memory/num_tensors']).toBeGreaterThan(0);
    const events = readdirSync(join(root, 'logs')).filter((f) => f.startsWith('events.out.tfevents.'));
    expect(events).toHaveLength(1);
    const bytes = readFileSync(join(root, 'logs', events[0]));
    for (const tag of [
      'brain.Event:2',
      'train/loss',
      'train/grad_norm',
      'lr/params',
      'val/val_accuracy',
      'config',
    ]) {
      expect(bytes.includes(Buffer.from(tag))).toBe(true);
    }
    // maxSteps mid-epoch still validates; the same name gets a suffix
    const again = setup({ name: 'xor', runsDir: tmp, maxSteps: 3, loggers: { console: false } });
    const s2 = await again.trainer.fit(again.task, { train: again.train, val: again.val });
    expect(s2.runDir).toBe(join(tmp, 'xor-1'));
    expect(s2.status).toBe('completed');
    expect(s2.steps).toBe(3);
    expect(s2.history).toHaveLength(1);
    expect(s2.lastMetrics.val_accuracy).toBeGreaterThan(0);
    // fitting the same Trainer again starts over
    const s3 = await again.trainer.fit(again.task, { train: again.train, val: again.val });
    expect(s3.steps).toBe(3);
    expect(s3.runDir).toBe(join(tmp, 'xor-2'));
  });
});
