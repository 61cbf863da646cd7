import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import { argsort, averageRanks, chiSquaredSf, ExactSum, erfc, exactSum, normalQuantile } from './numeric.js';
import { expectClose } from './test-utils.js';

describe('special functions vs scipy', () => {
  it('erfc across the series / continued-fraction switch', () => {
    for (const [x, v] of ref.numeric.erfc) expectClose(erfc(x), v, 1e-13, 1e-300);
  });

  it('normal quantile', () => {
    for (const [p, v] of ref.numeric.normQuantile) expectClose(normalQuantile(p), v, 1e-12);
  });

  it('chi-squared survival function', () => {
    for (const [x, d, v] of ref.numeric.chi2sf) expectClose(chiSquaredSf(x, d), v, 1e-12);
  });
});

describe('exact summation', () => {
  it("equals Python's math.fsum in any order and under merging", () => {
    const v = ref.numeric.fsumValues;
    expect(exactSum(v)).toBe(ref.numeric.fsum);
    expect(exactSum([...v].reverse())).toBe(ref.numeric.fsum);
    const a = new ExactSum();
    const b = new ExactSum();
    v.forEach((x, i) => {
      (i % 3 ? a : b).add(x);
    });
    expect(b.addAll(a).value()).toBe(ref.numeric.fsum);
  });
});

describe('sorting helpers', () => {
  it('argsort is stable and averageRanks averages ties', () => {
    const x = Float64Array.from([3, 1, 2, 1, -0, 0, 3]);
    expect(Array.from(argsort(x))).toEqual([4, 5, 1, 3, 2, 0, 6]);
    expect(Array.from(averageRanks(x))).toEqual([6.5, 3.5, 5, 3.5, 1.5, 1.5, 6.5]);
  });
});
