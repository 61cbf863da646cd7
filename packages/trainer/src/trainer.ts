import type { Module } from '@meddl/nn';
import { defaultRng, Generator, tf } from '@meddl/tensor';
import {
  type Callback,
  CheckpointCallback,
  EarlyStopping,
  LearningRateMonitor,
  TensorLeakMonitor,
  TimeBudget,
} from './callbacks';
import { type TrainerConfig, type TrainerConfigInput, TrainerConfigSchema } from './config';
import type { BatchSource } from './data/loader';
import { NonFiniteLossError, TrainerError } from './errors';
import { ConsoleLogger, CsvLogger, JsonlLogger, TensorBoardLogger } from './loggers';
import {
  createOptimizer,
  type NamedGrads,
  noDecayGroups,
  type Optimizer,
  type ParamGroupSpec,
} from './optim';
import { createRunDirectory, type RunDirectory } from './rundir';
import {
  type LRScheduler,
  OneCycleLR,
  ReduceLROnPlateau,
  type SchedulerState,
  StepDecayLR,
  WarmupCosineLR,
  warmupToSteps,
} from './schedulers';

/** What a checkpoint holds; tensors in `model` are live variables: copy or serialize them during save. */
export interface CheckpointPayload {
  model: Record<string, tf.Tensor>;
  optimizer?: Record<string, tf.Tensor>;
  state: Record<string, unknown>;
}

export interface CheckpointInfo {
  epoch: number;
  step: number;
  metrics: Record<string, number>;
  tags?: string[];
  reason?: 'periodic' | 'epoch' | 'best' | 'emergency' | 'manual';
}

/** The structural interface @meddl/checkpoint's CheckpointManager satisfies. */
export interface CheckpointSink {
  save(payload: CheckpointPayload, info: CheckpointInfo): Promise<unknown>;
  latestValid(): Promise<(CheckpointPayload & { path: string }) | null>;
}

/** Passed to every task hook. */
export interface StepContext {
  epoch: number;
  /** Optimizer steps completed so far. */
  step: number;
  batchIndex: number;
  /** The trainer's seeded generator (restored on resume). */
  rng: Generator;
}

/** What validationStep may return: numbers and numeric arrays (read out of tensors). */
export type ValidationOutput = Record<string, number | number[] | Float32Array | Int32Array | Uint8Array>;

export interface ValidationEndContext extends StepContext {
  /** Renders a confusion matrix into TensorBoard (no-op without the TensorBoard logger). */
  logConfusionMatrix(tag: string, matrix: number[][]): void;
  logText(tag: string, markdown: string): void;
}

/**
 * What a domain package supplies (Lightning's LightningModule): the module, the loss of a
 * batch, and optionally validation outputs and their epoch metrics, and parameter groups.
 */
export interface TrainingTask<Batch, ValBatch = Batch> {
  module: Module;
  /** The loss of one batch, mean-reduced over its examples. Runs under the trainer's gradient tape. */
  trainingStep(batch: Batch, ctx: StepContext): tf.Scalar;
  /** Plain numbers/arrays for validationEpochEnd; a `loss` number is averaged into val_loss. */
  validationStep?(batch: ValBatch, ctx: StepContext): ValidationOutput;
  /** May be async, e.g. to merge metric accumulators across data-parallel ranks. */
  validationEpochEnd?(
    outputs: ValidationOutput[],
    ctx: ValidationEndContext,
  ): Record<string, number> | Promise<Record<string, number>>;
  /** Parameter groups (e.g. encoders 1e-5, head 1e-4); default: decay / no-decay split of all trainables. */
  paramGroups?(): ParamGroupSpec[];
  /** Generators the module holds privately (e.g. for dropout), saved and restored with checkpoints. */
  generators?(): Generator[];
}

export interface StepRecord {
  epoch: number;
  /** Optimizer steps completed (after this one). */
  step: number;
  batchIndex: number;
  /** Mean training loss over the accumulated batches. */
  loss: number;
  lr: number[];
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  samples: number;
  samplesPerSec: number;
  stepSeconds: number;
  /** True when the step was skipped for a non-finite loss or gradient. */
  skipped: boolean;
  /** Extra scalars for the loggers (callbacks may add). */
  scalars: Record<string, number>;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  trainLoss: number;
  metrics: Record<string, number>;
  durationSec: number;
}

export type FitStatus = 'completed' | 'stopped' | 'interrupted' | 'time-budget';

