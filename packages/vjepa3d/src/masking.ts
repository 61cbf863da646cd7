// 3D multi-block masking as in V-JEPA (Bardes et al. 2024; src/masks/multiblock3d.py): one block
// size per batch (temporal scale, spatial scale, aspect ratio drawn from one uniform number),
// several blocks per sample at random positions; target = union of the blocks, context = the
// complement (optionally limited to the first frames), resampled while the context is empty.
// Across a batch, context and target index lists are truncated to the batch minimum (V-JEPA's
// collator does the same so that they stack), which keeps them disjoint.
import type { Generator } from '@meddl/tensor';
import { z } from 'zod';
import { VJepaArgumentError } from './errors';

/** Token grid [t, h, w]: frames/tubelet, rows/patch, columns/patch. */
export type TokenGrid = [number, number, number];

export const MaskConfigSchema = z.object({
  numBlocks: z.number().int().positive(),
  spatialScale: z.tuple([z.number().positive().max(1), z.number().positive().max(1)]),
  temporalScale: z.tuple([z.number().positive().max(1), z.number().positive().max(1)]).default([1, 1]),
  aspectRatio: z.tuple([z.number().positive(), z.number().positive()]).default([0.75, 1.5]),
  /** Fraction of the temporal (frame) axis the context may come from (V-JEPA max_context_frames_ratio). */
  maxContextFramesRatio: z.number().positive().max(1).default(1),
});
export type MaskConfig = z.output<typeof MaskConfigSchema>;
export type MaskConfigInput = z.input<typeof MaskConfigSchema>;

/** V-JEPA's defaults: 8 short-range blocks at spatial scale 0.15 and 2 long-range blocks at 0.7. */
export const VJEPA_MASKS: MaskConfigInput[] = [
  { numBlocks: 8, spatialScale: [0.15, 0.15], temporalScale: [1, 1], aspectRatio: [0.75, 1.5] },
  { numBlocks: 2, spatialScale: [0.7, 0.7], temporalScale: [1, 1], aspectRatio: [0.75, 1.5] },
];

export interface BlockSize {
  t: number;
  h: number;
  w: number;
}

/** One block size for a batch (V-JEPA `_sample_block_size`: one uniform number drives all three). */
export function sampleBlockSize(rng: Generator, grid: TokenGrid, config: MaskConfig): BlockSize {
  const [T, H, W] = grid;
  const r = rng.random();
  const [t0, t1] = config.temporalScale;
  const t = Math.max(1, Math.floor(T * (t0 + r * (t1 - t0))));
  const [s0, s1] = config.spatialScale;
  const keep = Math.floor(H * W * (s0 + r * (s1 - s0)));
  const [a0, a1] = config.aspectRatio;
  const ar = a0 + r * (a1 - a0);
  const h = Math.min(H, Math.max(1, Math.round(Math.sqrt(keep * ar))));
  const w = Math.min(W, Math.max(1, Math.round(Math.sqrt(keep / ar))));
  return { t: Math.min(t, T), h, w };
}

export interface SampleMask {
  /** Sorted token indices (t·H·W + h·W + w) of the context and target. */
  context: Int32Array;
  target: Int32Array;
  /** Block origins [t, h, w]. */
  blocks: [number, number, number][];
}

/** Blocks for one sample of the given size; redrawn (up to 20 times) while the context is empty. */
export function sampleMultiBlockMask(
  rng: Generator,
  grid: TokenGrid,
  config: MaskConfig,
  size: BlockSize,
): SampleMask {
  const [T, H, W] = grid;
  const n = T * H * W;
  const contextFrames = Math.max(1, Math.floor(T * config.maxContextFramesRatio));
  for (let attempt = 0; ; attempt++) {
    const masked = new Uint8Array(n);
    const blocks: [number, number, number][] = [];
    for (let b = 0; b < config.numBlocks; b++) {
      const t0 = rng.int(T - size.t + 1);
      const h0 = rng.int(H - size.h + 1);
      const w0 = rng.int(W - size.w + 1);
      blocks.push([t0, h0, w0]);
      for (let t = t0; t < t0 + size.t; t++)
        for (let h = h0; h < h0 + size.h; h++)
          for (let w = w0; w < w0 + size.w; w++) masked[(t * H + h) * W + w] = 1;
    }
    const context: number[] = [];
    const target: number[] = [];
    for (let i = 0; i < n; i++) {
      if (masked[i]) target.push(i);
      else if (Math.floor(i / (H * W)) < contextFrames) context.push(i);
    }
    if (context.length > 0 || attempt >= 20) {
      if (context.length === 0)
        throw new VJepaArgumentError(
          'masks',
          `blocks of ${size.t}×${size.h}×${size.w} leave no context in grid ${grid}`,
        );
      return { context: Int32Array.from(context), target: Int32Array.from(target), blocks };
    }
  }
}

export interface BatchMasks {
  size: BlockSize;
  /** [B, nContext] and [B, nTarget], row-major; every row truncated to the batch minimum. */
  context: Int32Array;
  target: Int32Array;
  nContext: number;
  nTarget: number;
}

/** Masks for a batch: one block size, per-sample positions, truncated to equal lengths. */
export function sampleBatchMasks(
  rng: Generator,
  grid: TokenGrid,
  config: MaskConfig,
  batchSize: number,
): BatchMasks {
  const size = sampleBlockSize(rng, grid, config);
  const masks = Array.from({ length: batchSize }, () => sampleMultiBlockMask(rng, grid, config, size));
  const nContext = Math.min(...masks.map((m) => m.context.length));
  const nTarget = Math.min(...masks.map((m) => m.target.length));
  const context = new Int32Array(batchSize * nContext);
  const target = new Int32Array(batchSize * nTarget);
  masks.forEach((m, b) => {
    context.set(m.context.subarray(0, nContext), b * nContext);
    target.set(m.target.subarray(0, nTarget), b * nTarget);
  });
  return { size, context, target, nContext, nTarget };
}
