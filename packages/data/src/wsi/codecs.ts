// Tile codecs. JPEG: libjpeg-turbo (WASM build from @cornerstonejs), libvips (sharp) or jpeg-js;
// JPEG 2000: OpenJPEG (WASM build from @cornerstonejs); LZW / Deflate / none: geotiff's decoders.
import { createRequire } from 'node:module';
import { getDecoder } from 'geotiff';
import jpegJs from 'jpeg-js';
import type { TiffDirectory } from './tiff';
import { TiffCompression } from './tiff';

const require = createRequire(import.meta.url);

export type JpegDecoderName = 'libjpeg-turbo' | 'sharp' | 'jpeg-js';

/** A decoded block: interleaved 8-bit RGB, `width × height` as the codec produced it. */
export interface DecodedBlock {
  data: Uint8Array;
  width: number;
  height: number;
}

interface WasmFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
}
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): WasmFrameInfo;
}
interface WasmModule {
  JPEGDecoder?: new () => WasmDecoder;
  J2KDecoder?: new () => WasmDecoder;
}

type WasmFactory = (module: { print: () => void; printErr: () => void }) => Promise<WasmModule>;
// OpenJPEG logs every header it reads through Emscripten's print; keep the console clean.
const quiet = { print: () => {}, printErr: () => {} };

// One module per codec for the process (Emscripten/embind modules cannot be instantiated twice); the
// decoder instance is replaced after a C++ exception so that no half-reset state carries over.
let turboModule: Promise<WasmModule> | undefined;
let openjpegModule: Promise<WasmModule> | undefined;
let turbo: WasmDecoder | undefined;
let openjpeg: WasmDecoder | undefined;

async function loadTurbo(): Promise<WasmDecoder> {
  turboModule ??= (require('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs') as WasmFactory)(quiet);
  const mod = await turboModule;
  turbo ??= new (mod.JPEGDecoder as new () => WasmDecoder)();
  return turbo;
}

async function loadOpenJpeg(): Promise<WasmDecoder> {
  openjpegModule ??= (require('@cornerstonejs/codec-openjpeg/decodewasmjs') as WasmFactory)(quiet);
  const mod = await openjpegModule;
  openjpeg ??= new (mod.J2KDecoder as new () => WasmDecoder)();
  return openjpeg;
}

function runWasm(
  decoder: WasmDecoder,
  bytes: Uint8Array,
): DecodedBlock & { components: number; bits: number } {
  decoder.getEncodedBuffer(bytes.length).set(bytes);
  decoder.decode();
  const info = decoder.getFrameInfo();
  // Copy out: the WASM heap view is reused by the next decode.
  const data = new Uint8Array(decoder.getDecodedBuffer());
  return {
    data,
    width: info.width,
    height: info.height,
    components: info.componentCount,
    bits: info.bitsPerSample,
  };
}

const ADOBE = [0x41, 0x64, 0x6f, 0x62, 0x65];

function hasAdobeMarker(stream: Uint8Array): boolean {
  let i = 2;
  while (i + 4 < stream.length && stream[i] === 0xff) {
    const marker = stream[i + 1] as number;
    if (marker === 0xda) return false; // start of scan: headers are over
    const length = ((stream[i + 2] as number) << 8) | (stream[i + 3] as number);
    if (marker === 0xee && ADOBE.every((b, k) => stream[i + 4 + k] === b)) return true;
    i += 2 + length;
  }
  return false;
}

/**
 * Build a self-contained JPEG stream from a TIFF JPEG tile: splice the shared JPEGTables (abbreviated table
 * stream, SOI..EOI) in front of the tile's frame, and add an Adobe APP14 marker whose transform flag states
 * the colour space the TIFF declares (PhotometricInterpretation 6 = YCbCr → transform 1, RGB → 0). Aperio
 * writes RGB-coded JPEG tiles without JFIF/Adobe markers; without the flag libjpeg would assume YCbCr
 * (that is what OpenSlide avoids by setting jpeg_color_space from the photometric tag).
 */
export function completeJpegStream(
  tile: Uint8Array,
  tables: Uint8Array | undefined,
  photometric: number,
): Uint8Array {
  if (tile.length < 4 || tile[0] !== 0xff || tile[1] !== 0xd8) {
    throw new Error('tile is not a JPEG stream (no SOI marker)');
  }
  const tableBody =
    tables !== undefined && tables.length > 4 ? tables.subarray(2, tables.length - 2) : new Uint8Array(0);
  const needAdobe = !hasAdobeMarker(tile) && (photometric === 2 || photometric === 6);
  const adobe = needAdobe
    ? Uint8Array.of(
        0xff,
        0xee,
        0x00,
        0x0e,
        ...ADOBE,
        0x00,
        0x64,
        0x00,
        0x00,
        0x00,
        0x00,
        photometric === 6 ? 1 : 0,
      )
    : new Uint8Array(0);
  const out = new Uint8Array(2 + adobe.length + tableBody.length + tile.length - 2);
  out[0] = 0xff;
  out[1] = 0xd8;
  out.set(adobe, 2);
  out.set(tableBody, 2 + adobe.length);
  out.set(tile.subarray(2), 2 + adobe.length + tableBody.length);
  return out;
}

