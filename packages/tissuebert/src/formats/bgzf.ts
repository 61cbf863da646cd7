import { readFileSync } from 'node:fs';
import { crc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { TissueBertDataError } from '../errors';

/**
 * BGZF (SAM/BAM spec §4.1): a series of gzip members, each at most 64 KiB compressed, whose
 * header carries an extra subfield 'BC' (SI1=66, SI2=67, SLEN=2) holding the member size − 1.
 * The file ends with the fixed 28-byte empty block. tabix/htslib require this framing.
 */
export const BGZF_EOF = Buffer.from('1f8b08040000000000ff0600424302001b0003000000000000000000', 'hex');

/** Uncompressed bytes per block: leaves room for incompressible input within the 64 KiB limit. */
const BLOCK_INPUT = 0xff00;

function bgzfBlock(data: Uint8Array): Buffer {
  let deflated = deflateRawSync(data, { level: 6 });
  if (deflated.length > 0xffff - 26) deflated = deflateRawSync(data, { level: 0 });
  const size = 18 + deflated.length + 8;
  const block = Buffer.alloc(size);
  block[0] = 0x1f;
  block[1] = 0x8b;
  block[2] = 8; // CM = deflate
  block[3] = 4; // FLG.FEXTRA
  block.writeUInt32LE(0, 4); // MTIME
  block[8] = 0; // XFL
  block[9] = 0xff; // OS unknown
  block.writeUInt16LE(6, 10); // XLEN
  block[12] = 66; // 'B'
  block[13] = 67; // 'C'
  block.writeUInt16LE(2, 14); // SLEN
  block.writeUInt16LE(size - 1, 16); // BSIZE
  deflated.copy(block, 18);
  block.writeUInt32LE(crc32(data) >>> 0, size - 8);
  block.writeUInt32LE(data.length, size - 4);
  return block;
}

/** Compresses bytes as BGZF blocks followed by the EOF marker block. */
export function bgzfCompress(data: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += BLOCK_INPUT) {
    parts.push(bgzfBlock(data.subarray(off, Math.min(data.length, off + BLOCK_INPUT))));
  }
  parts.push(BGZF_EOF);
  return Buffer.concat(parts);
}

export interface BgzfBlockInfo {
  /** Offset of the block in the compressed file. */
  offset: number;
  /** Compressed size (BSIZE + 1). */
  size: number;
  /** Uncompressed size (ISIZE). */
  uncompressedSize: number;
}

/** Walks the BGZF block headers; throws if a member lacks the BC subfield (plain gzip, not BGZF). */
export function bgzfBlocks(data: Uint8Array, file = '<bytes>'): BgzfBlockInfo[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const blocks: BgzfBlockInfo[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 18 > buf.length || buf[off] !== 0x1f || buf[off + 1] !== 0x8b || (buf[off + 3] & 4) === 0) {
      throw new TissueBertDataError(file, `not a BGZF block at byte ${off}`);
    }
    const xlen = buf.readUInt16LE(off + 10);
    let bsize = -1;
    for (let p = off + 12; p < off + 12 + xlen; ) {
      const slen = buf.readUInt16LE(p + 2);
      if (buf[p] === 66 && buf[p + 1] === 67 && slen === 2) bsize = buf.readUInt16LE(p + 4);
      p += 4 + slen;
    }
    if (bsize < 0) throw new TissueBertDataError(file, `gzip member at byte ${off} has no BGZF 'BC' field`);
    const size = bsize + 1;
    blocks.push({ offset: off, size, uncompressedSize: buf.readUInt32LE(off + size - 4) });
    off += size;
  }
  return blocks;
}

/** Reads a gzip/bgzip file (multi-member gzip) or a plain file, returning its text. */
export function readMaybeGzipText(file: string): string {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new TissueBertDataError(file, `cannot read: ${(e as Error).message}`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw).toString('utf8');
    } catch (e) {
      throw new TissueBertDataError(file, `corrupt gzip data: ${(e as Error).message}`);
    }
  }
  return raw.toString('utf8');
}
