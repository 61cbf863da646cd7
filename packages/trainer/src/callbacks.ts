import { memoryReport, tf } from '@meddl/tensor';
import { CallbackError } from './errors';
import type { CheckpointSink, EpochRecord, FitSummary, StepRecord, Trainer } from './trainer';

/**
 * Hooks into the loop. Every hook may be async; the trainer awaits them in order. Callbacks
 * with state (early stopping, best metric) implement stateDict/loadStateDict so resume
 * restores them.
 */
export interface Callback {
  readonly name: string;
  onFitStart?(trainer: Trainer): void | Promise<void>;
  /** After each optimizer step (or skipped non-finite step). Callbacks may add to record.scalars. */
  onTrainStepEnd?(trainer: Trainer, record: StepRecord): void | Promise<void>;
  /** After each validation pass with its metrics. */
  onValidationEnd?(trainer: Trainer, metrics: Record<string, number>): void | Promise<void>;
  onEpochEnd?(trainer: Trainer, record: EpochRecord): void | Promise<void>;
  onFitEnd?(trainer: Trainer, summary: FitSummary): void | Promise<void>;
  stateDict?(): Record<string, unknown>;
  loadStateDict?(state: Record<string, unknown>): void;
}

function improved(value: number, best: number | null, mode: 'min' | 'max', minDelta: number): boolean {
  if (best === null) return Number.isFinite(value);
  return mode === 'min' ? value < best - minDelta : value > best + minDelta;
}

export interface EarlyStoppingOptions {
  monitor: string;
  mode?: 'min' | 'max';
  patience?: number;
  minDelta?: number;
}

/** Stops when `monitor` has not improved by minDelta for `patience` validations. */
export class EarlyStopping implements Callback {
  readonly name = 'early-stopping';
  best: number | null = null;
  wait = 0;
  private readonly o: Required<EarlyStoppingOptions>;
  constructor(options: EarlyStoppingOptions) {
    this.o = { mode: 'min', patience: 5, minDelta: 0, ...options };
  }
  onValidationEnd(trainer: Trainer, metrics: Record<string, number>): void {
    const v = metrics[this.o.monitor];
    if (v === undefined) {
      throw new CallbackError(
        `EarlyStopping monitors '${this.o.monitor}' but validation returned only: ${Object.keys(metrics).join(', ') || '(nothing)'}`,
      );
    }
    if (improved(v, this.best, this.o.mode, this.o.minDelta)) {
      this.best = v;
      this.wait = 0;
    } else if (++this.wait > this.o.patience) {
      trainer.requestStop(
        `early stopping: ${this.o.monitor} did not improve for ${this.wait} validations (best ${this.best})`,
      );
    }
  }
  stateDict() {
    return { best: this.best, wait: this.wait };
  }
  loadStateDict(s: Record<string, unknown>) {
    this.best = s.best as number | null;
    this.wait = s.wait as number;
  }
}

/** Adds `lr/<group>` scalars to every step record and keeps the history. */
export class LearningRateMonitor implements Callback {
  readonly name = 'lr-monitor';
  readonly history: { step: number; lrs: number[] }[] = [];
  onTrainStepEnd(trainer: Trainer, record: StepRecord): void {
    const groups = trainer.optimizer?.paramGroups ?? [];
    groups.forEach((g) => {
      record.scalars[`lr/${g.name}`] = g.lr;
    });
    this.history.push({ step: record.step, lrs: groups.map((g) => g.lr) });
  }
}

/**
 * Fails loudly when the number of live tensors grows across training steps: a step must
 * leave tf.memory().numTensors unchanged once optimizer state exists (after the first step).
 */
export class TensorLeakMonitor implements Callback {
  readonly name = 'tensor-leak-monitor';
  private baseline: number | null = null;
  readonly samples: number[] = [];
  constructor(private readonly everyNSteps = 1) {}
  onTrainStepEnd(_t: Trainer, record: StepRecord): void {
    if (record.skipped || record.step % this.everyNSteps !== 0) return;
    const n = tf.memory().numTensors;
    this.samples.push(n);
    if (this.baseline === null) {
      this.baseline = n;
      return;
    }
    if (n > this.baseline) {
      throw new CallbackError(
        `Tensor leak: ${n - this.baseline} more live tensors at step ${record.step} than at the first checked step ` +
          `(${this.baseline} → ${n}); wrap the training step's math in tf.tidy and dispose what you create`,
      );
    }
  }
  /** Validation and checkpoints may legitimately change the count; start over after them. */
  onValidationEnd(): void {
    this.baseline = null;
  }
}

/** Stops the fit (and checkpoints, if a sink is configured) once the wall-clock budget is spent. */
export class TimeBudget implements Callback {
  readonly name = 'time-budget';
  private start = 0;
  constructor(private readonly seconds: number) {}
  onFitStart(): void {
    this.start = performance.now();
  }
  onTrainStepEnd(trainer: Trainer): void {
    if ((performance.now() - this.start) / 1000 >= this.seconds) {
      trainer.requestStop(`time budget of ${this.seconds} s spent`, 'time-budget');
    }
  }
}

export interface CheckpointPolicy {
  everyNSteps?: number;
  everyNEpochs?: number;
  monitor?: string;
  mode?: 'min' | 'max';
}

/**
 * Saves through a CheckpointSink (e.g. @meddl/checkpoint's CheckpointManager): every N
 * optimizer steps ('periodic'), every N epochs ('epoch'), and when `monitor` improves ('best').
 */
export class CheckpointCallback implements Callback {
  readonly name = 'checkpoint';
  best: number | null = null;
  readonly saved: { step: number; reason: string }[] = [];
  constructor(
    readonly sink: CheckpointSink,
    private readonly policy: CheckpointPolicy = {},
  ) {}
  async onTrainStepEnd(trainer: Trainer, record: StepRecord): Promise<void> {
    const n = this.policy.everyNSteps;
    if (n && !record.skipped && record.step % n === 0) {
      await trainer.saveCheckpoint(this.sink, 'periodic');
      this.saved.push({ step: record.step, reason: 'periodic' });
    }
  }
  async onEpochEnd(trainer: Trainer, record: EpochRecord): Promise<void> {
    const m = this.policy.monitor;
    const v = m ? record.metrics[m] : undefined;
    if (m && v !== undefined && improved(v, this.best, this.policy.mode ?? 'min', 0)) {
      this.best = v;
      await trainer.saveCheckpoint(this.sink, 'best', ['best']);
      this.saved.push({ step: record.step, reason: 'best' });
      return;
    }
    const e = this.policy.everyNEpochs ?? 1;
    if ((record.epoch + 1) % e === 0) {
      await trainer.saveCheckpoint(this.sink, 'epoch');
      this.saved.push({ step: record.step, reason: 'epoch' });
    }
  }
  stateDict() {
    return { best: this.best };
  }
  loadStateDict(s: Record<string, unknown>) {
    this.best = s.best as number | null;
  }
}

/** Adds memory scalars (live tensors, tensor MiB, RSS MiB) to step records every N steps. */
export class MemoryMonitor implements Callback {
  readonly name = 'memory-monitor';
  constructor(private readonly everyNSteps = 1) {}
  onTrainStepEnd(_t: Trainer, record: StepRecord): void {
    if (record.step % this.everyNSteps !== 0) return;
    const m = memoryReport();
    record.scalars['memory/num_tensors'] = m.numTensors;
    record.scalars['memory/tensor_mib'] = m.tensorBytes / 2 ** 20;
    record.scalars['memory/rss_mib'] = m.rss / 2 ** 20;
  }
}
