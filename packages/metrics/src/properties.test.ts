// Property tests (fast-check, fixed seeds so the suite is deterministic).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from './bootstrap.js';
import { expectedCalibrationError } from './calibration.js';
import { auroc } from './ranking.js';
import { BinaryRankingAccumulator } from './streaming.js';
import { concordanceIndex } from './survival.js';

const SEED = 20240611;

// Labels with both classes and integer-valued scores (so monotone transforms stay exact and ties occur).
const labelledScores = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: -60, max: 60 })), {
    minLength: 2,
    maxLength: 80,
  })
  .filter((rows) => rows.some((r) => r[0] === 1) && rows.some((r) => r[0] === 0));

function mannWhitney(y: number[], s: number[]): number {
  let num = 0;
  let pairs = 0;
  for (let i = 0; i < y.length; i++) {
    for (let j = 0; j < y.length; j++) {
      if (y[i] === 1 && y[j] === 0) {
        pairs++;
        num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
      }
    }
  }
  return num / pairs;
}

describe('AUROC properties', () => {
  it('equals the Mann–Whitney pair count with ties as one half', () => {
    fc.assert(
      fc.property(labelledScores, (rows) => {
        const y = rows.map((r) => r[0]);
        const s = rows.map((r) => r[1]);
        expect(Math.abs(auroc(y, s).value - mannWhitney(y, s))).toBeLessThan(1e-12);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('is invariant to strictly increasing transforms of the scores', () => {
    const transforms = [(x: number) => 3 * x + 7, (x: number) => x ** 3 + x, (x: number) => Math.exp(x / 10)];
    fc.assert(
      fc.property(labelledScores, fc.integer({ min: 0, max: 2 }), (rows, t) => {
        const y = rows.map((r) => r[0]);
        const s = rows.map((r) => r[1]);
        expect(auroc(y, s.map(transforms[t])).value).toBe(auroc(y, s).value);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('AUROC(y, s) = 1 − AUROC(y, −s)', () => {
    fc.assert(
      fc.property(labelledScores, (rows) => {
        const y = rows.map((r) => r[0]);
        const s = rows.map((r) => r[1]);
        expect(
          Math.abs(
            auroc(y, s).value -
              (1 -
                auroc(
                  y,
                  s.map((v) => -v),
                ).value),
          ),
        ).toBeLessThan(1e-12);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('a streaming accumulator over any batch split equals the one-shot value', () => {
    fc.assert(
      fc.property(labelledScores, fc.integer({ min: 1, max: 10 }), (rows, size) => {
        const y = rows.map((r) => r[0]);
        const s = rows.map((r) => r[1]);
        const acc = new BinaryRankingAccumulator();
        for (let i = 0; i < y.length; i += size) acc.update(y.slice(i, i + size), s.slice(i, i + size));
        expect(acc.compute().auroc).toEqual(auroc(y, s));
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});

describe('calibration property', () => {
  it('ECE of perfectly calibrated synthetic data tends to 0 as n grows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 5, max: 20 }), (seed, bins) => {
        const rng = new SeededRandom(seed);
        const ece = (n: number): number => {
          const p = new Float64Array(n);
          const y = new Uint8Array(n);
          for (let i = 0; i < n; i++) {
            p[i] = rng.nextFloat();
            y[i] = rng.nextFloat() < p[i] ? 1 : 0; // y ~ Bernoulli(p): calibrated by construction
          }
          return expectedCalibrationError(y, p, { bins });
        };
        const small = ece(500);
        const large = ece(40000);
        expect(large).toBeLessThan(0.03);
        expect(large).toBeLessThan(small + 0.01);
      }),
      { seed: SEED, numRuns: 15 },
    );
  });
});

describe('C-index property', () => {
  it('a risk equal to −time with no censoring has C = 1', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 60 }),
        (times) => {
          const event = times.map(() => 1);
          const r = concordanceIndex(
            times,
            times.map((t) => -t),
            event,
          );
          if (new Set(times).size < 2) expect(r.defined).toBe(false);
          else expect(r.value).toBe(1);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });
});
