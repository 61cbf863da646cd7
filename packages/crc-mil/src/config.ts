// The run config (configs/crc-mil/*.yaml): data, preprocessing, model, training, cross-validation
// and evaluation. One zod schema is the source of truth; defaults are documented in docs/crc-mil.md.
import { z } from 'zod';
import { AUX_NAME, MilModelConfigSchema } from './model';
import { PreprocessConfigSchema } from './preprocess';
import { DEFAULT_SUBTYPES, SynthConfigSchema } from './synth/generator';

/** An auxiliary task: a head on the bag embedding trained on a clinical column (empty cells are masked out). */
export const AuxiliaryTaskSchema = z.object({
  /** Head name (state-dict key `aux_<name>`): lowercase letters, digits, underscores. */
  name: z.string().regex(AUX_NAME, 'lowercase letters, digits and underscores, starting with a letter'),
  /** Clinical column with the target (numbers; for 'binary' 0/1). */
  column: z.string().min(1),
  /** 'regression': MSE on the training-standardized value, Pearson r; 'binary': BCE, AUROC. */
  kind: z.enum(['regression', 'binary']).default('regression'),
  /** Weight of this task's loss next to the subtype loss (weight 1). */
  weight: z.number().min(0).default(1),
});
export type AuxiliaryTask = z.infer<typeof AuxiliaryTaskSchema>;

export const CrcMilRunConfigSchema = z.object({
  name: z.string().min(1).default('crc-mil'),
  runsDir: z.string().default('runs'),
  seed: z.number().int().default(0),
  classes: z
    .array(z.string().min(1))
    .min(2)
    .default([...DEFAULT_SUBTYPES]),
  data: z.object({
    /** Clinical CSV (patient_id, slide_id, slide_file, subtype, …). */
    clinical: z.string().min(1),
    /** Where feature bags, thumbnails and the QC report go. */
    preprocessDir: z.string().min(1),
    /** If the clinical CSV is missing, write this synthetic data set next to it first. */
    synth: SynthConfigSchema.partial().optional(),
  }),
  preprocess: z.any().default({}),
  model: z
    .object({
      preset: z.enum(['tiny', 'base']).default('tiny'),
      head: MilModelConfigSchema.shape.head,
      /** Attend within each magnification, then across them (needs preprocess.extraMagnifications). */
      multiScale: z.boolean().default(false),
      hidden: z.number().int().optional(),
      attnDim: z.number().int().optional(),
      dropout: z.number().optional(),
      /** 'gated' attention pooling (CLAM) or 'transformer' (TransMIL-like attention between patches). */
      aggregator: MilModelConfigSchema.shape.aggregator,
      heads: MilModelConfigSchema.shape.heads,
      layers: MilModelConfigSchema.shape.layers,
      /** Auxiliary tasks (multi-task heads on the bag embedding); none by default. */
      auxiliary: z
        .array(AuxiliaryTaskSchema)
        .default([])
        .refine((a) => new Set(a.map((t) => t.name)).size === a.length, {
          message: 'auxiliary task names must be unique',
        }),
    })
    .refine((m) => !(m.multiScale && m.aggregator === 'transformer'), {
      message: 'multiScale needs the gated aggregator (the transformer aggregator takes single-scale bags)',
      path: ['aggregator'],
    })
    .prefault({}),
  training: z
    .object({
      maxEpochs: z.number().int().min(1).default(20),
      lr: z.number().positive().default(2e-4),
      weightDecay: z.number().min(0).default(1e-5),
      /** Bags per optimizer step. */
      batchSize: z.number().int().min(1).default(1),
      /** Random subset of patches per training bag (augmentation and speed); 0 = all. */
      maxPatchesPerBag: z.number().int().min(0).default(0),
      /** Epochs over which the evidential KL weight rises from 0 to 1. */
      klAnnealEpochs: z.number().int().min(1).default(10),
      /** Share of each training set's patients held out for validation (best checkpoint, temperature). */
      valFraction: z.number().min(0.05).max(0.5).default(0.2),
      earlyStoppingPatience: z.number().int().min(0).default(0),
      /** The fitted temperature is clipped to this range (a separable validation set drives T → 0). */
      temperatureBounds: z.tuple([z.number().positive(), z.number().positive()]).default([0.05, 20]),
    })
    .prefault({}),
  cv: z
    .object({
      folds: z.number().int().min(2).default(5),
      /** Clinical columns the folds are stratified by (jointly). */
      stratify: z.array(z.string()).default(['subtype', 'institution']),
    })
    .prefault({}),
  eval: z
    .object({
      bootstrap: z.number().int().min(0).default(1000),
      confidence: z.number().min(0.5).max(0.999).default(0.95),
      subgroups: z.array(z.string()).default(['msi', 'braf', 'age_band', 'institution']),
      survival: z
        .object({
          time: z.string().default('survival_months'),
          event: z.string().default('event'),
          riskClass: z.string().default('Stromal'),
        })
        .nullable()
        .default({ time: 'survival_months', event: 'event', riskClass: 'Stromal' }),
      /** Attention heatmaps for this many test slides per fold (0 = none, -1 = all). */
      heatmaps: z.number().int().default(2),
      topK: z.number().int().min(0).default(4),
      eceBins: z.number().int().min(2).default(10),
    })
    .prefault({}),
});
export type CrcMilRunConfig = z.infer<typeof CrcMilRunConfigSchema>;
export type CrcMilRunConfigInput = z.input<typeof CrcMilRunConfigSchema>;

export function preprocessConfigOf(cfg: CrcMilRunConfig) {
  return PreprocessConfigSchema.parse(cfg.preprocess ?? {});
}
