import { fileURLToPath } from 'node:url';
import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import { createDataset } from '../../fixtures/worker-dataset.mjs';
import { collateField, defaultCollate } from './collate';
import { DataLoader, type Dataset } from './loader';
import {
  GroupBalancedSampler,
  RandomSampler,
  SequentialSampler,
  StratifiedSampler,
  WeightedRandomSampler,
} from './samplers';

const workerModule = fileURLToPath(new URL('../../fixtures/worker-dataset.mjs', import.meta.url));

interface Item {
  x: Float32Array;
  y: number;
  bag: Float32Array;
  checksum: number;
}
function makeDataset(n: number, withWorker = false): Dataset<Item> {
  const ds = createDataset({ n }) as Dataset<Item>;
  return withWorker ? { ...ds, get: ds.get, workerSpec: { module: workerModule, args: { n } } } : ds;
}

describe('samplers', () => {
  it('sequential and random: permutations that depend only on (seed, epoch)', () => {
    expect(new SequentialSampler(4).epochIndices()).toEqual([0, 1, 2, 3]);
    const r = new RandomSampler(50, 9);
    const e0 = r.epochIndices(0);
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(new RandomSampler(50, 9).epochIndices(0)).toEqual(e0);
    expect(r.epochIndices(1)).not.toEqual(e0);
  });

  it('weighted-random draws with replacement ∝ weights; group-balanced equalizes groups', () => {
    const w = new WeightedRandomSampler([1, 0, 3], 40000, 1).epochIndices(0);
    const counts = [0, 0, 0];
    for (const i of w) counts[i]++;
    expect(counts[1]).toBe(0);
    expect(counts[2] / counts[0]).toBeGreaterThan(2.8);
    expect(counts[2] / counts[0]).toBeLessThan(3.2);
    // 90 items of tissue A, 10 of B: each group drawn about half the time
    const groups = [...Array(90).fill('A'), ...Array(10).fill('B')];
    const draws = new GroupBalancedSampler(groups, 20000, 2).epochIndices(0);
    const fracB = draws.filter((i) => groups[i] === 'B').length / draws.length;
    expect(fracB).toBeGreaterThan(0.48);
    expect(fracB).toBeLessThan(0.52);
  });

  it('stratified: every batch of 10 holds the 70/30 class split', () => {
    const labels = [...Array(70).fill(0), ...Array(30).fill(1)];
    new Generator(0).shuffle(labels);
    const order = new StratifiedSampler(labels, 4).epochIndices(0);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (let b = 0; b < 10; b++) {
      const ones = order.slice(b * 10, b * 10 + 10).filter((i) => labels[i] === 1).length;
      expect(ones).toBe(3);
    }
  });
});

describe('collate', () => {
  it('stacks numbers and equal typed arrays; keeps variable-size bags as lists', () => {
    const c = defaultCollate([
      { x: Float32Array.of(1, 2), y: 0, bag: Float32Array.of(1), id: 'a' },
      { x: Float32Array.of(3, 4), y: 1, bag: Float32Array.of(1, 2), id: 'b' },
    ]);
    expect(c.x).toEqual({ data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] });
    expect(c.y).toEqual({ data: Float32Array.of(0, 1), shape: [2] });
    expect(Array.isArray(c.bag)).toBe(true);
    expect(c.id).toEqual(['a', 'b']);
    expect(
      collateField([
        { data: Int32Array.of(1, 2, 3, 4), shape: [2, 2] },
        { data: Int32Array.of(5, 6, 7, 8), shape: [2, 2] },
      ]),
    ).toEqual({
      data: Int32Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      shape: [2, 2, 2],
    });
  });
});

describe('DataLoader', () => {
  it('batches in sampler order, drops the last partial batch when asked, resumes at a batch index', async () => {
    const dl = new DataLoader(makeDataset(10), { batchSize: 4, shuffle: true, seed: 1 });
    expect(dl.length).toBe(3);
    const batches = [];
    for await (const b of dl.batches(0)) batches.push(b);
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2]);
    const ys = batches.flatMap((b) => Array.from((b.data.y as { data: Float32Array }).data));
    const order = dl.epochBatches(0).flat();
    expect(ys).toEqual(order.map((i) => i % 2));
    const tail = [];
    for await (const b of dl.batches(0, 1)) tail.push(b.index);
    expect(tail).toEqual([1, 2]);
    expect(new DataLoader(makeDataset(10), { batchSize: 4, dropLast: true }).length).toBe(2);
  });

  it('prefetches N batches ahead of the consumer', async () => {
    const started: number[] = [];
    const ds: Dataset<{ v: number }> = {
      length: 8,
      get: async (i) => {
        started.push(i);
        return { v: i };
      },
    };
    const dl = new DataLoader(ds, { batchSize: 1, prefetch: 3 });
    const it = dl.batches(0)[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 5));
    expect(started).toEqual([0, 1, 2, 3]); // consumed 0, three more in flight
    await it.return?.(undefined);
  });

  it('decodes in worker threads to the same batches as the main thread', async () => {
    const main = new DataLoader(makeDataset(23), { batchSize: 5, shuffle: true, seed: 2 });
    const workers = new DataLoader(makeDataset(23, true), {
      batchSize: 5,
      shuffle: true,
      seed: 2,
      workers: 2,
      prefetch: 4,
    });
    const a = [];
    const b = [];
    for await (const x of main.batches(1)) a.push(x);
    for await (const x of workers.batches(1)) b.push(x);
    await workers.close();
    expect(b.map((x) => x.index)).toEqual(a.map((x) => x.index));
    expect(b.map((x) => x.data)).toEqual(a.map((x) => x.data));
    expect(() => new DataLoader(makeDataset(3), { batchSize: 1, workers: 1 })).toThrow(/workerSpec/);
  });
});
