import { fusedAdamStep, fusedKernelsActive, tf } from '@meddl/tensor';
import { OptimizerStateError, TrainerError } from './errors';

/** Hyperparameters a parameter group may override; unset fields take the optimizer's defaults. */
export interface GroupHyperparams {
  lr: number;
  weightDecay: number;
  /** Adam/AdamW (β1, β2). */
  betas: [number, number];
  eps: number;
  /** SGD momentum (OneCycle cycles this, or β1 for Adam-type optimizers). */
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

/** What a task hands the trainer: a named set of parameters with optional overrides. */
export interface ParamGroupSpec extends Partial<GroupHyperparams> {
  name?: string;
  params: tf.Variable[];
  /** Parameter names (same order as params), for state dicts and logs. */
  paramNames?: string[];
}

export interface ParamGroup extends GroupHyperparams {
  name: string;
  params: tf.Variable[];
  paramNames: string[];
  /** The lr the group started with (schedulers scale from it; torch's `initial_lr`). */
  initialLr: number;
}

/** Serializable optimizer state: tensors (keys `state.<paramIndex>.<buffer>`) plus JSON meta. */
export interface OptimizerStateDict {
  tensors: Record<string, tf.Tensor>;
  meta: {
    type: string;
    groups: Array<
      Omit<ParamGroup, 'params' | 'paramNames'> & { paramIndices: number[]; paramNames: string[] }
    >;
    /** Per-parameter step counts (Adam bias correction), keyed by parameter index. */
    steps: Record<string, number>;
  };
}

const DEFAULTS: GroupHyperparams = {
  lr: 1e-3,
  weightDecay: 0,
  betas: [0.9, 0.999],
  eps: 1e-8,
  momentum: 0,
  dampening: 0,
  nesterov: false,
};

/**
 * Splits a module's named parameters into a decayed and a non-decayed group: biases,
 * normalization weights (name contains `norm`, `bn`, `ln`) and every 1-D parameter get no
 * weight decay, the usual recipe for AdamW (e.g. BERT, timm's `param_groups_weight_decay`).
 * Frozen parameters are left out.
 */
export function noDecayGroups(
  named: Iterable<[string, tf.Variable]>,
  options: { lr?: number; weightDecay: number; name?: string; includeFrozen?: boolean },
): ParamGroupSpec[] {
  const decay: ParamGroupSpec = { name: `${options.name ?? 'params'}`, params: [], paramNames: [] };
  const noDecay: ParamGroupSpec = {
    name: `${options.name ?? 'params'}.no_decay`,
    params: [],
    paramNames: [],
  };
  for (const [n, p] of named) {
    if (!p.trainable && !options.includeFrozen) continue;
    const leaf = n.split('.').pop() ?? n;
    const isNorm = /norm|(^|\.)(bn|ln)\d*\./i.test(n);
    const target = leaf === 'bias' || isNorm || p.rank <= 1 ? noDecay : decay;
    target.params.push(p);
    target.paramNames?.push(n);
  }
  if (options.lr !== undefined) {
    decay.lr = options.lr;
    noDecay.lr = options.lr;
  }
  decay.weightDecay = options.weightDecay;
  noDecay.weightDecay = 0;
  return [decay, noDecay].filter((g) => g.params.length > 0);
}

/** Grads keyed by variable name (what tf.variableGrads returns). */
export type NamedGrads = Record<string, tf.Tensor>;

/**
 * Base of the optimizers: parameter groups with per-group hyperparameters, per-parameter
 * state tensors, and a torch-shaped state dict. Subclasses implement one parameter's update.
 */
export abstract class Optimizer {
  readonly paramGroups: ParamGroup[];
  /** Per-parameter state buffers, indexed like torch's state_dict (order over all groups). */
  protected readonly state = new Map<number, Record<string, tf.Tensor>>();
  protected readonly steps = new Map<number, number>();
  private readonly index = new Map<tf.Variable, number>();
  abstract readonly type: string;

  constructor(groups: ParamGroupSpec[] | tf.Variable[], defaults: Partial<GroupHyperparams> = {}) {
    const d = { ...DEFAULTS, ...defaults };
    const specs: ParamGroupSpec[] =
      groups.length > 0 && groups[0] instanceof tf.Variable
        ? [{ params: groups as tf.Variable[] }]
        : (groups as ParamGroupSpec[]);
    let i = 0;
    this.paramGroups = specs.map((s, gi) => {
      const g: ParamGroup = {
        name: s.name ?? `group${gi}`,
        params: s.params,
        paramNames: s.paramNames ?? s.params.map((p) => p.name),
        lr: s.lr ?? d.lr,
        weightDecay: s.weightDecay ?? d.weightDecay,
        betas: s.betas ? [s.betas[0], s.betas[1]] : [d.betas[0], d.betas[1]],
        eps: s.eps ?? d.eps,
        momentum: s.momentum ?? d.momentum,
        dampening: s.dampening ?? d.dampening,
        nesterov: s.nesterov ?? d.nesterov,
        initialLr: s.lr ?? d.lr,
      };
      for (const p of g.params) {
        if (this.index.has(p)) throw new TrainerError(`Parameter '${p.name}' appears in more than one group`);
        this.index.set(p, i++);
      }
      return g;
    });
  }

