import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import {
  MaskConfigSchema,
  sampleBatchMasks,
  sampleBlockSize,
  sampleMultiBlockMask,
  type TokenGrid,
  VJEPA_MASKS,
} from './masking';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`violated: ${what}`);
}

describe('3D multi-block masking', () => {
  const grid: TokenGrid = [8, 14, 14];

  it('holds counts, scales and disjointness for 10 000 seeded draws', () => {
    const rng = new Generator(123);
    const configs = VJEPA_MASKS.map((m) => MaskConfigSchema.parse(m));
    const n = grid[0] * grid[1] * grid[2];
    let draws = 0;
    for (let draw = 0; draw < 10_000; draw++) {
      draws++;
      const config = configs[draw % 2]!;
      const size = sampleBlockSize(rng, grid, config);
      // Spatial area = round(√(keep·ar))·round(√(keep/ar)) with keep = ⌊H·W·scale⌋; ar ∈ [0.75, 1.5].
      const keep = Math.floor(grid[1] * grid[2] * config.spatialScale[0]);
      check(size.t === grid[0], 'size.t === grid[0]'); // temporal scale 1
      const ar = size.h / size.w;
      check(ar >= 0.5, 'ar >= 0.5');
      check(ar <= 2.5, 'ar <= 2.5');
      check(size.h * size.w >= keep * 0.6, 'size.h * size.w >= keep * 0.6');
      check(size.h * size.w <= keep * 1.6, 'size.h * size.w <= keep * 1.6');
      const m = sampleMultiBlockMask(rng, grid, config, size);
      check(m.blocks.length === config.numBlocks, 'm.blocks.length === config.numBlocks');
      // Blocks lie inside the grid.
      for (const [t, h, w] of m.blocks) {
        check(t + size.t <= grid[0], 't + size.t <= grid[0]');
        check(h + size.h <= grid[1], 'h + size.h <= grid[1]');
        check(w + size.w <= grid[2], 'w + size.w <= grid[2]');
      }
      // Target = union of blocks: at least one block, at most all of them.
      const volume = size.t * size.h * size.w;
      check(m.target.length >= volume, 'm.target.length >= volume');
      check(
        m.target.length <= Math.min(n, volume * config.numBlocks),
        'm.target.length <= Math.min(n, volume * config.numBlocks)',
      );
      // Context = complement: disjoint, covering, non-empty.
      check(m.context.length > 0, 'm.context.length > 0');
      check(m.context.length + m.target.length === n, 'm.context.length + m.target.length === n');
      const seen = new Uint8Array(n);
      for (const i of m.target) seen[i] = 1;
      for (const i of m.context) {
        check(seen[i] === 0, 'seen[i] === 0');
        seen[i] = 2;
      }
      // Every target index is inside some block.
      for (const i of m.target) {
        const t = Math.floor(i / (grid[1] * grid[2]));
        const h = Math.floor(i / grid[2]) % grid[1];
        const w = i % grid[2];
        const inside = m.blocks.some(
          ([t0, h0, w0]) =>
            t >= t0 && t < t0 + size.t && h >= h0 && h < h0 + size.h && w >= w0 && w < w0 + size.w,
        );
        if (!inside) throw new Error(`target ${i} outside every block`);
      }
    }
    expect(draws).toBe(10_000);
  });

  it('is reproducible for a seed and truncates a batch to equal, disjoint lengths', () => {
    const config = MaskConfigSchema.parse(VJEPA_MASKS[0]);
    const a = sampleBatchMasks(new Generator(7), grid, config, 6);
    const b = sampleBatchMasks(new Generator(7), grid, config, 6);
    expect(Array.from(a.context)).toEqual(Array.from(b.context));
    expect(a.context.length).toBe(6 * a.nContext);
    expect(a.target.length).toBe(6 * a.nTarget);
    for (let s = 0; s < 6; s++) {
      const tgt = new Set(a.target.subarray(s * a.nTarget, (s + 1) * a.nTarget));
      for (const i of a.context.subarray(s * a.nContext, (s + 1) * a.nContext))
        expect(tgt.has(i)).toBe(false);
    }
    const c = sampleBatchMasks(new Generator(8), grid, config, 6);
    expect(Array.from(c.target)).not.toEqual(Array.from(a.target));
  });

  it('limits the context to the first frames when asked', () => {
    const config = MaskConfigSchema.parse({
      numBlocks: 1,
      spatialScale: [0.1, 0.1],
      maxContextFramesRatio: 0.5,
    });
    const m = sampleMultiBlockMask(
      new Generator(1),
      grid,
      config,
      sampleBlockSize(new Generator(1), grid, config),
    );
    for (const i of m.context) expect(Math.floor(i / (grid[1] * grid[2]))).toBeLessThan(4);
  });
});
