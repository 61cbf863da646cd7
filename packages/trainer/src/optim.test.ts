import { readFileSync } from 'node:fs';
import { fusedKernelsActive, Generator, initBackend, nativeStatus, tf } from '@meddl/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { crossEntropy } from './losses';
import { Adam, AdamW, noDecayGroups, type Optimizer, type ParamGroupSpec, SGD } from './optim';
import { OneCycleLR, ReduceLROnPlateau, StepDecayLR, WarmupCosineLR } from './schedulers';

interface Case {
  groups: Record<string, number | number[] | boolean>[];
  init: Record<string, number[]>;
  shapes: Record<string, number[]>;
  losses: number[];
  history: Record<string, number[]>[];
}
const fx = JSON.parse(readFileSync(new URL('../fixtures/optim.json', import.meta.url), 'utf8')) as {
  x: number[];
  xShape: [number, number];
  y: number[];
  order: string[];
  cases: Record<string, Case>;
};
const onecycle = JSON.parse(
  readFileSync(new URL('../fixtures/onecycle.json', import.meta.url), 'utf8'),
) as Record<
  string,
  { kwargs: Record<string, number | string | boolean>; totalSteps: number; lr: number[]; momentum: number[] }
>;

beforeAll(async () => {
  await initBackend('cpu');
});

function toSpec(g: Record<string, number | number[] | boolean>): Partial<ParamGroupSpec> {
  return {
    lr: g.lr as number,
    weightDecay: g.weight_decay as number,
    betas: g.betas as [number, number] | undefined,
    eps: g.eps as number | undefined,
    momentum: g.momentum as number | undefined,
    nesterov: g.nesterov as boolean | undefined,
    dampening: g.dampening as number | undefined,
  };
}

function runCase(name: string, make: (groups: ParamGroupSpec[]) => Optimizer) {
  const c = fx.cases[name];
  const p = Object.fromEntries(
    fx.order.map((k) => [k, tf.variable(tf.tensor(c.init[k], c.shapes[k]), true, `${name}.${k}`)]),
  );
  const groups: ParamGroupSpec[] = [
    { params: [p['fc1.weight'], p['fc1.bias']], ...toSpec(c.groups[0]) },
    { params: [p['fc2.weight'], p['fc2.bias']], ...toSpec(c.groups[1]) },
  ];
  const opt = make(groups);
  const x = tf.tensor2d(fx.x, fx.xShape);
  let afterSecond = 0;
  let maxErr = 0;
  for (let s = 0; s < c.history.length; s++) {
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => {
        const h = tf.tanh(tf.add(tf.matMul(x, p['fc1.weight'], false, true), p['fc1.bias']));
        const logits = tf.add(tf.matMul(h, p['fc2.weight'], false, true), p['fc2.bias']);
        return crossEntropy(logits, fx.y) as tf.Scalar;
      }),
    );
    expect(value.dataSync()[0]).toBeCloseTo(c.losses[s], 5);
    opt.step(grads);
    tf.dispose([value, grads]);
    for (const k of fx.order) {
      const got = p[k].dataSync();
      c.history[s][k].forEach((v, i) => {
        maxErr = Math.max(maxErr, Math.abs(got[i] - v));
      });
    }
    if (s === 1) afterSecond = tf.memory().numTensors;
    if (s > 1) expect(tf.memory().numTensors).toBe(afterSecond); // state buffers replaced, nothing leaks
  }
  return { maxErr, opt, p, x };
}