  /** Applies one update to every parameter that has a gradient in `grads`. */
  step(grads: NamedGrads): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const grad = grads[p.name];
        if (!grad) continue; // torch: p.grad is None (frozen or unused)
        const i = this.index.get(p) as number;
        const n = (this.steps.get(i) ?? 0) + 1;
        this.steps.set(i, n);
        const buffers = this.state.get(i) ?? {};
        const next = tf.tidy(() => {
          const out = this.update(p, grad, buffers, g, n);
          p.assign(out.param);
          return out.buffers;
        });
        for (const [k, v] of Object.entries(next)) {
          if (buffers[k] && buffers[k] !== v) buffers[k].dispose();
          buffers[k] = v;
        }
        this.state.set(i, buffers);
      }
    }
  }

  /** Returns the new parameter value and buffers (inside a tidy; returned tensors are kept). */
  protected abstract update(
    param: tf.Variable,
    grad: tf.Tensor,
    buffers: Record<string, tf.Tensor>,
    group: ParamGroup,
    step: number,
  ): { param: tf.Tensor; buffers: Record<string, tf.Tensor> };

  /** Copies of the state tensors (caller owns and disposes them) plus JSON meta. */
  stateDict(): OptimizerStateDict {
    const tensors: Record<string, tf.Tensor> = {};
    for (const [i, bufs] of this.state)
      for (const [k, v] of Object.entries(bufs)) tensors[`state.${i}.${k}`] = v.clone();
    let offset = 0;
    const groups = this.paramGroups.map((g) => {
      const { params, ...rest } = g;
      const paramIndices = params.map((_, j) => offset + j);
      offset += params.length;
      return { ...rest, betas: [g.betas[0], g.betas[1]] as [number, number], paramIndices };
    });
    return { tensors, meta: { type: this.type, groups, steps: Object.fromEntries(this.steps) } };
  }

  /** Restores state (tensors are copied) and group hyperparameters. */
  loadStateDict(sd: OptimizerStateDict): void {
    if (sd.meta.type !== this.type) {
      throw new OptimizerStateError(
        `Optimizer state is for '${sd.meta.type}', this optimizer is '${this.type}'`,
      );
    }
    if (sd.meta.groups.length !== this.paramGroups.length) {
      throw new OptimizerStateError(
        `Optimizer state has ${sd.meta.groups.length} parameter groups, this optimizer has ${this.paramGroups.length}`,
      );
    }
    sd.meta.groups.forEach((saved, gi) => {
      const g = this.paramGroups[gi];
      if (saved.paramIndices.length !== g.params.length) {
        throw new OptimizerStateError(
          `Optimizer group ${gi} ('${g.name}') has ${g.params.length} parameters, the state has ${saved.paramIndices.length}`,
        );
      }
      g.lr = saved.lr;
      g.initialLr = saved.initialLr;
      g.weightDecay = saved.weightDecay;
      g.betas = [saved.betas[0], saved.betas[1]];
      g.eps = saved.eps;
      g.momentum = saved.momentum;
      g.dampening = saved.dampening;
      g.nesterov = saved.nesterov;
    });
    this.clearState();
    for (const [k, v] of Object.entries(sd.meta.steps)) this.steps.set(Number(k), v);
    for (const [key, t] of Object.entries(sd.tensors)) {
      const m = /^state\.(\d+)\.(.+)$/.exec(key);
      if (!m) throw new OptimizerStateError(`Unexpected optimizer state key '${key}'`);
      const i = Number(m[1]);
      const bufs = this.state.get(i) ?? {};
      bufs[m[2]] = tf.clone(t);
      this.state.set(i, bufs);
    }
  }

  private clearState(): void {
    for (const bufs of this.state.values()) for (const t of Object.values(bufs)) t.dispose();
    this.state.clear();
    this.steps.clear();
  }

  dispose(): void {
    this.clearState();
  }
}

/** torch.optim.SGD (1.13): weight decay added to the gradient, momentum with dampening, Nesterov. */
export class SGD extends Optimizer {
  readonly type = 'sgd';
  constructor(groups: ParamGroupSpec[] | tf.Variable[], defaults: Partial<GroupHyperparams> = {}) {
    super(groups, defaults);
    for (const g of this.paramGroups) {
      if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
        throw new TrainerError(
          `SGD group '${g.name}': Nesterov momentum requires momentum > 0 and dampening 0`,
        );
      }
    }
  }
  protected update(p: tf.Variable, grad: tf.Tensor, bufs: Record<string, tf.Tensor>, g: ParamGroup) {
    let d = grad;
    if (g.weightDecay !== 0) d = tf.add(d, tf.mul(p, g.weightDecay));
    const out: Record<string, tf.Tensor> = {};
    if (g.momentum !== 0) {
      const prev = bufs.momentum_buffer;
      const buf = prev ? tf.add(tf.mul(prev, g.momentum), tf.mul(d, 1 - g.dampening)) : tf.clone(d);
      out.momentum_buffer = buf;
      d = g.nesterov ? tf.add(d, tf.mul(buf, g.momentum)) : buf;
    }
    return { param: tf.sub(p, tf.mul(d, g.lr)), buffers: out };
  }
}

