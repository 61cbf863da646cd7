import { describe, expect, it } from 'vitest';
import { evenlySpaced } from './sampling';

describe('evenlySpaced', () => {
  it('takes at most max indices, spread over 0..n−1, all of them when n ≤ max', () => {
    expect(evenlySpaced(10, 4)).toEqual([0, 2, 5, 7]);
    expect(evenlySpaced(3, 5)).toEqual([0, 1, 2]);
    expect(evenlySpaced(0, 5)).toEqual([]);
    const picks = evenlySpaced(1001, 100);
    expect(new Set(picks).size).toBe(100);
    expect(Math.max(...picks)).toBeGreaterThan(980);
  });
});
