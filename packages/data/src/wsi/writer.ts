// Pyramidal tiled TIFF / BigTIFF writer for synthetic slides. Level 0 is given as RGB; lower levels are
// area-averaged from the previous level. Aperio style puts "Aperio Image Library ...|AppMag = ..|MPP = .."
// in ImageDescription so OpenSlide reads it as an Aperio slide; generic style uses XResolution/YResolution
// in centimetres, which OpenSlide's generic-tiff reader (and this package) turn into microns per pixel.
import { open as openFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { SlideError } from './errors';
import { resizeArea } from './resize';

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, width × height × 3. */
  data: Uint8Array;
}

export interface PyramidalTiffOptions {
  /** Tile edge in pixels, a multiple of 16 (default 256). */
  tileSize?: number;
  /** Downsample of each level relative to level 0, starting at 1; each step ×2 or ×4 (default [1, 4, 16] cut to size). */
  downsamples?: readonly number[];
  compression?: 'jpeg' | 'deflate';
  /** JPEG quality 1..100 (default 90). */
  quality?: number;
  /** Microns per pixel at level 0. */
  mpp?: number;
  /** Objective power written as Aperio AppMag (Aperio style only). */
  appMag?: number;
  style?: 'aperio' | 'generic';
  bigTiff?: boolean;
}

const SHORT = 3;
const LONG = 4;
const RATIONAL = 5;
const ASCII = 2;
const LONG8 = 16;

interface Entry {
  tag: number;
  type: number;
  values: number[] | string;
}

function typeSize(type: number): number {
  return type === SHORT ? 2 : type === LONG ? 4 : type === RATIONAL ? 8 : type === LONG8 ? 8 : 1;
}

/** Encode one IFD at `offset` (value blocks follow the entry table). Returns bytes; next-IFD pointer is patched later. */
function encodeIfd(entries: Entry[], offset: number, big: boolean): { bytes: Buffer; nextPointerAt: number } {
  entries.sort((a, b) => a.tag - b.tag);
  const countSize = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  const inline = big ? 8 : 4;
  const tableSize = countSize + entries.length * entrySize + (big ? 8 : 4);
  const blocks: Buffer[] = [];
  let extra = offset + tableSize;
  const table = Buffer.alloc(tableSize);
  let p = 0;
  if (big) table.writeBigUInt64LE(BigInt(entries.length), 0);
  else table.writeUInt16LE(entries.length, 0);
  p = countSize;
  for (const e of entries) {
    const count =
      typeof e.values === 'string'
        ? e.values.length + 1
        : e.type === RATIONAL
          ? e.values.length / 2
          : e.values.length;
    const size = count * typeSize(e.type);
    const data = Buffer.alloc(Math.max(size, inline));
    if (typeof e.values === 'string') data.write(e.values, 0, 'latin1');
    else {
      e.values.forEach((v, i) => {
        if (e.type === SHORT) data.writeUInt16LE(v, i * 2);
        else if (e.type === LONG || e.type === RATIONAL) data.writeUInt32LE(v, i * 4);
        else data.writeBigUInt64LE(BigInt(v), i * 8);
      });
    }
    table.writeUInt16LE(e.tag, p);
    table.writeUInt16LE(e.type, p + 2);
    if (big) table.writeBigUInt64LE(BigInt(count), p + 4);
    else table.writeUInt32LE(count, p + 4);
    const valueAt = p + (big ? 12 : 8);
    if (size <= inline) data.copy(table, valueAt, 0, inline);
    else {
      const padded =
        size % 2 === 1 ? Buffer.concat([data.subarray(0, size), Buffer.alloc(1)]) : data.subarray(0, size);
      if (big) table.writeBigUInt64LE(BigInt(extra), valueAt);
      else table.writeUInt32LE(extra, valueAt);
      blocks.push(padded);
      extra += padded.length;
    }
    p += entrySize;
  }
  return {
    bytes: Buffer.concat([table, ...blocks]),
    nextPointerAt: offset + countSize + entries.length * entrySize,
  };
}

