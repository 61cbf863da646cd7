/**
 * The image pipeline: DICOM (through @meddl/data: modality LUT, VOI window, MONOCHROME1 inversion)
 * or PNG → grey [0, 1] → centre crop to a square → area resize → normalization, plus light
 * seeded augmentation for training. Each step is a small pure function (MONAI-style).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { inflateSync } from 'node:zlib';
import { readDicom } from '@meddl/data';
import type { Generator } from '@meddl/tensor';
import { MdfNetDataError } from './errors';

/** A single-channel image, row-major. */
export interface GreyImage {
  data: Float32Array;
  rows: number;
  cols: number;
}

/**
 * 'imagenet': (x − 0.449)/0.226, the mean of ImageNet's channel statistics, for CLIP/ImageNet-style
 * encoders; 'xrv': TorchXRayVision's scaling of [0, 1] to [−1024, 1024] (so its ONNX exports apply);
 * 'none': keep [0, 1].
 */
export type Normalization = 'imagenet' | 'xrv' | 'none';

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** Decodes a non-interlaced PNG (grey, grey+alpha, RGB, RGBA; 8 or 16 bits) to grey [0, 1] (ITU-R 601 luma). */
export function decodePng(bytes: Uint8Array, file = '<bytes>'): GreyImage {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b))
    throw new MdfNetDataError(file, 'not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = -1;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= bytes.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + len > bytes.length) throw new MdfNetDataError(file, `truncated PNG chunk ${type}`);
    const body = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      bitDepth = body[8];
      colorType = body[9];
      if (body[12] !== 0) throw new MdfNetDataError(file, 'interlaced PNG is not supported');
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType as 0 | 2 | 4 | 6];
  if (!channels || (bitDepth !== 8 && bitDepth !== 16) || width === 0 || height === 0)
    throw new MdfNetDataError(
      file,
      `unsupported PNG (colour type ${colorType}, bit depth ${bitDepth}); expected 8/16-bit grey or RGB(A)`,
    );
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (e) {
    throw new MdfNetDataError(file, `corrupt PNG image data: ${(e as Error).message}`);
  }
  const bpp = (channels * bitDepth) / 8;
  const stride = width * bpp;
  if (raw.length < height * (stride + 1)) throw new MdfNetDataError(file, 'PNG image data is truncated');
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? out.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp] : 0;
      const b = prev ? prev[i] : 0;
      const c = prev && i >= bpp ? prev[i - bpp] : 0;
      let v: number;
      switch (filter) {
        case 0:
          v = src[i];
          break;
        case 1:
          v = src[i] + a;
          break;
        case 2:
          v = src[i] + b;
          break;
        case 3:
          v = src[i] + ((a + b) >> 1);
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v = src[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          throw new MdfNetDataError(file, `bad PNG filter type ${filter} in row ${y}`);
      }
      row[i] = v & 255;
    }
  }
  const max = bitDepth === 16 ? 65535 : 255;
  const sample = (p: number, ch: number): number => {
    const o = p * bpp + (ch * bitDepth) / 8;
    return bitDepth === 16 ? (out[o] << 8) | out[o + 1] : out[o];
  };
  const data = new Float32Array(width * height);
  for (let p = 0; p < width * height; p++) {
    data[p] =
      channels >= 3
        ? (0.299 * sample(p, 0) + 0.587 * sample(p, 1) + 0.114 * sample(p, 2)) / max
        : sample(p, 0) / max;
  }
  return { data, rows: height, cols: width };
}

/** Reads a DICOM (display values: window + MONOCHROME1 inversion) or PNG file as grey [0, 1]. */
export async function loadImage(path: string, options: { windowIndex?: number } = {}): Promise<GreyImage> {
  const ext = extname(path).toLowerCase();
  if (ext === '.png') {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new MdfNetDataError(path, `cannot read: ${(e as Error).message}`);
    }
    return decodePng(bytes, path);
  }
  const img = await readDicom(path);
  const rows = img.meta.rows;
  const cols = img.meta.columns;
  if (img.meta.samplesPerPixel === 3) {
    const rgb = img.rgbFrame(0);
    const data = new Float32Array(rows * cols);
    let max = 0;
    for (let p = 0; p < rgb.length; p++) max = Math.max(max, rgb[p]);
    const scale = max > 255 ? 65535 : 255;
    for (let p = 0; p < rows * cols; p++)
      data[p] = (0.299 * rgb[3 * p] + 0.587 * rgb[3 * p + 1] + 0.114 * rgb[3 * p + 2]) / scale;
    return { data, rows, cols };
  }
  const windows = img.meta.windows ?? [];
  const display = img.displayFrame(
    0,
    options.windowIndex !== undefined && windows.length > options.windowIndex
      ? { windowIndex: options.windowIndex }
      : {},
  );
  return { data: Float32Array.from(display), rows, cols };
}