function toRgb(data: Uint8Array, width: number, height: number, components: number): Uint8Array {
  if (components === 3)
    return data.length === width * height * 3 ? data : data.subarray(0, width * height * 3);
  const n = width * height;
  const out = new Uint8Array(n * 3);
  if (components === 1) {
    for (let i = 0; i < n; i++) {
      const g = data[i] as number;
      out[3 * i] = g;
      out[3 * i + 1] = g;
      out[3 * i + 2] = g;
    }
  } else {
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[components * i] as number;
      out[3 * i + 1] = data[components * i + 1] as number;
      out[3 * i + 2] = data[components * i + 2] as number;
    }
  }
  return out;
}

export async function decodeJpeg(
  stream: Uint8Array,
  decoder: JpegDecoderName,
  ycbcr = true,
): Promise<DecodedBlock> {
  if (decoder === 'libjpeg-turbo') {
    let r: ReturnType<typeof runWasm>;
    try {
      r = runWasm(await loadTurbo(), stream);
    } catch (e) {
      turbo = undefined; // next decode gets a fresh decoder instance
      throw e;
    }
    return { data: toRgb(r.data, r.width, r.height, r.components), width: r.width, height: r.height };
  }
  if (decoder === 'sharp') {
    const { default: sharp } = await import('sharp');
    const { data, info } = await sharp(stream).raw().toBuffer({ resolveWithObject: true });
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return {
      data: toRgb(bytes, info.width, info.height, info.channels),
      width: info.width,
      height: info.height,
    };
  }
  const img = jpegJs.decode(stream, {
    useTArray: true,
    formatAsRGBA: false,
    maxMemoryUsageInMB: 1024,
    colorTransform: ycbcr,
  });
  // jpeg-js ignores the Adobe transform flag for 3-component images; tell it the colour space explicitly.
  return {
    data: toRgb(img.data, img.width, img.height, img.data.length / (img.width * img.height)),
    width: img.width,
    height: img.height,
  };
}

/** JPEG 2000 codestream (Aperio 33003: YCbCr components, 33005: RGB). ITU-R BT.601 full-range inverse for YCbCr. */
export async function decodeJ2k(codestream: Uint8Array, ycbcr: boolean): Promise<DecodedBlock> {
  let r: ReturnType<typeof runWasm>;
  try {
    r = runWasm(await loadOpenJpeg(), codestream);
  } catch (e) {
    openjpeg = undefined; // next decode gets a fresh decoder instance
    throw e;
  }
  if (r.bits > 8) throw new Error(`JPEG 2000 tile has ${r.bits}-bit samples; only 8-bit is supported`);
  const rgb = toRgb(r.data, r.width, r.height, r.components);
  if (ycbcr && r.components === 3) {
    for (let i = 0; i < rgb.length; i += 3) {
      const y = rgb[i] as number;
      const cb = (rgb[i + 1] as number) - 128;
      const cr = (rgb[i + 2] as number) - 128;
      rgb[i] = clamp(y + 1.402 * cr);
      rgb[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
      rgb[i + 2] = clamp(y + 1.772 * cb);
    }
  }
  return { data: rgb, width: r.width, height: r.height };
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** Decode one TIFF tile or strip to RGB. Throws plain Errors; the slide reader wraps them in SlideError. */
export async function decodeTiffBlock(
  dir: TiffDirectory,
  raw: Uint8Array,
  jpegDecoder: JpegDecoderName,
): Promise<DecodedBlock> {
  const c = dir.compression;
  if (c === TiffCompression.jpeg) {
    return decodeJpeg(
      completeJpegStream(raw, dir.jpegTables, dir.photometric),
      jpegDecoder,
      dir.photometric === 6,
    );
  }
  if (c === TiffCompression.aperioJ2kYcbcr || c === TiffCompression.aperioJ2kRgb) {
    return decodeJ2k(raw, c === TiffCompression.aperioJ2kYcbcr);
  }
  if (
    c === TiffCompression.none ||
    c === TiffCompression.lzw ||
    c === TiffCompression.deflate ||
    c === TiffCompression.adobeDeflate
  ) {
    if (dir.planarConfiguration !== 1) throw new Error('planar (separate) sample layout is not supported');
    if (dir.bitsPerSample.some((b) => b !== 8))
      throw new Error(`only 8-bit samples are supported (got ${dir.bitsPerSample.join(',')})`);
    const decoder = await getDecoder(c, {
      tileWidth: dir.tileWidth,
      tileHeight: dir.tileHeight,
      predictor: dir.predictor,
      bitsPerSample: dir.bitsPerSample,
      planarConfiguration: dir.planarConfiguration,
    });
    const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    const out = new Uint8Array(await decoder.decode(buffer));
    const spp = dir.samplesPerPixel;
    const rows = Math.min(dir.tileHeight, Math.floor(out.length / (dir.tileWidth * spp)));
    let rgb = toRgb(out.subarray(0, rows * dir.tileWidth * spp), dir.tileWidth, rows, spp);
    if (dir.photometric === 0 && spp === 1) rgb = rgb.map((v) => 255 - v); // WhiteIsZero
    return { data: rgb, width: dir.tileWidth, height: rows };
  }
  throw new Error(`unsupported TIFF compression ${c}`);
}

/** Compressions this reader can decode (used to refuse a slide at open time, as OpenSlide does). */
export function isSupportedCompression(c: number): boolean {
  return (Object.values(TiffCompression) as number[]).includes(c);
}
