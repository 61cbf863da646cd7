// Per-patch quality control in the spirit of HistoQC: background, pen / marker ink, over-saturated
// or black pixels, and blur measured by the variance of the Laplacian. The first failing check is
// the patch's rejection reason.
import { grayscale, laplacianVariance, type Rgb } from './image';

export type QcReason = 'background' | 'pen' | 'saturation' | 'blur';
export const QC_REASONS: readonly QcReason[] = ['background', 'pen', 'saturation', 'blur'];

export interface QcOptions {
  /** Reject when more than this fraction of pixels is background (low saturation, bright). */
  maxBackground?: number;
  /** Reject when more than this fraction of pixels looks like marker ink. */
  maxPen?: number;
  /** Reject when more than this fraction is over-saturated (S ≥ 230/255) or black (V ≤ 20). */
  maxSaturated?: number;
  /** Reject when the Laplacian variance of the grey patch is below this. */
  minLaplacianVariance?: number;
}

export const QC_DEFAULTS: Required<QcOptions> = {
  maxBackground: 0.5,
  maxPen: 0.05,
  maxSaturated: 0.1,
  minLaplacianVariance: 40,
};

export interface QcMeasures {
  background: number;
  pen: number;
  saturated: number;
  laplacianVariance: number;
}

/**
 * Marker ink: green / cyan hues, or a strongly saturated blue. Haematoxylin is purple-blue
 * (hue ≈ 240–290° at moderate saturation) and eosin pink (≈ 300–350°), so neither is ink.
 */
export function isPenPixel(r: number, g: number, b: number): boolean {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  if (max === 0 || d === 0) return false;
  const s = d / max;
  let h: number;
  if (max === r) h = (60 * (g - b)) / d;
  else if (max === g) h = 120 + (60 * (b - r)) / d;
  else h = 240 + (60 * (r - g)) / d;
  if (h < 0) h += 360;
  if (h >= 75 && h < 200) return s > 0.25;
  if (h >= 200 && h < 236) return s > 0.7;
  return false;
}

export function measurePatch(img: Rgb): QcMeasures {
  const n = img.width * img.height;
  let background = 0;
  let pen = 0;
  let saturated = 0;
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const r = d[3 * i] as number;
    const g = d[3 * i + 1] as number;
    const b = d[3 * i + 2] as number;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const s = max === 0 ? 0 : (255 * (max - min)) / max;
    if (s < 20 && max > 200) background++;
    if (s >= 230 || max <= 20) saturated++;
    if (isPenPixel(r, g, b)) pen++;
  }
  return {
    background: background / n,
    pen: pen / n,
    saturated: saturated / n,
    laplacianVariance: laplacianVariance(grayscale(img), img.width, img.height),
  };
}

/** The rejection reason, or null for a usable patch. */
export function qcReason(m: QcMeasures, options: QcOptions = {}): QcReason | null {
  const o = { ...QC_DEFAULTS, ...options };
  if (m.background > o.maxBackground) return 'background';
  if (m.pen > o.maxPen) return 'pen';
  if (m.saturated > o.maxSaturated) return 'saturation';
  if (m.laplacianVariance < o.minLaplacianVariance) return 'blur';
  return null;
}
