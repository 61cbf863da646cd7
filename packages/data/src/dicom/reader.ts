// DICOM image reading: header → metadata, Pixel Data → stored frames → modality values → display values.
import { open, readFile } from 'node:fs/promises';
import { type DecodedFrame, decodeCompressedFrame, ensureCodec } from './codecs';
import {
  type DataSet,
  dicomParser,
  type Element,
  firstItem,
  items,
  number,
  numbers,
  parseDicomBytes,
  str,
  TAG,
  us,
} from './dataset';
import { DicomError } from './errors';
import {
  expandYbr422,
  interleavePlanar,
  maskStored,
  type StoredFrame,
  storedFromBytes,
  unpackBits,
  ybrFullToRgb,
} from './pixels';
import { decodeRleFrame } from './rle';
import { TRANSFER_SYNTAXES, type TransferSyntax, transferSyntaxName } from './transfer-syntax';
import { applyVoi, type VoiFunction, type VoiWindow } from './voi';

export type { StoredFrame };

/** Metadata downstream code needs; `undefined` where the file does not say. */
export interface DicomMeta {
  sopClassUid: string | undefined;
  sopInstanceUid: string | undefined;
  transferSyntaxUid: string;
  transferSyntaxName: string;
  modality: string | undefined;
  manufacturer: string | undefined;
  modelName: string | undefined;
  /** Image Laterality (0020,0062), else Laterality (0020,0060), else the first frame's Frame Laterality. */
  laterality: string | undefined;
  patientId: string | undefined;
  studyUid: string | undefined;
  seriesUid: string | undefined;
  instanceNumber: number | undefined;
  viewPosition: string | undefined;
  rows: number;
  columns: number;
  numberOfFrames: number;
  samplesPerPixel: number;
  photometricInterpretation: string;
  planarConfiguration: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  /** Row spacing, column spacing in mm: Pixel Spacing (top level or Pixel Measures), else Imager Pixel Spacing. */
  pixelSpacing: [number, number] | undefined;
  sliceThickness: number | undefined;
  spacingBetweenSlices: number | undefined;
  imagePositionPatient: [number, number, number] | undefined;
  imageOrientationPatient: [number, number, number, number, number, number] | undefined;
  /** Rescale of the file (top level, else Shared Functional Groups); per-frame values via `frameRescale`. */
  rescaleSlope: number;
  rescaleIntercept: number;
  /** VOI windows of the file (top level, else Shared Functional Groups), in file order. */
  windows: VoiWindow[];
  /** RT Dose Grid Scaling (3004,000E); not applied by `modalityFrame`. */
  doseGridScaling: number | undefined;
  /** Modality LUT Sequence table; when present `modalityFrame` uses it instead of rescale. */
  modalityLut: LookupTable | undefined;
  /** VOI LUT Sequence tables; `displayFrame` prefers the first over windows (as pydicom does). */
  voiLuts: LookupTable[];
}

/** A LUT from a Modality or VOI LUT Sequence item (PS3.3 C.11.1 / C.11.2). */
export interface LookupTable {
  /** First stored (or modality) value mapped; read as signed when Pixel Representation is 1. */
  firstMapped: number;
  /** Bits per output entry (LUT Descriptor third value). */
  bits: number;
  data: Uint16Array;
  explanation: string | undefined;
}

function lutOf(item: DataSet, path: string, signedInput: boolean): LookupTable {
  const el = item.elements[TAG.lutDescriptor];
  const dataEl = item.elements[TAG.lutData];
  if (!el || el.length < 6 || !dataEl)
    throw new DicomError(path, 'LUT Sequence item without LUT Descriptor and LUT Data');
  const entries = item.uint16(TAG.lutDescriptor, 0) || 65536;
  let first = item.uint16(TAG.lutDescriptor, 1) ?? 0;
  if (signedInput && first >= 32768) first -= 65536;
  const bits = item.uint16(TAG.lutDescriptor, 2) ?? 16;
  const raw = item.byteArray.subarray(dataEl.dataOffset, dataEl.dataOffset + dataEl.length);
  let data: Uint16Array;
  if (raw.length >= entries * 2) {
    data = new Uint16Array(entries);
    for (let k = 0; k < entries; k++) data[k] = item.byteArrayParser.readUint16(raw, k * 2);
  } else if (bits <= 8 && raw.length >= entries) {
    data = Uint16Array.from(raw.subarray(0, entries)); // 8-bit entries packed into OW bytes
  } else {
    throw new DicomError(path, `LUT Data has ${raw.length} bytes for ${entries} entries of ${bits} bits`);
  }
  return { firstMapped: first, bits, data, explanation: str(item, TAG.lutExplanation) };
}

