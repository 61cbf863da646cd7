import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import {
  featureGramBound,
  fitLogisticRegressionDetailed,
  L2_GRID,
  probeFeatures,
  selectL2ByCv,
} from './probe';

/** Gradient max-norm of the L2-regularised softmax loss, computed independently of probe.ts. */
function gradMax(x: Float64Array[], y: number[], C: number, W: Float64Array, l2: number): number {
  const d = x[0]!.length;
  const g = new Float64Array(W.length);
  for (let i = 0; i < x.length; i++) {
    const z = Array.from({ length: C }, (_, c) => {
      let s = W[c * (d + 1) + d]!;
      for (let j = 0; j < d; j++) s += W[c * (d + 1) + j]! * x[i]![j]!;
      return s;
    });
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const t = e.reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) {
      const r = (e[c]! / t - (y[i] === c ? 1 : 0)) / x.length;
      for (let j = 0; j < d; j++) g[c * (d + 1) + j]! += r * x[i]![j]!;
      g[c * (d + 1) + d]! += r;
    }
  }
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) g[c * (d + 1) + j]! += l2 * W[c * (d + 1) + j]!;
  return g.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
}

/** n samples of 3 classes; `signal` features carry the class, then `copies` near-copies of one feature. */
function data(n: number, seed: number, copies: number, signal = 1) {
  const g = new Generator(seed);
  const x: Float64Array[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const shared = g.normal();
    const row = new Float64Array(2 + copies);
    row[0] = signal * (c === 1 ? 1 : 0) + g.normal();
    row[1] = signal * (c === 2 ? 1 : 0) + g.normal();
    for (let k = 0; k < copies; k++) row[2 + k] = shared + 0.1 * g.normal() + 0.5 * row[0]!;
    x.push(row);
    y.push(c);
  }
  return { x, y };
}

describe('linear probe', () => {
  it('featureGramBound bounds the largest eigenvalue of the augmented Gram matrix', () => {
    // Columns [a, a, 1] with mean(a) = 0, mean(a²) = 1: eigenvalues 2, 1, 0 → bound 2 (+5 %).
    const x = [1, -1, 1, -1].map((a) => Float64Array.of(a, a));
    expect(featureGramBound(x)).toBeCloseTo(2.1, 6);
  });

  it('converges on strongly correlated features, where the old fixed step 0.5 did not', () => {
    const { x, y } = data(120, 1, 30);
    const fit = fitLogisticRegressionDetailed(x, y, 3, { l2: 1e-2 });
    expect(gradMax(x, y, 3, fit.weights, 1e-2)).toBeLessThan(1e-4);
    expect(fit.gradMax).toBeLessThan(1e-4);
    // The previous default (lr 0.5, 500 Nesterov steps) oscillates here: far from the optimum.
    const old = fitLogisticRegressionDetailed(x, y, 3, { l2: 1e-2, lr: 0.5, iterations: 500, tol: 0 });
    expect(old.loss).toBeGreaterThan(fit.loss + 0.05);
    // A warm start reaches the same optimum.
    const warm = fitLogisticRegressionDetailed(x, y, 3, { l2: 1e-2, init: fit.weights });
    expect(warm.iterations).toBeLessThan(fit.iterations);
    expect(Math.abs(warm.loss - fit.loss)).toBeLessThan(1e-6);
  });

  it('selectL2ByCv: weak penalty for a learnable signal, strong for pure noise', () => {
    const learnable = data(150, 2, 2, 3);
    const cvL = selectL2ByCv(learnable.x, learnable.y, 3, { seed: 0 });
    expect(cvL.scores).toHaveLength(L2_GRID.length);
    expect(cvL.l2).toBeLessThanOrEqual(1e-1);
    const noise = data(150, 3, 2, 0);
    const cvN = selectL2ByCv(noise.x, noise.y, 3, { seed: 0 });
    expect(cvN.l2).toBeGreaterThanOrEqual(1);
    // Groups keep a patient's rows in one fold: the selection is still made and deterministic.
    const groups = noise.x.map((_, i) => `p${Math.floor(i / 2)}`);
    expect(selectL2ByCv(noise.x, noise.y, 3, { seed: 0, groups })).toEqual(
      selectL2ByCv(noise.x, noise.y, 3, { seed: 0, groups }),
    );
  });

  it("probeFeatures with l2 'cv' reports the chosen penalty and beats chance on learnable features", () => {
    const { x, y } = data(150, 4, 2, 3);
    const d = x[0]!.length;
    const features = new Float32Array(x.length * d);
    x.forEach((r, i) => {
      features.set(r, i * d);
    });
    const idx = x.map((_, i) => i);
    const split = { train: idx.filter((i) => i % 5 !== 0), test: idx.filter((i) => i % 5 === 0) };
    const p = probeFeatures(features, d, y, split, 3, 5, { l2: 'cv' });
    expect(L2_GRID).toContain(p.l2);
    expect(p.linear.accuracy).toBeGreaterThan(0.6);
    expect(probeFeatures(features, d, y, split, 3).l2).toBe(1e-2);
    // The optimiser can be set as before the fix (fixed step, fixed count): still a valid probe.
    const old = probeFeatures(features, d, y, split, 3, 5, { lr: 0.5, iterations: 500 });
    expect(old.linear.accuracy).toBeGreaterThanOrEqual(0);
    expect(old.nTest).toBe(split.test.length);
  });
});
