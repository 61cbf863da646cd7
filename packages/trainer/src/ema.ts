import type { Module } from '@meddl/nn';
import { tf } from '@meddl/tensor';
import type { Callback } from './callbacks';
import { TrainerError } from './errors';
import type { StepRecord, Trainer } from './trainer';

export interface EmaOptions {
  /** Constant momentum, or the start of a linear schedule (default 0.999). */
  momentum?: number;
  /** With endMomentum and totalSteps: momentum moves linearly to endMomentum (V-JEPA: 0.998 → 1.0). */
  endMomentum?: number;
  totalSteps?: number;
  /** Update this module's parameters instead of private copies (a teacher/target network). */
  target?: Module;
  /** Also average persistent buffers (default: copy them). */
  averageBuffers?: boolean;
}

/**
 * Exponential moving average of a module's parameters: θ̄ ← m·θ̄ + (1−m)·θ, with an optional
 * linear momentum schedule (as V-JEPA's target encoder, Bardes et al. 2024). Holds private
 * copies, or drives a target module's variables in place.
 */
export class EMA {
  step = 0;
  private readonly shadow: Record<string, tf.Variable>;
  private readonly owned: boolean;

  constructor(
    readonly source: Module,
    private readonly o: EmaOptions = {},
  ) {
    const src = source.stateDict();
    if (o.target) {
      const tgt = o.target.stateDict();
      const missing = Object.keys(src).filter((k) => !(k in tgt));
      if (missing.length)
        throw new TrainerError(`EMA target module lacks keys of the source: ${missing.join(', ')}`);
      this.shadow = Object.fromEntries(Object.keys(src).map((k) => [k, tgt[k] as tf.Variable]));
      this.owned = false;
    } else {
      this.shadow = Object.fromEntries(
        Object.entries(src).map(([k, v]) => [k, tf.variable(v.clone(), false)]),
      );
      this.owned = true;
    }
  }

  /** The momentum used for update number `step` (0-based). */
  momentumAt(step: number): number {
    const m0 = this.o.momentum ?? 0.999;
    if (this.o.endMomentum === undefined || !this.o.totalSteps) return m0;
    return m0 + (this.o.endMomentum - m0) * Math.min(1, step / this.o.totalSteps);
  }

  /** One EMA update from the source's current values. */
  update(): void {
    const m = this.momentumAt(this.step);
    const src = this.source.stateDict();
    const paramNames = new Set(Array.from(this.source.namedParameters(), ([n]) => n));
    tf.tidy(() => {
      for (const [k, s] of Object.entries(this.shadow)) {
        if (!paramNames.has(k) && !this.o.averageBuffers) s.assign(src[k]);
        else s.assign(tf.add(tf.mul(s, m), tf.mul(src[k], 1 - m)));
      }
    });
    this.step++;
  }

  /** The averaged values (live variables; do not dispose). */
  averaged(): Record<string, tf.Tensor> {
    return { ...this.shadow };
  }

  /** Copies the averaged weights into a module (e.g. for evaluation). */
  copyTo(module: Module): void {
    module.loadStateDict(this.shadow, { strict: false });
  }

  stateDict(): { tensors: Record<string, tf.Tensor>; meta: { step: number } } {
    return {
      tensors: Object.fromEntries(Object.entries(this.shadow).map(([k, v]) => [`ema.${k}`, v.clone()])),
      meta: { step: this.step },
    };
  }

  loadStateDict(sd: { tensors: Record<string, tf.Tensor>; meta: { step: number } }): void {
    for (const k of Object.keys(this.shadow)) {
      const t = sd.tensors[`ema.${k}`];
      if (!t) throw new TrainerError(`EMA state lacks 'ema.${k}'`);
      this.shadow[k].assign(t);
    }
    this.step = sd.meta.step;
  }

  dispose(): void {
    if (this.owned) for (const v of Object.values(this.shadow)) v.dispose();
  }
}

/** Updates an EMA after every optimizer step that was not skipped. */
export class EmaCallback implements Callback {
  readonly name = 'ema';
  constructor(readonly ema: EMA) {}
  onTrainStepEnd(_t: Trainer, r: StepRecord): void {
    if (!r.skipped) this.ema.update();
  }
  stateDict() {
    const sd = this.ema.stateDict();
    const out = {
      step: sd.meta.step,
      tensors: Object.fromEntries(
        Object.entries(sd.tensors).map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.dataSync()) }]),
      ),
    };
    tf.dispose(Object.values(sd.tensors));
    return out;
  }
  loadStateDict(s: Record<string, unknown>) {
    const tensors = s.tensors as Record<string, { shape: number[]; data: number[] }>;
    const ts = Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
    this.ema.loadStateDict({ tensors: ts, meta: { step: s.step as number } });
    tf.dispose(Object.values(ts));
  }
}