function lookup(table: LookupTable, x: number): number {
  let k = Math.round(x) - table.firstMapped;
  if (k < 0) k = 0;
  else if (k >= table.data.length) k = table.data.length - 1;
  return table.data[k] as number;
}

export interface ReadDicomOptions {
  /** Largest decoded frame (stored values) to allow, in bytes; default 1 GiB. */
  maxFrameBytes?: number;
  /** Keep the last decoded frame for the next call on the same index; default true. */
  cacheLastFrame?: boolean;
  /**
   * Rewrites each encapsulated (compressed) frame before it is decoded, e.g. to unscramble vendor
   * JPEG 2000 frames (Zeiss CZM OCT). Not called for native (uncompressed) Pixel Data.
   */
  encapsulatedFrameFilter?: (encoded: Uint8Array, frame: number, meta: DicomMeta) => Uint8Array;
}

export interface DisplayOptions {
  /** Window to apply instead of the file's. */
  window?: VoiWindow;
  /** Which of the file's windows (multi-valued Window Center/Width); default 0. */
  windowIndex?: number;
  /** Invert MONOCHROME1 so that 1 is white; default true. */
  invertMonochrome1?: boolean;
  /** Use the file's VOI LUT Sequence (when there is one and no window is asked for); default true. */
  useVoiLut?: boolean;
}

const DEFAULT_MAX_FRAME_BYTES = 1 << 30;

function tuple2(v: number[] | undefined): [number, number] | undefined {
  return v && v.length >= 2 ? [v[0] as number, v[1] as number] : undefined;
}

function windowsOf(ds: DataSet | undefined): VoiWindow[] {
  if (!ds) return [];
  const centers = numbers(ds, TAG.windowCenter);
  const widths = numbers(ds, TAG.windowWidth);
  if (!centers || !widths) return [];
  const fns = (str(ds, TAG.voiLutFunction) ?? 'LINEAR').toUpperCase().split('\\');
  const n = Math.min(centers.length, widths.length);
  const out: VoiWindow[] = [];
  for (let i = 0; i < n; i++) {
    const fn = (fns[Math.min(i, fns.length - 1)] ?? 'LINEAR').trim();
    out.push({
      center: centers[i] as number,
      width: widths[i] as number,
      function: (fn === 'SIGMOID' || fn === 'LINEAR_EXACT' ? fn : 'LINEAR') as VoiFunction,
    });
  }
  return out;
}

interface Rescale {
  slope: number;
  intercept: number;
}

function rescaleOf(ds: DataSet | undefined): Rescale | undefined {
  if (!ds) return undefined;
  const slope = number(ds, TAG.rescaleSlope);
  const intercept = number(ds, TAG.rescaleIntercept);
  if (slope === undefined && intercept === undefined) return undefined;
  return { slope: slope ?? 1, intercept: intercept ?? 0 };
}

/** A DICOM image file: metadata plus on-demand frame decoding. */
export class DicomImage {
  readonly path: string;
  readonly meta: DicomMeta;
  readonly transferSyntax: TransferSyntax;
  /** The parsed dataset (dicom-parser) for tags `meta` does not cover. */
  readonly dataSet: DataSet;
  private readonly maxFrameBytes: number;
  private readonly shared: DataSet | undefined;
  private readonly perFrame: DataSet[];
  private readonly pixelElement: Element;
  private lastFrame: { index: number; values: StoredFrame } | undefined;
  private readonly cacheLastFrame: boolean;
  private readonly frameFilter: ReadDicomOptions['encapsulatedFrameFilter'];

  /** Use `readDicom`, which also loads the codec the transfer syntax needs. */
  constructor(path: string, dataSet: DataSet, options: ReadDicomOptions = {}) {
    this.path = path;
    this.dataSet = dataSet;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.cacheLastFrame = options.cacheLastFrame ?? true;
    this.frameFilter = options.encapsulatedFrameFilter;
    const tsUid = str(dataSet, TAG.transferSyntaxUid)?.replace(/\0/g, '') ?? '1.2.840.10008.1.2';
    const syntax = TRANSFER_SYNTAXES.get(tsUid);
    if (!syntax) throw new DicomError(path, `unknown transfer syntax ${tsUid}`);
    if (!syntax.encoding) throw new DicomError(path, `unsupported transfer syntax ${tsUid} (${syntax.name})`);
    this.transferSyntax = syntax;
    this.meta = metaOf(path, dataSet, syntax);
    this.shared = firstItem(dataSet, TAG.sharedFunctionalGroups);
    this.perFrame = items(dataSet, TAG.perFrameFunctionalGroups);
    const pixel = dataSet.elements[TAG.pixelData];
    if (!pixel) {
      const alt = dataSet.elements[TAG.floatPixelData] ?? dataSet.elements[TAG.doubleFloatPixelData];
      throw new DicomError(
        path,
        alt ? 'Float/Double Float Pixel Data is not supported' : 'no Pixel Data (7FE0,0010)',
      );
    }
    this.pixelElement = pixel;
    this.validatePixelData();
  }

