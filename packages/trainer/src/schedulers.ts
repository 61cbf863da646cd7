import { TrainerError } from './errors';
import type { Optimizer, ParamGroup } from './optim';

/** JSON state of a scheduler, stored in checkpoints next to the optimizer. */
export type SchedulerState = Record<string, number | number[] | string | boolean | null>;

/**
 * Schedulers are stepped once per optimizer step (after it), as torch's OneCycleLR is. The
 * constructor sets the lr for step 0. ReduceLROnPlateau is stepped with a metric instead.
 */
export interface LRScheduler {
  readonly kind: string;
  /** Advances one optimizer step (metric-driven schedulers ignore it). */
  step(): void;
  /** Called after validation with the monitored value (only plateau schedulers use it). */
  stepMetric?(value: number): void;
  lastLr(): number[];
  stateDict(): SchedulerState;
  loadStateDict(state: SchedulerState): void;
}

/** Drops undefined fields so that spreading over defaults keeps the defaults. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Momentum of a group: SGD momentum, or β1 for Adam-type optimizers (torch's convention). */
function setMomentum(opt: Optimizer, g: ParamGroup, m: number): void {
  if (opt.type === 'sgd') g.momentum = m;
  else g.betas = [m, g.betas[1]];
}

/** A scheduler whose lr is a pure function of the step count. */
abstract class StepFunctionScheduler implements LRScheduler {
  abstract readonly kind: string;
  protected stepCount = 0;
  protected readonly baseLrs: number[];

