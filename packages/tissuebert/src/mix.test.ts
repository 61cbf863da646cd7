import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '@meddl/tensor';
import { describe, expect, it, vi } from 'vitest';
import { commands } from './commands';
import { parsePat } from './formats/pat';
import {
  bloodDominatedMixture,
  detectionLimit,
  dirichletMixture,
  mixPat,
  pearson,
  pearsonPerTissue,
  rmse,
  spikeInMixture,
} from './mix';

describe('mixPat', () => {
  const a = parsePat('chr1\t1\tCC\t50\nchr1\t5\tCT\t50\n');
  const b = parsePat('chr1\t2\tTT\t100\nchr2\t1\tT\t100\n');
  it('takes round(π·N) reads from each source without replacement', () => {
    const mix = mixPat([a, b], [0.3, 0.7], 100, new Generator(1));
    expect(Array.from(mix.realized)).toEqual([0.3, 0.7]);
    const fromA = mix.records.filter((_, i) => mix.sourceOfRecord[i] === 0).reduce((s, r) => s + r.count, 0);
    expect(fromA).toBe(30);
    expect(mix.records.reduce((s, r) => s + r.count, 0)).toBe(100);
    for (const r of mix.records) expect(r.count).toBeLessThanOrEqual(100);
    expect(() => mixPat([a, b], [0.9, 0.1], 200, new Generator(1))).toThrow(
      /source 0 has 100 reads, the mixture needs 180/,
    );
  });
});

describe('mixture designs', () => {
  it('Dirichlet, blood-dominated and spike-in proportions are on the simplex with the asked structure', () => {
    const rng = new Generator(2);
    for (let k = 0; k < 20; k++) {
      const d = dirichletMixture(rng, 22);
      expect(d.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
      const b = bloodDominatedMixture(rng, 22, [0, 1, 2, 3, 4, 5]);
      const blood = b.slice(0, 6).reduce((x, y) => x + y, 0);
      expect(blood).toBeGreaterThanOrEqual(0.4);
      expect(blood).toBeLessThanOrEqual(0.8);
      expect(b.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
    }
    const s = spikeInMixture([0.5, 0.5, 0], 2, 0.01);
    expect(Array.from(s)).toEqual([0.495, 0.495, 0.01]);
  });
});

describe('local evaluation helpers', () => {
  it('RMSE, Pearson and the detection limit', () => {
    expect(rmse([[0, 1]], [[0, 0]])).toBeCloseTo(Math.SQRT1_2, 12);
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
    expect(Number.isNaN(pearson([1, 1], [1, 2]))).toBe(true);
    const r = pearsonPerTissue(
      [
        [0.1, 0.9],
        [0.3, 0.7],
        [0.5, 0.5],
      ],
      [
        [0.12, 0.88],
        [0.28, 0.72],
        [0.55, 0.45],
      ],
    );
    expect(r[0]).toBeGreaterThan(0.98);
    expect(r[1]).toBeCloseTo(r[0], 12); // the second column is 1 − the first
    const blanks = [0, 0.001, 0.002, 0.003, 0.004];
    expect(
      detectionLimit(
        [0.005, 0.01, 0.02],
        [
          [0.001, 0.006],
          [0.008, 0.012],
          [0.02, 0.03],
        ],
        blanks,
      ),
    ).toBe(0.01);
    expect(detectionLimit([0.005], [[0.001]], blanks)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('commands', () => {
  it('`synth tissuebert` writes a data set', async () => {
    const cmd = commands.find((c) => c.path.join(' ') === 'synth tissuebert');
    expect(cmd).toBeDefined();
    const out = mkdtempSync(join(tmpdir(), 'tb-cmd-'));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await cmd?.run([], { out, seed: '1', samples: '30', regions: '4', coverage: '3' });
    expect(log.mock.calls[0][0]).toMatch(/^wrote 30 samples/);
    log.mockRestore();
    expect(readdirSync(join(out, 'samples')).filter((f) => f.endsWith('.pat.gz'))).toHaveLength(30);
    expect(readFileSync(join(out, 'manifest.csv'), 'utf8').split('\n')[0]).toBe('sample,tissue,file');
    await expect(async () => cmd?.run([], {})).rejects.toThrow(/--out/);
  });
});
