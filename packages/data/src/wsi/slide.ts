// SlideReader: OpenSlide's model of a whole-slide image (levels, downsamples, mpp, objective power,
// read_region in level-0 coordinates, thumbnails, associated images) over tiled TIFF / BigTIFF / Aperio SVS.
import { ByteLruCache } from './cache';
import { type DecodedBlock, decodeTiffBlock, isSupportedCompression, type JpegDecoderName } from './codecs';
import { SlideError } from './errors';
import { resizeArea } from './resize';
import { type TiffDirectory, TiffFile } from './tiff';

export interface SlideLevel {
  width: number;
  height: number;
  /** OpenSlide's definition: mean of width and height ratios to level 0. */
  downsample: number;
  tileWidth: number;
  tileHeight: number;
}

export interface SlideImage {
  width: number;
  height: number;
  /** 4 = RGBA (alpha 0 outside the slide, 255 inside), 3 = RGB (0 outside). */
  channels: 3 | 4;
  data: Uint8Array;
}

export interface SlideOpenOptions {
  /** Decoded-tile cache budget in bytes (default 64 MiB). */
  cacheBytes?: number;
  /** Largest region (output bytes) readRegion / thumbnail / associated images may allocate (default 256 MiB). */
  maxRegionBytes?: number;
  /** JPEG tile decoder (default 'libjpeg-turbo', the fastest measured; see docs/data-wsi.md). */
  jpegDecoder?: JpegDecoderName;
}

export interface ReadRegionOptions {
  format?: 'rgba' | 'rgb';
}

export interface TileOptions {
  /** Target objective magnification (e.g. 20, 10, 5); needs the slide's objective power. */
  magnification?: number;
  /** Target microns per pixel; needs the slide's mpp. Give exactly one of magnification / mpp. */
  mpp?: number;
  /** Output tile edge in pixels at the target magnification. */
  tileSize: number;
  /** Overlap between neighbouring tiles, in target pixels (default 0). */
  overlap?: number;
  /** Also yield tiles that extend past the slide's edge (padded like readRegion); default false. */
  includePartial?: boolean;
  format?: 'rgba' | 'rgb';
  /** Tiles read concurrently ahead of the consumer (default 4; helps the sharp decoder's thread pool). */
  concurrency?: number;
}

export interface SlideTile extends SlideImage {
  /** Top-left in level-0 pixels. */
  x: number;
  y: number;
  col: number;
  row: number;
  /** Pyramid level read from before resizing. */
  level: number;
  /** Extent in level-0 pixels covered by this tile (tileSize × downsample). */
  level0Size: number;
}

export type SlideVendor = 'aperio' | 'generic-tiff';

interface CachedBlock extends DecodedBlock {
  byteLength: number;
}

const MiB = 1024 * 1024;

export class SlideReader {
  private readonly cache: ByteLruCache<CachedBlock>;
  private readonly inflight = new Map<string, Promise<CachedBlock>>();
  private readonly maxRegionBytes: number;
  private readonly jpegDecoder: JpegDecoderName;

  private constructor(
    readonly path: string,
    private readonly tiff: TiffFile,
    readonly vendor: SlideVendor,
    private readonly levelDirs: TiffDirectory[],
    readonly levels: SlideLevel[],
    private readonly associated: Map<string, TiffDirectory>,
    readonly properties: Readonly<Record<string, string>>,
    readonly mpp: { x: number; y: number } | undefined,
    readonly objectivePower: number | undefined,
    options: SlideOpenOptions,
  ) {
    this.cache = new ByteLruCache(options.cacheBytes ?? 64 * MiB);
    this.maxRegionBytes = options.maxRegionBytes ?? 256 * MiB;
    this.jpegDecoder = options.jpegDecoder ?? 'libjpeg-turbo';
  }

