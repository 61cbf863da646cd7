import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Generator } from '@meddl/tensor';
import type { Callback } from '../callbacks';
import { TrainerError } from '../errors';
import type { Trainer } from '../trainer';
import type { ObservedTrial, SearchSampler } from './samplers';
import { type Params, type SearchSpaceInput, validateSpace } from './space';

export interface Objective {
  metric: string;
  direction: 'minimize' | 'maximize';
}

/** Optuna's MedianPruner: prune when worse than the median of other trials at the same step. */
export class MedianPruner {
  constructor(
    readonly nStartupTrials = 5,
    readonly nWarmupSteps = 0,
  ) {}
  shouldPrune(
    value: number,
    step: number,
    others: Map<number, number>[],
    direction: Objective['direction'],
  ): boolean {
    if (others.length < this.nStartupTrials || step < this.nWarmupSteps) return false;
    const vals = others
      .map((o) => o.get(step))
      .filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (vals.length === 0) return false;
    vals.sort((a, b) => a - b);
    const mid = vals.length / 2;
    const median = vals.length % 2 ? vals[Math.floor(mid)] : (vals[mid - 1] + vals[mid]) / 2;
    if (!Number.isFinite(value)) return true;
    return direction === 'minimize' ? value > median : value < median;
  }
}

export class TrialPruned extends TrainerError {
  constructor(step: number) {
    super(`trial pruned at step ${step}`);
    this.name = 'TrialPruned';
  }
}

export interface TrialContext {
  trial: number;
  params: Params;
  /** Pass to `new Trainer({...config, ...trainerOverrides})` so the trial is a normal run directory. */
  trainerOverrides: { runsDir: string; name: string; timeBudgetSeconds?: number };
  /** Reports an intermediate objective value; returns true when the trial should stop (pruned). */
  report(step: number, value: number): boolean;
  /** A trainer callback that reports `objective.metric` after each validation and stops pruned trials. */
  pruningCallback(): Callback;
}

export interface TrialResult {
  trial: number;
  status: 'complete' | 'pruned' | 'failed';
  params: Params;
  metrics: Record<string, number>;
  objective: number;
  secondary: number | null;
  durationSec: number;
  runDir: string;
  error?: string;
}

export interface SearchOptions {
  name: string;
  runsDir: string;
  space: SearchSpaceInput;
  sampler: SearchSampler;
  nTrials: number;
  objective: Objective;
  secondary?: Objective;
  seed?: number;
  trialTimeBudgetSeconds?: number;
  pruner?: MedianPruner;
  /** Runs one trial and returns its final metrics (must contain objective.metric). */
  runTrial(ctx: TrialContext): Promise<Record<string, number>>;
}

export interface SearchSummary {
  dir: string;
  results: TrialResult[];
  /** Results ranked best first (complete trials, then pruned, then failed). */
  ranking: TrialResult[];
  best: TrialResult | null;
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Hyperparameter search: each trial samples params, runs as a normal run directory under
 * `<runsDir>/<name>/trial-NNNN`, may be pruned on intermediate values, and `results.csv` ranks all.
 */
export async function runSearch(o: SearchOptions): Promise<SearchSummary> {
  const space = validateSpace(o.space);
  const dir = resolve(o.runsDir, o.name);
  mkdirSync(dir, { recursive: true });
  const rng = new Generator(o.seed ?? 0);
  const sign = o.objective.direction === 'minimize' ? 1 : -1;
  const results: TrialResult[] = [];
  const curves: Map<number, number>[] = [];
  for (let t = 0; t < o.nTrials; t++) {
    const history: ObservedTrial[] = results
      .filter((r) => r.status !== 'failed')
      .map((r) => ({ params: r.params, loss: sign * r.objective }));
    const params = o.sampler.suggest(space, history, rng);
    if (!params) break;
    const name = `trial-${String(t).padStart(4, '0')}`;
    const curve = new Map<number, number>();
    const finishedCurves = curves.slice();
    let prunedAt: number | null = null;
    const ctx: TrialContext = {
      trial: t,
      params,
      trainerOverrides: { runsDir: dir, name, timeBudgetSeconds: o.trialTimeBudgetSeconds },
      report: (step, value) => {
        curve.set(step, value);
        if (o.pruner?.shouldPrune(value, step, finishedCurves, o.objective.direction)) {
          prunedAt = step;
          return true;
        }
        return false;
      },
      pruningCallback: () => {
        let validations = 0;
        return {
          name: 'pruning',
          onValidationEnd: (trainer: Trainer, metrics: Record<string, number>) => {
            const v = metrics[o.objective.metric];
            if (v !== undefined && ctx.report(validations++, v))
              trainer.requestStop(`pruned at validation ${validations - 1}`);
          },
        };
      },
    };
    const t0 = performance.now();
    let metrics: Record<string, number> = {};
    let status: TrialResult['status'] = 'complete';
    let error: string | undefined;
    try {
      metrics = await o.runTrial(ctx);
      if (prunedAt !== null) status = 'pruned';
    } catch (e) {
      if (e instanceof TrialPruned || prunedAt !== null) status = 'pruned';
      else {
        status = 'failed';
        error = e instanceof Error ? e.message : String(e);
      }
    }
    const objective =
      metrics[o.objective.metric] ?? (curve.size ? [...curve.values()].at(-1) : undefined) ?? Number.NaN;
    if (status === 'complete' && !Number.isFinite(objective)) {
      status = 'failed';
      error ??= `trial returned no finite '${o.objective.metric}'`;
    }
    results.push({
      trial: t,
      status,
      params,
      metrics,
      objective,
      secondary: o.secondary ? (metrics[o.secondary.metric] ?? null) : null,
      durationSec: (performance.now() - t0) / 1000,
      runDir: join(dir, name),
      error,
    });
    if (status === 'complete') curves.push(curve);
    writeResults(dir, results, o);
  }
  const ranking = rank(results, o);
  return { dir, results, ranking, best: ranking[0]?.status === 'complete' ? ranking[0] : null };
}

function rank(results: TrialResult[], o: SearchOptions): TrialResult[] {
  const order = { complete: 0, pruned: 1, failed: 2 };
  const s1 = o.objective.direction === 'minimize' ? 1 : -1;
  const s2 = o.secondary?.direction === 'minimize' ? 1 : -1;
  return [...results].sort(
    (a, b) =>
      order[a.status] - order[b.status] ||
      s1 *
        ((Number.isFinite(a.objective) ? a.objective : s1 * Infinity) -
          (Number.isFinite(b.objective) ? b.objective : s1 * Infinity)) ||
      (o.secondary ? s2 * ((a.secondary ?? 0) - (b.secondary ?? 0)) : 0) ||
      a.trial - b.trial,
  );
}

function writeResults(dir: string, results: TrialResult[], o: SearchOptions): void {
  const paramKeys = Object.keys(o.space);
  const header = [
    'rank',
    'trial',
    'status',
    o.objective.metric,
    ...(o.secondary ? [o.secondary.metric] : []),
    'duration_s',
    ...paramKeys.map((k) => `param_${k}`),
    'run_dir',
    'error',
  ];
  const rows = rank(results, o).map((r, i) =>
    [
      i + 1,
      r.trial,
      r.status,
      r.objective,
      ...(o.secondary ? [r.secondary] : []),
      r.durationSec.toFixed(3),
      ...paramKeys.map((k) => r.params[k]),
      r.runDir,
      r.error ?? '',
    ]
      .map(csvCell)
      .join(','),
  );
  writeFileSync(join(dir, 'results.csv'), `${[header.join(','), ...rows].join('\n')}\n`);
}
