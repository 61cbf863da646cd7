import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, initBackend } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLoader } from '../data/loader';
import { Mlp, xorDataset, xorTask } from '../test-utils';
import { Trainer } from '../trainer';
import { GridSampler, RandomSearchSampler, TPESampler } from './samplers';
import { MedianPruner, runSearch } from './search';
import type { SearchSpace } from './space';

const tmp = mkdtempSync(join(tmpdir(), 'meddl-search-'));
beforeAll(async () => {
  await initBackend('cpu');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const space: SearchSpace = {
  lr: { type: 'loguniform', low: 1e-5, high: 1 },
  x: { type: 'uniform', low: -2, high: 2 },
  layers: { type: 'int', low: 1, high: 4, log: false },
  act: { type: 'categorical', choices: ['relu', 'gelu', 'tanh'] },
};
// minimum at lr=1e-3, x=0.5, layers=3, act=gelu
const f = (p: Record<string, number | string | boolean>) =>
  (Math.log10(p.lr as number) + 3) ** 2 +
  ((p.x as number) - 0.5) ** 2 +
  ((p.layers as number) - 3) ** 2 * 0.3 +
  (p.act === 'gelu' ? 0 : 0.5);

describe('hyperparameter search', () => {
  it('grid enumerates the product (log-spaced loguniform) and results.csv ranks every trial', async () => {
    const g = new GridSampler(3);
    expect(GridSampler.axis(space.lr, 3)).toEqual([1e-5, Math.exp((Math.log(1e-5) + Math.log(1)) / 2), 1]);
    expect(g.size({ lr: space.lr, act: space.act })).toBe(9);
    const s = await runSearch({
      name: 'grid',
      runsDir: tmp,
      space: { lr: space.lr, act: space.act },
      sampler: g,
      nTrials: 100,
      objective: { metric: 'loss', direction: 'minimize' },
      secondary: { metric: 'other', direction: 'maximize' },
      runTrial: async ({ params }) => ({ loss: f({ ...params, x: 0.5, layers: 3 }), other: 1 }),
    });
    expect(s.results).toHaveLength(9);
    const csv = readFileSync(join(s.dir, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('rank,trial,status,loss,other,duration_s,param_lr,param_act,run_dir,error');
    expect(csv).toHaveLength(10);
    const losses = s.ranking.map((r) => r.objective);
    expect([...losses].sort((a, b) => a - b)).toEqual(losses);
    expect(s.best?.params.act).toBe('gelu');
  });

  it('TPE concentrates on the optimum: after 10 random startup trials it beats random search on the same budget', async () => {
    const run = async (sampler: TPESampler | RandomSearchSampler, name: string) =>
      runSearch({
        name,
        runsDir: tmp,
        space,
        sampler,
        nTrials: 60,
        seed: 1,
        objective: { metric: 'loss', direction: 'minimize' },
        runTrial: async ({ params }) => ({ loss: f(params) }),
      });
    const tpe = await run(new TPESampler({ nStartupTrials: 10 }), 'tpe');
    const rnd = await run(new RandomSearchSampler(), 'random');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const tpeLate = mean(tpe.results.slice(30).map((r) => r.objective));
    const rndLate = mean(rnd.results.slice(30).map((r) => r.objective));
    // identical seed → identical first 10 (random) trials
    expect(tpe.results.slice(0, 10).map((r) => r.params)).toEqual(
      rnd.results.slice(0, 10).map((r) => r.params),
    );
    expect(tpeLate).toBeLessThan(rndLate * 0.75); // measured 1.67 vs 3.47
    expect(tpe.best?.objective as number).toBeLessThan(rnd.best?.objective as number);
  });

  it('median pruning stops trials that are worse than the median at the same step', async () => {
    const curves = [1, 2, 3, 4, 5, 6, 0.5, 10];
    const s = await runSearch({
      name: 'prune',
      runsDir: tmp,
      space: { k: { type: 'int', low: 0, high: 7 } },
      sampler: new GridSampler(8),
      nTrials: 8,
      pruner: new MedianPruner(3, 1),
      objective: { metric: 'loss', direction: 'minimize' },
      runTrial: async ({ params, report }) => {
        const level = curves[params.k as number];
        let v = level;
        for (let step = 0; step < 5; step++) {
          v = level / (step + 1);
          if (report(step, v)) return { loss: v };
        }
        return { loss: v };
      },
    });
    expect(s.results.map((r) => r.status)).toEqual([
      'complete',
      'complete',
      'complete',
      'pruned',
      'pruned',
      'pruned',
      'complete',
      'pruned',
    ]);
    expect(s.best?.params.k).toBe(6);
  });

  it('each trial is a normal trainer run directory', async () => {
    const s = await runSearch({
      name: 'xor-search',
      runsDir: tmp,
      space: { lr: { type: 'loguniform', low: 1e-3, high: 1e-1 } },
      sampler: new RandomSearchSampler(),
      nTrials: 2,
      trialTimeBudgetSeconds: 60,
      objective: { metric: 'val_accuracy', direction: 'maximize' },
      secondary: { metric: 'val_loss', direction: 'minimize' },
      runTrial: async (ctx) => {
        const model = new Mlp(8, new Generator(1));
        const trainer = new Trainer(
          {
            ...ctx.trainerOverrides,
            maxEpochs: 2,
            handleSignals: false,
            loggers: { console: false },
            optimizer: { lr: ctx.params.lr as number },
          },
          { callbacks: [ctx.pruningCallback()] },
        );
        const summary = await trainer.fit(xorTask(model), {
          train: new DataLoader(xorDataset(64, 1), { batchSize: 16, shuffle: true }),
          val: new DataLoader(xorDataset(64, 2), { batchSize: 64 }),
        });
        return summary.lastMetrics;
      },
    });
    for (const r of s.results) {
      expect(r.status).toBe('complete');
      expect(existsSync(join(r.runDir, 'config.yaml'))).toBe(true);
      expect(existsSync(join(r.runDir, 'logs', 'metrics.csv'))).toBe(true);
      expect(readFileSync(join(r.runDir, 'config.yaml'), 'utf8')).toContain('timeBudgetSeconds: 60');
    }
  });
});
