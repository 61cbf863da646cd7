// TIFF / BigTIFF container access. geotiff parses the IFDs (both classic and BigTIFF); tile bytes are read
// on demand straight from the file descriptor so that no level is ever loaded whole.
import { type FileHandle, open as openFile } from 'node:fs/promises';
import { fromFile, type GeoTIFF } from 'geotiff';
import { SlideError } from './errors';

/** TIFF compression codes met in slides. 33003/33005 are Aperio's JPEG 2000 (YCbCr / RGB codestreams). */
export const TiffCompression = {
  none: 1,
  lzw: 5,
  jpeg: 7,
  deflate: 8,
  adobeDeflate: 32946,
  aperioJ2kYcbcr: 33003,
  aperioJ2kRgb: 33005,
} as const;

export interface TiffDirectory {
  index: number;
  width: number;
  height: number;
  tiled: boolean;
  /** Tile (or strip: full width × rows per strip) size. */
  tileWidth: number;
  tileHeight: number;
  compression: number;
  photometric: number;
  samplesPerPixel: number;
  bitsPerSample: number[];
  planarConfiguration: number;
  predictor: number;
  description: string;
  jpegTables: Uint8Array | undefined;
  /** Pixels per resolution unit, if given. */
  xResolution: number | undefined;
  yResolution: number | undefined;
  /** 1 none, 2 inch, 3 centimetre. */
  resolutionUnit: number;
  newSubfileType: number;
  /** Whether TileOffsets / StripOffsets is present. */
  hasOffsets: boolean;
  tilesAcross: number;
  tilesDown: number;
}

interface BlockTable {
  offsets: ArrayLike<number>;
  byteCounts: ArrayLike<number>;
}

type IfdLike = {
  loadValue(tag: string): Promise<unknown>;
  hasTag(tag: string): boolean;
};

function num(v: unknown, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    const a = v as ArrayLike<number>;
    return a.length > 0 ? Number(a[0]) : fallback;
  }
  return fallback;
}

function rational(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    const a = v as ArrayLike<number>;
    if (a.length >= 2) return Number(a[1]) === 0 ? undefined : Number(a[0]) / Number(a[1]);
    if (a.length === 1) return Number(a[0]);
  }
  return undefined;
}

export class TiffFile {
  private readonly blockTables = new Map<number, Promise<BlockTable>>();
  private fileSize = -1;

  private constructor(
    readonly path: string,
    private readonly geotiff: GeoTIFF,
    private readonly handle: FileHandle,
    readonly directories: TiffDirectory[],
    private readonly ifds: IfdLike[],
  ) {}

