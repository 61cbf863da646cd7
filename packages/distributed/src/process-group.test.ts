import { describe, expect, it } from 'vitest';
import { CollectiveError, RendezvousTimeoutError } from './errors';
import { fromHalfBits, quantizeHalf, toHalfBits } from './half';
import { ProcessGroup } from './process-group';
import { DistributedSampler } from './sampler';
import { TCPStoreClient, TCPStoreServer } from './store';
import { freePort, localGroups } from './test-utils';

function seeded(n: number, seed: number): Float32Array {
  // xorshift32: cheap reproducible values in [-1, 1)
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

describe('TCPStore', () => {
  it('set/get/add/wait/check across clients, with blocking get and a timeout', async () => {
    const server = await TCPStoreServer.listen(0, '127.0.0.1');
    const a = await TCPStoreClient.connect('127.0.0.1', server.port);
    const b = await TCPStoreClient.connect('127.0.0.1', server.port);
    const pending = b.get('late', 5000);
    await a.set('late', 'value');
    expect(await pending).toBe('value');
    expect(await Promise.all([a.add('n', 2), b.add('n', 3)]).then((v) => v.sort())).toEqual([2, 5]);
    expect(await a.check(['late', 'n'])).toBe(true);
    expect(await a.check(['late', 'nope'])).toBe(false);
    expect(await a.waitKeys(['late', 'never'], 50)).toEqual(['never']);
    await expect(b.get('never', 50)).rejects.toThrow(RendezvousTimeoutError);
    expect(await a.delete('late')).toBe(true);
    expect(await a.check(['late'])).toBe(false);
    a.close();
    b.close();
    await server.close();
  });

  it('reports an unreachable store by address', async () => {
    const port = await freePort();
    await expect(TCPStoreClient.connect('127.0.0.1', port, { connectTimeoutMs: 200 })).rejects.toThrow(
      `rendezvous store at 127.0.0.1:${port}`,
    );
  });
});

describe('ProcessGroup', () => {
  it('allReduce sum/mean (direct and ring, chunked), broadcast, allGather, barrier on 4 ranks', async () => {
    const groups = await localGroups(4, { chunkBytes: 4096, ringThresholdBytes: 1024 });
    try {
      for (const n of [1, 3, 7, 100, 5003]) {
        const inputs = groups.map((_, r) => seeded(n, 11 * r + n));
        const expected = new Float64Array(n);
        for (const x of inputs) for (let i = 0; i < n; i++) expected[i] += x[i];
        const bufs = inputs.map((x) => Float32Array.from(x));
        await Promise.all(groups.map((g, r) => g.allReduce(bufs[r])));
        for (const b of bufs) {
          expect(Buffer.from(b.buffer).equals(Buffer.from(bufs[0].buffer))).toBe(true); // identical bits everywhere
          for (let i = 0; i < n; i++) expect(b[i]).toBeCloseTo(expected[i], 5);
        }
        const means = inputs.map((x) => Float32Array.from(x));
        await Promise.all(groups.map((g, r) => g.allReduce(means[r], { op: 'mean', algorithm: 'direct' })));
        for (let i = 0; i < n; i++) expect(means[2][i]).toBeCloseTo(expected[i] / 4, 5);
      }
      const big = groups.map((_, r) => Float32Array.from(seeded(20_000, r + 1)));
      const direct = big.map((b) => Float32Array.from(b));
      await Promise.all(groups.map((g, r) => g.allReduce(big[r], { algorithm: 'ring' })));
      await Promise.all(groups.map((g, r) => g.allReduce(direct[r], { algorithm: 'direct' })));
      let maxDiff = 0;
      for (let i = 0; i < 20_000; i++) maxDiff = Math.max(maxDiff, Math.abs(big[3][i] - direct[3][i]));
      expect(maxDiff).toBeLessThan(1e-6);

      const bc = groups.map((_, r) => (r === 2 ? seeded(9000, 5) : new Float32Array(9000)));
      await Promise.all(groups.map((g, r) => g.broadcast(bc[r], 2)));
      for (const b of bc) expect(Array.from(b)).toEqual(Array.from(seeded(9000, 5)));

      const gathered = await Promise.all(
        groups.map((g, r) => g.allGather(Float32Array.from({ length: r + 1 }, () => r))),
      );
      for (const all of gathered)
        expect(all.map((a) => Array.from(a))).toEqual([[0], [1, 1], [2, 2, 2], [3, 3, 3, 3]]);
      const objs = await Promise.all(groups.map((g, r) => g.allGatherObject({ rank: r, tag: `r${r}` })));
      expect(objs[3]).toEqual([0, 1, 2, 3].map((r) => ({ rank: r, tag: `r${r}` })));
      await Promise.all(groups.map((g) => g.barrier()));
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });

  it('fp16 compression: identical results on all ranks, within binary16 rounding of the mean', async () => {
    const groups = await localGroups(3, { chunkBytes: 1024, ringThresholdBytes: 512 });
    try {
      for (const algorithm of ['ring', 'direct'] as const) {
        const inputs = groups.map((_, r) => seeded(1001, r + 40));
        const bufs = inputs.map((x) => Float32Array.from(x));
        await Promise.all(
          groups.map((g, r) => g.allReduce(bufs[r], { op: 'mean', compression: 'fp16', algorithm })),
        );
        for (const b of bufs) expect(Buffer.from(b.buffer).equals(Buffer.from(bufs[0].buffer))).toBe(true);
        for (let i = 0; i < 1001; i++) {
          const mean = (inputs[0][i] + inputs[1][i] + inputs[2][i]) / 3;
          expect(Math.abs(bufs[1][i] - mean)).toBeLessThan(3e-3); // |x| ≤ 1: binary16 spacing ≤ 2^-11
        }
      }
    } finally {
      await Promise.all(groups.map((g) => g.destroy()));
    }
  });

  it('a rank that never joins → RendezvousTimeoutError naming it, not a hang', async () => {
    const masterPort = await freePort();
    const joined = [0, 1, 3].map((rank) =>
      ProcessGroup.init({
        rank,
        worldSize: 4,
        masterAddr: '127.0.0.1',
        masterPort,
        rendezvousTimeoutMs: 400,
      }),
    );
    const results = await Promise.allSettled(joined);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as RendezvousTimeoutError;
      expect(e).toBeInstanceOf(RendezvousTimeoutError);
      expect(e.missingRanks).toEqual([2]);
      expect(e.message).toMatch(/rank 2 never joined the rendezvous/);
    }
  });

  it('mismatched buffer sizes and a peer that dies mid-collective → CollectiveError naming the rank', async () => {
    const sized = await localGroups(3, { timeoutMs: 2000 });
    try {
      const sizes = await Promise.allSettled(
        sized.map((g, r) => g.allReduce(new Float32Array(r === 1 ? 5 : 4), { algorithm: 'direct' })),
      );
      const e0 = (sizes[0] as PromiseRejectedResult).reason as CollectiveError;
      expect(e0).toBeInstanceOf(CollectiveError);
      expect(e0.rank).toBe(1);
      expect(e0.message).toMatch(/rank 1 sent 20 bytes, this rank has 16/);
    } finally {
      await Promise.all(sized.map((g) => g.destroy()));
    }
    const groups = await localGroups(3, { timeoutMs: 2000 });
    try {
      await groups[2].destroy();
      const results = await Promise.allSettled(
        groups.slice(0, 2).map((g) => g.allReduce(new Float32Array(4), { algorithm: 'direct' })),
      );
      for (const r of results) {
        const e = (r as PromiseRejectedResult).reason as CollectiveError;
        expect(e).toBeInstanceOf(CollectiveError);
        expect(e.rank).toBe(2);
        expect(e.message).toMatch(/rank 2 disconnected/);
      }
    } finally {
      await Promise.all(groups.slice(0, 2).map((g) => g.destroy()));
    }
  });
});

describe('binary16', () => {
  it('rounds like IEEE 754 round-to-nearest-even', () => {
    // Bit patterns from the binary16 definition: max normal, min normal, min subnormal, 1/3, ties.
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(65520)).toBe(0x7c00); // rounds up to Inf
    expect(toHalfBits(2 ** -14)).toBe(0x0400);
    expect(toHalfBits(2 ** -24)).toBe(0x0001);
    expect(toHalfBits(2 ** -25)).toBe(0x0000); // tie → even (0)
    expect(toHalfBits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(toHalfBits(1 / 3)).toBe(0x3555);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN)))).toBe(true);
    expect(fromHalfBits(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(Array.from(quantizeHalf(Float32Array.of(0.1, 1000.3)))).toEqual([0.0999755859375, 1000.5]);
  });
});

