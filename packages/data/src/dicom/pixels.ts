// Stored-value conversions: byte order, bits stored < bits allocated, planar configuration, 1-bit
// packing, and YBR → RGB. Each takes and returns plain typed arrays.

export type StoredFrame = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

/** Typed view (own, aligned buffer) over little- or big-endian stored bytes. */
export function storedFromBytes(
  bytes: Uint8Array,
  bitsAllocated: number,
  signed: boolean,
  littleEndian: boolean,
): StoredFrame {
  const copy = bytes.slice();
  if (bitsAllocated === 8) return signed ? new Int8Array(copy.buffer) : copy;
  const width = bitsAllocated / 8;
  if (!littleEndian) {
    for (let i = 0; i + width <= copy.length; i += width) {
      for (let a = 0, b = width - 1; a < b; a++, b--) {
        const t = copy[i + a] as number;
        copy[i + a] = copy[i + b] as number;
        copy[i + b] = t;
      }
    }
  }
  const n = Math.floor(copy.length / width);
  if (bitsAllocated === 16)
    return signed ? new Int16Array(copy.buffer, 0, n) : new Uint16Array(copy.buffer, 0, n);
  return signed ? new Int32Array(copy.buffer, 0, n) : new Uint32Array(copy.buffer, 0, n);
}

/** Keeps the low `bitsStored` bits, sign-extending when signed (PS3.5 8.1.1: high bit = bits stored − 1). */
export function maskStored(
  values: StoredFrame,
  bitsStored: number,
  bitsAllocated: number,
  signed: boolean,
): void {
  if (bitsStored >= bitsAllocated || bitsStored >= 32) return;
  const mask = bitsStored === 32 ? 0xffffffff : 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  for (let i = 0; i < values.length; i++) {
    let v = (values[i] as number) & mask;
    if (v < 0) v += 2 ** 32;
    if (signed && v >= signBit) v -= 2 ** bitsStored;
    values[i] = v;
  }
}

/** Planar (RRR…GGG…BBB) to interleaved (RGBRGB…). */
export function interleavePlanar<T extends StoredFrame>(planar: T, pixels: number, samples: number): T {
  const out = new (planar.constructor as new (n: number) => T)(pixels * samples);
  for (let s = 0; s < samples; s++) {
    const base = s * pixels;
    for (let p = 0; p < pixels; p++) out[p * samples + s] = planar[base + p] as number;
  }
  return out;
}

/** Unpacks 1-bit pixels (least significant bit first, PS3.5 8.1.1) starting at bit `bitOffset`. */
export function unpackBits(bytes: Uint8Array, bitOffset: number, count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const bit = bitOffset + i;
    out[i] = ((bytes[bit >> 3] as number) >> (bit & 7)) & 1;
  }
  return out;
}

/** YBR_FULL_422 native layout (Y1 Y2 Cb Cr per pixel pair) to YBR_FULL interleaved. */
export function expandYbr422(src: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, q = 0; p < pixels; p += 2, q += 4) {
    const cb = src[q + 2] as number;
    const cr = src[q + 3] as number;
    out[p * 3] = src[q] as number;
    out[p * 3 + 1] = cb;
    out[p * 3 + 2] = cr;
    if (p + 1 < pixels) {
      out[p * 3 + 3] = src[q + 1] as number;
      out[p * 3 + 4] = cb;
      out[p * 3 + 5] = cr;
    }
  }
  return out;
}

/**
 * YBR_FULL to RGB in place, PS3.3 C.7.6.3.1.2 (ITU-R BT.601 full range), rounding half up and
 * clipping to the sample range; for 8-bit samples this is the same arithmetic as pydicom's
 * `convert_color_space`.
 */
export function ybrFullToRgb(values: Uint8Array | Uint16Array, bits: number): void {
  const max = 2 ** bits - 1;
  const half = 2 ** (bits - 1);
  const gCb = (-0.114 * 1.772) / 0.587;
  const gCr = (-0.299 * 1.402) / 0.587;
  for (let i = 0; i + 2 < values.length; i += 3) {
    const y = values[i] as number;
    const cb = (values[i + 1] as number) - half;
    const cr = (values[i + 2] as number) - half;
    const r = Math.floor(y + 1.402 * cr + 0.5);
    const g = Math.floor(y + gCb * cb + gCr * cr + 0.5);
    const b = Math.floor(y + 1.772 * cb + 0.5);
    values[i] = Math.min(max, Math.max(0, r));
    values[i + 1] = Math.min(max, Math.max(0, g));
    values[i + 2] = Math.min(max, Math.max(0, b));
  }
}