  static async open(path: string, options: SlideOpenOptions = {}): Promise<SlideReader> {
    const tiff = await TiffFile.open(path);
    try {
      return SlideReader.fromTiff(path, tiff, options);
    } catch (e) {
      await tiff.close();
      throw e;
    }
  }

  private static fromTiff(path: string, tiff: TiffFile, options: SlideOpenOptions): SlideReader {
    const dirs = tiff.directories;
    const first = dirs[0] as TiffDirectory;
    if (!first.tiled)
      throw new SlideError(path, 'first TIFF directory is not tiled; not a whole-slide image');
    const aperio = first.description.startsWith('Aperio');
    const properties: Record<string, string> = {};
    let levelDirs: TiffDirectory[];
    const associated = new Map<string, TiffDirectory>();
    if (aperio) {
      levelDirs = dirs.filter((d) => d.tiled);
      for (const d of dirs) {
        if (d.tiled) continue;
        // OpenSlide's rule: the untiled directory right after level 0 is the thumbnail; others name themselves
        // on the description's second line ("label 387x463", "macro 1280x431").
        if (d.index === 1) associated.set('thumbnail', d);
        else {
          const word = (d.description.split(/\r?\n/)[1] ?? '').trim().split(/\s+/)[0] ?? '';
          if (word === 'label' || word === 'macro') associated.set(word, d);
        }
      }
      const fields = first.description.split('|');
      properties['openslide.comment'] = first.description;
      for (const field of fields.slice(1)) {
        const eq = field.indexOf(' = ');
        if (eq > 0) properties[`aperio.${field.slice(0, eq).trim()}`] = field.slice(eq + 3).trim();
      }
    } else {
      levelDirs = dirs
        .filter((d) => d.tiled && d.samplesPerPixel === first.samplesPerPixel)
        .sort((a, b) => b.width - a.width);
      if (first.description) properties['openslide.comment'] = first.description;
    }
    for (const d of [...levelDirs, ...associated.values()]) {
      if (!isSupportedCompression(d.compression)) {
        throw new SlideError(path, `unsupported TIFF compression ${d.compression} in directory ${d.index}`);
      }
      if (d.width <= 0 || d.height <= 0 || d.tileWidth <= 0 || d.tileHeight <= 0) {
        throw new SlideError(
          path,
          `impossible dimensions ${d.width}x${d.height} (tile ${d.tileWidth}x${d.tileHeight}) in directory ${d.index}`,
        );
      }
    }
    const w0 = first.width;
    const h0 = first.height;
    const levels = levelDirs.map((d) => ({
      width: d.width,
      height: d.height,
      downsample: (w0 / d.width + h0 / d.height) / 2,
      tileWidth: d.tileWidth,
      tileHeight: d.tileHeight,
    }));
    let mpp: { x: number; y: number } | undefined;
    let objectivePower: number | undefined;
    if (aperio) {
      const m = Number.parseFloat(properties['aperio.MPP'] ?? '');
      if (Number.isFinite(m) && m > 0) mpp = { x: m, y: m };
      const mag = Number.parseFloat(properties['aperio.AppMag'] ?? '');
      if (Number.isFinite(mag) && mag > 0) objectivePower = mag;
    } else if (
      first.xResolution &&
      first.yResolution &&
      (first.resolutionUnit === 3 || first.resolutionUnit === 2)
    ) {
      const micronsPerUnit = first.resolutionUnit === 3 ? 1e4 : 25400;
      mpp = { x: micronsPerUnit / first.xResolution, y: micronsPerUnit / first.yResolution };
    }
    properties['openslide.vendor'] = aperio ? 'aperio' : 'generic-tiff';
    properties['openslide.level-count'] = String(levels.length);
    if (mpp) {
      properties['openslide.mpp-x'] = String(mpp.x);
      properties['openslide.mpp-y'] = String(mpp.y);
    }
    if (objectivePower !== undefined) properties['openslide.objective-power'] = String(objectivePower);
    return new SlideReader(
      path,
      tiff,
      aperio ? 'aperio' : 'generic-tiff',
      levelDirs,
      levels,
      associated,
      properties,
      mpp,
      objectivePower,
      options,
    );
  }

