// Tissue detection on a low-resolution image of the slide and the patch grid at a target
// magnification / µm per pixel. The segmentation recipe is CLAM's (create_patches_fp.py,
// WholeSlideImage.segmentTissue): HSV saturation → median blur → Otsu → morphological closing →
// contours filtered by area, with holes kept only when large enough. Here contours are connected
// components, which bound the same regions.
import type { SlideReader } from '@meddl/data';
import {
  closing,
  connectedComponents,
  type Gray,
  medianBlur,
  otsuThreshold,
  type Rgb,
  saturation,
} from './image';

export interface TissueOptions {
  /** Longest side of the image segmented (the slide's thumbnail, read from the best pyramid level). */
  maxSize?: number;
  /** Median filter window (odd). */
  medianKernel?: number;
  /** Saturation threshold floor: Otsu's threshold is raised to this, so an empty slide stays empty. */
  minSaturation?: number;
  /** Closing radius in thumbnail pixels. */
  closeRadius?: number;
  /** Tissue pieces smaller than this (level-0 pixels²) are dropped. */
  minTissueArea?: number;
  /** Background holes inside tissue larger than this (level-0 pixels²) are kept; smaller ones are filled. */
  minHoleArea?: number;
}

export interface TissueMask {
  /** 0/1 per thumbnail pixel. */
  mask: Uint8Array;
  width: number;
  height: number;
  /** Level-0 pixels per mask pixel along x and y. */
  scaleX: number;
  scaleY: number;
  otsu: number;
  threshold: number;
  pieces: number;
  holes: number;
  tissueFraction: number;
  thumbnail: Rgb;
}

export const TISSUE_DEFAULTS: Required<TissueOptions> = {
  maxSize: 1024,
  medianKernel: 7,
  minSaturation: 15,
  closeRadius: 2,
  minTissueArea: 100_000,
  minHoleArea: 20_000,
};

/** Segments tissue on an RGB thumbnail; `scaleX/Y` convert its pixels to level-0 pixels. */
export function segmentTissue(
  thumbnail: Rgb,
  scaleX: number,
  scaleY: number,
  options: TissueOptions = {},
): TissueMask {
  const o = { ...TISSUE_DEFAULTS, ...options };
  const { width: w, height: h } = thumbnail;
  const sat: Gray = medianBlur(saturation(thumbnail), o.medianKernel);
  const otsu = otsuThreshold(sat);
  const threshold = Math.max(otsu, o.minSaturation);
  let mask: Uint8Array = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) mask[i] = (sat.data[i] as number) > threshold ? 1 : 0;
  mask = closing(mask, w, h, o.closeRadius);
  const pxArea = scaleX * scaleY;
  // Drop small tissue pieces.
  const fg = connectedComponents(mask, w, h, 1);
  let pieces = 0;
  const keepPiece = fg.areas.map((a) => a * pxArea >= o.minTissueArea);
  for (const k of keepPiece) if (k) pieces++;
  for (let i = 0; i < w * h; i++) {
    const l = fg.labels[i] as number;
    if (l >= 0 && !keepPiece[l]) mask[i] = 0;
  }
  // Fill small holes (background not connected to the border); keep big ones as background.
  const bg = connectedComponents(mask, w, h, 0);
  let holes = 0;
  const fill = bg.areas.map((a, j) => {
    if (bg.touchesBorder[j]) return false;
    if (a * pxArea >= o.minHoleArea) {
      holes++;
      return false;
    }
    return true;
  });
  let tissue = 0;
  for (let i = 0; i < w * h; i++) {
    const l = bg.labels[i] as number;
    if (l >= 0 && fill[l]) mask[i] = 1;
    tissue += mask[i] as number;
  }
  return {
    mask,
    width: w,
    height: h,
    scaleX,
    scaleY,
    otsu,
    threshold,
    pieces,
    holes,
    tissueFraction: tissue / (w * h),
    thumbnail,
  };
}

/** Reads the slide's thumbnail (≤ maxSize) and segments it. */
export async function detectTissue(slide: SlideReader, options: TissueOptions = {}): Promise<TissueMask> {
  const o = { ...TISSUE_DEFAULTS, ...options };
  const thumb = await slide.thumbnail(o.maxSize);
  const { width, height } = slide.dimensions;
  const rgb: Rgb = { width: thumb.width, height: thumb.height, data: thumb.data };
  if (thumb.channels === 4) {
    const d = new Uint8Array(thumb.width * thumb.height * 3);
    for (let i = 0; i < thumb.width * thumb.height; i++) {
      d[3 * i] = thumb.data[4 * i] as number;
      d[3 * i + 1] = thumb.data[4 * i + 1] as number;
      d[3 * i + 2] = thumb.data[4 * i + 2] as number;
    }
    rgb.data = d;
  }
  return segmentTissue(rgb, width / thumb.width, height / thumb.height, o);
}

