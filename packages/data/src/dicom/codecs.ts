// Compressed-frame decoders: maintained WASM builds (@cornerstonejs/codec-*) of libjpeg-turbo, CharLS
// and OpenJPEG, plus jpeg-lossless-decoder-js for JPEG process 14. The WASM modules are loaded once,
// lazily, the first time a file needs them.
import { createRequire } from 'node:module';
import { decodeSequentialDct } from './jpeg-dct';
import type { PixelEncoding } from './transfer-syntax';

const require = createRequire(import.meta.url);

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned: boolean;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  readHeader?(): void;
  decode(): void;
  getFrameInfo(): FrameInfo;
  delete(): void;
}

interface CodecModule {
  JPEGDecoder?: new () => WasmDecoder;
  JpegLSDecoder?: new () => WasmDecoder;
  J2KDecoder?: new () => WasmDecoder;
}

type CodecFactory = (module?: {
  print?: (s: string) => void;
  printErr?: (s: string) => void;
}) => Promise<CodecModule>;

/** Codec diagnostics (OpenJPEG prints [INFO]/[ERROR] lines); the last few are kept for error messages. */
const codecLog: string[] = [];
const logLine = (line: string): void => {
  if (/error|warn/i.test(line)) codecLog.push(line);
  if (codecLog.length > 8) codecLog.shift();
};

/** A decoded frame: samples interleaved by pixel, as the codec produced them. */
export interface DecodedFrame {
  samples: Uint8Array | Int8Array | Uint16Array | Int16Array;
  width: number;
  height: number;
  components: number;
  bitsPerSample: number;
  signed: boolean;
}

const wasmCodecs: Partial<Record<'jpeg-baseline' | 'jpeg-ls' | 'jpeg2000', Promise<CodecModule>>> = {};

const MODULES = {
  'jpeg-baseline': '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs',
  'jpeg-ls': '@cornerstonejs/codec-charls/decodewasmjs',
  jpeg2000: '@cornerstonejs/codec-openjpeg/decodewasmjs',
} as const;

const loaded: Partial<Record<keyof typeof MODULES, CodecModule>> = {};

/** Loads the WASM codec an encoding needs (no-op for encodings decoded in JS). */
export async function ensureCodec(encoding: PixelEncoding): Promise<void> {
  if (encoding !== 'jpeg-baseline' && encoding !== 'jpeg-ls' && encoding !== 'jpeg2000') return;
  if (loaded[encoding]) return;
  if (!wasmCodecs[encoding]) {
    const factory = require(MODULES[encoding]) as CodecFactory;
    wasmCodecs[encoding] = factory({ print: logLine, printErr: logLine });
  }
  loaded[encoding] = await wasmCodecs[encoding];
}

function typedSamples(bytes: Uint8Array, bits: number, signed: boolean): DecodedFrame['samples'] {
  // Copy out of WASM memory (the decoder is freed right after) into an aligned buffer.
  const copy = bytes.slice();
  if (bits <= 8) return signed ? new Int8Array(copy.buffer) : copy;
  return signed
    ? new Int16Array(copy.buffer, 0, copy.length >> 1)
    : new Uint16Array(copy.buffer, 0, copy.length >> 1);
}

function runWasm(
  ctor: (new () => WasmDecoder) | undefined,
  encoded: Uint8Array,
  check: (info: FrameInfo) => void,
  headerFirst = true,
): DecodedFrame {
  if (!ctor) throw new Error('codec not loaded');
  const decoder = new ctor();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    if (headerFirst && decoder.readHeader) {
      decoder.readHeader();
      check(decoder.getFrameInfo());
    }
    codecLog.length = 0;
    try {
      decoder.decode();
    } catch (e) {
      const detail = codecLog.length ? ` (${codecLog.join('; ')})` : '';
      throw new Error(`${e instanceof Error ? e.message : String(e)}${detail}`);
    }
    const info = decoder.getFrameInfo();
    check(info);
    return {
      samples: typedSamples(decoder.getDecodedBuffer(), info.bitsPerSample, info.isSigned),
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: info.bitsPerSample,
      signed: info.isSigned,
    };
  } finally {
    decoder.delete();
  }
}

/** Reads the SOF marker of a JPEG stream: precision, height, width, components, process. */
export function jpegFrameHeader(
  encoded: Uint8Array,
): { precision: number; height: number; width: number; components: number; sof: number } | undefined {
  let p = 2;
  while (p + 9 < encoded.length) {
    if (encoded[p] !== 0xff) {
      p++;
      continue;
    }
    const marker = encoded[p + 1] ?? 0;
    if (marker === 0xff || marker === 0x00 || (marker >= 0xd0 && marker <= 0xd8) || marker === 0x01) {
      p += marker === 0xff ? 1 : 2;
      continue;
    }
    const length = ((encoded[p + 2] ?? 0) << 8) | (encoded[p + 3] ?? 0);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return {
        sof: marker - 0xc0,
        precision: encoded[p + 4] ?? 0,
        height: ((encoded[p + 5] ?? 0) << 8) | (encoded[p + 6] ?? 0),
        width: ((encoded[p + 7] ?? 0) << 8) | (encoded[p + 8] ?? 0),
        components: encoded[p + 9] ?? 0,
      };
    }
    p += 2 + length;
  }
  return undefined;
}