  private get storedSamplesPerFrame(): number {
    return this.meta.rows * this.meta.columns * this.meta.samplesPerPixel;
  }

  private validatePixelData(): void {
    const { meta, pixelElement: el } = this;
    const frameBytes = (this.storedSamplesPerFrame * Math.max(8, meta.bitsAllocated)) / 8;
    if (frameBytes > this.maxFrameBytes) {
      throw new DicomError(
        this.path,
        `a ${meta.rows}×${meta.columns}×${meta.samplesPerPixel} frame needs ${frameBytes} bytes, over the limit of ${this.maxFrameBytes} (maxFrameBytes)`,
      );
    }
    if (el.encapsulatedPixelData) {
      if (!el.fragments || el.fragments.length === 0) {
        throw new DicomError(this.path, 'encapsulated Pixel Data has no fragments');
      }
      const bytes = this.dataSet.byteArray;
      const end = bytes.length;
      const last = el.fragments[el.fragments.length - 1] as { position: number; length: number };
      const after = last.position + last.length;
      // PS3.5 A.4: encapsulated Pixel Data closes with a Sequence Delimitation Item (FFFE,E0DD).
      const delimited =
        after + 8 <= end &&
        (el.hadUndefinedLength === false ||
          (bytes[after] === 0xfe &&
            bytes[after + 1] === 0xff &&
            bytes[after + 2] === 0xdd &&
            bytes[after + 3] === 0xe0));
      if (!delimited) {
        throw new DicomError(
          this.path,
          'encapsulated Pixel Data ends without a Sequence Delimitation Item (file truncated after the last fragment)',
        );
      }
      for (const f of el.fragments) {
        if (f.position + f.length > end) {
          throw new DicomError(
            this.path,
            `Pixel Data fragment at byte ${f.position} runs past the end of the file`,
          );
        }
      }
      return;
    }
    const need = this.nativeBytes(meta.numberOfFrames);
    const have = Math.min(el.length, this.dataSet.byteArray.length - el.dataOffset);
    if (have < need) {
      throw new DicomError(
        this.path,
        `Pixel Data is ${have} bytes, but ${meta.numberOfFrames} frame(s) of ${meta.rows}×${meta.columns}×${meta.samplesPerPixel} at ${meta.bitsAllocated} bits need ${need} (truncated file?)`,
      );
    }
  }

  private nativeBytes(frames: number): number {
    const { meta } = this;
    if (meta.bitsAllocated === 1) return Math.ceil((this.storedSamplesPerFrame * frames) / 8);
    const samples =
      meta.photometricInterpretation === 'YBR_FULL_422'
        ? meta.rows * meta.columns * 2
        : this.storedSamplesPerFrame;
    return (samples * frames * meta.bitsAllocated) / 8;
  }

