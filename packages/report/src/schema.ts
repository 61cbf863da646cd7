// The eval.json contract: what a domain's evaluation writes into its run directory and what
// `meddl report` / `meddl runs` read. Version 1. Additive changes (new optional fields, new
// section types) keep the version; anything else bumps it. See docs/reports.md.
import { z } from 'zod';

export const EVAL_FORMAT = 'meddl-eval';
export const EVAL_VERSION = 1;
/** File name of the artifact inside a run directory. */
export const EVAL_FILE = 'eval.json';

/** A finite number. JSON has no NaN: an undefined metric is `null`, never a made-up number. */
const Num = z.number();
const MaybeNum = z.number().nullable();
const Probability = z.number().min(0).max(1);

/** An estimate with an optional confidence interval (`lower`/`upper` at `confidence`, e.g. 0.95). */
export const EstimateSchema = z.object({
  value: MaybeNum,
  lower: MaybeNum.optional(),
  upper: MaybeNum.optional(),
  confidence: z.number().gt(0).lt(1).optional(),
  /** How the interval was computed, e.g. 'delong', 'bootstrap (1000, stratified)'. */
  method: z.string().optional(),
  /** Why `value` is null (e.g. 'one class only'). */
  reason: z.string().optional(),
});

/** A headline number: shown at the top of the report and by `meddl runs`. */
export const HeadlineMetricSchema = EstimateSchema.extend({
  /** Stable machine key, e.g. 'macro_auroc' (used by `meddl runs compare` to pair metrics). */
  key: z.string().min(1),
  /** Human label, e.g. 'Macro AUROC'; defaults to key. */
  label: z.string().optional(),
  /** 'percent' prints 0.913 as 91.3 %. */
  format: z.enum(['number', 'percent', 'integer', 'seconds']).optional(),
  higherIsBetter: z.boolean().optional(),
});

/** Points of a curve: equal-length x and y. */
const Curve = z.object({ x: z.array(Num), y: z.array(Num) }).superRefine((c, ctx) => {
  if (c.x.length !== c.y.length)
    ctx.addIssue({
      code: 'custom',
      path: ['y'],
      message: `has ${c.y.length} points but x has ${c.x.length}`,
    });
});

const titled = { title: z.string().optional(), description: z.string().optional() };

export const ClassificationSectionSchema = z.object({
  type: z.literal('classification'),
  ...titled,
  /** 'multiclass' (one label per case, curves one-vs-rest), 'binary', or 'multilabel' (curves per label). */
  task: z.enum(['multiclass', 'binary', 'multilabel']).optional(),
  classNames: z.array(z.string()).min(2),
  n: z.number().int().positive(),
  accuracy: MaybeNum.optional(),
  balancedAccuracy: MaybeNum.optional(),
  macroAuroc: EstimateSchema.optional(),
  macroAveragePrecision: EstimateSchema.optional(),
  /** One row per class (one-vs-rest); a binary task has one row, the positive class. */
  perClass: z
    .array(
      z.object({
        className: z.string(),
        positives: z.number().int().min(0),
        auroc: EstimateSchema,
        averagePrecision: EstimateSchema,
        /** ROC curve: x = false positive rate, y = true positive rate. */
        roc: Curve,
        /** PR curve: x = recall, y = precision. */
        pr: Curve,
      }),
    )
    .min(1),
});

const ReliabilityBins = z
  .object({
    /** M + 1 bin edges, 0 … 1. */
    binEdges: z.array(Probability).min(2),
    counts: z.array(z.number().int().min(0)),
    /** Mean confidence per bin, null when the bin is empty. */
    meanConfidence: z.array(MaybeNum),
    /** Observed frequency (accuracy or fraction positive) per bin, null when empty. */
    observed: z.array(MaybeNum),
    ece: Num,
    mce: Num,
  })
  .superRefine((b, ctx) => {
    const m = b.binEdges.length - 1;
    for (const k of ['counts', 'meanConfidence', 'observed'] as const)
      if (b[k].length !== m)
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `expected ${m} bins (binEdges has ${m + 1}), got ${b[k].length}`,
        });
  });

