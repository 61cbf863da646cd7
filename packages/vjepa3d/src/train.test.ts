import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hdf5File } from '@meddl/data';
import { ProcessGroup } from '@meddl/distributed';
import { readEvalArtifact } from '@meddl/report';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaskConfigSchema, sampleBatchMasks } from './masking';
import { createModel, patchify, resolveModelConfig, tokenGrid } from './model';
import { L2_GRID } from './probe';
import {
  correctedPairedGain,
  depthAsTime,
  evaluate,
  type PretrainConfigInput,
  pairedGain,
  predict,
  pretrain,
  WeightDecayScheduleCallback,
} from './train';

const root = mkdtempSync(join(tmpdir(), 'vjepa3d-train-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initBackend();
});

const config = (name: string, maxEpochs: number): PretrainConfigInput => ({
  data: {
    dir: join(root, 'data'),
    synth: { seed: 1, patients: 12, scale: 0.4, bothEyes: 0.5 },
    valFraction: 0.35,
  },
  model: { preset: 'vit3d-tiny' },
  masks: [
    { numBlocks: 4, spatialScale: [0.15, 0.15] },
    { numBlocks: 1, spatialScale: [0.5, 0.5] },
  ],
  batchSize: 4,
  probe: true,
  trainer: {
    name,
    runsDir: join(root, 'runs'),
    seed: 0,
    maxEpochs,
    optimizer: { name: 'adamw', lr: 2e-3 },
    scheduler: { name: 'warmup-cosine', warmupSteps: 2 },
    gradClipNorm: 1,
    loggers: { console: false, csv: true, jsonl: true, tensorboard: false },
    handleSignals: false,
  },
});

