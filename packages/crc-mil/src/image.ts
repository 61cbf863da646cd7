// Small image operations on interleaved RGB / single-channel uint8 buffers: the pieces of the
// CLAM / Slideflow tissue-segmentation recipe (HSV saturation, median blur, Otsu, closing,
// connected components) and HistoQC-style patch measures (Laplacian variance). Pure TypeScript.

export interface Gray {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Rgb {
  width: number;
  height: number;
  data: Uint8Array;
}

/** HSV (OpenCV convention for S and V on 0..255; hue in degrees 0..360) of one RGB pixel. */
export function rgbToHsv(r: number, g: number, b: number): { h: number; s: number; v: number } {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  const s = max === 0 ? 0 : (255 * d) / max;
  let h = 0;
  if (d > 0) {
    if (max === r) h = (60 * (g - b)) / d;
    else if (max === g) h = 120 + (60 * (b - r)) / d;
    else h = 240 + (60 * (r - g)) / d;
    if (h < 0) h += 360;
  }
  return { h, s, v: max };
}

/** The HSV saturation channel (0..255, rounded as OpenCV's cvtColor does for 8-bit images). */
export function saturation(img: Rgb): Gray {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = img.data[3 * i] as number;
    const g = img.data[3 * i + 1] as number;
    const b = img.data[3 * i + 2] as number;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    out[i] = max === 0 ? 0 : Math.round((255 * (max - min)) / max);
  }
  return { width: img.width, height: img.height, data: out };
}

/** Luma (ITU-R BT.601, as OpenCV's RGB2GRAY) as float64. */
export function grayscale(img: Rgb): Float64Array {
  const n = img.width * img.height;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] =
      0.299 * (img.data[3 * i] as number) +
      0.587 * (img.data[3 * i + 1] as number) +
      0.114 * (img.data[3 * i + 2] as number);
  }
  return out;
}

/** Median filter with a k×k window (k odd); borders replicate the edge pixel (OpenCV medianBlur). */
export function medianBlur(img: Gray, k: number): Gray {
  const { width: w, height: h, data } = img;
  const r = (k - 1) >> 1;
  const out = new Uint8Array(w * h);
  const half = (k * k + 1) >> 1;
  const hist = new Int32Array(256);
  for (let y = 0; y < h; y++) {
    hist.fill(0);
    // Huang's running histogram along the row.
    for (let dy = -r; dy <= r; dy++) {
      const yy = Math.min(h - 1, Math.max(0, y + dy));
      for (let dx = -r; dx <= r; dx++) {
        const xx = Math.min(w - 1, Math.max(0, dx));
        hist[data[yy * w + xx] as number]++;
      }
    }
    for (let x = 0; x < w; x++) {
      if (x > 0) {
        const xOut = Math.min(w - 1, Math.max(0, x - r - 1));
        const xIn = Math.min(w - 1, Math.max(0, x + r));
        for (let dy = -r; dy <= r; dy++) {
          const yy = Math.min(h - 1, Math.max(0, y + dy));
          hist[data[yy * w + xOut] as number]--;
          hist[data[yy * w + xIn] as number]++;
        }
      }
      let acc = 0;
      let v = 0;
      for (; v < 256; v++) {
        acc += hist[v] as number;
        if (acc >= half) break;
      }
      out[y * w + x] = v;
    }
  }
  return { width: w, height: h, data: out };
}

/** Otsu's threshold (maximum between-class variance) of a uint8 image; pixels > t are foreground. */
export function otsuThreshold(img: Gray): number {
  const hist = new Float64Array(256);
  for (const v of img.data) hist[v]++;
  const total = img.data.length;
  let sumAll = 0;
  for (let i = 0; i < 256; i++) sumAll += i * (hist[i] as number);
  let wB = 0;
  let sumB = 0;
  let best = 0;
  let bestVar = -1;
  for (let t = 0; t < 256; t++) {
    wB += hist[t] as number;
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += t * (hist[t] as number);
    const mB = sumB / wB;
    const mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) ** 2;
    if (between > bestVar) {
      bestVar = between;
      best = t;
    }
  }
  return best;
}