export const CalibrationSectionSchema = z.object({
  type: z.literal('calibration'),
  ...titled,
  /** 'top-label' (confidence = max p) or 'binary' (P(y = 1)). */
  mode: z.enum(['top-label', 'binary']),
  before: ReliabilityBins,
  /** After recalibration (temperature scaling, Platt scaling … named in `method`). */
  after: ReliabilityBins.optional(),
  method: z.string().optional(),
  temperature: Num.optional(),
  /** Where the temperature was fitted, e.g. 'val' or 'eval split (optimistic)'. */
  fittedOn: z.string().optional(),
  nllBefore: Num.optional(),
  nllAfter: Num.optional(),
});

export const ConfusionSectionSchema = z
  .object({
    type: z.literal('confusion'),
    ...titled,
    classNames: z.array(z.string()).min(2),
    /** counts[true][predicted]. */
    counts: z.array(z.array(z.number().int().min(0))),
  })
  .superRefine((s, ctx) => {
    const k = s.classNames.length;
    if (s.counts.length !== k)
      ctx.addIssue({
        code: 'custom',
        path: ['counts'],
        message: `expected ${k} rows, got ${s.counts.length}`,
      });
    s.counts.forEach((row, i) => {
      if (row.length !== k)
        ctx.addIssue({
          code: 'custom',
          path: ['counts', i],
          message: `expected ${k} columns, got ${row.length}`,
        });
    });
  });

export const ForestSectionSchema = z.object({
  type: z.literal('forest'),
  ...titled,
  /** What the estimate is, e.g. 'AUROC'. */
  metric: z.string(),
  /** A vertical reference line (e.g. the overall estimate, or 1 for hazard ratios). */
  reference: Num.optional(),
  rows: z
    .array(
      EstimateSchema.extend({
        label: z.string(),
        n: z.number().int().min(0).optional(),
        /** e.g. positives in the subgroup. */
        detail: z.string().optional(),
      }),
    )
    .min(1),
});

const StepCurve = z
  .object({
    label: z.string(),
    /** Event/censoring times, increasing; the curve starts at (0, 1). */
    time: z.array(Num),
    survival: z.array(Probability),
    lower: z.array(Probability).optional(),
    upper: z.array(Probability).optional(),
    n: z.number().int().min(0).optional(),
    events: z.number().int().min(0).optional(),
    median: MaybeNum.optional(),
  })
  .superRefine((c, ctx) => {
    for (const k of ['survival', 'lower', 'upper'] as const) {
      const a = c[k];
      if (a && a.length !== c.time.length)
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `has ${a.length} points but time has ${c.time.length}`,
        });
    }
  });

export const SurvivalSectionSchema = z.object({
  type: z.literal('survival'),
  ...titled,
  timeUnit: z.string().optional(),
  curves: z.array(StepCurve).min(1),
  logRank: z
    .object({ statistic: Num, degreesOfFreedom: z.number().int().min(1), pValue: Probability })
    .optional(),
  /** Harrell's C of the model's risk score. */
  cIndex: EstimateSchema.optional(),
});

/** A path relative to the run directory that stays inside it. */
const RunRelativePath = z
  .string()
  .refine(
    (p) => p.length > 0 && !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.split(/[\\/]/).includes('..'),
    {
      message: 'must be a relative path inside the run directory (no leading /, no ..)',
    },
  );

export const GallerySectionSchema = z.object({
  type: z.literal('gallery'),
  ...titled,
  images: z
    .array(
      z.object({
        /** PNG/JPEG/SVG relative to the run directory, e.g. 'eval/heatmaps/slide-03.png'. */
        path: RunRelativePath,
        caption: z.string().optional(),
      }),
    )
    .min(1),
});

export const ScatterSectionSchema = z.object({
  type: z.literal('scatter'),
  ...titled,
  xLabel: z.string(),
  yLabel: z.string(),
  /** Draw the y = x line (true for true-vs-estimated). */
  identity: z.boolean().optional(),
  /** One small chart per group (e.g. per tissue). */
  groups: z
    .array(
      z
        .object({
          label: z.string(),
          x: z.array(Num),
          y: z.array(Num),
          pearson: MaybeNum.optional(),
          spearman: MaybeNum.optional(),
          mae: MaybeNum.optional(),
          rmse: MaybeNum.optional(),
          ccc: MaybeNum.optional(),
        })
        .superRefine((g, ctx) => {
          if (g.x.length !== g.y.length)
            ctx.addIssue({
              code: 'custom',
              path: ['y'],
              message: `has ${g.y.length} points but x has ${g.x.length}`,
            });
        }),
    )
    .min(1),
});

