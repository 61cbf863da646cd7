// Attention heatmaps: each patch's attention, as a percentile rank within the slide (as CLAM draws
// them), painted over the slide thumbnail with a blue→red colour map; and the top-k patches.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SlideReader } from '@meddl/data';
import { encodePng } from '@meddl/trainer';
import { writeAtomic } from './synth/generator';

/** A perceptually ordered blue → cyan → yellow → red ramp for t in [0, 1]. */
export function heatColour(t: number): [number, number, number] {
  const stops: [number, number, number, number][] = [
    [0, 49, 54, 149],
    [0.35, 116, 173, 209],
    [0.5, 255, 255, 191],
    [0.75, 244, 109, 67],
    [1, 165, 0, 38],
  ];
  for (let i = 1; i < stops.length; i++) {
    const a = stops[i - 1] as [number, number, number, number];
    const b = stops[i] as [number, number, number, number];
    if (t <= b[0]) {
      const f = (t - a[0]) / (b[0] - a[0]);
      return [
        Math.round(a[1] + f * (b[1] - a[1])),
        Math.round(a[2] + f * (b[2] - a[2])),
        Math.round(a[3] + f * (b[3] - a[3])),
      ];
    }
  }
  return [165, 0, 38];
}

/** Percentile rank of each value in (0, 1]. */
export function percentileRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (values[a] as number) - (values[b] as number),
  );
  const out = new Float64Array(n);
  order.forEach((idx, r) => {
    out[idx] = (r + 1) / n;
  });
  return out;
}

export interface HeatmapResult {
  heatmap: string;
  topPatches: string[];
}

/** Writes `<outDir>/<slideId>_attention.png` and the top-k patches as `<slideId>_top<k>.png`. */
export async function writeAttentionHeatmap(
  slidePath: string,
  slideId: string,
  coords: Int32Array,
  patchSizeLevel0: number,
  attention: ArrayLike<number>,
  outDir: string,
  options: { maxSize?: number; topK?: number; alpha?: number } = {},
): Promise<HeatmapResult> {
  mkdirSync(outDir, { recursive: true });
  const slide = await SlideReader.open(slidePath);
  try {
    const thumb = await slide.thumbnail(options.maxSize ?? 1024);
    const { width, height } = slide.dimensions;
    const sx = thumb.width / width;
    const sy = thumb.height / height;
    const rgb = new Uint8Array(thumb.width * thumb.height * 3);
    for (let i = 0; i < thumb.width * thumb.height; i++) {
      for (let c = 0; c < 3; c++) rgb[3 * i + c] = thumb.data[thumb.channels * i + c] as number;
    }
    const ranks = percentileRanks(attention);
    const alpha = options.alpha ?? 0.5;
    const n = coords.length / 2;
    for (let k = 0; k < n; k++) {
      const [r, g, b] = heatColour(ranks[k] as number);
      const x0 = Math.floor((coords[2 * k] as number) * sx);
      const y0 = Math.floor((coords[2 * k + 1] as number) * sy);
      const x1 = Math.min(thumb.width, Math.ceil(((coords[2 * k] as number) + patchSizeLevel0) * sx));
      const y1 = Math.min(thumb.height, Math.ceil(((coords[2 * k + 1] as number) + patchSizeLevel0) * sy));
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const p = 3 * (y * thumb.width + x);
          rgb[p] = Math.round((1 - alpha) * (rgb[p] as number) + alpha * r);
          rgb[p + 1] = Math.round((1 - alpha) * (rgb[p + 1] as number) + alpha * g);
          rgb[p + 2] = Math.round((1 - alpha) * (rgb[p + 2] as number) + alpha * b);
        }
      }
    }
    const heatmap = join(outDir, `${slideId}_attention.png`);
    writeAtomic(heatmap, encodePng(rgb, thumb.width, thumb.height, 3));
    const topPatches: string[] = [];
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => (attention[b] as number) - (attention[a] as number),
    );
    const size = Math.min(patchSizeLevel0, 512);
    for (let t = 0; t < Math.min(options.topK ?? 0, n); t++) {
      const k = order[t] as number;
      const region = await slide.readRegion(
        coords[2 * k] as number,
        coords[2 * k + 1] as number,
        0,
        size,
        size,
        { format: 'rgb' },
      );
      const file = join(outDir, `${slideId}_top${t + 1}.png`);
      writeAtomic(file, encodePng(region.data, size, size, 3));
      topPatches.push(file);
    }
    return { heatmap, topPatches };
  } finally {
    await slide.close();
  }
}
