import { z } from 'zod';

const Betas = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]);

export const OptimizerConfigSchema = z.object({
  name: z.enum(['sgd', 'adam', 'adamw']).default('adamw'),
  lr: z.number().positive().default(1e-3),
  weightDecay: z.number().min(0).default(0.01),
  betas: Betas.default([0.9, 0.999]),
  eps: z.number().positive().default(1e-8),
  momentum: z.number().min(0).default(0),
  dampening: z.number().min(0).default(0),
  nesterov: z.boolean().default(false),
  /** Put biases, norm weights and 1-D params in a zero-decay group (when the task gives no groups). */
  noDecayOnBiasAndNorm: z.boolean().default(true),
});

/** Warmup given in optimizer steps or in epochs (converted with the loader's steps per epoch). */
const Warmup = z.object({
  warmupSteps: z.number().int().min(0).optional(),
  warmupEpochs: z.number().min(0).optional(),
});

export const SchedulerConfigSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('none') }),
  z.object({
    name: z.literal('onecycle'),
    /** Peak lr; default the optimizer lr. */
    maxLr: z.number().positive().optional(),
    pctStart: z.number().min(0).max(1).default(0.3),
    annealStrategy: z.enum(['cos', 'linear']).default('cos'),
    divFactor: z.number().positive().default(25),
    finalDivFactor: z.number().positive().default(1e4),
    threePhase: z.boolean().default(false),
    cycleMomentum: z.boolean().default(false),
    baseMomentum: z.number().default(0.85),
    maxMomentum: z.number().default(0.95),
  }),
  Warmup.extend({
    name: z.literal('warmup-cosine'),
    minLrRatio: z.number().min(0).max(1).default(0),
    warmupStartRatio: z.number().min(0).max(1).default(0),
  }),
  Warmup.extend({
    name: z.literal('step'),
    stepSize: z.number().int().positive().optional(),
    stepEpochs: z.number().positive().optional(),
    gamma: z.number().positive().default(0.1),
  }),
  z.object({
    name: z.literal('plateau'),
    monitor: z.string().default('val_loss'),
    mode: z.enum(['min', 'max']).default('min'),
    factor: z.number().positive().lt(1).default(0.1),
    patience: z.number().int().min(0).default(10),
    threshold: z.number().min(0).default(1e-4),
    cooldown: z.number().int().min(0).default(0),
    minLr: z.number().min(0).default(0),
  }),
]);

export const EarlyStoppingConfigSchema = z.object({
  monitor: z.string(),
  mode: z.enum(['min', 'max']).default('min'),
  patience: z.number().int().min(0).default(5),
  minDelta: z.number().min(0).default(0),
});

export const CheckpointPolicySchema = z.object({
  everyNSteps: z.number().int().positive().optional(),
  everyNEpochs: z.number().int().positive().default(1),
  /** Save a 'best' checkpoint when this metric improves. */
  monitor: z.string().optional(),
  mode: z.enum(['min', 'max']).default('min'),
});

export const LoggersConfigSchema = z.object({
  console: z.boolean().default(true),
  csv: z.boolean().default(true),
  jsonl: z.boolean().default(true),
  tensorboard: z.boolean().default(true),
});

export const TrainerConfigSchema = z.object({
  name: z.string().min(1).default('run'),
  /** Parent of run directories; null writes no run directory (tests, search inner loops). */
  runsDir: z.string().nullable().default('runs'),
  seed: z.number().int().default(0),
  maxEpochs: z.number().int().positive().default(1),
  /** Stop after this many optimizer steps (also sizes step-based schedules). */
  maxSteps: z.number().int().positive().optional(),
  accumulateGradBatches: z.number().int().positive().default(1),
  /** Global L2 norm to clip gradients to (torch.nn.utils.clip_grad_norm_). */
  gradClipNorm: z.number().positive().optional(),
  valEveryNEpochs: z.number().int().positive().default(1),
  valEveryNSteps: z.number().int().positive().optional(),
  /** Abort when more optimizer steps than this had a non-finite loss or gradient. */
  maxNonFiniteSteps: z.number().int().min(0).default(10),
  logEveryNSteps: z.number().int().positive().default(1),
  /** Stop cleanly (with a checkpoint) after this many seconds. */
  timeBudgetSeconds: z.number().positive().optional(),
  optimizer: OptimizerConfigSchema.default(OptimizerConfigSchema.parse({})),
  scheduler: SchedulerConfigSchema.default({ name: 'none' }),
  earlyStopping: EarlyStoppingConfigSchema.optional(),
  checkpoint: CheckpointPolicySchema.optional(),
  loggers: LoggersConfigSchema.default(LoggersConfigSchema.parse({})),
  /** Fail if a training step leaves more tensors than it found (checked every N steps; 0 = off). */
  leakCheckEveryNSteps: z.number().int().min(0).default(0),
  /** Save an emergency checkpoint and stop on SIGINT/SIGTERM. */
  handleSignals: z.boolean().default(true),
});

export type TrainerConfig = z.infer<typeof TrainerConfigSchema>;
export type TrainerConfigInput = z.input<typeof TrainerConfigSchema>;
export type SchedulerConfig = z.infer<typeof SchedulerConfigSchema>;