  constructor(protected readonly optimizer: Optimizer) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr);
  }

  protected init(): void {
    this.apply();
  }

  protected abstract lrAt(step: number, groupIndex: number): number;
  protected momentumAt(_step: number, _groupIndex: number): number | null {
    return null;
  }

  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.lrAt(this.stepCount, i);
      const m = this.momentumAt(this.stepCount, i);
      if (m !== null) setMomentum(this.optimizer, g, m);
    });
  }

  step(): void {
    this.stepCount++;
    this.apply();
  }

  lastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): SchedulerState {
    return { kind: this.kind, stepCount: this.stepCount, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(state: SchedulerState): void {
    if (state.kind !== this.kind)
      throw new TrainerError(`Scheduler state is for '${state.kind}', not '${this.kind}'`);
    this.stepCount = state.stepCount as number;
    this.apply();
  }
}

export interface OneCycleOptions {
  /** Peak lr, one per group or one for all. */
  maxLr: number | number[];
  totalSteps: number;
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
  /** Off by default here (torch defaults to on); when on, momentum/β1 moves inversely to lr. */
  cycleMomentum?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
}

const annealCos = (start: number, end: number, pct: number) =>
  end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
const annealLinear = (start: number, end: number, pct: number) => (end - start) * pct + start;

/** torch.optim.lr_scheduler.OneCycleLR (Smith & Topin 2018), same phases and annealing. */
export class OneCycleLR extends StepFunctionScheduler {
  readonly kind = 'onecycle';
  private readonly phases: {
    end: number;
    startLr: 'initial' | 'max' | 'min';
    endLr: 'initial' | 'max' | 'min';
  }[];
  private readonly lrs: { initial: number; max: number; min: number }[];
  private readonly o: Required<OneCycleOptions>;

  constructor(optimizer: Optimizer, options: OneCycleOptions) {
    super(optimizer);
    this.o = {
      pctStart: 0.3,
      annealStrategy: 'cos',
      divFactor: 25,
      finalDivFactor: 1e4,
      threePhase: false,
      cycleMomentum: false,
      baseMomentum: 0.85,
      maxMomentum: 0.95,
      ...defined(options),
      maxLr: options.maxLr,
      totalSteps: options.totalSteps,
    };
    const { totalSteps: T, pctStart: p } = this.o;
    if (!(T > 0) || !Number.isInteger(T))
      throw new TrainerError(`OneCycleLR totalSteps must be a positive integer, got ${T}`);
    if (!(p >= 0 && p <= 1)) throw new TrainerError(`OneCycleLR pctStart must be in [0, 1], got ${p}`);
    this.phases = this.o.threePhase
      ? [
          { end: p * T - 1, startLr: 'initial', endLr: 'max' },
          { end: 2 * p * T - 2, startLr: 'max', endLr: 'initial' },
          { end: T - 1, startLr: 'initial', endLr: 'min' },
        ]
      : [
          { end: p * T - 1, startLr: 'initial', endLr: 'max' },
          { end: T - 1, startLr: 'max', endLr: 'min' },
        ];
    const maxLrs = optimizer.paramGroups.map((_, i) =>
      Array.isArray(this.o.maxLr) ? this.o.maxLr[i] : (this.o.maxLr as number),
    );
    this.lrs = maxLrs.map((max) => {
      const initial = max / this.o.divFactor;
      return { initial, max, min: initial / this.o.finalDivFactor };
    });
    this.init();
  }

  private locate(step: number): { phase: number; pct: number } {
    if (step > this.o.totalSteps) {
      throw new TrainerError(
        `OneCycleLR stepped ${step} times, more than totalSteps=${this.o.totalSteps}; set totalSteps to the run's optimizer steps`,
      );
    }
    let start = 0;
    for (let i = 0; i < this.phases.length; i++) {
      const end = this.phases[i].end;
      if (step <= end || i === this.phases.length - 1)
        return { phase: i, pct: (step - start) / (end - start) };
      start = end;
    }
    return { phase: this.phases.length - 1, pct: 1 };
  }

  private anneal(a: number, b: number, pct: number): number {
    return this.o.annealStrategy === 'cos' ? annealCos(a, b, pct) : annealLinear(a, b, pct);
  }

  protected lrAt(step: number, gi: number): number {
    const { phase, pct } = this.locate(step);
    const ph = this.phases[phase];
    return this.anneal(this.lrs[gi][ph.startLr], this.lrs[gi][ph.endLr], pct);
  }

  protected override momentumAt(step: number, _gi: number): number | null {
    if (!this.o.cycleMomentum) return null;
    const { phase, pct } = this.locate(step);
    const { baseMomentum: lo, maxMomentum: hi } = this.o;
    // lr rising ↔ momentum falling; the last phase of three-phase keeps momentum at max.
    const ends: [number, number][] = this.o.threePhase
      ? [
          [hi, lo],
          [lo, hi],
          [hi, hi],
        ]
      : [
          [hi, lo],
          [lo, hi],
        ];
    return this.anneal(ends[phase][0], ends[phase][1], pct);
  }
}

export interface WarmupCosineOptions {
  warmupSteps: number;
  totalSteps: number;
  /** Final lr as a fraction of the base lr. */
  minLrRatio?: number;
  /** lr at step 0 as a fraction of the base lr (linear ramp from here to 1 over warmupSteps). */
  warmupStartRatio?: number;
}

/** Linear warmup then cosine decay to minLrRatio·base (as in BERT/ViT recipes). */
export class WarmupCosineLR extends StepFunctionScheduler {
  readonly kind = 'warmup-cosine';
  constructor(
    optimizer: Optimizer,
    private readonly o: WarmupCosineOptions,
  ) {
    super(optimizer);
    if (o.warmupSteps < 0 || o.totalSteps <= o.warmupSteps) {
      throw new TrainerError(
        `WarmupCosineLR needs 0 <= warmupSteps (${o.warmupSteps}) < totalSteps (${o.totalSteps})`,
      );
    }
    this.init();
  }
  protected lrAt(step: number, gi: number): number {
    const base = this.baseLrs[gi];
    const start = this.o.warmupStartRatio ?? 0;
    if (step < this.o.warmupSteps) return base * (start + ((1 - start) * step) / this.o.warmupSteps);
    const min = base * (this.o.minLrRatio ?? 0);
    const pct = Math.min(1, (step - this.o.warmupSteps) / (this.o.totalSteps - this.o.warmupSteps));
    return annealCos(base, min, pct);
  }
}

export interface StepDecayOptions {
  /** Multiply the lr by gamma every stepSize optimizer steps. */
  stepSize: number;
  gamma?: number;
  warmupSteps?: number;
}

/** torch.optim.lr_scheduler.StepLR counted in optimizer steps, with optional linear warmup. */
export class StepDecayLR extends StepFunctionScheduler {
  readonly kind = 'step';
  constructor(
    optimizer: Optimizer,
    private readonly o: StepDecayOptions,
  ) {
    super(optimizer);
    if (!(o.stepSize > 0)) throw new TrainerError(`StepDecayLR stepSize must be > 0, got ${o.stepSize}`);
    this.init();
  }
  protected lrAt(step: number, gi: number): number {
    const base = this.baseLrs[gi];
    const w = this.o.warmupSteps ?? 0;
    if (step < w) return (base * (step + 1)) / w;
    return base * (this.o.gamma ?? 0.1) ** Math.floor((step - w) / this.o.stepSize);
  }
}

export interface PlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
  eps?: number;
}