describe('model', () => {
  it('patchify lays tubelets out as Conv3d weights expect', () => {
    const vol = Float32Array.from({ length: 4 * 4 * 4 }, (_, i) => i);
    const t = patchify(vol, 1, [4, 4, 4], [2, 2, 2]);
    // Token 0 = voxels (0..1, 0..1, 0..1) in (t, y, x) order; token 1 starts at x = 2.
    expect(Array.from(t.subarray(0, 8))).toEqual([0, 1, 4, 5, 16, 17, 20, 21]);
    expect(t[8]).toBe(2);
  });

  it('one training step leaves no tensors behind and trains only the context side', async () => {
    const model = createModel('vit3d-tiny', {}, new Generator(0));
    const c = model.config;
    const grid = tokenGrid(c);
    const n = grid[0] * grid[1] * grid[2];
    const rng = new Generator(1);
    const x = tf.randomNormal([2, n, c.tubelet[0] * c.tubelet[1] * c.tubelet[2]], 0, 1, 'float32', 1);
    const masks = [
      sampleBatchMasks(
        rng,
        grid,
        {
          numBlocks: 4,
          spatialScale: [0.15, 0.15],
          temporalScale: [1, 1],
          aspectRatio: [0.75, 1.5],
          maxContextFramesRatio: 1,
        },
        2,
      ),
    ];
    const trainable = model.trainableParameters();
    expect(trainable.some((v) => model.targetEncoder.parameters().includes(v))).toBe(false);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      const { value, grads } = tf.variableGrads(() => model.loss(x, masks), trainable);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      expect(Object.keys(grads).length).toBe(trainable.length);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('has an MLP predictor option and a normalized-MSE loss; presets resolve', () => {
    const model = createModel('vit3d-tiny', { predictorType: 'mlp' }, new Generator(0));
    const c = model.config;
    const grid = tokenGrid(c);
    const n = grid[0] * grid[1] * grid[2];
    const x = tf.randomNormal([2, n, c.tubelet[0] * c.tubelet[1] * c.tubelet[2]], 0, 1, 'float32', 2);
    const cfg = {
      numBlocks: 2,
      spatialScale: [0.3, 0.3] as [number, number],
      temporalScale: [1, 1] as [number, number],
      aspectRatio: [0.75, 1.5] as [number, number],
      maxContextFramesRatio: 1,
    };
    const masks = [sampleBatchMasks(new Generator(3), grid, cfg, 2)];
    expect(Object.keys(model.predictor.stateDict())).toContain('predictor_hidden.weight');
    const l1 = model.loss(x, masks, 'l1');
    const mse = model.loss(x, masks, 'normalized-mse');
    const v = mse.dataSync()[0]!;
    // ‖u − v‖² of unit vectors lies in [0, 4].
    expect(v).toBeGreaterThan(0);
    expect(v).toBeLessThanOrEqual(4);
    expect(l1.dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([x, l1, mse]);
    model.dispose();
    expect(resolveModelConfig('vit3d-small').embedDim).toBe(384);
    expect(tokenGrid(resolveModelConfig('vit3d-base'))).toEqual([16, 8, 8]);
    expect(() => resolveModelConfig('vit3d-tiny', { inputShape: [15, 32, 32] })).toThrow(/not divisible/);
  });

  it('weight decay follows a cosine from start to end', () => {
    const cb = new WeightDecayScheduleCallback({ start: 0.04, end: 0.4 });
    expect(cb.valueAt(0, 100)).toBeCloseTo(0.04, 12);
    expect(cb.valueAt(50, 100)).toBeCloseTo(0.22, 12);
    expect(cb.valueAt(100, 100)).toBeCloseTo(0.4, 12);
  });

  it('depthAsTime: en-face blocks that span the full depth, disjoint from the context', () => {
    const grid: [number, number, number] = [8, 4, 4]; // frames, depth, columns
    const rng = new Generator(9);
    for (let k = 0; k < 50; k++) {
      const cfg = {
        numBlocks: 3,
        spatialScale: [0.15, 0.3],
        temporalScale: [1, 1],
        aspectRatio: [0.75, 1.5],
      };
      // Batch 1: no truncation to the batch minimum (which drops the deepest indices of some rows).
      const m = depthAsTime(sampleBatchMasks(rng, [4, 8, 4], MaskConfigSchema.parse(cfg), 1), grid);
      for (let b = 0; b < 1; b++) {
        const tgt = new Set(m.target.subarray(b * m.nTarget, (b + 1) * m.nTarget));
        const ctx = m.context.subarray(b * m.nContext, (b + 1) * m.nContext);
        for (const i of ctx) expect(tgt.has(i)).toBe(false);
        // Every masked (frame, column) is masked at all 4 depths; context ∪ target = all tokens.
        expect(tgt.size + ctx.length).toBe(128);
        const enface = new Map<number, number>();
        for (const i of tgt) {
          const key = Math.floor(i / 16) * 4 + (i % 4);
          enface.set(key, (enface.get(key) ?? 0) + 1);
        }
        const counts = [...enface.values()];
        expect(counts.every((c) => c === 4)).toBe(true);
        expect([...tgt].every((i) => i >= 0 && i < 128)).toBe(true);
      }
    }
  });

  it('pairedGain: mean difference with a 95 % t interval', () => {
    // d = [0.1, 0.2, 0.3]: mean 0.2, sd 0.1, t(0.975, 2) = 4.303 → half-width 4.303 · 0.1 / √3.
    const g = pairedGain([0.6, 0.7, 0.8], [0.5, 0.5, 0.5]);
    expect(g.mean).toBeCloseTo(0.2, 12);
    expect(g.upper - g.mean).toBeCloseTo((4.303 * 0.1) / Math.sqrt(3), 10);
    expect(g.mean - g.lower).toBeCloseTo((4.303 * 0.1) / Math.sqrt(3), 10);
    expect(Number.isNaN(pairedGain([1], [0]).lower)).toBe(true);
  });

  it('correctedPairedGain: Nadeau–Bengio corrected resampled t interval', () => {
    // Same differences, test/train ratio 0.5: half-width 4.303 · 0.1 · √(1/3 + 0.5).
    const g = correctedPairedGain([0.6, 0.7, 0.8], [0.5, 0.5, 0.5], 0.5);
    expect(g.mean).toBeCloseTo(0.2, 12);
    expect(g.sd).toBeCloseTo(0.1, 12);
    expect(g.upper - g.mean).toBeCloseTo(4.303 * 0.1 * Math.sqrt(1 / 3 + 0.5), 10);
    // Ratio 0 gives back the plain paired t interval.
    expect(correctedPairedGain([0.6, 0.7, 0.8], [0.5, 0.5, 0.5], 0).lower).toBeCloseTo(
      pairedGain([0.6, 0.7, 0.8], [0.5, 0.5, 0.5]).lower,
      12,
    );
  });
});

describe('pretraining', () => {
  it('lowers the loss, logs health, resumes, probes, exports embeddings', async () => {
    const first = await pretrain(config('tiny', 2));
    expect(first.summary.status).toBe('completed');
    expect(first.data.devices).toBeDefined();
    // Resume from the run directory for a third epoch.
    const r = await pretrain(config('tiny', 3));
    expect(r.summary.resumedFrom).not.toBeNull();
    expect(r.summary.epochs).toBe(3);
    const losses = [...first.summary.history, ...r.summary.history].map((h) => h.trainLoss);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    expect(r.metrics.val_effective_rank).toBeGreaterThan(1);
    expect(r.metrics.val_emb_std_mean).toBeGreaterThan(0);
    // eval.json follows the @meddl/report contract (what `meddl report` renders).
    const artifact = readEvalArtifact(r.runDir);
    expect(artifact?.model).toBe('vjepa3d');
    expect(artifact?.sections[0]?.type).toBe('embedding');
    const csv = readFileSync(join(r.runDir, 'logs', 'metrics.csv'), 'utf8');
    expect(csv).toMatch(/val_effective_rank/);
    expect(r.probe?.pretrained.nTest).toBeGreaterThan(0);
    expect(existsSync(join(r.runDir, 'metrics.json'))).toBe(true);

    const ev = await evaluate({ run: r.runDir });
    // The run's own probe used the same split, encoder and pooling: same numbers.
    expect(ev.pretrained).toEqual(r.probe?.pretrained);
    const ev2 = await evaluate({ run: r.runDir, encoder: 'context', pooling: 'mean-max' });
    expect(ev2.pretrained.nTest).toBe(ev.pretrained.nTest);
    expect(ev2.randomInit.linear.accuracy).toBeGreaterThanOrEqual(0);
    // Repeated over 3 patient splits: the first is the run's own split.
    const ev3 = await evaluate({ run: r.runDir, repeats: 3 });
    expect(ev3.repeated?.splitSeeds).toEqual([0, 1, 2]);
    expect(ev3.repeated?.pretrained.linear[0]).toBe(ev.pretrained.linear.accuracy);
    expect(ev3.repeated?.randomInit.knn).toHaveLength(3);
    const gains = ev3.repeated!.pretrained.linear.map((a, i) => a - ev3.repeated!.randomInit.linear[i]!);
    expect(ev3.repeated?.linearGain.mean).toBeCloseTo(gains.reduce((a, b) => a + b, 0) / 3, 12);
    // The interval is the corrected resampled t (test/train = 0.3/0.7).
    const cg = correctedPairedGain(ev3.repeated!.pretrained.linear, ev3.repeated!.randomInit.linear, 3 / 7);
    expect(ev3.repeated?.linearGain.lower).toBeCloseTo(cg.lower, 12);
    // L2 by inner CV: a penalty of the grid, the same split as the default probe.
    const ev4 = await evaluate({ run: r.runDir, l2: 'cv' });
    expect(L2_GRID).toContain(ev4.pretrained.l2);
    expect(ev4.pretrained.nTest).toBe(ev.pretrained.nTest);
    expect(ev.pretrained.l2).toBe(1e-2);
    const out = join(root, 'emb.h5');
    const p = await predict({ run: r.runDir, input: join(root, 'data'), out });
    const f = await Hdf5File.open(out, 'r');
    try {
      expect(f.info('embeddings').shape).toEqual([p.count, 48]);
      const files = JSON.parse(String(f.attributes('embeddings').files)) as string[];
      expect(files).toHaveLength(p.count);
      const emb = f.read('embeddings') as Float32Array;
      expect(emb.every(Number.isFinite)).toBe(true);
    } finally {
      f.close();
    }
  });

  it('data-parallel on 2 in-process ranks over loopback TCP: weights stay identical, rank 0 writes', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const masterPort = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const groups = await Promise.all(
      [0, 1].map((rank) =>
        ProcessGroup.init({
          rank,
          worldSize: 2,
          masterAddr: '127.0.0.1',
          masterPort,
          hostStore: rank === 0,
          rendezvousTimeoutMs: 20_000,
          timeoutMs: 60_000,
        }),
      ),
    );
    try {
      const cfg = { ...config('ddp', 2), batchSize: 2, probeRepeats: 1 };
      const [r0, r1] = await Promise.all(groups.map((group) => pretrain(cfg, { group })));
      // Each rank trains on its own shard with its own masks…
      expect(r0!.summary.history[0]!.trainLoss).not.toBe(r1!.summary.history[0]!.trainLoss);
      // …but after averaged gradients and identical EMA updates both hold the same context and
      // target weights: validation (same volumes, same masks) gives the same loss and health bit
      // for bit.
      expect(r1!.metrics).toEqual(r0!.metrics);
      expect(r0!.summary.steps).toBe(r1!.summary.steps);
      expect(r0!.probe).not.toBeNull();
      expect(r1!.probe).toBeNull();
      expect(existsSync(join(r0!.runDir, 'metrics.json'))).toBe(true);
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });
});