describe('DistributedSampler', () => {
  it('partitions one seeded epoch order, pads or drops like torch, changes with the epoch', () => {
    const n = 10;
    const ranks = [0, 1, 2].map((rank) => new DistributedSampler(n, { rank, worldSize: 3, seed: 4 }));
    expect(ranks.map((s) => s.length)).toEqual([4, 4, 4]);
    const e0 = ranks.map((s) => s.epochIndices(0));
    const union = e0.flat();
    expect(new Set(union).size).toBe(10); // all 10, two repeated as padding
    const order = new DistributedSampler(n, { rank: 0, worldSize: 1, seed: 4 }).epochIndices(0);
    expect(e0[0]).toEqual([order[0], order[3], order[6], order[9]]);
    expect(e0[1]).toEqual([order[1], order[4], order[7], order[0]]); // padded from the start
    expect(ranks[0].epochIndices(1)).not.toEqual(e0[0]);
    const drop = [0, 1, 2].map(
      (rank) => new DistributedSampler(n, { rank, worldSize: 3, seed: 4, dropLast: true }),
    );
    expect(drop.map((s) => s.length)).toEqual([3, 3, 3]);
    expect(new Set(drop.flatMap((s) => s.epochIndices(0))).size).toBe(9);
    const plain = new DistributedSampler(5, { rank: 1, worldSize: 2, shuffle: false });
    expect(plain.epochIndices(0)).toEqual([1, 3, 0]);
  });
});
