// Test support (not exported from the package): OpenSlide reference values and the comparison used by the tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { SlideError } from './errors';
import { type SlideImage, SlideReader } from './slide';

export const repoRoot = join(import.meta.dirname, '..', '..', '..', '..');
export const data = join(repoRoot, '..', 'shared', 'data');
const fixtures = join(import.meta.dirname, '..', '..', 'fixtures', 'wsi');

interface Stats {
  mean: number[];
  std: number[];
}
interface RegionRef extends Partial<Stats> {
  x: number;
  y: number;
  level: number;
  width: number;
  height: number;
  error?: string;
}
export interface SlideRef {
  file: string;
  openError?: string;
  vendor?: string;
  levelDimensions?: [number, number][];
  levelDownsamples?: number[];
  mppX?: number | null;
  objectivePower?: number | null;
  associated?: Record<string, { size?: [number, number]; error?: string } & Partial<Stats>>;
  regions?: RegionRef[];
  thumbnail128?: { size: [number, number]; error?: string } & Stats;
}
export const reference = JSON.parse(readFileSync(join(fixtures, 'openslide_reference.json'), 'utf8')) as {
  slides: SlideRef[];
  synthetic: SlideRef[];
};

export function stats(img: SlideImage): Stats {
  const ch = img.channels;
  const n = img.width * img.height;
  const sum = new Float64Array(ch);
  const sq = new Float64Array(ch);
  for (let i = 0; i < img.data.length; i++) {
    const v = img.data[i] as number;
    sum[i % ch] = (sum[i % ch] as number) + v;
    sq[i % ch] = (sq[i % ch] as number) + v * v;
  }
  const mean = Array.from(sum, (s) => s / n);
  return { mean, std: Array.from(sq, (s, c) => Math.sqrt(Math.max(0, s / n - (mean[c] as number) ** 2))) };
}

/**
 * Tolerances (per-channel mean / std, 0..255 scale). Lossless tiles (Deflate, LZW, uncompressed) must match
 * OpenSlide to rounding. JPEG tiles: our default decoder is libjpeg-turbo like OpenSlide's, so they agree to
 * rounding here too, but another build's IDCT may differ by ±1 per pixel: allow 0.5. JPEG 2000: OpenJPEG on both
 * sides, same 0.5 allowance. Thumbnails: we area-average, Pillow uses Lanczos (sharper): 1.5 on means, 5 on std (largest gap seen: 4.4,
 * on the synthetic 32-px checkerboard).
 */
function tolerance(file: string): number {
  return /deflate|boxes/.test(file) ? 0.002 : 0.5;
}

function expectStats(actual: Stats, expected: Stats, meanTol: number, stdTol: number, label: string): void {
  actual.mean.forEach((m, c) => {
    expect(
      Math.abs(m - (expected.mean[c] as number)),
      `${label} mean[${c}] ${m} vs ${expected.mean[c]}`,
    ).toBeLessThanOrEqual(meanTol);
  });
  actual.std.forEach((s, c) => {
    expect(
      Math.abs(s - (expected.std[c] as number)),
      `${label} std[${c}] ${s} vs ${expected.std[c]}`,
    ).toBeLessThanOrEqual(stdTol);
  });
}

export async function compareWithOpenSlide(path: string, ref: SlideRef): Promise<void> {
  const slide = await SlideReader.open(path);
  try {
    expect(slide.vendor).toBe(ref.vendor);
    expect(slide.levels.map((l) => [l.width, l.height])).toEqual(ref.levelDimensions);
    slide.levels.forEach((l, i) => {
      expect(l.downsample).toBeCloseTo(ref.levelDownsamples?.[i] as number, 10);
    });
    if (ref.vendor === 'aperio') {
      expect(slide.mpp?.x ?? null).toBe(ref.mppX ?? null);
      expect(slide.objectivePower ?? null).toBe(ref.objectivePower ?? null);
    }
    const tol = tolerance(ref.file);
    for (const r of ref.regions ?? []) {
      const label = `${ref.file} region ${r.x},${r.y} L${r.level} ${r.width}x${r.height}`;
      if (r.error !== undefined) {
        await expect(slide.readRegion(r.x, r.y, r.level, r.width, r.height)).rejects.toBeInstanceOf(
          SlideError,
        );
        continue;
      }
      const img = await slide.readRegion(r.x, r.y, r.level, r.width, r.height);
      expect(img.data.length).toBe(r.width * r.height * 4);
      expectStats(stats(img), r as Stats, tol, tol, label);
    }
    expect(slide.associatedImageNames).toEqual(Object.keys(ref.associated ?? {}).sort());
    for (const [name, a] of Object.entries(ref.associated ?? {})) {
      if (a.error !== undefined) continue;
      const img = await slide.readAssociatedImage(name);
      expect([img.width, img.height]).toEqual(a.size);
      expectStats(stats(img), a as Stats, tol, tol, `${ref.file} associated ${name}`);
    }
    if (ref.thumbnail128?.error !== undefined) {
      await expect(slide.thumbnail(128)).rejects.toBeInstanceOf(SlideError);
    } else if (ref.thumbnail128) {
      const t = await slide.thumbnail(128);
      expect([t.width, t.height]).toEqual(ref.thumbnail128.size);
      expectStats(stats(t), ref.thumbnail128, 1.5, 5, `${ref.file} thumbnail`);
    }
  } finally {
    await slide.close();
  }
}