function adamMoments(grad: tf.Tensor, bufs: Record<string, tf.Tensor>, g: ParamGroup) {
  const [b1, b2] = g.betas;
  const m = bufs.exp_avg ? tf.add(tf.mul(bufs.exp_avg, b1), tf.mul(grad, 1 - b1)) : tf.mul(grad, 1 - b1);
  const v = bufs.exp_avg_sq
    ? tf.add(tf.mul(bufs.exp_avg_sq, b2), tf.mul(tf.square(grad), 1 - b2))
    : tf.mul(tf.square(grad), 1 - b2);
  return { m, v };
}

/** The Adam step shared by Adam and AdamW: torch's `denom = sqrt(v)/sqrt(bc2) + eps`. */
function adamStep(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: ParamGroup, step: number): tf.Tensor {
  const [b1, b2] = g.betas;
  const bc1 = 1 - b1 ** step;
  const bc2 = 1 - b2 ** step;
  const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), g.eps);
  return tf.sub(p, tf.mul(tf.div(m, denom), g.lr / bc1));
}

/**
 * The whole Adam/AdamW update of one parameter as one native kernel when the native backend is
 * active (bit-identical to the composed ops: same float32 operations in the same order); null
 * otherwise, and the composed ops run.
 */
function fusedAdam(
  p: tf.Variable,
  grad: tf.Tensor,
  bufs: Record<string, tf.Tensor>,
  g: ParamGroup,
  step: number,
  decoupled: boolean,
) {
  if (p.dtype !== 'float32' || grad.dtype !== 'float32' || !fusedKernelsActive()) return null;
  const m = bufs.exp_avg ?? null;
  const v = bufs.exp_avg_sq ?? null;
  if ((m === null) !== (v === null)) return null;
  const hyper = {
    lr: g.lr,
    beta1: g.betas[0],
    beta2: g.betas[1],
    eps: g.eps,
    weightDecay: g.weightDecay,
    decoupled,
  };
  const r = fusedAdamStep(p, grad, m, v, hyper, step);
  return { param: r.param, buffers: { exp_avg: r.m, exp_avg_sq: r.v } };
}

/** torch.optim.Adam (1.13): L2 weight decay added to the gradient (coupled). */
export class Adam extends Optimizer {
  readonly type: string = 'adam';
  protected update(
    p: tf.Variable,
    grad: tf.Tensor,
    bufs: Record<string, tf.Tensor>,
    g: ParamGroup,
    step: number,
  ) {
    const fused = fusedAdam(p, grad, bufs, g, step, false);
    if (fused) return fused;
    const gr = g.weightDecay !== 0 ? tf.add(grad, tf.mul(p, g.weightDecay)) : grad;
    const { m, v } = adamMoments(gr, bufs, g);
    return { param: adamStep(p, m, v, g, step), buffers: { exp_avg: m, exp_avg_sq: v } };
  }
}

/**
 * torch.optim.AdamW (1.13, Loshchilov & Hutter): decoupled decay `p *= 1 - lr·wd` before the
 * Adam step. Default weight decay 0.01 as in torch.
 */
export class AdamW extends Optimizer {
  readonly type = 'adamw';
  constructor(groups: ParamGroupSpec[] | tf.Variable[], defaults: Partial<GroupHyperparams> = {}) {
    super(groups, { weightDecay: 0.01, ...defaults });
  }
  protected update(
    p: tf.Variable,
    grad: tf.Tensor,
    bufs: Record<string, tf.Tensor>,
    g: ParamGroup,
    step: number,
  ) {
    const fused = fusedAdam(p, grad, bufs, g, step, true);
    if (fused) return fused;
    const decayed = g.weightDecay !== 0 ? tf.mul(p, 1 - g.lr * g.weightDecay) : p;
    const { m, v } = adamMoments(grad, bufs, g);
    return { param: adamStep(decayed, m, v, g, step), buffers: { exp_avg: m, exp_avg_sq: v } };
  }
}

export type OptimizerName = 'sgd' | 'adam' | 'adamw';

export function createOptimizer(
  name: OptimizerName,
  groups: ParamGroupSpec[] | tf.Variable[],
  defaults: Partial<GroupHyperparams> = {},
): Optimizer {
  if (name === 'sgd') return new SGD(groups, defaults);
  if (name === 'adam') return new Adam(groups, defaults);
  return new AdamW(groups, defaults);
}
