// Shared assertions for the reference tests (not exported from the package).
import { expect } from 'vitest';

/** |actual − expected| ≤ rel·|expected| + abs, elementwise; NaN must match NaN. */
export function expectClose(actual: number, expected: number, rel = 1e-9, abs = 1e-15): void {
  if (Number.isNaN(expected)) {
    expect(actual).toBeNaN();
    return;
  }
  if (!Number.isFinite(expected)) {
    expect(actual).toBe(expected);
    return;
  }
  const tol = rel * Math.abs(expected) + abs;
  if (!(Math.abs(actual - expected) <= tol)) {
    expect.fail(`expected ${actual} to be within ${tol} of ${expected}`);
  }
}

export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number | null>,
  rel = 1e-9,
  abs = 1e-15,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    expectClose(actual[i], e === null ? Number.NaN : e, rel, abs);
  }
}