describe('optimizers match torch 1.13 (10 steps, 4-3-2 MLP, two param groups)', () => {
  it('AdamW (decoupled decay, per-group betas/eps)', () => {
    const { maxErr } = runCase('adamw', (g) => new AdamW(g));
    expect(maxErr).toBeLessThan(2e-6);
  });
  it('Adam (coupled L2 decay)', () => {
    const { maxErr } = runCase('adam', (g) => new Adam(g));
    expect(maxErr).toBeLessThan(2e-6);
  });
  it('SGD with Nesterov momentum and dampening', () => {
    const { maxErr } = runCase('sgd_nesterov', (g) => new SGD(g));
    expect(maxErr).toBeLessThan(2e-6);
  });

  it('state dict round-trips: a restored optimizer continues identically', () => {
    const c = fx.cases.adamw;
    const mk = (tag: string) =>
      Object.fromEntries(
        fx.order.map((k) => [k, tf.variable(tf.tensor(c.init[k], c.shapes[k]), true, `${tag}.${k}`)]),
      );
    const a = mk('sdA');
    const b = mk('sdB');
    const optA = new AdamW([
      { params: [a['fc1.weight'], a['fc1.bias']], lr: 0.05 },
      { params: [a['fc2.weight'], a['fc2.bias']], lr: 0.01 },
    ]);
    const optB = new AdamW([
      { params: [b['fc1.weight'], b['fc1.bias']], lr: 0.5 },
      { params: [b['fc2.weight'], b['fc2.bias']], lr: 0.5 },
    ]);
    const gradFor = (p: Record<string, tf.Variable>, s: number) =>
      Object.fromEntries(fx.order.map((k, i) => [p[k].name, tf.fill(p[k].shape, Math.sin(s + i))]));
    for (let s = 0; s < 3; s++) optA.step(gradFor(a, s));
    const sd = optA.stateDict();
    expect(Object.keys(sd.tensors).sort()).toContain('state.0.exp_avg');
    expect(sd.meta.steps['0']).toBe(3);
    const meta = JSON.parse(JSON.stringify(sd.meta));
    for (const k of fx.order) b[k].assign(a[k]);
    optB.loadStateDict({ tensors: sd.tensors, meta });
    tf.dispose(Object.values(sd.tensors));
    expect(optB.paramGroups[0].lr).toBe(0.05);
    for (let s = 3; s < 6; s++) {
      optA.step(gradFor(a, s));
      optB.step(gradFor(b, s));
    }
    for (const k of fx.order) expect(Array.from(b[k].dataSync())).toEqual(Array.from(a[k].dataSync()));
  });

  it('noDecayGroups puts biases, norm weights and 1-D params in a zero-decay group', () => {
    const w = tf.variable(tf.zeros([2, 2]), true, 'nd.w');
    const b = tf.variable(tf.zeros([2]), true, 'nd.b');
    const n = tf.variable(tf.zeros([2, 2]), true, 'nd.n');
    const frozen = tf.variable(tf.zeros([2, 2]), false, 'nd.f');
    const groups = noDecayGroups(
      [
        ['fc.weight', w],
        ['fc.bias', b],
        ['encoder.norm1.weight', n],
        ['frozen.weight', frozen],
      ],
      { weightDecay: 0.05, lr: 1e-4 },
    );
    expect(groups.map((g) => [g.paramNames, g.weightDecay, g.lr])).toEqual([
      [['fc.weight'], 0.05, 1e-4],
      [['fc.bias', 'encoder.norm1.weight'], 0, 1e-4],
    ]);
  });
});