export interface FitSummary {
  status: FitStatus;
  stopReason?: string;
  /** Epochs fully completed. */
  epochs: number;
  steps: number;
  nonFiniteSteps: number;
  lastTrainLoss: number;
  lastMetrics: Record<string, number>;
  history: EpochRecord[];
  runDir: string | null;
  durationSec: number;
  resumedFrom: string | null;
}

export interface TrainerOptions {
  callbacks?: Callback[];
  /** Where checkpoints go and resume reads from (e.g. @meddl/checkpoint's CheckpointManager). */
  checkpointSink?: CheckpointSink;
  /**
   * Called with the accumulated gradients of each optimizer window before the norm, clipping and
   * the optimizer step (e.g. @meddl/distributed averages them across ranks here). It owns `grads`:
   * it returns the gradients to use and must dispose any input tensor it does not return.
   */
  reduceGradients?: (grads: NamedGrads) => NamedGrads | Promise<NamedGrads>;
  /** Console output stream (default stderr). */
  console?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface FitLoaders<Batch, ValBatch> {
  train: BatchSource<Batch>;
  val?: BatchSource<ValBatch>;
}

interface Position {
  epoch: number;
  batch: number;
}

function isFiniteNumber(x: number): boolean {
  return Number.isFinite(x);
}

/**
 * One training loop for every model: accumulation, clipping, non-finite handling, param-group
 * optimizers, per-step schedulers, validation, callbacks, loggers, run directory, resume.
 */
export class Trainer {
  readonly config: TrainerConfig;
  readonly callbacks: Callback[] = [];
  optimizer: Optimizer | null = null;
  scheduler: LRScheduler | null = null;
  runDir: RunDirectory | null = null;
  /** Optimizer steps completed. */
  globalStep = 0;
  epoch = 0;
  totalSteps = 0;
  nonFiniteSteps = 0;
  readonly rng: Generator;
  private position: Position = { epoch: 0, batch: 0 };
  private stopReason: string | null = null;
  private stopStatus: FitStatus = 'stopped';
  private interruptSignal: string | null = null;
  private lastMetrics: Record<string, number> = {};
  private epochLoss = { sum: 0, n: 0 };
  private task: TrainingTask<unknown, unknown> | null = null;
  private tb: TensorBoardLogger | null = null;

