import { describe, expect, it } from 'vitest';
import { bootstrapCI, SeededRandom, takeIndices } from './bootstrap.js';
import { MetricsError } from './errors.js';
import { auroc } from './ranking.js';

describe('SeededRandom', () => {
  it('is reproducible per seed and roughly uniform', () => {
    const a = new SeededRandom(7);
    const b = new SeededRandom(7);
    const c = new SeededRandom(8);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs);
    const r = new SeededRandom(1);
    let sum = 0;
    const counts = new Array(10).fill(0);
    let inRange = true;
    for (let i = 0; i < 20000; i++) {
      const u = r.nextFloat();
      inRange &&= u >= 0 && u < 1;
      sum += u;
      counts[r.nextInt(10)]++;
    }
    expect(inRange).toBe(true);
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.01);
    for (const k of counts) expect(Math.abs(k - 2000)).toBeLessThan(200);
    expect(() => new SeededRandom(0.5)).toThrow(MetricsError);
  });
});

describe('bootstrapCI', () => {
  const rng = new SeededRandom(3);
  const n = 400;
  const x = Float64Array.from({ length: n }, () => {
    // Box–Muller normal
    const u = 1 - rng.nextFloat();
    const v = rng.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  });
  const mean = (idx: Uint32Array): number => takeIndices(x, idx).reduce((s, v) => s + v, 0) / idx.length;

  it('is deterministic for a seed and brackets the mean like the normal approximation', () => {
    const r1 = bootstrapCI(mean, n, { seed: 11, resamples: 500 });
    const r2 = bootstrapCI(mean, n, { seed: 11, resamples: 500 });
    expect(r2.samples).toEqual(r1.samples);
    expect(r1.samples.length).toBe(500);
    const m = mean(Uint32Array.from({ length: n }, (_, i) => i));
    expect(r1.estimate).toBe(m);
    let sd = 0;
    for (const v of x) sd += (v - m) ** 2;
    sd = Math.sqrt(sd / (n - 1));
    const half = (1.959964 * sd) / Math.sqrt(n);
    expect(Math.abs(r1.lower - (m - half))).toBeLessThan(0.25 * half);
    expect(Math.abs(r1.upper - (m + half))).toBeLessThan(0.25 * half);
  });

  it('stratified resampling keeps class counts, so AUROC is never undefined', () => {
    const y = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    const s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.65, 0.9];
    const metric = (idx: Uint32Array): number => auroc(takeIndices(y, idx), takeIndices(s, idx)).value;
    const plain = bootstrapCI(metric, y.length, { seed: 5, resamples: 300 });
    expect(plain.undefinedResamples).toBeGreaterThan(0);
    expect(plain.samples.length + plain.undefinedResamples).toBe(300);
    const positives: number[] = [];
    const strat = bootstrapCI(
      (idx) => {
        positives.push(takeIndices(y, idx).reduce((a, b) => a + b, 0));
        return metric(idx);
      },
      y.length,
      { seed: 5, resamples: 300, strata: y },
    );
    expect(strat.undefinedResamples).toBe(0);
    expect(new Set(positives)).toEqual(new Set([2]));
    expect(strat.lower).toBeLessThanOrEqual(strat.estimate);
    expect(strat.upper).toBeGreaterThanOrEqual(strat.lower);
  });

  it('cluster resampling draws whole patients', () => {
    const patients = ['a', 'a', 'a', 'b', 'b', 'c', 'd', 'd', 'd', 'd'];
    const sizes = new Map<string, number>();
    for (const p of patients) sizes.set(p, (sizes.get(p) ?? 0) + 1);
    bootstrapCI(
      (idx) => {
        const counts = new Map<string, number>();
        for (const i of idx) counts.set(patients[i], (counts.get(patients[i]) ?? 0) + 1);
        for (const [p, c] of counts) expect(c % sizes.get(p)!).toBe(0);
        return 0;
      },
      patients.length,
      { seed: 9, resamples: 50, clusters: patients },
    );
    expect(() => bootstrapCI(() => 0, 3, { seed: 1, clusters: ['a', 'a', 'b'], strata: [0, 1, 1] })).toThrow(
      /strata/,
    );
    expect(() => bootstrapCI(() => 0, 3, { seed: 1, clusters: ['a'] })).toThrow(/clusters/);
  });
});