/** The largest centred square. */
export function centerCropSquare(img: GreyImage): GreyImage {
  const s = Math.min(img.rows, img.cols);
  const r0 = Math.floor((img.rows - s) / 2);
  const c0 = Math.floor((img.cols - s) / 2);
  const data = new Float32Array(s * s);
  for (let r = 0; r < s; r++)
    data.set(img.data.subarray((r + r0) * img.cols + c0, (r + r0) * img.cols + c0 + s), r * s);
  return { data, rows: s, cols: s };
}

/**
 * Resizes to size × size. Downsampling averages the exact source area under each output pixel
 * (OpenCV's INTER_AREA), which does not alias the way point-sampled bilinear does; upsampling is
 * bilinear with half-pixel centres (align_corners=False).
 */
export function resizeImage(img: GreyImage, rows: number, cols: number): GreyImage {
  const out = new Float32Array(rows * cols);
  const sy = img.rows / rows;
  const sx = img.cols / cols;
  if (sy >= 1 && sx >= 1) {
    for (let y = 0; y < rows; y++) {
      const y0 = y * sy;
      const y1 = y0 + sy;
      for (let x = 0; x < cols; x++) {
        const x0 = x * sx;
        const x1 = x0 + sx;
        let acc = 0;
        for (let r = Math.floor(y0); r < Math.min(Math.ceil(y1), img.rows); r++) {
          const wy = Math.min(r + 1, y1) - Math.max(r, y0);
          if (wy <= 0) continue;
          for (let c = Math.floor(x0); c < Math.min(Math.ceil(x1), img.cols); c++) {
            const wx = Math.min(c + 1, x1) - Math.max(c, x0);
            if (wx > 0) acc += wy * wx * img.data[r * img.cols + c];
          }
        }
        out[y * cols + x] = acc / (sy * sx);
      }
    }
    return { data: out, rows, cols };
  }
  for (let y = 0; y < rows; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.rows - 1);
    const ya = Math.floor(fy);
    const yb = Math.min(ya + 1, img.rows - 1);
    const ty = fy - ya;
    for (let x = 0; x < cols; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.cols - 1);
      const xa = Math.floor(fx);
      const xb = Math.min(xa + 1, img.cols - 1);
      const tx = fx - xa;
      const top = img.data[ya * img.cols + xa] * (1 - tx) + img.data[ya * img.cols + xb] * tx;
      const bot = img.data[yb * img.cols + xa] * (1 - tx) + img.data[yb * img.cols + xb] * tx;
      out[y * cols + x] = top * (1 - ty) + bot * ty;
    }
  }
  return { data: out, rows, cols };
}

/** Maps [0, 1] intensities for the chosen encoder family (see `Normalization`). */
export function normalizeImage(data: Float32Array, mode: Normalization): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    out[i] = mode === 'imagenet' ? (x - 0.449) / 0.226 : mode === 'xrv' ? x * 2048 - 1024 : x;
  }
  return out;
}

/** Load → crop → resize, to [0, 1] (normalization is applied per batch, after augmentation). */
export async function preprocessImage(path: string, size: number): Promise<Float32Array> {
  return resizeImage(centerCropSquare(await loadImage(path)), size, size).data;
}

/**
 * Light training augmentation on a [0, 1] square image: integer translation up to `maxShift`
 * pixels (edge-replicated) and a random contrast/brightness change, from a seeded generator.
 */
export function augmentImage(
  data: Float32Array,
  size: number,
  rng: Generator,
  options: { maxShift?: number; contrast?: number; brightness?: number } = {},
): Float32Array {
  const { maxShift = 2, contrast = 0.1, brightness = 0.05 } = options;
  const dy = Math.round(rng.uniform(-maxShift, maxShift));
  const dx = Math.round(rng.uniform(-maxShift, maxShift));
  const gain = 1 + rng.uniform(-contrast, contrast);
  const bias = rng.uniform(-brightness, brightness);
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(Math.max(y - dy, 0), size - 1);
    for (let x = 0; x < size; x++) {
      const sx = Math.min(Math.max(x - dx, 0), size - 1);
      out[y * size + x] = Math.min(1, Math.max(0, (data[sy * size + sx] - 0.5) * gain + 0.5 + bias));
    }
  }
  return out;
}
