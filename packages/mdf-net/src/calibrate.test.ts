import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import { fitTemperature, fitTemperatures } from './calibrate';
import { FINDINGS } from './labels';

const nll = (z: number[], y: number[], t: number) =>
  z.reduce((s, zi, i) => {
    const p = 1 / (1 + Math.exp(-zi / t));
    return s - (y[i] ? Math.log(p) : Math.log(1 - p));
  }, 0) / z.length;

describe('temperature scaling', () => {
  it('recovers the temperature of logits that are overconfident by a known factor', () => {
    const g = new Generator(3);
    const z: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const trueLogit = g.normal() * 2;
      y.push(g.uniform() < 1 / (1 + Math.exp(-trueLogit)) ? 1 : 0);
      z.push(3 * trueLogit); // the model says 3× the true logit
    }
    expect(fitTemperature(z, y)).toBeGreaterThan(2.6);
    expect(fitTemperature(z, y)).toBeLessThan(3.4);
  });

  it('finds the NLL minimum that a brute-force scan finds', () => {
    const g = new Generator(4);
    const z = Array.from({ length: 300 }, () => g.normal() * 4);
    const y = z.map((v) => (g.uniform() < 1 / (1 + Math.exp(-v / 2 + 0.3)) ? 1 : 0));
    const t = fitTemperature(z, y);
    let best = 1;
    let bestNll = nll(z, y, 1);
    for (let lt = Math.log(1 / 20); lt <= Math.log(20); lt += 5e-4) {
      const v = nll(z, y, Math.exp(lt));
      if (v < bestNll) [best, bestNll] = [Math.exp(lt), v];
    }
    expect(Math.abs(Math.log(t) - Math.log(best))).toBeLessThan(1e-3);
    expect(nll(z, y, t)).toBeLessThanOrEqual(nll(z, y, 1));
  });

  it('leaves findings with too few positives at T = 1 and skips uncertain cells', () => {
    const K = FINDINGS.length;
    const n = 20;
    const logits = new Float32Array(n * K).map((_, i) => ((i * 7) % 11) - 5);
    const target = new Float32Array(n * K).map((_, i) => (i % 3 === 0 ? 1 : 0));
    const certain = new Float32Array(n * K).fill(1);
    for (let i = 0; i < n; i++) certain[i * K] = 0; // finding 0: nothing certain
    const t = fitTemperatures(logits, target, certain);
    expect(t).toHaveLength(K);
    expect(t[0]).toBe(1);
    expect(t.slice(1).every((v) => v > 0 && Number.isFinite(v))).toBe(true);
  });
});