  constructor(
    config: TrainerConfigInput = {},
    private readonly options: TrainerOptions = {},
  ) {
    const parsed = TrainerConfigSchema.safeParse(config);
    if (!parsed.success) {
      throw new TrainerError(
        `Invalid trainer config: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
      );
    }
    this.config = parsed.data;
    this.rng = new Generator(this.config.seed);
  }

  /** Asks the loop to stop at the next optimizer-step boundary. */
  requestStop(reason: string, status: FitStatus = 'stopped'): void {
    if (this.stopReason === null) {
      this.stopReason = reason;
      this.stopStatus = status;
    }
  }

  private ctx(batchIndex: number): StepContext {
    return { epoch: this.epoch, step: this.globalStep, batchIndex, rng: this.rng };
  }

  private buildOptimizer(task: TrainingTask<unknown, unknown>): Optimizer {
    const o = this.config.optimizer;
    const groups =
      task.paramGroups?.() ??
      (o.noDecayOnBiasAndNorm
        ? noDecayGroups(task.module.namedParameters(), { weightDecay: o.weightDecay, lr: o.lr })
        : [{ params: task.module.trainableParameters() }]);
    if (groups.every((g) => g.params.length === 0)) {
      throw new TrainerError('The task has no trainable parameters (is the whole module frozen?)');
    }
    return createOptimizer(o.name, groups, {
      lr: o.lr,
      weightDecay: o.weightDecay,
      betas: o.betas,
      eps: o.eps,
      momentum: o.momentum,
      dampening: o.dampening,
      nesterov: o.nesterov,
    });
  }

  private buildScheduler(opt: Optimizer, stepsPerEpoch: number): LRScheduler | null {
    const s = this.config.scheduler;
    const total = this.totalSteps;
    switch (s.name) {
      case 'none':
        return null;
      case 'onecycle':
        return new OneCycleLR(opt, {
          maxLr: s.maxLr ?? opt.paramGroups.map((g) => g.lr),
          totalSteps: total,
          pctStart: s.pctStart,
          annealStrategy: s.annealStrategy,
          divFactor: s.divFactor,
          finalDivFactor: s.finalDivFactor,
          threePhase: s.threePhase,
          cycleMomentum: s.cycleMomentum,
          baseMomentum: s.baseMomentum,
          maxMomentum: s.maxMomentum,
        });
      case 'warmup-cosine':
        return new WarmupCosineLR(opt, {
          warmupSteps: warmupToSteps({ steps: s.warmupSteps, epochs: s.warmupEpochs }, stepsPerEpoch),
          totalSteps: total,
          minLrRatio: s.minLrRatio,
          warmupStartRatio: s.warmupStartRatio,
        });
      case 'step':
        return new StepDecayLR(opt, {
          stepSize: s.stepSize ?? Math.max(1, Math.round((s.stepEpochs ?? 1) * stepsPerEpoch)),
          gamma: s.gamma,
          warmupSteps: warmupToSteps({ steps: s.warmupSteps, epochs: s.warmupEpochs }, stepsPerEpoch),
        });
      case 'plateau':
        return new ReduceLROnPlateau(opt, s);
    }
  }

  private setupCallbacks(): void {
    const c = this.config;
    this.callbacks.length = 0;
    this.callbacks.push(new LearningRateMonitor());
    if (c.leakCheckEveryNSteps > 0) this.callbacks.push(new TensorLeakMonitor(c.leakCheckEveryNSteps));
    if (c.earlyStopping) this.callbacks.push(new EarlyStopping(c.earlyStopping));
    if (c.timeBudgetSeconds) this.callbacks.push(new TimeBudget(c.timeBudgetSeconds));
    if (c.checkpoint && this.options.checkpointSink)
      this.callbacks.push(new CheckpointCallback(this.options.checkpointSink, c.checkpoint));
    this.callbacks.push(...(this.options.callbacks ?? []));
    if (c.loggers.console) this.callbacks.push(new ConsoleLogger(this.options.console));
    if (this.runDir) {
      if (c.loggers.csv) this.callbacks.push(new CsvLogger(this.runDir.logs));
      if (c.loggers.jsonl) this.callbacks.push(new JsonlLogger(this.runDir.logs));
      if (c.loggers.tensorboard) {
        this.tb = new TensorBoardLogger(this.runDir.logs);
        this.callbacks.push(this.tb);
      }
    }
  }

  private async emit<K extends keyof Callback>(hook: K, ...args: unknown[]): Promise<void> {
    for (const cb of this.callbacks) {
      const fn = cb[hook] as ((...a: unknown[]) => void | Promise<void>) | undefined;
      if (typeof fn === 'function') await fn.call(cb, this, ...args);
    }
  }

  /** The full training state (resume point, optimizer meta, scheduler, RNGs, counters, callbacks). */
  private trainingState(): Record<string, unknown> {
    return {
      position: { ...this.position },
      globalStep: this.globalStep,
      nonFiniteSteps: this.nonFiniteSteps,
      epochLoss: { ...this.epochLoss },
      optimizerMeta: this.optimizer?.stateDict().meta ?? null,
      scheduler: this.scheduler?.stateDict() ?? null,
      rng: {
        trainer: this.rng.getState(),
        default: defaultRng().getState(),
        task: (this.task?.generators?.() ?? []).map((g) => g.getState()),
      },
      lastMetrics: this.lastMetrics,
      callbacks: Object.fromEntries(
        this.callbacks.filter((c) => c.stateDict).map((c) => [c.name, (c.stateDict as () => unknown)()]),
      ),
      seed: this.config.seed,
    };
  }

  /** Saves the current state through a sink (used by CheckpointCallback and on signals). */
  async saveCheckpoint(
    sink: CheckpointSink,
    reason: CheckpointInfo['reason'],
    tags?: string[],
  ): Promise<unknown> {
    if (!this.task || !this.optimizer) throw new TrainerError('saveCheckpoint called outside fit()');
    const opt = this.optimizer.stateDict();
    const state = this.trainingState();
    state.optimizerMeta = opt.meta;
    try {
      return await sink.save(
        { model: this.task.module.stateDict(), optimizer: opt.tensors, state },
        { epoch: this.position.epoch, step: this.globalStep, metrics: { ...this.lastMetrics }, tags, reason },
      );
    } finally {
      tf.dispose(Object.values(opt.tensors));
    }
  }

  private restore(ck: CheckpointPayload & { path: string }): void {
    const task = this.task as TrainingTask<unknown, unknown>;
    const s = ck.state as unknown as {
      position: Position;
      globalStep: number;
      nonFiniteSteps: number;
      lastMetrics: Record<string, number>;
      optimizerMeta: ReturnType<Optimizer['stateDict']>['meta'];
      scheduler: SchedulerState | null;
      rng: { trainer: number[]; default: number[]; task?: number[][] };
      epochLoss: { sum: number; n: number };
      callbacks: Record<string, Record<string, unknown>>;
    };
    task.module.loadStateDict(ck.model);
    (this.optimizer as Optimizer).loadStateDict({ tensors: ck.optimizer ?? {}, meta: s.optimizerMeta });
    if (this.scheduler && s.scheduler) this.scheduler.loadStateDict(s.scheduler);
    this.rng.setState(s.rng.trainer);
    defaultRng().setState(s.rng.default);
    const gens = task.generators?.() ?? [];
    if (gens.length !== (s.rng.task ?? []).length) {
      throw new TrainerError(
        `Checkpoint ${ck.path} has ${(s.rng.task ?? []).length} task generators, the task has ${gens.length}`,
      );
    }
    for (const [i, g] of gens.entries()) g.setState((s.rng.task as number[][])[i]);
    this.position = { ...s.position };
    this.globalStep = s.globalStep;
    this.nonFiniteSteps = s.nonFiniteSteps;
    this.epochLoss = { ...s.epochLoss };
    this.lastMetrics = { ...s.lastMetrics };
    for (const cb of this.callbacks) {
      const st = s.callbacks?.[cb.name];
      if (st && cb.loadStateDict) cb.loadStateDict(st);
    }
  }

  /** Runs validation over `val` and returns the metrics (val_loss + the task's). */
  async validate<ValBatch>(
    task: TrainingTask<unknown, ValBatch>,
    val: BatchSource<ValBatch>,
  ): Promise<Record<string, number>> {
    if (!task.validationStep) return {};
    task.module.eval();
    const outputs: ValidationOutput[] = [];
    let lossSum = 0;
    let lossN = 0;
    for await (const b of val.batches(this.epoch, 0)) {
      const ctx = this.ctx(b.index);
      const out = tf.tidy(
        () => (task.validationStep as NonNullable<typeof task.validationStep>)(b.data, ctx) as never,
      ) as ValidationOutput;
      if (typeof out.loss === 'number') {
        lossSum += out.loss * b.size;
        lossN += b.size;
      }
      outputs.push(out);
    }
    task.module.train();
    const metrics: Record<string, number> = {};
    if (lossN > 0) metrics.val_loss = lossSum / lossN;
    if (task.validationEpochEnd) {
      const tb = this.tb;
      Object.assign(
        metrics,
        await task.validationEpochEnd(outputs, {
          ...this.ctx(0),
          logConfusionMatrix: (tag, m) => tb?.writer.confusionMatrix(tag, m, this.globalStep),
          logText: (tag, md) => tb?.writer.text(tag, md, this.globalStep),
        }),
      );
    }
    return metrics;
  }

  private async runValidation(task: TrainingTask<unknown, unknown>, val: BatchSource<unknown> | undefined) {
    if (!val || !task.validationStep) return;
    const metrics = await this.validate(task, val);
    this.lastMetrics = metrics;
    if (this.scheduler?.stepMetric) {
      const s = this.config.scheduler;
      const key = s.name === 'plateau' ? s.monitor : 'val_loss';
      const v = metrics[key];
      if (v === undefined)
        throw new TrainerError(
          `Scheduler 'plateau' monitors '${key}', validation returned ${Object.keys(metrics).join(', ')}`,
        );
      this.scheduler.stepMetric(v);
    }
    await this.emit('onValidationEnd', metrics);
  }

  /** Sums squares of all grads: the global L2 norm (torch clip_grad_norm_ with norm_type 2). */
  private static globalNorm(grads: NamedGrads): number {
    const list = Object.values(grads);
    if (list.length === 0) return 0;
    return tf.tidy(() => tf.sqrt(tf.addN(list.map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
  }

  /** A Trainer may fit more than once: each fit starts from a clean slate. */
  private reset(): void {
    this.optimizer?.dispose();
    this.position = { epoch: 0, batch: 0 };
    this.globalStep = 0;
    this.epoch = 0;
    this.nonFiniteSteps = 0;
    this.stopReason = null;
    this.stopStatus = 'stopped';
    this.interruptSignal = null;
    this.lastMetrics = {};
    this.epochLoss = { sum: 0, n: 0 };
    this.tb = null;
  }

  /**
   * Trains `task` on `loaders.train`, validating on `loaders.val`. With `resume`, continues
   * from the sink's latest valid checkpoint (same weights as an uninterrupted run).
   */
  async fit<Batch, ValBatch = Batch>(
    task: TrainingTask<Batch, ValBatch>,
    loaders: FitLoaders<Batch, ValBatch>,
    options: { resume?: boolean } = {},
  ): Promise<FitSummary> {
    const t0 = performance.now();
    const c = this.config;
    const anyTask = task as unknown as TrainingTask<unknown, unknown>;
    this.task = anyTask;
    this.reset();
    defaultRng().manualSeed(c.seed); // same object: modules holding defaultRng() see the reseed
    this.rng.manualSeed(c.seed);
    const train = loaders.train;
    const nb = train.length;
    if (nb === 0)
      throw new TrainerError(
        'The training loader yields no batches (dataset empty or dropLast with too few examples)',
      );
    const accum = c.accumulateGradBatches;
    const stepsPerEpoch = Math.ceil(nb / accum);
    this.totalSteps = c.maxSteps ?? stepsPerEpoch * c.maxEpochs;
    this.optimizer = this.buildOptimizer(anyTask);
    this.scheduler = this.buildScheduler(this.optimizer, stepsPerEpoch);
    this.runDir =
      c.runsDir === null
        ? null
        : await createRunDirectory(c.runsDir, c.name, c, { resume: options.resume, seed: c.seed });
    this.setupCallbacks();
    let resumedFrom: string | null = null;
    if (options.resume) {
      const sink = this.options.checkpointSink;
      if (!sink) throw new TrainerError('resume needs a checkpointSink in the Trainer options');
      const ck = await sink.latestValid();
      if (ck) {
        this.restore(ck);
        resumedFrom = ck.path;
      }
    }
    const onSignal = (sig: NodeJS.Signals) => {
      this.interruptSignal = sig;
      this.requestStop(`received ${sig}`, 'interrupted');
    };
    if (c.handleSignals) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const history: EpochRecord[] = [];
    const trainables = () => task.module.trainableParameters();
    let lastTrainLoss = Number.NaN;
    try {
      await this.emit('onFitStart');
      task.module.train();
      for (
        this.epoch = this.position.epoch;
        this.epoch < c.maxEpochs && this.stopReason === null;
        this.epoch++
      ) {
        const epochStart = performance.now();
        let acc: NamedGrads | null = null;
        let windowLoss = 0;
        let windowSamples = 0;
        let stepStart = performance.now();
        for await (const b of train.batches(this.epoch, this.position.batch)) {
          const windowStart = Math.floor(b.index / accum) * accum;
          const windowSize = Math.min(accum, nb - windowStart);
          const ctx = this.ctx(b.index);
          // Mean-reduced loss of each micro-batch / window size: the grads sum to those of the larger batch.
          const { value, grads } = tf.variableGrads(
            () => tf.tidy(() => tf.div(task.trainingStep(b.data, ctx), windowSize) as tf.Scalar),
            trainables(),
          );
          windowLoss += value.dataSync()[0];
          windowSamples += b.size;
          value.dispose();
          if (acc === null) acc = grads;
          else {
            const prev: NamedGrads = acc;
            acc = {};
            for (const k of new Set([...Object.keys(prev), ...Object.keys(grads)])) {
              acc[k] = prev[k] && grads[k] ? tf.add(prev[k], grads[k]) : tf.clone(prev[k] ?? grads[k]);
            }
            tf.dispose([Object.values(prev), Object.values(grads)]);
          }
          if (b.index + 1 !== windowStart + windowSize) continue;

          // ---- optimizer step at the end of the accumulation window ----
          if (this.options.reduceGradients) acc = await this.options.reduceGradients(acc);
          const gradNorm = Trainer.globalNorm(acc);
          const finite = isFiniteNumber(windowLoss) && isFiniteNumber(gradNorm);
          if (finite) {
            if (c.gradClipNorm !== undefined) {
              const coef = c.gradClipNorm / (gradNorm + 1e-6);
              if (coef < 1) {
                const clipped: NamedGrads = {};
                for (const [k, g] of Object.entries(acc)) clipped[k] = tf.mul(g, coef);
                tf.dispose(Object.values(acc));
                acc = clipped;
              }
            }
            (this.optimizer as Optimizer).step(acc);
            this.scheduler?.step();
            this.globalStep++;
            this.epochLoss.sum += windowLoss;
            this.epochLoss.n += 1;
            lastTrainLoss = windowLoss;
          } else {
            this.nonFiniteSteps++;
            if (this.nonFiniteSteps > c.maxNonFiniteSteps) {
              tf.dispose(Object.values(acc));
              throw new NonFiniteLossError(
                `Training aborted: ${this.nonFiniteSteps} optimizer steps had a non-finite loss or gradient ` +
                  `(last: loss ${windowLoss}, grad norm ${gradNorm} at epoch ${this.epoch}, batch ${b.index}); ` +
                  `limit maxNonFiniteSteps=${c.maxNonFiniteSteps}. Lower the learning rate or check the inputs.`,
                this.nonFiniteSteps,
                this.globalStep,
              );
            }
          }
          tf.dispose(Object.values(acc));
          acc = null;
          this.position = { epoch: this.epoch, batch: b.index + 1 };
          const secs = (performance.now() - stepStart) / 1000;
          const record: StepRecord = {
            epoch: this.epoch,
            step: this.globalStep,
            batchIndex: b.index,
            loss: windowLoss,
            lr: (this.optimizer as Optimizer).paramGroups.map((g) => g.lr),
            gradNorm,
            samples: windowSamples,
            samplesPerSec: secs > 0 ? windowSamples / secs : 0,
            stepSeconds: secs,
            skipped: !finite,
            scalars: {},
          };
          windowLoss = 0;
          windowSamples = 0;
          await this.emit('onTrainStepEnd', record);
          if (c.valEveryNSteps && finite && this.globalStep % c.valEveryNSteps === 0) {
            await this.runValidation(anyTask, loaders.val as BatchSource<unknown> | undefined);
          }
          if (c.maxSteps !== undefined && this.globalStep >= c.maxSteps)
            this.requestStop(`maxSteps=${c.maxSteps} reached`, 'completed');
          // Let macrotasks run between steps: signal handlers (SIGINT/SIGTERM → emergency
          // checkpoint), timers and I/O callbacks. The step loop otherwise awaits only settled
          // promises, and a SIGTERM waited for the end of the epoch (measured: 413 s, 3125 steps).
          await new Promise<void>((resolve) => setImmediate(resolve));
          stepStart = performance.now();
          if (this.stopReason !== null) break;
        }
        if (acc) tf.dispose(Object.values(acc as NamedGrads));
        // Stopped mid-epoch: interrupts and early stops end here; reaching maxSteps still validates.
        const midEpoch = this.stopReason !== null && this.position.batch < nb;
        if (midEpoch && this.stopStatus !== 'completed') break;
        // ---- epoch end ----
        const trainLoss = this.epochLoss.n > 0 ? this.epochLoss.sum / this.epochLoss.n : Number.NaN;
        if ((this.epoch + 1) % c.valEveryNEpochs === 0 || this.epoch + 1 === c.maxEpochs || midEpoch) {
          await this.runValidation(anyTask, loaders.val as BatchSource<unknown> | undefined);
        }
        if (!midEpoch) {
          this.position = { epoch: this.epoch + 1, batch: 0 };
          this.epochLoss = { sum: 0, n: 0 };
        }
        const rec: EpochRecord = {
          epoch: this.epoch,
          step: this.globalStep,
          trainLoss,
          metrics: { ...this.lastMetrics },
          durationSec: (performance.now() - epochStart) / 1000,
        };
        history.push(rec);
        await this.emit('onEpochEnd', rec);
      }
      if (
        this.stopReason !== null &&
        (this.stopStatus === 'interrupted' || this.stopStatus === 'time-budget')
      ) {
        if (this.options.checkpointSink) {
          await this.saveCheckpoint(this.options.checkpointSink, 'emergency', [
            this.interruptSignal ?? this.stopStatus,
          ]);
        }
      }
      const summary: FitSummary = {
        status: this.stopReason === null ? 'completed' : this.stopStatus,
        stopReason: this.stopReason ?? undefined,
        epochs: this.position.epoch,
        steps: this.globalStep,
        nonFiniteSteps: this.nonFiniteSteps,
        lastTrainLoss,
        lastMetrics: { ...this.lastMetrics },
        history,
        runDir: this.runDir?.root ?? null,
        durationSec: (performance.now() - t0) / 1000,
        resumedFrom,
      };
      await this.emit('onFitEnd', summary);
      return summary;
    } finally {
      if (c.handleSignals) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      this.tb?.writer.close();
    }
  }

  /** Frees optimizer state. The module belongs to the task. */
  dispose(): void {
    this.optimizer?.dispose();
  }
}
