import { describe, expect, it } from 'vitest';
import { Generator } from './random';

describe('Generator', () => {
  it('is reproducible for a seed and differs across seeds', () => {
    const a = Array.from(
      { length: 5 },
      (
        (g) => () =>
          g.nextUint32()
      )(new Generator(42)),
    );
    const b = Array.from(
      { length: 5 },
      (
        (g) => () =>
          g.nextUint32()
      )(new Generator(42)),
    );
    const c = Array.from(
      { length: 5 },
      (
        (g) => () =>
          g.nextUint32()
      )(new Generator(43)),
    );
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('draws uniform and normal values with the right moments', () => {
    const g = new Generator(1);
    const n = 200_000;
    const u = g.uniformArray(n);
    const z = g.normalArray(n);
    const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
    const variance = (x: Float32Array) => {
      const m = mean(x);
      return x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length;
    };
    expect(mean(u)).toBeCloseTo(0.5, 2);
    expect(variance(u)).toBeCloseTo(1 / 12, 2);
    expect(mean(z)).toBeCloseTo(0, 2);
    expect(variance(z)).toBeCloseTo(1, 1);
    expect(u.reduce((m, v) => Math.min(m, v), 1)).toBeGreaterThanOrEqual(0);
    expect(u.reduce((m, v) => Math.max(m, v), 0)).toBeLessThan(1);
  });

  it('restores its state exactly', () => {
    const g = new Generator(7);
    g.normal();
    const state = g.getState();
    const first = [g.random(), g.normal(), g.int(100)];
    g.setState(state);
    expect([g.random(), g.normal(), g.int(100)]).toEqual(first);
  });

  it('shuffles into a permutation and draws Dirichlet points on the simplex', () => {
    const g = new Generator(3);
    const p = g.permutation(100);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const d = g.dirichlet([0.5, 0.5, 0.5, 2]);
    expect(d.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    expect(d.every((v) => v >= 0)).toBe(true);
  });

  it('draws categories in proportion to their weights', () => {
    const g = new Generator(11);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[g.categorical([1, 2, 7])]++;
    expect(counts[0] / 30_000).toBeCloseTo(0.1, 1);
    expect(counts[2] / 30_000).toBeCloseTo(0.7, 1);
  });
});

describe('Generator.fillDropoutMask', () => {
  it('draws exactly the masks of the random() loop and leaves the same state (native or JS)', () => {
    const a = new Generator(77);
    const b = new Generator(77);
    a.random(); // an odd offset into the stream
    b.random();
    const got = a.fillDropoutMask(new Float32Array(1001), 0.3, 1 / 0.7);
    const want = new Float32Array(1001);
    for (let i = 0; i < want.length; i++) want[i] = b.random() >= 0.3 ? 1 / 0.7 : 0;
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(a.getState()).toEqual(b.getState());
    const kept = got.filter((v) => v !== 0).length / got.length;
    expect(kept).toBeGreaterThan(0.6);
    expect(kept).toBeLessThan(0.8);
  });
});
