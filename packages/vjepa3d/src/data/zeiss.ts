// Carl Zeiss Meditec (CZM) OCT DICOMs store JPEG 2000 frames scrambled: every 7th byte is XORed
// with 0x5A and eight byte ranges are permuted, so plain DICOM readers fail to decode them.
// The inverse below follows the procedure published in the pydicom discussion on CZM files
// (pydicom/pydicom discussions #1597, "unscramble_czm"), written anew here. The JP2 signature box
// sits at ⌊3/5·length⌋ in the scrambled frame; we check the full 12-byte signature there and search
// for it only when it is elsewhere.
import { VJepaDataError } from '../errors';

/** The JP2 signature box (ISO/IEC 15444-1 I.5.1): length 12, type 'jP  ', content 0D 0A 87 0A. */
export const JP2_SIGNATURE = new Uint8Array([0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a]);

const XOR_KEY = 0x5a;
const XOR_STRIDE = 7;
const HEADER_LENGTH = 253;
/** Smallest frame the permutation is defined for (its fixed ranges end at byte 1016). */
export const CZM_MIN_FRAME_BYTES = 1016 + HEADER_LENGTH;

function hasSignatureAt(bytes: Uint8Array, at: number): boolean {
  if (at < 0 || at + JP2_SIGNATURE.length > bytes.length) return false;
  for (let k = 0; k < JP2_SIGNATURE.length; k++) if (bytes[at + k] !== JP2_SIGNATURE[k]) return false;
  return true;
}

function findSignature(bytes: Uint8Array): number {
  for (let p = 0; p + JP2_SIGNATURE.length <= bytes.length; p++) if (hasSignatureAt(bytes, p)) return p;
  return -1;
}

/** True when the bytes start like a JPEG 2000 codestream (SOC+SIZ) or a JP2 file. */
export function isPlainJpeg2000(bytes: Uint8Array): boolean {
  const codestream = bytes[0] === 0xff && bytes[1] === 0x4f && bytes[2] === 0xff && bytes[3] === 0x51;
  return codestream || hasSignatureAt(bytes, 0);
}

/** [start, end) ranges of the scrambled frame, in the order they appear in the plain JP2 file. */
function segments(length: number, jp2Offset: number): [number, number][] {
  return [
    [jp2Offset, jp2Offset + HEADER_LENGTH],
    [993, 1016],
    [276, 763],
    [23, 276],
    [1016, jp2Offset],
    [0, 23],
    [763, 993],
    [jp2Offset + HEADER_LENGTH, length],
  ];
}

/** Undoes the CZM scrambling of one encapsulated frame; returns a JP2 file. */
export function unscrambleCzmFrame(frame: Uint8Array, source = '<frame>'): Uint8Array {
  if (frame.length < CZM_MIN_FRAME_BYTES) {
    throw new VJepaDataError(
      source,
      `Zeiss frame of ${frame.length} bytes is too short to be scrambled JPEG 2000 (≥ ${CZM_MIN_FRAME_BYTES})`,
    );
  }
  const x = frame.slice();
  for (let i = 0; i < x.length; i += XOR_STRIDE) x[i] = (x[i] as number) ^ XOR_KEY;
  let jp2Offset = Math.floor((x.length * 3) / 5);
  if (!hasSignatureAt(x, jp2Offset)) {
    jp2Offset = findSignature(x);
    if (jp2Offset < 1016) {
      throw new VJepaDataError(source, 'no JP2 signature box found in the (XOR-restored) Zeiss frame');
    }
  }
  const out = new Uint8Array(x.length);
  let o = 0;
  for (const [a, b] of segments(x.length, jp2Offset)) {
    out.set(x.subarray(a, b), o);
    o += b - a;
  }
  return out;
}

/** The forward scrambling (the inverse of `unscrambleCzmFrame`), for tests and synthetic files. */
export function scrambleCzmFrame(jp2: Uint8Array): Uint8Array {
  if (jp2.length < Math.ceil((CZM_MIN_FRAME_BYTES * 5) / 3) || !hasSignatureAt(jp2, 0)) {
    throw new VJepaDataError('<scrambleCzmFrame>', 'expected a JP2 file of at least 2116 bytes');
  }
  const jp2Offset = Math.floor((jp2.length * 3) / 5);
  const out = new Uint8Array(jp2.length);
  let o = 0;
  for (const [a, b] of segments(jp2.length, jp2Offset)) {
    out.set(jp2.subarray(o, o + (b - a)), a);
    o += b - a;
  }
  for (let i = 0; i < out.length; i += XOR_STRIDE) out[i] = (out[i] as number) ^ XOR_KEY;
  return out;
}

/**
 * Wraps a raw JPEG 2000 codestream in a minimal JP2 file (signature, ftyp, jp2h with ihdr + colr,
 * jp2c), as CZM frames are JP2 files rather than codestreams.
 */
export function wrapCodestreamAsJp2(
  codestream: Uint8Array,
  info: { rows: number; columns: number; bitsStored: number; signed?: boolean },
): Uint8Array {
  const u32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
  const box = (type: string, body: number[] | Uint8Array) => [
    ...u32(8 + body.length),
    ...ascii(type),
    ...body,
  ];
  const ftyp = box('ftyp', [...ascii('jp2 '), ...u32(0), ...ascii('jp2 ')]);
  const bpc = (info.bitsStored - 1) | (info.signed ? 0x80 : 0);
  const ihdr = box('ihdr', [...u32(info.rows), ...u32(info.columns), 0, 1, bpc, 7, 0, 0]);
  const colr = box('colr', [1, 0, 0, ...u32(17)]); // enumerated colour space 17: greyscale
  const jp2h = box('jp2h', [...ihdr, ...colr]);
  const head = new Uint8Array([
    ...JP2_SIGNATURE,
    ...ftyp,
    ...jp2h,
    ...u32(8 + codestream.length),
    ...ascii('jp2c'),
  ]);
  const out = new Uint8Array(head.length + codestream.length);
  out.set(head);
  out.set(codestream, head.length);
  return out;
}
