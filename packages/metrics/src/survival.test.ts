import { describe, expect, it } from 'vitest';
import ref from '../fixtures/reference.json';
import { MetricsError } from './errors.js';
import { concordanceIndex, kaplanMeier, logRankTest, medianSurvivalTime, survivalAt } from './survival.js';
import { expectAllClose, expectClose } from './test-utils.js';

describe("Harrell's C-index (lifelines conventions)", () => {
  it('hand-checked small case with tied times, tied risks and censoring', () => {
    // subjects: time, event, risk
    // A: 1, 1, 0.9   B: 2, 1, 0.5   C: 2, 0, 0.5   D: 3, 0, 0.1   E: 4, 1, 0.9
    // comparable pairs (earlier must be an event; tied time counts only event-vs-censored):
    // A-B conc, A-C conc, A-D conc, A-E tie(risk) ; B-C (t tie, B event) tie(risk) ; B-D conc ; B-E disc
    // C-* : C censored, none ; D-E: D censored, not comparable.
    // concordant 4, tied 2, comparable 7 → (4 + 1) / 7
    const r = concordanceIndex([1, 2, 2, 3, 4], [0.9, 0.5, 0.5, 0.1, 0.9], [1, 1, 0, 0, 1]);
    expect(r.concordant).toBe(4);
    expect(r.tied).toBe(2);
    expect(r.comparable).toBe(7);
    expectClose(r.value, 5 / 7);
  });

  ref.concordance.forEach((c, i) => {
    it(`case ${i}: equals an O(n²) brute force of lifelines' rules`, () => {
      const r = concordanceIndex(c.time, c.risk, c.event);
      expect(r.concordant).toBe(c.concordant);
      expect(r.tied).toBe(c.tied);
      expect(r.comparable).toBe(c.comparable);
      expectClose(r.value, c.cindex);
    });
  });

  it('is undefined when no pair is comparable', () => {
    const r = concordanceIndex([1, 2, 3], [0.1, 0.2, 0.3], [0, 0, 0]);
    expect(r.defined).toBe(false);
    expect(r.value).toBeNaN();
  });

  it('rejects negative times and non-binary events', () => {
    expect(() => concordanceIndex([-1, 2], [0, 1], [1, 1])).toThrow(MetricsError);
    expect(() => concordanceIndex([1, 2], [0, 1], [1, 2])).toThrow(/event/);
  });
});

describe('Kaplan–Meier vs a numpy product-limit + Greenwood reference', () => {
  const k = ref.kaplanMeier;
  it('survival, Greenwood sum and log-log band', () => {
    const km = kaplanMeier(k.inputTime, k.inputEvent);
    expectAllClose(km.time, k.time);
    expectAllClose(km.atRisk, k.atRisk);
    expectAllClose(km.events, k.events);
    expectAllClose(km.censored, k.censored);
    expectAllClose(km.survival, k.survival);
    expectAllClose(km.greenwood, k.greenwood);
    expectAllClose(km.lower, k.lower);
    expectAllClose(km.upper, k.upper);
    const lin = kaplanMeier(k.inputTime, k.inputEvent, { ci: 'linear' });
    expectAllClose(lin.lower, k.linLower);
    expectAllClose(lin.upper, k.linUpper);
  });

  it('hand-checked curve down to zero: S = 3/4, 1/2 (censoring at 2), 0; bands collapse at S = 1 and 0', () => {
    const km = kaplanMeier([1, 2, 2, 3, 0.5], [1, 1, 0, 1, 0]);
    expect(Array.from(km.time)).toEqual([0.5, 1, 2, 3]);
    expect(Array.from(km.atRisk)).toEqual([5, 4, 3, 1]);
    expectAllClose(km.survival, [1, 3 / 4, 1 / 2, 0]);
    expectAllClose(km.greenwood, [0, 1 / 12, 1 / 12 + 1 / 6, Number.POSITIVE_INFINITY]);
    expect([km.lower[0], km.upper[0], km.lower[3], km.upper[3]]).toEqual([1, 1, 0, 0]);
    expect(km.lower[2]).toBeLessThan(0.5);
    expect(km.upper[2]).toBeGreaterThan(0.5);
  });

  it('step-function lookup and median', () => {
    const km = kaplanMeier([1, 2, 3, 4], [1, 1, 1, 1]);
    expect(survivalAt(km, 0.5)).toBe(1);
    expect(survivalAt(km, 2)).toBe(0.5);
    expect(survivalAt(km, 2.5)).toBe(0.5);
    expect(medianSurvivalTime(km).value).toBe(2);
    expect(medianSurvivalTime(kaplanMeier([1, 2], [0, 0])).defined).toBe(false);
  });
});

describe('log-rank vs a numpy Mantel–Cox reference and scipy chi2', () => {
  ref.logRank.forEach((c, i) => {
    it(`case ${i}: ${c.df + 1} groups`, () => {
      const r = logRankTest(c.time, c.event, c.group);
      expectAllClose(r.observed, c.observed);
      expectAllClose(r.expected, c.expected);
      expectClose(r.statistic, c.statistic);
      expect(r.degreesOfFreedom).toBe(c.df);
      expectClose(r.pValue, c.pValue, 1e-9);
    });
  });

  it('needs two groups', () => {
    expect(() => logRankTest([1, 2], [1, 1], [0, 0])).toThrow(/group/);
  });
});
