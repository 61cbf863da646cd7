import { crc32, deflateSync } from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

/** Encodes 8-bit RGB (channels 3) or RGBA (4) pixels, row-major, as a PNG (filter 0, zlib). */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 3 | 4 = 3): Buffer {
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`encodePng: ${pixels.length} bytes for ${width}x${height}x${channels}`);
  }
  const raw = Buffer.alloc((width * channels + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * channels + 1)] = 0;
    raw.set(
      pixels.subarray(y * width * channels, (y + 1) * width * channels),
      y * (width * channels + 1) + 1,
    );
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = channels === 4 ? 6 : 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * Renders a confusion matrix (rows = true class) as an RGB heatmap, each cell `cell` pixels,
 * white→blue by row-normalized count, so TensorBoard's image tab can show it.
 */
export function confusionMatrixImage(
  matrix: number[][],
  cell = 16,
): { png: Buffer; width: number; height: number } {
  const n = matrix.length;
  const w = n * cell;
  const px = new Uint8Array(w * w * 3);
  for (let r = 0; r < n; r++) {
    const total = matrix[r].reduce((a, b) => a + b, 0) || 1;
    for (let c = 0; c < n; c++) {
      const f = matrix[r][c] / total;
      const rgb = [Math.round(255 * (1 - f)), Math.round(255 * (1 - 0.6 * f)), 255];
      for (let y = r * cell; y < (r + 1) * cell; y++)
        for (let x = c * cell; x < (c + 1) * cell; x++) {
          const edge = y === r * cell || x === c * cell;
          px.set(edge ? [200, 200, 200] : rgb, (y * w + x) * 3);
        }
    }
  }
  return { png: encodePng(px, w, w, 3), width: w, height: w };
}