export const AblationSectionSchema = z.object({
  type: z.literal('ablation'),
  ...titled,
  metric: z.string(),
  /** Name of the row the p-values compare against. */
  reference: z.string(),
  /** e.g. 'DeLong (paired, two-sided)'. */
  test: z.string().optional(),
  rows: z
    .array(
      EstimateSchema.extend({
        name: z.string(),
        /** value − reference value. */
        difference: MaybeNum.optional(),
        pValue: z.number().min(0).max(1).nullable().optional(),
      }),
    )
    .min(1),
});

export const EmbeddingSectionSchema = z.object({
  type: z.literal('embedding'),
  ...titled,
  /** Health series over training (e.g. effective rank, mean per-dim std, collapsed dims), x = epoch or step. */
  series: z.array(z.object({ name: z.string(), xLabel: z.string().optional() }).and(Curve)).default([]),
  /** Frozen-feature probes: linear/kNN probe results. */
  probes: z.array(EstimateSchema.extend({ name: z.string(), metric: z.string() })).default([]),
});

export const TableSectionSchema = z
  .object({
    type: z.literal('table'),
    ...titled,
    columns: z.array(z.string()).min(1),
    rows: z.array(z.array(z.union([z.string(), z.number(), z.null()]))),
  })
  .superRefine((t, ctx) => {
    t.rows.forEach((r, i) => {
      if (r.length !== t.columns.length)
        ctx.addIssue({
          code: 'custom',
          path: ['rows', i],
          message: `expected ${t.columns.length} cells, got ${r.length}`,
        });
    });
  });

export const SectionSchema = z.discriminatedUnion('type', [
  ClassificationSectionSchema,
  CalibrationSectionSchema,
  ConfusionSectionSchema,
  ForestSectionSchema,
  SurvivalSectionSchema,
  GallerySectionSchema,
  ScatterSectionSchema,
  AblationSectionSchema,
  EmbeddingSectionSchema,
  TableSectionSchema,
]);

export const EvalArtifactSchema = z.object({
  format: z.literal(EVAL_FORMAT),
  version: z.literal(EVAL_VERSION),
  /** Model family, e.g. 'tissuebert', 'crc-mil', 'mdf-net', 'vjepa3d'. */
  model: z.string().min(1),
  title: z.string().optional(),
  createdAt: z.string(),
  /** Which split was evaluated, e.g. 'val', 'test'. */
  split: z.string(),
  /** Checkpoint evaluated, relative to the run directory (e.g. 'checkpoints/best-val_loss.safetensors'). */
  checkpoint: z.string().optional(),
  /** Data summary shown in the report: free facts (cases, slides, classes, prevalence …). */
  data: z
    .object({
      name: z.string().optional(),
      description: z.string().optional(),
      facts: z.record(z.string(), z.union([z.string(), Num])).default({}),
    })
    .optional(),
  headline: z.array(HeadlineMetricSchema).default([]),
  sections: z.array(SectionSchema).default([]),
  /** Seconds the evaluation took. */
  wallSeconds: Num.optional(),
});

export type Estimate = z.infer<typeof EstimateSchema>;
export type HeadlineMetric = z.infer<typeof HeadlineMetricSchema>;
export type ClassificationSection = z.infer<typeof ClassificationSectionSchema>;
export type CalibrationSection = z.infer<typeof CalibrationSectionSchema>;
export type ConfusionSection = z.infer<typeof ConfusionSectionSchema>;
export type ForestSection = z.infer<typeof ForestSectionSchema>;
export type SurvivalSection = z.infer<typeof SurvivalSectionSchema>;
export type GallerySection = z.infer<typeof GallerySectionSchema>;
export type ScatterSection = z.infer<typeof ScatterSectionSchema>;
export type AblationSection = z.infer<typeof AblationSectionSchema>;
export type EmbeddingSection = z.infer<typeof EmbeddingSectionSchema>;
export type TableSection = z.infer<typeof TableSectionSchema>;
export type Section = z.infer<typeof SectionSchema>;
export type EvalArtifact = z.infer<typeof EvalArtifactSchema>;
/** What a writer passes in (defaults may be omitted). */
export type EvalArtifactInput = z.input<typeof EvalArtifactSchema>;