describe('schedulers', () => {
  const lrCurve = (key: string) => {
    const c = onecycle[key];
    const v = tf.variable(tf.zeros([1]), true, `oc.${key}`);
    const opt = new SGD([{ params: [v], lr: 0.1, momentum: 0.9 }]);
    const k = c.kwargs;
    const sched = new OneCycleLR(opt, {
      maxLr: k.max_lr as number,
      totalSteps: c.totalSteps,
      pctStart: k.pct_start as number | undefined,
      divFactor: k.div_factor as number | undefined,
      finalDivFactor: k.final_div_factor as number | undefined,
      annealStrategy: k.anneal_strategy as 'cos' | 'linear' | undefined,
      threePhase: k.three_phase as boolean | undefined,
      cycleMomentum: k.cycle_momentum as boolean,
      baseMomentum: k.base_momentum as number | undefined,
      maxMomentum: k.max_momentum as number | undefined,
    });
    const lrs: number[] = [];
    const moms: number[] = [];
    for (let i = 0; i < c.totalSteps; i++) {
      lrs.push(opt.paramGroups[0].lr);
      moms.push(opt.paramGroups[0].momentum);
      sched.step();
    }
    v.dispose();
    return { lrs, moms, c };
  };
  for (const key of ['default', 'custom', 'linear3']) {
    it(`OneCycleLR '${key}' matches torch's full curve`, () => {
      const { lrs, moms, c } = lrCurve(key);
      const relErr = Math.max(...lrs.map((v, i) => Math.abs(v - c.lr[i]) / c.lr[i]));
      expect(relErr).toBeLessThan(1e-12);
      const momErr = Math.max(...moms.map((v, i) => Math.abs(v - c.momentum[i])));
      expect(momErr).toBeLessThan(1e-12);
    });
  }

  it('OneCycleLR cycles β1 for Adam and refuses to run past totalSteps', () => {
    const v = tf.variable(tf.zeros([1]), true, 'oc.adam');
    const opt = new AdamW([v], { lr: 1 });
    const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 10, cycleMomentum: true });
    expect(opt.paramGroups[0].betas[0]).toBeCloseTo(0.95, 12);
    for (let i = 0; i < 10; i++) s.step();
    expect(() => s.step()).toThrow(/totalSteps=10/);
    v.dispose();
  });

  it('warmup-cosine, step decay, and state restore', () => {
    const v = tf.variable(tf.zeros([1]), true, 'wc');
    const opt = new SGD([v], { lr: 0.1 });
    const s = new WarmupCosineLR(opt, { warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 });
    expect(opt.paramGroups[0].lr).toBe(0);
    for (let i = 0; i < 5; i++) s.step();
    expect(opt.paramGroups[0].lr).toBeCloseTo(0.05, 12);
    for (let i = 0; i < 55; i++) s.step();
    expect(opt.paramGroups[0].lr).toBeCloseTo(0.01 + 0.09 * 0.5, 12); // halfway through the cosine
    const st = s.stateDict();
    const opt2 = new SGD([v], { lr: 0.1 });
    const s2 = new WarmupCosineLR(opt2, { warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 });
    s2.loadStateDict(JSON.parse(JSON.stringify(st)));
    expect(opt2.paramGroups[0].lr).toBe(opt.paramGroups[0].lr);

    const opt3 = new SGD([v], { lr: 1 });
    const sd = new StepDecayLR(opt3, { stepSize: 3, gamma: 0.5 });
    const seen = [opt3.paramGroups[0].lr];
    for (let i = 0; i < 6; i++) {
      sd.step();
      seen.push(opt3.paramGroups[0].lr);
    }
    expect(seen).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25]);
    v.dispose();
  });

  it('ReduceLROnPlateau follows torch semantics (patience, cooldown, minLr)', () => {
    const v = tf.variable(tf.zeros([1]), true, 'pl');
    const opt = new SGD([v], { lr: 1 });
    const s = new ReduceLROnPlateau(opt, { patience: 1, factor: 0.5, cooldown: 1, minLr: 0.2 });
    const lrs: number[] = [];
    for (const m of [1, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]) {
      s.stepMetric(m);
      lrs.push(opt.paramGroups[0].lr);
    }
    // bad epochs: 0.6 ×2 → reduce at the 4th call; cooldown 1 epoch; then 2 more bad → reduce...
    expect(lrs).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]);
    v.dispose();
  });
});

describe.runIf(nativeStatus().available)('fused Adam/AdamW on the native backend', () => {
  it('is bit-identical to the composed update (run on the cpu backend) over several steps', async () => {
    const run = async (backend: 'cpu' | 'native', kind: 'adam' | 'adamw') => {
      await initBackend(backend);
      if (backend === 'cpu') await tf.setBackend('cpu');
      else await tf.setBackend('meddl-native');
      expect(fusedKernelsActive()).toBe(backend === 'native');
      const rng = new Generator(5);
      const w = tf.variable(tf.tensor2d(rng.normalArray(12), [3, 4]), true, `w_${kind}_${backend}`);
      const b = tf.variable(tf.tensor1d(rng.normalArray(4)), true, `b_${kind}_${backend}`);
      const groups: ParamGroupSpec[] = [
        { params: [w], weightDecay: 0.1, betas: [0.85, 0.99], eps: 1e-6 },
        { params: [b], weightDecay: 0, lr: 0.05 },
      ];
      const opt = kind === 'adam' ? new Adam(groups, { lr: 0.02 }) : new AdamW(groups, { lr: 0.02 });
      const out: number[][] = [];
      for (let s = 0; s < 4; s++) {
        const grads = {
          [w.name]: tf.tensor2d(rng.normalArray(12), [3, 4]),
          [b.name]: tf.tensor1d(rng.normalArray(4)),
        };
        opt.step(grads);
        tf.dispose(Object.values(grads));
        out.push(Array.from(w.dataSync()), Array.from(b.dataSync()));
      }
      const sd = opt.stateDict();
      out.push(...Object.values(sd.tensors).map((t) => Array.from(t.dataSync())));
      tf.dispose(Object.values(sd.tensors));
      opt.dispose();
      tf.dispose([w, b]);
      return out;
    };
    for (const kind of ['adam', 'adamw'] as const) {
      const composed = await run('cpu', kind);
      const fused = await run('native', kind);
      expect(fused).toEqual(composed);
    }
    await tf.setBackend('cpu');
  });
});
