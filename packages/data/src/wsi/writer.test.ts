import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SlideReader, syntheticPattern, writePyramidalTiff } from '../index';
import { compareWithOpenSlide, reference } from './openslideReference';

describe('writePyramidalTiff', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meddl-wsi-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const options = {
    'synthetic-aperio-jpeg.svs': {
      compression: 'jpeg',
      style: 'aperio',
      mpp: 0.25,
      appMag: 40,
      downsamples: [1, 2, 8],
      tileSize: 128,
      quality: 90,
    },
    'synthetic-generic-deflate.tiff': {
      compression: 'deflate',
      style: 'generic',
      mpp: 0.5,
      downsamples: [1, 4],
      tileSize: 64,
    },
    'synthetic-bigtiff-deflate.tiff': {
      compression: 'deflate',
      style: 'generic',
      mpp: 0.5,
      downsamples: [1, 2, 4],
      tileSize: 64,
      bigTiff: true,
    },
  } as const;

  for (const ref of reference.synthetic) {
    it(`${ref.file}: read back by meddl as OpenSlide read it (same options as write_synthetic.mjs)`, async () => {
      const path = join(dir, ref.file);
      const pattern = syntheticPattern(700, 500);
      await writePyramidalTiff(path, pattern, options[ref.file as keyof typeof options]);
      await compareWithOpenSlide(path, ref);
      const slide = await SlideReader.open(path);
      const level0 = await slide.readRegion(0, 0, 0, 700, 500, { format: 'rgb' });
      if (ref.file.includes('deflate')) {
        expect(Buffer.from(level0.data).equals(Buffer.from(pattern.data))).toBe(true);
        expect(slide.mpp).toEqual({ x: 0.5, y: 0.5 });
      }
      await slide.close();
    });
  }

  it('rejects bad pyramids', async () => {
    const img = syntheticPattern(64, 64);
    await expect(writePyramidalTiff(join(dir, 'x.tiff'), img, { downsamples: [1, 3] })).rejects.toThrow(
      /grow by 2 or 4/,
    );
    await expect(writePyramidalTiff(join(dir, 'x.tiff'), img, { tileSize: 100 })).rejects.toThrow(
      /multiple of 16/,
    );
    await expect(
      writePyramidalTiff(join(dir, 'x.tiff'), { width: 10, height: 10, data: new Uint8Array(5) }),
    ).rejects.toThrow(/must be RGB 10x10/);
  });
});