/**
 * Makes libjpeg keep three-component samples as they are (no YCbCr → RGB), by neutralising a JFIF
 * APP0 (renamed APP15) and naming the components 'R','G','B', which libjpeg reads as RGB
 * (jdapimin.c default_decompress_parms). Used for Photometric Interpretation RGB without an Adobe
 * APP14 marker: the same rule pydicom applies with Pillow. Returns the input when it has APP14.
 */
export function jpegAsRawRgb(encoded: Uint8Array): Uint8Array {
  const out = encoded.slice();
  let p = 2;
  const ids: number[] = [];
  while (p + 4 < out.length) {
    if (out[p] !== 0xff) return encoded;
    const marker = out[p + 1] as number;
    const length = ((out[p + 2] as number) << 8) | (out[p + 3] as number);
    if (marker === 0xee) return encoded; // Adobe APP14: libjpeg follows its transform flag
    if (marker === 0xe0) out[p + 1] = 0xef;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const n = out[p + 9] as number;
      if (n !== 3) return encoded;
      for (let c = 0; c < 3; c++) {
        ids.push(out[p + 10 + 3 * c] as number);
        out[p + 10 + 3 * c] = [82, 71, 66][c] as number;
      }
    }
    if (marker === 0xda) {
      const n = out[p + 4] as number;
      for (let c = 0; c < n; c++) {
        const k = ids.indexOf(out[p + 5 + 2 * c] as number);
        if (k >= 0) out[p + 5 + 2 * c] = [82, 71, 66][k] as number;
      }
      return out;
    }
    p += 2 + length;
  }
  return encoded;
}

/** Width and height from a JPEG 2000 codestream's SIZ marker (raw codestream or JP2 file). */
export function j2kSize(encoded: Uint8Array): { width: number; height: number } | undefined {
  for (let p = 0; p + 20 < encoded.length && p < 4096; p++) {
    if (
      encoded[p] === 0xff &&
      encoded[p + 1] === 0x4f &&
      encoded[p + 2] === 0xff &&
      encoded[p + 3] === 0x51
    ) {
      const v = new DataView(encoded.buffer, encoded.byteOffset + p + 4);
      const xsiz = v.getUint32(4);
      const ysiz = v.getUint32(8);
      const x0 = v.getUint32(12);
      const y0 = v.getUint32(16);
      return { width: xsiz - x0, height: ysiz - y0 };
    }
  }
  return undefined;
}

interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
  xDim: number;
  yDim: number;
  numComp: number;
  precision: number;
}

/**
 * Decodes one compressed frame. `expect` is what the DICOM header says; a codestream that disagrees
 * is rejected before the codec allocates for it (a corrupt header can claim terapixel sizes).
 */
export function decodeCompressedFrame(
  encoding: 'jpeg-baseline' | 'jpeg-lossless' | 'jpeg-ls' | 'jpeg2000',
  encoded: Uint8Array,
  expect: { rows: number; columns: number; samplesPerPixel: number; photometricInterpretation: string },
): DecodedFrame {
  const check = (info: FrameInfo): void => {
    if (info.width !== expect.columns || info.height !== expect.rows) {
      throw new Error(
        `codestream is ${info.width}×${info.height} but the header says Columns×Rows ${expect.columns}×${expect.rows}`,
      );
    }
  };
  switch (encoding) {
    case 'jpeg-baseline': {
      const sof = jpegFrameHeader(encoded);
      if (sof && sof.precision > 8) {
        // 12-bit extended JPEG: libjpeg-turbo's 8-bit build cannot; our T.81 sequential decoder can.
        if (sof.components !== 1 || (sof.sof !== 0 && sof.sof !== 1)) {
          throw new Error(
            `JPEG with ${sof.precision}-bit precision, ${sof.components} component(s), SOF${sof.sof}: only greyscale sequential 12-bit JPEG is supported`,
          );
        }
        check({
          width: sof.width,
          height: sof.height,
          bitsPerSample: sof.precision,
          componentCount: 1,
          isSigned: false,
        });
        const image = decodeSequentialDct(encoded);
        return {
          samples: image.samples,
          width: image.width,
          height: image.height,
          components: 1,
          bitsPerSample: image.precision,
          signed: false,
        };
      }
      const input =
        expect.photometricInterpretation === 'RGB' && sof?.components === 3 ? jpegAsRawRgb(encoded) : encoded;
      return runWasm(loaded['jpeg-baseline']?.JPEGDecoder, input, check);
    }
    case 'jpeg-ls':
      return runWasm(loaded['jpeg-ls']?.JpegLSDecoder, encoded, check);
    case 'jpeg2000': {
      const size = j2kSize(encoded);
      if (!size) throw new Error('no JPEG 2000 SIZ marker in the frame');
      check({ ...size, bitsPerSample: 0, componentCount: 0, isSigned: false });
      return runWasm(loaded.jpeg2000?.J2KDecoder, encoded, check, false);
    }
    case 'jpeg-lossless': {
      const sof = jpegFrameHeader(encoded);
      if (!sof) throw new Error('no JPEG SOF marker in the frame');
      check({
        width: sof.width,
        height: sof.height,
        bitsPerSample: sof.precision,
        componentCount: sof.components,
        isSigned: false,
      });
      const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
      const decoder = new Decoder();
      const aligned = encoded.slice();
      const out = decoder.decode(aligned.buffer, 0, aligned.length);
      return {
        samples: out,
        width: decoder.xDim,
        height: decoder.yDim,
        components: decoder.numComp,
        bitsPerSample: decoder.precision,
        signed: false,
      };
    }
  }
}