/** torch.optim.lr_scheduler.ReduceLROnPlateau, stepped with the monitored metric after validation. */
export class ReduceLROnPlateau implements LRScheduler {
  readonly kind = 'plateau';
  private best: number;
  private numBad = 0;
  private cooldownCounter = 0;
  private readonly o: Required<PlateauOptions>;

  constructor(
    private readonly optimizer: Optimizer,
    options: PlateauOptions = {},
  ) {
    this.o = {
      mode: 'min',
      factor: 0.1,
      patience: 10,
      threshold: 1e-4,
      thresholdMode: 'rel',
      cooldown: 0,
      minLr: 0,
      eps: 1e-8,
      ...defined(options),
    };
    if (this.o.factor >= 1)
      throw new TrainerError(`ReduceLROnPlateau factor must be < 1, got ${this.o.factor}`);
    this.best = this.o.mode === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  }

  step(): void {}

  private isBetter(a: number): boolean {
    const { mode, threshold: t, thresholdMode } = this.o;
    if (mode === 'min') return thresholdMode === 'rel' ? a < this.best * (1 - t) : a < this.best - t;
    return thresholdMode === 'rel' ? a > this.best * (1 + t) : a > this.best + t;
  }

  stepMetric(value: number): void {
    if (this.isBetter(value)) {
      this.best = value;
      this.numBad = 0;
    } else this.numBad++;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBad = 0;
    }
    if (this.numBad > this.o.patience) {
      for (const g of this.optimizer.paramGroups) {
        const next = Math.max(g.lr * this.o.factor, this.o.minLr);
        if (g.lr - next > this.o.eps) g.lr = next;
      }
      this.cooldownCounter = this.o.cooldown;
      this.numBad = 0;
    }
  }

  lastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): SchedulerState {
    return {
      kind: this.kind,
      best: Number.isFinite(this.best) ? this.best : null,
      numBad: this.numBad,
      cooldownCounter: this.cooldownCounter,
      lrs: this.lastLr(),
    };
  }

  loadStateDict(s: SchedulerState): void {
    if (s.kind !== this.kind)
      throw new TrainerError(`Scheduler state is for '${s.kind}', not '${this.kind}'`);
    this.best =
      s.best === null
        ? this.o.mode === 'min'
          ? Number.POSITIVE_INFINITY
          : Number.NEGATIVE_INFINITY
        : (s.best as number);
    this.numBad = s.numBad as number;
    this.cooldownCounter = s.cooldownCounter as number;
    (s.lrs as number[]).forEach((lr, i) => {
      this.optimizer.paramGroups[i].lr = lr;
    });
  }
}

/** Converts a warmup given in epochs to optimizer steps. */
export function warmupToSteps(warmup: { steps?: number; epochs?: number }, stepsPerEpoch: number): number {
  if (warmup.steps !== undefined) return warmup.steps;
  return Math.round((warmup.epochs ?? 0) * stepsPerEpoch);
}