function levelDownsamples(
  width: number,
  height: number,
  tileSize: number,
  given: readonly number[] | undefined,
): readonly number[] {
  if (given) return given;
  const out = [1];
  while (Math.max(width, height) / ((out.at(-1) as number) * 4) >= tileSize && out.length < 4)
    out.push((out.at(-1) as number) * 4);
  return out;
}

/** Write `image` as a tiled pyramidal TIFF at `path`. */
export async function writePyramidalTiff(
  path: string,
  image: RgbImage,
  options: PyramidalTiffOptions = {},
): Promise<void> {
  const tileSize = options.tileSize ?? 256;
  const compression = options.compression ?? 'jpeg';
  const quality = options.quality ?? 90;
  const style = options.style ?? 'aperio';
  const big = options.bigTiff ?? false;
  const { width, height, data } = image;
  if (!Number.isInteger(tileSize) || tileSize <= 0 || tileSize % 16 !== 0) {
    throw new SlideError(path, `tileSize must be a positive multiple of 16 (got ${tileSize})`);
  }
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width <= 0 ||
    height <= 0 ||
    data.length !== width * height * 3
  ) {
    throw new SlideError(
      path,
      `image must be RGB ${width}x${height} (${width * height * 3} bytes), got ${data.length} bytes`,
    );
  }
  const downsamples = levelDownsamples(width, height, tileSize, options.downsamples);
  downsamples.forEach((d, i) => {
    const prev = i === 0 ? 1 : (downsamples[i - 1] as number);
    if (i === 0 ? d !== 1 : d / prev !== 2 && d / prev !== 4) {
      throw new SlideError(
        path,
        `downsamples must start at 1 and grow by 2 or 4 per level (got ${downsamples.join(', ')})`,
      );
    }
  });
  const handle = await openFile(path, 'w');
  try {
    let offset = 0;
    const write = async (buf: Uint8Array, at: number) => {
      await handle.write(buf, 0, buf.length, at);
    };
    const header = Buffer.alloc(big ? 16 : 8);
    header.write('II', 0, 'latin1');
    if (big) {
      header.writeUInt16LE(43, 2);
      header.writeUInt16LE(8, 4);
      header.writeBigUInt64LE(0n, 8);
    } else {
      header.writeUInt16LE(42, 2);
      header.writeUInt32LE(0, 4);
    }
    await write(header, 0);
    offset = header.length;
    let pointerAt = big ? 8 : 4;
    let levelImage = { width, height, data };
    const qTag = compression === 'jpeg' ? `JPEG/RGB Q=${quality}` : 'Deflate/RGB';
    for (let li = 0; li < downsamples.length; li++) {
      const ds = downsamples[li] as number;
      if (li > 0) {
        const w = Math.max(1, Math.floor(width / ds));
        const h = Math.max(1, Math.floor(height / ds));
        levelImage = {
          width: w,
          height: h,
          data: resizeArea(levelImage.data, levelImage.width, levelImage.height, 3, w, h),
        };
      }
      const across = Math.ceil(levelImage.width / tileSize);
      const down = Math.ceil(levelImage.height / tileSize);
      const offsets: number[] = [];
      const counts: number[] = [];
      const tile = new Uint8Array(tileSize * tileSize * 3);
      for (let ty = 0; ty < down; ty++) {
        for (let tx = 0; tx < across; tx++) {
          tile.fill(255); // edge tiles are padded with white background
          const cw = Math.min(tileSize, levelImage.width - tx * tileSize);
          const ch = Math.min(tileSize, levelImage.height - ty * tileSize);
          for (let y = 0; y < ch; y++) {
            const src = ((ty * tileSize + y) * levelImage.width + tx * tileSize) * 3;
            tile.set(levelImage.data.subarray(src, src + cw * 3), y * tileSize * 3);
          }
          const encoded =
            compression === 'jpeg'
              ? await sharp(tile, { raw: { width: tileSize, height: tileSize, channels: 3 } })
                  .jpeg({ quality, chromaSubsampling: '4:4:4' })
                  .toBuffer()
              : deflateSync(tile);
          await write(encoded, offset);
          offsets.push(offset);
          counts.push(encoded.length);
          offset += encoded.length + (encoded.length % 2);
        }
      }
      const description =
        style === 'aperio'
          ? li === 0
            ? `Aperio Image Library meddl\r\n${width}x${height} (${tileSize}x${tileSize}) ${qTag}` +
              (options.appMag !== undefined ? `|AppMag = ${options.appMag}` : '') +
              (options.mpp !== undefined ? `|MPP = ${options.mpp}` : '')
            : `Aperio Image Library meddl\r\n${width}x${height} (${tileSize}x${tileSize}) -> ${levelImage.width}x${levelImage.height} ${qTag}`
          : undefined;
      const offType = big ? LONG8 : LONG;
      const entries: Entry[] = [
        { tag: 254, type: LONG, values: [li === 0 ? 0 : 1] },
        { tag: 256, type: LONG, values: [levelImage.width] },
        { tag: 257, type: LONG, values: [levelImage.height] },
        { tag: 258, type: SHORT, values: [8, 8, 8] },
        { tag: 259, type: SHORT, values: [compression === 'jpeg' ? 7 : 8] },
        { tag: 262, type: SHORT, values: [compression === 'jpeg' ? 6 : 2] },
        { tag: 277, type: SHORT, values: [3] },
        { tag: 284, type: SHORT, values: [1] },
        { tag: 322, type: LONG, values: [tileSize] },
        { tag: 323, type: LONG, values: [tileSize] },
        { tag: 324, type: offType, values: offsets },
        { tag: 325, type: offType, values: counts },
      ];
      if (compression === 'jpeg') entries.push({ tag: 530, type: SHORT, values: [1, 1] });
      if (description !== undefined) entries.push({ tag: 270, type: ASCII, values: description });
      if (style === 'generic' && options.mpp !== undefined) {
        // pixels per centimetre as a rational with a fixed denominator
        const perCm = Math.round((1e4 / (options.mpp * ds)) * 1000);
        entries.push({ tag: 282, type: RATIONAL, values: [perCm, 1000] });
        entries.push({ tag: 283, type: RATIONAL, values: [perCm, 1000] });
        entries.push({ tag: 296, type: SHORT, values: [3] });
      }
      const ifd = encodeIfd(entries, offset, big);
      await write(ifd.bytes, offset);
      const ptr = Buffer.alloc(big ? 8 : 4);
      if (big) ptr.writeBigUInt64LE(BigInt(offset));
      else {
        if (offset > 0xffffffff) throw new SlideError(path, 'file exceeds 4 GiB; use bigTiff: true');
        ptr.writeUInt32LE(offset);
      }
      await write(ptr, pointerAt);
      pointerAt = ifd.nextPointerAt;
      offset += ifd.bytes.length + (ifd.bytes.length % 2);
    }
  } finally {
    await handle.close();
  }
}

/**
 * A deterministic RGB test pattern (colour gradients, a 32-px checker in blue, a pink "tissue" disc) used by
 * tests and the fixture script to write synthetic slides whose pixels are known.
 */
export function syntheticPattern(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const cx = width / 2;
  const cy = height / 2;
  const r2 = (Math.min(width, height) / 3) ** 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < r2;
      data[i] = inDisc ? 220 : Math.floor((x * 255) / width);
      data[i + 1] = inDisc ? 120 : Math.floor((y * 255) / height);
      data[i + 2] = inDisc ? 180 : ((x >> 5) + (y >> 5)) % 2 === 1 ? 200 : 40;
    }
  }
  return { width, height, data };
}