function morph(mask: Uint8Array, w: number, h: number, r: number, dilate: boolean): Uint8Array {
  // Separable square structuring element (2r+1)²; outside the image counts as background for
  // dilation and as foreground for erosion, so closing does not eat tissue at the border.
  const tmp = new Uint8Array(w * h);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = dilate ? 0 : 1;
      for (let d = -r; d <= r; d++) {
        const xx = x + d;
        const m = xx < 0 || xx >= w ? (dilate ? 0 : 1) : (mask[y * w + xx] as number);
        if (dilate ? m : !m) {
          v = dilate ? 1 : 0;
          break;
        }
      }
      tmp[y * w + x] = v;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = dilate ? 0 : 1;
      for (let d = -r; d <= r; d++) {
        const yy = y + d;
        const m = yy < 0 || yy >= h ? (dilate ? 0 : 1) : (tmp[yy * w + x] as number);
        if (dilate ? m : !m) {
          v = dilate ? 1 : 0;
          break;
        }
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

/** Morphological closing (dilate then erode) of a 0/1 mask with a (2r+1)² square. */
export function closing(mask: Uint8Array, w: number, h: number, r: number): Uint8Array {
  if (r <= 0) return mask.slice();
  return morph(morph(mask, w, h, r, true), w, h, r, false);
}

export interface Components {
  /** Component id per pixel (-1 = not part of any component of the requested value). */
  labels: Int32Array;
  areas: number[];
  touchesBorder: boolean[];
}

/** Connected components of the pixels equal to `value` (8-connectivity for 1, 4 for 0, as contours do). */
export function connectedComponents(mask: Uint8Array, w: number, h: number, value: 0 | 1): Components {
  const labels = new Int32Array(w * h).fill(-1);
  const areas: number[] = [];
  const touchesBorder: boolean[] = [];
  const stack: number[] = [];
  const eight = value === 1;
  for (let start = 0; start < w * h; start++) {
    if (mask[start] !== value || (labels[start] as number) >= 0) continue;
    const id = areas.length;
    let area = 0;
    let border = false;
    labels[start] = id;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop() as number;
      area++;
      const x = p % w;
      const y = (p - x) / w;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) border = true;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          if ((dx === 0 && dy === 0) || (!eight && dx !== 0 && dy !== 0)) continue;
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
          const q = yy * w + xx;
          if (mask[q] === value && (labels[q] as number) < 0) {
            labels[q] = id;
            stack.push(q);
          }
        }
      }
    }
    areas.push(area);
    touchesBorder.push(border);
  }
  return { labels, areas, touchesBorder };
}

/** Variance of the 4-neighbour Laplacian of a grayscale image (HistoQC / pyimagesearch blur measure). */
export function laplacianVariance(gray: Float64Array, w: number, h: number): number {
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const l =
        (gray[i - 1] as number) +
        (gray[i + 1] as number) +
        (gray[i - w] as number) +
        (gray[i + w] as number) -
        4 * (gray[i] as number);
      sum += l;
      sum2 += l * l;
      n++;
    }
  }
  if (n === 0) return 0;
  const mean = sum / n;
  return sum2 / n - mean * mean;
}

/** Area-average resize of an RGB image (each output pixel averages its source footprint, with partial weights). */
export function resizeArea(img: Rgb, outW: number, outH: number): Rgb {
  const { width: w, height: h, data } = img;
  if (w === outW && h === outH) return img;
  const out = new Uint8Array(outW * outH * 3);
  const sx = w / outW;
  const sy = h / outH;
  for (let oy = 0; oy < outH; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < outW; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      let r = 0;
      let g = 0;
      let b = 0;
      let wsum = 0;
      for (let y = Math.floor(y0); y < Math.min(h, Math.ceil(y1)); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(w, Math.ceil(x1)); x++) {
          const wt = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
          const p = (y * w + x) * 3;
          r += wt * (data[p] as number);
          g += wt * (data[p + 1] as number);
          b += wt * (data[p + 2] as number);
          wsum += wt;
        }
      }
      const o = (oy * outW + ox) * 3;
      out[o] = Math.round(r / wsum);
      out[o + 1] = Math.round(g / wsum);
      out[o + 2] = Math.round(b / wsum);
    }
  }
  return { width: outW, height: outH, data: out };
}