export interface PatchGridOptions {
  /** Patch edge in pixels at the target resolution. */
  patchSize: number;
  /** Target objective magnification (20, 10, 5 …); or give mpp. */
  magnification?: number;
  /** Target µm per pixel. */
  mpp?: number;
  /** Minimum tissue fraction of a patch footprint in the mask (default 0.5). */
  minTissueFraction?: number;
  /** Level-0 µm per pixel to assume for a slide with neither mpp nor objective power. */
  assumeMpp?: number;
}

/**
 * Level-0 pixels per target pixel. Uses the objective power for a magnification and the mpp for a
 * µm/px target; when only the other one is known, converts with Slideflow's convention
 * µm/px = 10 / magnification (20x ≈ 0.5 µm/px). Null when the slide has no resolution metadata
 * and no `assumeMpp` is given.
 */
export function targetDownsample(
  slide: Pick<SlideReader, 'objectivePower' | 'mpp'>,
  target: { magnification?: number; mpp?: number; assumeMpp?: number },
): number | null {
  const mpp0 = slide.mpp?.x ?? (slide.objectivePower ? 10 / slide.objectivePower : target.assumeMpp);
  if (target.magnification !== undefined) {
    if (slide.objectivePower) return slide.objectivePower / target.magnification;
    return mpp0 ? 10 / target.magnification / mpp0 : null;
  }
  if (target.mpp !== undefined) return mpp0 ? target.mpp / mpp0 : null;
  return null;
}

export interface PatchGrid {
  /** Level-0 top-left corners, [x0, y0, x1, y1, …]. */
  coords: Int32Array;
  count: number;
  /** Level-0 pixels per target pixel. */
  downsample: number;
  /** Level-0 extent of one patch (patchSize × downsample, rounded). */
  level0Size: number;
  /** Pyramid level the patches are read from, and its downsample. */
  level: number;
  levelDownsample: number;
  /** Pixels read from that level per patch side (then area-resized to patchSize). */
  readSize: number;
  /** Grid cells inside the slide, and those dropped for too little tissue. */
  cells: number;
  belowTissue: number;
  magnification: number | null;
  mpp: number | null;
}

/** The patch grid over tissue: non-overlapping patches, row-major, coordinates in level-0 pixels. */
export function patchGrid(
  slide: SlideReader,
  tissue: TissueMask,
  options: PatchGridOptions,
): PatchGrid | null {
  const downsample = targetDownsample(slide, options);
  // Unknown resolution, or a target finer than level 0 by more than 2× (e.g. a generic TIFF whose
  // 72-dpi default resolution tags read as 352 µm/px): no honest grid.
  if (downsample === null || !(downsample >= 0.5)) return null;
  const level = slide.bestLevelForDownsample(downsample);
  const levelDownsample = (slide.levels[level] as { downsample: number }).downsample;
  const level0Size = Math.round(options.patchSize * downsample);
  const readSize = Math.max(1, Math.round((options.patchSize * downsample) / levelDownsample));
  const minFrac = options.minTissueFraction ?? 0.5;
  const { width, height } = slide.dimensions;
  const cols = Math.floor(width / level0Size);
  const rows = Math.floor(height / level0Size);
  const coords: number[] = [];
  let belowTissue = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = c * level0Size;
      const y = r * level0Size;
      if (tissueFractionAt(tissue, x, y, level0Size) >= minFrac) coords.push(x, y);
      else belowTissue++;
    }
  }
  const mpp0 = slide.mpp?.x ?? (slide.objectivePower ? 10 / slide.objectivePower : options.assumeMpp);
  const mag =
    slide.objectivePower !== undefined
      ? slide.objectivePower / downsample
      : mpp0
        ? 10 / (mpp0 * downsample)
        : null;
  const mpp = mpp0 !== undefined ? mpp0 * downsample : null;
  return {
    coords: Int32Array.from(coords),
    count: coords.length / 2,
    downsample,
    level0Size,
    level,
    levelDownsample,
    readSize,
    cells: rows * cols,
    belowTissue,
    magnification: mag,
    mpp,
  };
}

/** Fraction of mask pixels that are tissue within a level-0 square (at least one mask pixel sampled). */
export function tissueFractionAt(tissue: TissueMask, x0: number, y0: number, size: number): number {
  const mx0 = Math.floor(x0 / tissue.scaleX);
  const my0 = Math.floor(y0 / tissue.scaleY);
  const mx1 = Math.max(mx0 + 1, Math.min(tissue.width, Math.round((x0 + size) / tissue.scaleX)));
  const my1 = Math.max(my0 + 1, Math.min(tissue.height, Math.round((y0 + size) / tissue.scaleY)));
  let n = 0;
  let t = 0;
  for (let y = my0; y < my1 && y < tissue.height; y++) {
    for (let x = mx0; x < mx1 && x < tissue.width; x++) {
      n++;
      t += tissue.mask[y * tissue.width + x] as number;
    }
  }
  return n === 0 ? 0 : t / n;
}