  static async open(path: string): Promise<TiffFile> {
    let handle: FileHandle;
    try {
      handle = await openFile(path, 'r');
    } catch (e) {
      throw new SlideError(path, `cannot open file (${(e as Error).message})`);
    }
    try {
      const magic = Buffer.alloc(4);
      const { bytesRead } = await handle.read(magic, 0, 4, 0);
      const order = magic.toString('latin1', 0, 2);
      const version = order === 'II' ? magic.readUInt16LE(2) : magic.readUInt16BE(2);
      if (bytesRead < 4 || (order !== 'II' && order !== 'MM') || (version !== 42 && version !== 43)) {
        throw new SlideError(
          path,
          'not a TIFF file (expected II*/MM* or BigTIFF magic in the first 4 bytes)',
        );
      }
      const { size } = await handle.stat();
      const bigTiff = version === 43;
      const head = Buffer.alloc(16);
      await handle.read(head, 0, 16, 0);
      const le = order === 'II';
      const firstIfd = bigTiff
        ? Number(le ? head.readBigUInt64LE(8) : head.readBigUInt64BE(8))
        : le
          ? head.readUInt32LE(4)
          : head.readUInt32BE(4);
      if (firstIfd < (bigTiff ? 16 : 8) || firstIfd + 2 > size) {
        throw new SlideError(
          path,
          `truncated or corrupt TIFF: first directory offset ${firstIfd} outside the file (${size} bytes)`,
        );
      }
      let geotiff: GeoTIFF;
      const directories: TiffDirectory[] = [];
      const ifds: IfdLike[] = [];
      try {
        geotiff = await fromFile(path);
        const count = await geotiff.getImageCount();
        for (let i = 0; i < count; i++) {
          const image = await geotiff.getImage(i);
          const fd = image.fileDirectory as unknown as IfdLike;
          ifds.push(fd);
          directories.push(await readDirectory(i, fd));
        }
      } catch (e) {
        throw new SlideError(path, `malformed TIFF structure (${(e as Error).message})`);
      }
      if (directories.length === 0) throw new SlideError(path, 'TIFF has no image directories');
      for (const d of directories) {
        const missing = [
          d.width > 0 ? '' : 'ImageWidth',
          d.height > 0 ? '' : 'ImageLength',
          d.hasOffsets ? '' : d.tiled ? 'TileOffsets' : 'StripOffsets',
        ].filter(Boolean);
        if (missing.length > 0) {
          throw new SlideError(
            path,
            `directory ${d.index} lacks required tag(s) ${missing.join(', ')} (truncated or corrupt file)`,
          );
        }
      }
      return new TiffFile(path, geotiff, handle, directories, ifds);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  private blockTable(dir: number): Promise<BlockTable> {
    let table = this.blockTables.get(dir);
    if (table === undefined) {
      const ifd = this.ifds[dir] as IfdLike;
      const tiled = (this.directories[dir] as TiffDirectory).tiled;
      table = (async () => {
        const offsets = (await ifd.loadValue(tiled ? 'TileOffsets' : 'StripOffsets')) as ArrayLike<number>;
        const byteCounts = (await ifd.loadValue(
          tiled ? 'TileByteCounts' : 'StripByteCounts',
        )) as ArrayLike<number>;
        if (offsets === undefined || byteCounts === undefined) {
          throw new SlideError(this.path, `directory ${dir} has no tile/strip offsets`);
        }
        return { offsets, byteCounts };
      })();
      this.blockTables.set(dir, table);
    }
    return table;
  }

  /** Raw (still compressed) bytes of tile/strip `block` of directory `dir`. */
  async readBlock(dir: number, block: number): Promise<Uint8Array> {
    const { offsets, byteCounts } = await this.blockTable(dir);
    if (block < 0 || block >= offsets.length) {
      throw new SlideError(
        this.path,
        `directory ${dir}: block ${block} out of range (0..${offsets.length - 1})`,
      );
    }
    const offset = Number(offsets[block]);
    const length = Number(byteCounts[block]);
    if (this.fileSize < 0) this.fileSize = (await this.handle.stat()).size;
    if (offset + length > this.fileSize) {
      throw new SlideError(
        this.path,
        `directory ${dir}: block ${block} at ${offset}+${length} runs past the end of the file (${this.fileSize} bytes); truncated file`,
      );
    }
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const { bytesRead } = await this.handle.read(out, 0, length, offset);
    if (bytesRead !== length) {
      throw new SlideError(
        this.path,
        `directory ${dir}: block ${block} truncated (${bytesRead} of ${length} bytes)`,
      );
    }
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close();
    (this.geotiff as unknown as { close?: () => void }).close?.();
  }
}

async function readDirectory(index: number, fd: IfdLike): Promise<TiffDirectory> {
  const v = (tag: string) => (fd.hasTag(tag) ? fd.loadValue(tag) : Promise.resolve(undefined));
  const width = num(await v('ImageWidth'), 0);
  const height = num(await v('ImageLength'), 0);
  const tiled = fd.hasTag('TileWidth');
  const tileWidth = tiled ? num(await v('TileWidth'), 0) : width;
  const tileHeight = tiled
    ? num(await v('TileLength'), 0)
    : Math.min(num(await v('RowsPerStrip'), height), height);
  const bps = await v('BitsPerSample');
  const bitsPerSample =
    bps === undefined
      ? [1]
      : ArrayBuffer.isView(bps) || Array.isArray(bps)
        ? Array.from(bps as ArrayLike<number>, Number)
        : [num(bps, 1)];
  const tables = await v('JPEGTables');
  const description = await v('ImageDescription');
  return {
    index,
    width,
    height,
    tiled,
    tileWidth,
    tileHeight,
    compression: num(await v('Compression'), 1),
    photometric: num(await v('PhotometricInterpretation'), 2),
    samplesPerPixel: num(await v('SamplesPerPixel'), 1),
    bitsPerSample,
    planarConfiguration: num(await v('PlanarConfiguration'), 1),
    predictor: num(await v('Predictor'), 1),
    description: typeof description === 'string' ? description : '',
    jpegTables: tables === undefined ? undefined : Uint8Array.from(tables as ArrayLike<number>),
    xResolution: rational(await v('XResolution')),
    yResolution: rational(await v('YResolution')),
    resolutionUnit: num(await v('ResolutionUnit'), 2),
    newSubfileType: num(await v('NewSubfileType'), 0),
    hasOffsets: fd.hasTag(tiled ? 'TileOffsets' : 'StripOffsets'),
    tilesAcross: tileWidth > 0 ? Math.ceil(width / tileWidth) : 0,
    tilesDown: tileHeight > 0 ? Math.ceil(height / tileHeight) : 0,
  };
}