  get levelCount(): number {
    return this.levels.length;
  }

  get dimensions(): { width: number; height: number } {
    const l = this.levels[0] as SlideLevel;
    return { width: l.width, height: l.height };
  }

  get associatedImageNames(): string[] {
    return [...this.associated.keys()].sort();
  }

  /** Decoded-tile cache occupancy. */
  get cacheStats(): { bytes: number; tiles: number; maxBytes: number } {
    return { bytes: this.cache.bytes, tiles: this.cache.size, maxBytes: this.cache.maxBytes };
  }

  /** OpenSlide's get_best_level_for_downsample: the deepest level whose downsample does not exceed `downsample`. */
  bestLevelForDownsample(downsample: number): number {
    let best = 0;
    for (let i = 0; i < this.levels.length; i++) {
      if ((this.levels[i] as SlideLevel).downsample <= downsample) best = i;
    }
    return best;
  }

  private async block(dir: TiffDirectory, index: number): Promise<CachedBlock> {
    const key = `${dir.index}:${index}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = (async () => {
        const raw = await this.tiff.readBlock(dir.index, index);
        let decoded: DecodedBlock;
        try {
          decoded = await decodeTiffBlock(dir, raw, this.jpegDecoder);
        } catch (e) {
          throw new SlideError(
            this.path,
            `cannot decode tile ${index} of directory ${dir.index} (compression ${dir.compression}): ${describeError(e)}`,
          );
        }
        const entry = { ...decoded, byteLength: decoded.data.byteLength };
        this.cache.set(key, entry);
        return entry;
      })().finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private checkSize(what: string, width: number, height: number, channels: number): void {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
      throw new SlideError(
        this.path,
        `${what}: width and height must be non-negative integers (got ${width}x${height})`,
      );
    }
    const bytes = width * height * channels;
    if (bytes > this.maxRegionBytes) {
      throw new SlideError(
        this.path,
        `${what}: ${width}x${height} needs ${bytes} bytes, over the limit of ${this.maxRegionBytes} (maxRegionBytes)`,
      );
    }
  }

  /** Paint directory `dir`'s pixels in [lx, lx+width) × [ly, ly+height) into `out` (channels 3 or 4). */
  private async paint(
    dir: TiffDirectory,
    lx: number,
    ly: number,
    width: number,
    height: number,
    out: Uint8Array,
    channels: 3 | 4,
  ): Promise<void> {
    const x0 = Math.max(0, lx);
    const y0 = Math.max(0, ly);
    const x1 = Math.min(dir.width, lx + width);
    const y1 = Math.min(dir.height, ly + height);
    if (x1 <= x0 || y1 <= y0) return;
    const tw = dir.tileWidth;
    const th = dir.tileHeight;
    const jobs: Promise<void>[] = [];
    for (let ty = Math.floor(y0 / th); ty * th < y1; ty++) {
      for (let tx = Math.floor(x0 / tw); tx * tw < x1; tx++) {
        jobs.push(
          this.block(dir, ty * dir.tilesAcross + tx).then((b) => {
            const sx0 = Math.max(x0, tx * tw);
            const sy0 = Math.max(y0, ty * th);
            const sx1 = Math.min(x1, tx * tw + Math.min(tw, b.width));
            const sy1 = Math.min(y1, ty * th + Math.min(th, b.height));
            for (let y = sy0; y < sy1; y++) {
              let src = ((y - ty * th) * b.width + (sx0 - tx * tw)) * 3;
              let dst = ((y - ly) * width + (sx0 - lx)) * channels;
              if (channels === 3) {
                out.set(b.data.subarray(src, src + (sx1 - sx0) * 3), dst);
              } else {
                for (let x = sx0; x < sx1; x++, src += 3, dst += 4) {
                  out[dst] = b.data[src] as number;
                  out[dst + 1] = b.data[src + 1] as number;
                  out[dst + 2] = b.data[src + 2] as number;
                  out[dst + 3] = 255;
                }
              }
            }
          }),
        );
      }
    }
    await Promise.all(jobs);
  }

  /**
   * OpenSlide's read_region: (x, y) is the top-left in level-0 pixels, width × height in `level`'s pixels.
   * Outside the slide the result is transparent black (RGBA) or black (RGB). The level-0 origin maps to
   * x / downsample on the level; when that falls between level pixels (levels > 0, x or y not a multiple of
   * the downsample) the region is sampled bilinearly at the fractional offset, as OpenSlide's cairo painting
   * does (RGBA: colour weighted by alpha, i.e. premultiplied, then un-premultiplied like openslide-python).
   */
  async readRegion(
    x: number,
    y: number,
    level: number,
    width: number,
    height: number,
    options: ReadRegionOptions = {},
  ): Promise<SlideImage> {
    if (!Number.isInteger(level) || level < 0 || level >= this.levels.length) {
      throw new SlideError(
        this.path,
        `readRegion: level ${level} out of range (0..${this.levels.length - 1})`,
      );
    }
    if (!Number.isFinite(x) || !Number.isFinite(y))
      throw new SlideError(this.path, `readRegion: bad origin (${x}, ${y})`);
    const channels = options.format === 'rgb' ? 3 : 4;
    this.checkSize('readRegion', width, height, channels);
    const ds = (this.levels[level] as SlideLevel).downsample;
    const dir = this.levelDirs[level] as TiffDirectory;
    const [lx, ax] = splitOrigin(x / ds);
    const [ly, ay] = splitOrigin(y / ds);
    const out = new Uint8Array(width * height * channels);
    if (ax === 0 && ay === 0) {
      await this.paint(dir, lx, ly, width, height, out, channels);
      return { width, height, channels, data: out };
    }
    // Fractional origin: paint one more column/row and sample bilinearly.
    const pw = width + (ax > 0 ? 1 : 0);
    const ph = height + (ay > 0 ? 1 : 0);
    this.checkSize('readRegion (sub-pixel source)', pw, ph, channels);
    const src = new Uint8Array(pw * ph * channels);
    await this.paint(dir, lx, ly, pw, ph, src, channels);
    bilinearShift(src, pw, ph, channels, ax, ay, out, width, height);
    return { width, height, channels, data: out };
  }

  /** An associated image ('thumbnail', 'label', 'macro' for Aperio) as RGB. */
  async readAssociatedImage(name: string): Promise<SlideImage> {
    const dir = this.associated.get(name);
    if (!dir) {
      throw new SlideError(
        this.path,
        `no associated image '${name}' (have: ${this.associatedImageNames.join(', ') || 'none'})`,
      );
    }
    this.checkSize(`associated image '${name}'`, dir.width, dir.height, 3);
    const out = new Uint8Array(dir.width * dir.height * 3);
    await this.paint(dir, 0, 0, dir.width, dir.height, out, 3);
    return { width: dir.width, height: dir.height, channels: 3, data: out };
  }

  /**
   * openslide-python's get_thumbnail: read the best level for the needed downsample whole, then shrink to fit
   * in maxSize keeping the aspect ratio (Pillow's Image.thumbnail size rule). Resampling is area averaging
   * (Pillow uses Lanczos), so pixels differ slightly; sizes are identical. RGB; outside-slide pixels white.
   */
  async thumbnail(maxSize: number | readonly [number, number]): Promise<SlideImage> {
    const [mw, mh] = typeof maxSize === 'number' ? [maxSize, maxSize] : maxSize;
    const { width: w0, height: h0 } = this.dimensions;
    const level = this.bestLevelForDownsample(Math.max(w0 / mw, h0 / mh));
    const l = this.levels[level] as SlideLevel;
    this.checkSize('thumbnail (best level read whole)', l.width, l.height, 3);
    const img = await this.readRegion(0, 0, level, l.width, l.height, { format: 'rgb' });
    const [tw, th] = thumbnailSize(l.width, l.height, mw, mh);
    return { width: tw, height: th, channels: 3, data: resizeArea(img.data, l.width, l.height, 3, tw, th) };
  }

  /** Downsample from level 0 needed for a target magnification or mpp. */
  downsampleFor(target: { magnification?: number; mpp?: number }): number {
    if ((target.magnification === undefined) === (target.mpp === undefined)) {
      throw new SlideError(this.path, 'tiles: give exactly one of magnification or mpp');
    }
    if (target.magnification !== undefined) {
      if (this.objectivePower === undefined) {
        throw new SlideError(
          this.path,
          `tiles: magnification ${target.magnification}x requested but the slide has no objective power`,
        );
      }
      if (!(target.magnification > 0))
        throw new SlideError(this.path, `tiles: magnification must be > 0 (got ${target.magnification})`);
      return this.objectivePower / target.magnification;
    }
    if (this.mpp === undefined)
      throw new SlideError(this.path, `tiles: mpp ${target.mpp} requested but the slide has no mpp`);
    if (!((target.mpp as number) > 0))
      throw new SlideError(this.path, `tiles: mpp must be > 0 (got ${target.mpp})`);
    return (target.mpp as number) / this.mpp.x;
  }

  /**
   * Tiles at a target magnification, row-major. For each tile, reads the best pyramid level (deepest with
   * downsample ≤ needed) and area-resizes to tileSize. Coordinates are level-0 pixels. Decodes only the
   * tiles each output needs (through the bounded cache).
   */
  async *tiles(options: TileOptions): AsyncGenerator<SlideTile> {
    const ds = this.downsampleFor(options);
    const size = options.tileSize;
    const overlap = options.overlap ?? 0;
    if (!Number.isInteger(size) || size <= 0)
      throw new SlideError(this.path, `tiles: tileSize must be a positive integer (got ${size})`);
    if (!Number.isInteger(overlap) || overlap < 0 || overlap >= size) {
      throw new SlideError(this.path, `tiles: overlap must be an integer in [0, tileSize) (got ${overlap})`);
    }
    const level = this.bestLevelForDownsample(ds);
    const levelDs = (this.levels[level] as SlideLevel).downsample;
    const readSize = Math.round((size * ds) / levelDs);
    const level0Size = size * ds;
    const stride = (size - overlap) * ds;
    const { width: w0, height: h0 } = this.dimensions;
    const fit = (extent: number) =>
      options.includePartial
        ? Math.ceil(Math.max(0, extent - overlap * ds) / stride)
        : Math.floor((extent - level0Size) / stride + 1e-9) + 1;
    const cols = Math.max(0, fit(w0));
    const rows = Math.max(0, fit(h0));
    const channels = options.format === 'rgba' ? 4 : 3;
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
    const readTile = async (index: number): Promise<SlideTile> => {
      const row = Math.floor(index / cols);
      const col = index % cols;
      const x = Math.round(col * stride);
      const y = Math.round(row * stride);
      const region = await this.readRegion(x, y, level, readSize, readSize, {
        format: channels === 4 ? 'rgba' : 'rgb',
      });
      const data = resizeArea(region.data, readSize, readSize, channels, size, size);
      return { x, y, col, row, level, level0Size, width: size, height: size, channels, data };
    };
    const total = rows * cols;
    const ahead: Promise<SlideTile>[] = [];
    let next = 0;
    while (next < total && ahead.length < concurrency) ahead.push(readTile(next++));
    try {
      while (ahead.length > 0) {
        const tile = await (ahead.shift() as Promise<SlideTile>);
        if (next < total) ahead.push(readTile(next++));
        yield tile;
      }
    } finally {
      // The consumer stopped early or a read failed: don't leave read-ahead rejections unhandled.
      for (const pending of ahead) pending.catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.tiff.close();
  }
}

/** Integer part and fraction of a level coordinate; fractions within 1e-9 of a pixel count as exact. */
function splitOrigin(v: number): [number, number] {
  const r = Math.round(v);
  if (Math.abs(v - r) < 1e-9) return [r, 0];
  const f = Math.floor(v);
  return [f, v - f];
}

/**
 * out(x, y) = bilinear sample of src at (x + ax, y + ay). src is (width + [ax > 0]) × (height + [ay > 0]).
 * With 4 channels the colour is weighted by alpha (premultiplied) and divided back, so pixels at the slide's
 * edge are not darkened by the transparent outside.
 */
export function bilinearShift(
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  channels: number,
  ax: number,
  ay: number,
  out: Uint8Array,
  width: number,
  height: number,
): void {
  const dx = ax > 0 ? 1 : 0;
  const dy = ay > 0 ? 1 : 0;
  const w00 = (1 - ax) * (1 - ay);
  const w01 = ax * (1 - ay);
  const w10 = (1 - ax) * ay;
  const w11 = ax * ay;
  for (let y = 0; y < height; y++) {
    const r0 = y * srcWidth;
    const r1 = Math.min(y + dy, srcHeight - 1) * srcWidth;
    for (let x = 0; x < width; x++) {
      const p00 = (r0 + x) * channels;
      const p01 = (r0 + x + dx) * channels;
      const p10 = (r1 + x) * channels;
      const p11 = (r1 + x + dx) * channels;
      const o = (y * width + x) * channels;
      if (channels === 4) {
        const a00 = w00 * (src[p00 + 3] as number);
        const a01 = w01 * (src[p01 + 3] as number);
        const a10 = w10 * (src[p10 + 3] as number);
        const a11 = w11 * (src[p11 + 3] as number);
        const a = a00 + a01 + a10 + a11;
        out[o + 3] = Math.round(a);
        if (a <= 0) continue;
        for (let c = 0; c < 3; c++) {
          const v =
            (a00 * (src[p00 + c] as number) +
              a01 * (src[p01 + c] as number) +
              a10 * (src[p10 + c] as number) +
              a11 * (src[p11 + c] as number)) /
            a;
          out[o + c] = Math.round(v);
        }
      } else {
        for (let c = 0; c < channels; c++) {
          out[o + c] = Math.round(
            w00 * (src[p00 + c] as number) +
              w01 * (src[p01 + c] as number) +
              w10 * (src[p10 + c] as number) +
              w11 * (src[p11 + c] as number),
          );
        }
      }
    }
  }
}

/** Pillow's Image.thumbnail target size (keeps aspect, rounds to the closer aspect, never 0). */
export function thumbnailSize(
  width: number,
  height: number,
  maxWidth: number,
  maxHeight: number,
): [number, number] {
  let x = Math.floor(maxWidth);
  let y = Math.floor(maxHeight);
  if (x >= width && y >= height) return [width, height];
  const aspect = width / height;
  const pick = (n: number, key: (v: number) => number) => {
    const lo = Math.floor(n);
    const hi = Math.ceil(n);
    return Math.max(key(lo) <= key(hi) ? lo : hi, 1);
  };
  if (x / y >= aspect) x = pick(y * aspect, (n) => Math.abs(aspect - n / y));
  else y = pick(x / aspect, (n) => (n === 0 ? 0 : Math.abs(aspect - x / n)));
  return [x, y];
}

/** WASM codecs throw C++ exceptions as numbers or strings; turn anything thrown into a readable phrase. */
function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  return `the WASM codec aborted on a corrupt or unsupported stream (exception ${String(e)})`;
}
