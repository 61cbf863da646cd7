/**
 * Hyperparameter search over the MDF-Net seed documents' space (learning rates, weight decay,
 * dropouts, BCE weight, focal α and γ) with @meddl/trainer's runSearch: grid, random or TPE;
 * objective = best validation mean AUROC of the last stage, secondary = its worst-class AUROC.
 * Each trial is a full two-stage run under `<runsDir>/<name>/trial-NNNN`.
 */
import { createSearchSampler, runSearch, type SearchSpaceInput, type SearchSummary } from '@meddl/trainer';
import { type MdfNetRunConfig, type MdfNetRunConfigInput, MdfNetRunConfigSchema, train } from './train';

export const DEFAULT_SEARCH_SPACE: SearchSpaceInput = {
  encoderLr: { type: 'loguniform', low: 1e-5, high: 3e-3 },
  fusionLr: { type: 'loguniform', low: 1e-4, high: 3e-3 },
  weightDecay: { type: 'loguniform', low: 1e-4, high: 1e-1 },
  fusionDropout: { type: 'uniform', low: 0, high: 0.5 },
  bceWeight: { type: 'uniform', low: 0.3, high: 1 },
  focalAlpha: { type: 'uniform', low: 0.1, high: 0.5 },
  focalGamma: { type: 'uniform', low: 0.5, high: 3 },
};

/** The run config a trial's parameters describe (unknown parameter names are an error upstream). */
export function applySearchParams(base: MdfNetRunConfig, p: Record<string, unknown>): MdfNetRunConfigInput {
  const num = (k: string, fallback: number) => (typeof p[k] === 'number' ? (p[k] as number) : fallback);
  const bce = num('bceWeight', base.loss.bceWeight);
  const fusionLr = num('fusionLr', base.stage2.lrs.fusion);
  return {
    ...base,
    weightDecay: num('weightDecay', base.weightDecay),
    loss: {
      ...base.loss,
      bceWeight: bce,
      focalWeight: 'bceWeight' in p ? 1 - bce : base.loss.focalWeight,
      focalAlpha: num('focalAlpha', base.loss.focalAlpha),
      focalGamma: num('focalGamma', base.loss.focalGamma),
    },
    model: {
      ...base.model,
      overrides: {
        ...base.model.overrides,
        fusionDropout: num('fusionDropout', base.model.overrides.fusionDropout ?? 0.3),
      },
    },
    stage2: {
      ...base.stage2,
      lrs: { encoders: num('encoderLr', base.stage2.lrs.encoders), fusion: fusionLr, head: fusionLr },
    },
  };
}

export async function search(
  input: MdfNetRunConfigInput,
  options: {
    sampler: 'grid' | 'random' | 'tpe';
    trials: number;
    space?: SearchSpaceInput;
    pointsPerAxis?: number;
    name?: string;
  },
): Promise<SearchSummary> {
  const base = MdfNetRunConfigSchema.parse(input);
  return runSearch({
    name: options.name ?? `${base.trainer.name}-search`,
    runsDir: base.trainer.runsDir ?? 'runs',
    space: options.space ?? DEFAULT_SEARCH_SPACE,
    sampler: createSearchSampler(options.sampler, { pointsPerAxis: options.pointsPerAxis ?? 2 }),
    nTrials: options.trials,
    seed: base.trainer.seed,
    objective: { metric: 'val_mean_auroc', direction: 'maximize' },
    secondary: { metric: 'val_min_auroc', direction: 'maximize' },
    runTrial: async (ctx) => {
      const cfg = applySearchParams(base, ctx.params);
      const r = await train({
        ...cfg,
        trainer: { ...base.trainer, runsDir: ctx.trainerOverrides.runsDir, name: ctx.trainerOverrides.name },
      } as MdfNetRunConfigInput);
      const last = r.stage2 ?? r.stage1;
      if (!last?.best) throw new Error(`trial ${ctx.trial} produced no checkpoint`);
      return last.best.metrics;
    },
  });
}