  private checkFrameIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.meta.numberOfFrames) {
      throw new DicomError(
        this.path,
        `frame ${i} out of range: the file has ${this.meta.numberOfFrames} frame(s)`,
      );
    }
  }

  /** The compressed bytes of frame i (encapsulated transfer syntaxes). */
  encapsulatedFrame(i: number): Uint8Array {
    this.checkFrameIndex(i);
    const el = this.pixelElement;
    const fragments = el.fragments ?? [];
    const frames = this.meta.numberOfFrames;
    const bytes = this.dataSet.byteArray;
    const concat = (from: number, to: number): Uint8Array => {
      const parts = fragments.slice(from, to);
      if (parts.length === 1) {
        const f = parts[0] as (typeof fragments)[number];
        return bytes.subarray(f.position, f.position + f.length);
      }
      return dicomParser.readEncapsulatedPixelDataFromFragments(
        this.dataSet,
        el,
        from,
        to - from,
      ) as Uint8Array;
    };
    if (frames === 1) return concat(0, fragments.length);
    if (fragments.length === frames) return concat(i, i + 1);
    const bot = el.basicOffsetTable ?? [];
    if (bot.length === frames) {
      const start = fragments.findIndex((f) => f.offset === bot[i]);
      const next = i + 1 < frames ? fragments.findIndex((f) => f.offset === bot[i + 1]) : fragments.length;
      if (start < 0 || next < 0)
        throw new DicomError(this.path, `Basic Offset Table entry for frame ${i} matches no fragment`);
      return concat(start, next);
    }
    if (this.transferSyntax.encoding?.startsWith('jpeg') && this.transferSyntax.encoding !== 'jpeg2000') {
      // No offset table: a frame starts at each fragment that opens with a JPEG SOI marker.
      const starts = fragments.flatMap((f, k) =>
        bytes[f.position] === 0xff && bytes[f.position + 1] === 0xd8 ? [k] : [],
      );
      if (starts.length === frames) return concat(starts[i] as number, starts[i + 1] ?? fragments.length);
    }
    throw new DicomError(
      this.path,
      `cannot split ${fragments.length} fragments into ${frames} frames (no usable Basic Offset Table)`,
    );
  }

  /**
   * Stored values of frame i, interleaved by pixel ([rows, columns, samples]) as pydicom's
   * `pixel_array` lays them out: byte order resolved, bits above Bits Stored masked (sign-extended
   * when signed), planar data interleaved, 1-bit data unpacked to 0/1 bytes, and YBR_FULL /
   * YBR_FULL_422 converted to RGB (JPEG codecs do that conversion themselves).
   */
  frame(i: number): StoredFrame {
    this.checkFrameIndex(i);
    // modalityFrame/displayFrame after frame() on the same index need not decode twice.
    return this.cachedFrame(i).slice();
  }

  /** The decoded frame, shared with the one-frame cache: callers must not modify it. */
  private cachedFrame(i: number): StoredFrame {
    if (this.lastFrame?.index === i) return this.lastFrame.values;
    const values = this.decodeFrame(i);
    if (this.cacheLastFrame) this.lastFrame = { index: i, values };
    return values;
  }

  /** The encapsulated frame after the caller's `encapsulatedFrameFilter`, if any. */
  private codecInput(i: number): Uint8Array {
    const encoded = this.encapsulatedFrame(i);
    return this.frameFilter ? this.frameFilter(encoded, i, this.meta) : encoded;
  }

  private decodeFrame(i: number): StoredFrame {
    const { meta } = this;
    const signed = meta.pixelRepresentation === 1;
    const pixels = meta.rows * meta.columns;
    const encoding = this.transferSyntax.encoding;
    let values: StoredFrame;
    let colorDone = false;
    try {
      if (!this.pixelElement.encapsulatedPixelData) {
        values = this.nativeFrame(i);
      } else if (encoding === 'rle') {
        const bytesPerSample = meta.bitsAllocated / 8;
        const decoded = decodeRleFrame(this.codecInput(i), pixels, meta.samplesPerPixel, bytesPerSample);
        values = storedFromBytes(decoded, meta.bitsAllocated, signed, true);
      } else if (
        encoding === 'jpeg-baseline' ||
        encoding === 'jpeg-lossless' ||
        encoding === 'jpeg-ls' ||
        encoding === 'jpeg2000'
      ) {
        const decoded = decodeCompressedFrame(encoding, this.codecInput(i), meta);
        values = this.fromCodec(decoded);
        // libjpeg converts YCbCr to RGB; OpenJPEG undoes its component transform.
        colorDone = encoding === 'jpeg-baseline' || encoding === 'jpeg2000';
      } else {
        throw new DicomError(
          this.path,
          `Pixel Data is encapsulated but ${meta.transferSyntaxUid} is a native syntax`,
        );
      }
    } catch (e) {
      if (e instanceof DicomError) throw e;
      throw new DicomError(
        this.path,
        `frame ${i} (${meta.transferSyntaxName}) does not decode: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    if (values.length < pixels * meta.samplesPerPixel) {
      throw new DicomError(
        this.path,
        `frame ${i} decoded to ${values.length} samples, expected ${pixels * meta.samplesPerPixel}`,
      );
    }
    if (meta.bitsAllocated > 1) maskStored(values, meta.bitsStored, meta.bitsAllocated, signed);
    if (!colorDone && meta.samplesPerPixel === 3 && meta.photometricInterpretation.startsWith('YBR_FULL')) {
      ybrFullToRgb(values as Uint8Array | Uint16Array, meta.bitsStored);
    }
    return values;
  }

  private nativeFrame(i: number): StoredFrame {
    const { meta } = this;
    const el = this.pixelElement;
    const bytes = this.dataSet.byteArray;
    const signed = meta.pixelRepresentation === 1;
    const pixels = meta.rows * meta.columns;
    if (meta.bitsAllocated === 1) {
      const count = this.storedSamplesPerFrame;
      return unpackBits(bytes.subarray(el.dataOffset, el.dataOffset + el.length), i * count, count);
    }
    if (meta.photometricInterpretation === 'YBR_FULL_422' && meta.bitsAllocated === 8) {
      const n = pixels * 2;
      return expandYbr422(bytes.subarray(el.dataOffset + i * n, el.dataOffset + (i + 1) * n), pixels);
    }
    const frameBytes = (this.storedSamplesPerFrame * meta.bitsAllocated) / 8;
    const start = el.dataOffset + i * frameBytes;
    let values = storedFromBytes(
      bytes.subarray(start, start + frameBytes),
      meta.bitsAllocated,
      signed,
      this.transferSyntax.littleEndian,
    );
    if (meta.samplesPerPixel > 1 && meta.planarConfiguration === 1) {
      values = interleavePlanar(values, pixels, meta.samplesPerPixel);
    }
    return values;
  }

  private fromCodec(decoded: DecodedFrame): StoredFrame {
    const { meta } = this;
    if (decoded.components !== meta.samplesPerPixel) {
      throw new DicomError(
        this.path,
        `codestream has ${decoded.components} components but Samples per Pixel is ${meta.samplesPerPixel}`,
      );
    }
    const signed = meta.pixelRepresentation === 1;
    const src = decoded.samples;
    // Re-type the codec's samples to the DICOM stored type (Bits Allocated, Pixel Representation).
    const n = meta.rows * meta.columns * meta.samplesPerPixel;
    let out: StoredFrame;
    const target =
      meta.bitsAllocated === 8
        ? signed
          ? Int8Array
          : Uint8Array
        : meta.bitsAllocated === 16
          ? signed
            ? Int16Array
            : Uint16Array
          : undefined;
    // The codec output is already a private copy: use it as is when its type is the stored type.
    if (target && src instanceof target && decoded.signed === signed && src.length >= n) {
      return src.length === n ? src : (src.subarray(0, n) as StoredFrame);
    }
    if (meta.bitsAllocated === 8) out = signed ? new Int8Array(n) : new Uint8Array(n);
    else if (meta.bitsAllocated === 16) out = signed ? new Int16Array(n) : new Uint16Array(n);
    else out = signed ? new Int32Array(n) : new Uint32Array(n);
    if (decoded.signed === signed || decoded.bitsPerSample >= meta.bitsAllocated) {
      for (let k = 0; k < n; k++) out[k] = src[k] as number;
    } else {
      // Codestream sample sign differs from Pixel Representation: reinterpret the stored bits.
      const bits = decoded.bitsPerSample;
      for (let k = 0; k < n; k++) {
        let v = src[k] as number;
        if (signed && v >= 2 ** (bits - 1)) v -= 2 ** bits;
        else if (!signed && v < 0) v += 2 ** bits;
        out[k] = v;
      }
    }
    return out;
  }

  /** Rescale slope/intercept for frame i: Per-Frame, then Shared Functional Groups, then top level. */
  frameRescale(i: number): Rescale {
    const pf = this.perFrame[i];
    return (
      rescaleOf(firstItem(pf, TAG.pixelValueTransformation)) ??
      rescaleOf(firstItem(this.shared, TAG.pixelValueTransformation)) ??
      rescaleOf(this.dataSet) ?? { slope: 1, intercept: 0 }
    );
  }

  /** VOI windows for frame i: Per-Frame, then Shared Functional Groups, then top level. */
  frameWindows(i: number): VoiWindow[] {
    const pf = windowsOf(firstItem(this.perFrame[i], TAG.frameVoiLut));
    if (pf.length) return pf;
    return this.meta.windows;
  }

  /** Image Position (Patient) of frame i, from Plane Position (per-frame or shared) or the top level. */
  framePosition(i: number): [number, number, number] | undefined {
    const v =
      numbers(
        firstItem(this.perFrame[i], TAG.planePosition) ?? ({ elements: {} } as DataSet),
        TAG.imagePositionPatient,
      ) ??
      (firstItem(this.shared, TAG.planePosition)
        ? numbers(firstItem(this.shared, TAG.planePosition) as DataSet, TAG.imagePositionPatient)
        : undefined);
    const p = v ?? this.meta.imagePositionPatient;
    return p && p.length >= 3 ? [p[0] as number, p[1] as number, p[2] as number] : undefined;
  }

  /** Image Orientation (Patient) of frame i (per-frame, shared, or top level). */
  frameOrientation(i: number): number[] | undefined {
    const pf = firstItem(this.perFrame[i], TAG.planeOrientation);
    return (pf && numbers(pf, TAG.imageOrientationPatient)) ?? this.meta.imageOrientationPatient;
  }

  /** Frame i after the modality LUT (rescale slope/intercept), for monochrome images. */
  modalityFrame(i: number): Float32Array {
    this.checkFrameIndex(i);
    const stored = this.cachedFrame(i);
    const out = new Float32Array(stored.length);
    const lut = this.meta.modalityLut;
    if (lut) {
      for (let k = 0; k < stored.length; k++) out[k] = lookup(lut, stored[k] as number);
      return out;
    }
    const { slope, intercept } = this.frameRescale(i);
    for (let k = 0; k < stored.length; k++) out[k] = (stored[k] as number) * slope + intercept;
    return out;
  }

  /**
   * RGB samples of frame i, interleaved: PALETTE COLOR looked up in its palette (values at the LUT's
   * bit depth), RGB / YBR returned as stored (YBR converted). Monochrome is an error.
   */
  rgbFrame(i: number): Uint8Array | Uint16Array {
    const pi = this.meta.photometricInterpretation;
    if (pi === 'PALETTE COLOR') {
      this.checkFrameIndex(i);
      return applyPalette(this, this.cachedFrame(i));
    }
    if (this.meta.samplesPerPixel === 3) {
      const f = this.frame(i);
      return f instanceof Uint8Array || f instanceof Uint16Array ? f : Uint16Array.from(f);
    }
    throw new DicomError(this.path, `rgbFrame needs a colour image; Photometric Interpretation is ${pi}`);
  }

  /**
   * Frame i for display, 0..1 (Float32Array). Monochrome: modality LUT, then the VOI LUT Sequence
   * table if the file has one and no window is asked for, else the VOI window (the given one, the
   * file's `windowIndex`-th, else the frame's min..max), then MONOCHROME1 inversion.
   * Colour: RGB interleaved, divided by the largest sample value.
   */
  displayFrame(i: number, options: DisplayOptions = {}): Float32Array {
    const { meta } = this;
    if (meta.photometricInterpretation === 'PALETTE COLOR' || meta.samplesPerPixel === 3) {
      const rgb = this.rgbFrame(i);
      const bits = meta.photometricInterpretation === 'PALETTE COLOR' ? paletteBits(this) : meta.bitsStored;
      const scale = 1 / (2 ** bits - 1);
      const out = new Float32Array(rgb.length);
      for (let k = 0; k < rgb.length; k++) out[k] = (rgb[k] as number) * scale;
      return out;
    }
    const values = this.modalityFrame(i);
    const voiLut = this.meta.voiLuts[0];
    if (voiLut && !options.window && options.windowIndex === undefined && options.useVoiLut !== false) {
      const scale = 1 / (2 ** voiLut.bits - 1);
      const out = new Float32Array(values.length);
      for (let k = 0; k < values.length; k++) out[k] = lookup(voiLut, values[k] as number) * scale;
      if (meta.photometricInterpretation === 'MONOCHROME1' && options.invertMonochrome1 !== false) {
        for (let k = 0; k < out.length; k++) out[k] = 1 - (out[k] as number);
      }
      return out;
    }
    let window = options.window ?? this.frameWindows(i)[options.windowIndex ?? 0];
    if (options.windowIndex !== undefined && !options.window && !window) {
      throw new DicomError(
        this.path,
        `window index ${options.windowIndex} out of range: ${this.frameWindows(i).length} window(s)`,
      );
    }
    if (!window) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const v of values) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      window = { center: (lo + hi) / 2, width: Math.max(hi - lo, Number.EPSILON), function: 'LINEAR_EXACT' };
    }
    const out = applyVoi(values, window);
    if (meta.photometricInterpretation === 'MONOCHROME1' && options.invertMonochrome1 !== false) {
      for (let k = 0; k < out.length; k++) out[k] = 1 - (out[k] as number);
    }
    return out;
  }
}

function paletteBits(img: DicomImage): number {
  const d = numbers(img.dataSet, TAG.redDescriptor) ?? [];
  const ds = img.dataSet;
  const bits = us(ds, TAG.redDescriptor) !== undefined ? ds.uint16(TAG.redDescriptor, 2) : d[2];
  return bits ?? 16;
}

function applyPalette(img: DicomImage, indices: StoredFrame): Uint8Array | Uint16Array {
  const ds = img.dataSet;
  const channels = [
    [TAG.redDescriptor, TAG.redData],
    [TAG.greenDescriptor, TAG.greenData],
    [TAG.blueDescriptor, TAG.blueData],
  ] as const;
  const bits = paletteBits(img);
  const luts = channels.map(([descTag, dataTag]) => {
    const entries = ds.uint16(descTag, 0) || 65536;
    const first = ds.uint16(descTag, 1) ?? 0;
    const el = ds.elements[dataTag];
    if (!el) throw new DicomError(img.path, `PALETTE COLOR without ${dataTag} (palette LUT data)`);
    const raw = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
    // 16-bit LUT entries are OW words; 8-bit entries packed one per byte when the length says so.
    const lut =
      bits === 8 && el.length === entries
        ? raw.slice()
        : storedFromBytes(raw.subarray(0, entries * 2), 16, false, img.transferSyntax.littleEndian);
    return { lut, first, entries };
  });
  const n = indices.length;
  const out = bits <= 8 ? new Uint8Array(n * 3) : new Uint16Array(n * 3);
  for (let c = 0; c < 3; c++) {
    const { lut, first, entries } = luts[c] as (typeof luts)[number];
    for (let k = 0; k < n; k++) {
      let idx = (indices[k] as number) - first;
      if (idx < 0) idx = 0;
      else if (idx >= entries) idx = entries - 1;
      out[k * 3 + c] = lut[idx] as number;
    }
  }
  return out;
}

function metaOf(path: string, ds: DataSet, syntax: TransferSyntax, strict = true): DicomMeta {
  const fail = (message: string): void => {
    if (strict) throw new DicomError(path, message);
  };
  const required = (tag: string, name: string): number => {
    const v = us(ds, tag);
    if (v === undefined) fail(`missing required tag ${name} (${tag.slice(1, 5)},${tag.slice(5)})`);
    return v ?? 0;
  };
  const rows = required(TAG.rows, 'Rows');
  const columns = required(TAG.columns, 'Columns');
  const bitsAllocated = required(TAG.bitsAllocated, 'Bits Allocated');
  const samplesPerPixel = us(ds, TAG.samplesPerPixel) ?? 1;
  const photometricInterpretation = str(ds, TAG.photometricInterpretation)?.toUpperCase() ?? '';
  if (!photometricInterpretation) fail('missing required tag Photometric Interpretation (0028,0004)');
  if (rows === 0 || columns === 0) fail(`impossible dimensions: Rows ${rows}, Columns ${columns}`);
  if (![1, 8, 16, 32].includes(bitsAllocated)) {
    fail(`unsupported Bits Allocated ${bitsAllocated} (expected 1, 8, 16 or 32)`);
  }
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) {
    fail(`unsupported Samples per Pixel ${samplesPerPixel} (expected 1 or 3)`);
  }
  const bitsStored = us(ds, TAG.bitsStored) ?? bitsAllocated;
  if (bitsStored > bitsAllocated || bitsStored < 1) {
    fail(`impossible Bits Stored ${bitsStored} for Bits Allocated ${bitsAllocated}`);
  }
  const framesRaw = number(ds, TAG.numberOfFrames);
  const numberOfFrames = framesRaw === undefined ? 1 : Math.trunc(framesRaw);
  if (!(numberOfFrames >= 1)) fail(`impossible Number of Frames ${framesRaw}`);
  const shared = firstItem(ds, TAG.sharedFunctionalGroups);
  const perFrame0 = firstItem(ds, TAG.perFrameFunctionalGroups);
  const measures = firstItem(shared, TAG.pixelMeasures) ?? firstItem(perFrame0, TAG.pixelMeasures);
  const rescale = rescaleOf(ds) ?? rescaleOf(firstItem(shared, TAG.pixelValueTransformation));
  const windows = windowsOf(ds).length ? windowsOf(ds) : windowsOf(firstItem(shared, TAG.frameVoiLut));
  const ipp = numbers(ds, TAG.imagePositionPatient);
  const iop =
    numbers(ds, TAG.imageOrientationPatient) ??
    (firstItem(shared, TAG.planeOrientation)
      ? numbers(firstItem(shared, TAG.planeOrientation) as DataSet, TAG.imageOrientationPatient)
      : undefined);
  const frameLaterality = (() => {
    const anatomy = firstItem(shared, 'x00209071') ?? firstItem(perFrame0, 'x00209071');
    return anatomy ? str(anatomy, 'x00209072') : undefined;
  })();
  const instance = number(ds, TAG.instanceNumber);
  return {
    sopClassUid: str(ds, TAG.sopClassUid)?.replace(/\0/g, ''),
    sopInstanceUid: str(ds, TAG.sopInstanceUid)?.replace(/\0/g, ''),
    transferSyntaxUid: syntax.uid,
    transferSyntaxName: transferSyntaxName(syntax.uid),
    modality: str(ds, TAG.modality),
    manufacturer: str(ds, TAG.manufacturer),
    modelName: str(ds, TAG.modelName),
    laterality: str(ds, TAG.imageLaterality) || str(ds, TAG.laterality) || frameLaterality || undefined,
    patientId: str(ds, TAG.patientId),
    studyUid: str(ds, TAG.studyUid)?.replace(/\0/g, ''),
    seriesUid: str(ds, TAG.seriesUid)?.replace(/\0/g, ''),
    instanceNumber: instance,
    viewPosition: str(ds, TAG.viewPosition),
    rows,
    columns,
    numberOfFrames,
    samplesPerPixel,
    photometricInterpretation,
    planarConfiguration: us(ds, TAG.planarConfiguration) ?? 0,
    bitsAllocated,
    bitsStored,
    pixelRepresentation: us(ds, TAG.pixelRepresentation) ?? 0,
    pixelSpacing:
      tuple2(numbers(ds, TAG.pixelSpacing)) ??
      (measures ? tuple2(numbers(measures, TAG.pixelSpacing)) : undefined) ??
      tuple2(numbers(ds, TAG.imagerPixelSpacing)),
    sliceThickness:
      number(ds, TAG.sliceThickness) ?? (measures ? number(measures, TAG.sliceThickness) : undefined),
    spacingBetweenSlices:
      number(ds, TAG.spacingBetweenSlices) ??
      (measures ? number(measures, TAG.spacingBetweenSlices) : undefined),
    imagePositionPatient:
      ipp && ipp.length >= 3 ? [ipp[0] as number, ipp[1] as number, ipp[2] as number] : undefined,
    imageOrientationPatient:
      iop && iop.length >= 6
        ? (iop.slice(0, 6) as [number, number, number, number, number, number])
        : undefined,
    rescaleSlope: rescale?.slope ?? 1,
    rescaleIntercept: rescale?.intercept ?? 0,
    windows,
    doseGridScaling: number(ds, TAG.doseGridScaling),
    modalityLut: (() => {
      const item = firstItem(ds, TAG.modalityLutSequence);
      return item ? lutOf(item, path, (us(ds, TAG.pixelRepresentation) ?? 0) === 1) : undefined;
    })(),
    // VOI input is the modality output: signed when a rescale can make it negative, or when stored signed.
    voiLuts: items(ds, TAG.voiLutSequence).map((item) =>
      lutOf(item, path, (us(ds, TAG.pixelRepresentation) ?? 0) === 1 || (rescale?.intercept ?? 0) < 0),
    ),
  };
}

type Source = string | Uint8Array;

async function bytesOf(source: Source): Promise<{ path: string; bytes: Uint8Array }> {
  if (typeof source !== 'string') return { path: '<bytes>', bytes: source };
  try {
    const buf = await readFile(source);
    return { path: source, bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
  } catch (e) {
    throw new DicomError(source, `cannot read file: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

/** Reads a DICOM file (or its bytes) and loads the codec its transfer syntax needs. */
export async function readDicom(source: Source, options: ReadDicomOptions = {}): Promise<DicomImage> {
  const { path, bytes } = await bytesOf(source);
  const ds = parseDicomBytes(bytes, path);
  const image = new DicomImage(path, ds, options);
  const encoding = image.transferSyntax.encoding;
  if (encoding) await ensureCodec(encoding);
  return image;
}

/** Header-only metadata; `imageError` says why the image tags are incomplete (then they read 0/''). */
export interface DicomHeader extends DicomMeta {
  imageError: string | undefined;
}

/**
 * Reads metadata without the pixel data, for manifest scanners: parses the first 64 KiB, doubling
 * until the header fits (deflated files are read whole).
 */
export async function readDicomHeader(path: string): Promise<DicomHeader> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new DicomError(path, `cannot read file: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  try {
    const size = (await handle.stat()).size;
    let chunk = Math.min(size, 1 << 16);
    for (;;) {
      const buf = new Uint8Array(chunk);
      await handle.read(buf, 0, chunk, 0);
      let ds: DataSet | undefined;
      try {
        ds = parseDicomBytes(buf, path, { untilTag: TAG.pixelData });
      } catch (e) {
        if (chunk >= size) throw e;
      }
      if (ds) return headerOf(path, ds);
      chunk = Math.min(size, chunk * 4);
    }
  } finally {
    await handle.close();
  }
}

function headerOf(path: string, ds: DataSet): DicomHeader {
  const tsUid = str(ds, TAG.transferSyntaxUid)?.replace(/\0/g, '') ?? '1.2.840.10008.1.2';
  const syntax = TRANSFER_SYNTAXES.get(tsUid) ?? {
    uid: tsUid,
    name: 'unknown transfer syntax',
    littleEndian: true,
    explicitVr: true,
    encoding: undefined,
  };
  try {
    return { ...metaOf(path, ds, syntax, true), imageError: undefined };
  } catch (e) {
    if (!(e instanceof DicomError)) throw e;
    // Not an image (or an incomplete one): keep the identifying fields.
    return { ...metaOf(path, ds, syntax, false), imageError: e.message };
  }
}
