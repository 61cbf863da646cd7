// Multi-frame and multi-file DICOM series to a [frames, rows, cols] volume of modality values.
import { DicomError } from './errors';
import { type DicomImage, type DicomMeta, type ReadDicomOptions, readDicom } from './reader';

export interface Volume {
  /** Modality values (after rescale), frame after frame, row-major. */
  data: Float32Array;
  shape: [number, number, number];
  /** [dz, dy, dx] in mm: slice spacing, row spacing, column spacing (1 where the file does not say). */
  spacing: [number, number, number];
  /** Image Position (Patient) of the first frame after ordering, when the files give positions. */
  origin: [number, number, number] | undefined;
  /** Metadata of the first file. */
  meta: DicomMeta;
  /** For each output frame: which file (index into the input) and which frame of it. */
  frameSources: { file: number; frame: number }[];
  /** How frames were ordered: by position along the slice normal, by Instance Number, or as stored. */
  ordering: 'position' | 'instance-number' | 'file-order';
}

export interface ReadVolumeOptions extends ReadDicomOptions {
  /** Refuse volumes whose Float32 data would exceed this many bytes; default 2 GiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;

function normalOf(orientation: number[] | undefined): [number, number, number] | undefined {
  if (!orientation || orientation.length < 6) return undefined;
  const [a, b, c, d, e, f] = orientation as [number, number, number, number, number, number];
  const n: [number, number, number] = [b * f - c * e, c * d - a * f, a * e - b * d];
  const len = Math.hypot(...n);
  return len > 0 ? [n[0] / len, n[1] / len, n[2] / len] : undefined;
}

/**
 * Reads one multi-frame file (e.g. OCT, enhanced CT/MR) or a list of single-frame files into a
 * volume. Frames are ordered by Image Position (Patient) projected on the slice normal (from Image
 * Orientation) where every frame has a position, else by Instance Number (multi-file), else as
 * stored. Slice spacing is the median gap between ordered positions, else Spacing Between Slices,
 * else Slice Thickness, else 1. Colour images are refused.
 */
export async function readDicomVolume(
  source: string | string[],
  options: ReadVolumeOptions = {},
): Promise<Volume> {
  const paths = Array.isArray(source) ? source : [source];
  if (paths.length === 0) throw new DicomError('<readDicomVolume>', 'no files given');
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const images: DicomImage[] = [];
  for (const p of paths) images.push(await readDicom(p, options));
  const first = images[0] as DicomImage;
  const { rows, columns } = first.meta;
  let total = 0;
  for (const img of images) {
    if (img.meta.samplesPerPixel !== 1) {
      throw new DicomError(
        img.path,
        `a volume needs monochrome frames; Samples per Pixel is ${img.meta.samplesPerPixel}`,
      );
    }
    if (img.meta.rows !== rows || img.meta.columns !== columns) {
      throw new DicomError(
        img.path,
        `frame size ${img.meta.rows}×${img.meta.columns} differs from ${rows}×${columns} of ${first.path}`,
      );
    }
    total += img.meta.numberOfFrames;
  }
  const bytes = total * rows * columns * 4;
  if (bytes > maxBytes) {
    throw new DicomError(
      first.path,
      `volume of ${total}×${rows}×${columns} float32 needs ${bytes} bytes, over the limit of ${maxBytes} (maxBytes)`,
    );
  }
  const sources = images.flatMap((img, file) =>
    Array.from({ length: img.meta.numberOfFrames }, (_, frame) => ({
      file,
      frame,
      position: img.framePosition(frame),
      orientation: img.frameOrientation(frame),
      instance: img.meta.instanceNumber,
    })),
  );
  const normal = normalOf(sources[0]?.orientation) ?? [0, 0, 1];
  let ordering: Volume['ordering'] = 'file-order';
  let distances: number[] | undefined;
  if (sources.every((s) => s.position)) {
    const d = sources.map((s) => {
      const p = s.position as [number, number, number];
      return p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
    });
    const order = d.map((_, k) => k).sort((a, b) => (d[a] as number) - (d[b] as number) || a - b);
    const sorted = order.map((k) => sources[k] as (typeof sources)[number]);
    sources.splice(0, sources.length, ...sorted);
    distances = order.map((k) => d[k] as number);
    ordering = 'position';
  } else if (images.length > 1 && sources.every((s) => s.instance !== undefined)) {
    sources.sort((a, b) => (a.instance as number) - (b.instance as number) || a.frame - b.frame);
    ordering = 'instance-number';
  }
  let dz: number | undefined;
  if (distances && distances.length > 1) {
    const gaps = distances
      .slice(1)
      .map((v, k) => v - (distances as number[])[k]!)
      .sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)] as number;
    if (median > 0) dz = median;
  }
  dz ??= first.meta.spacingBetweenSlices ?? first.meta.sliceThickness ?? 1;
  const [dy, dx] = first.meta.pixelSpacing ?? [1, 1];
  const frameSize = rows * columns;
  const data = new Float32Array(total * frameSize);
  sources.forEach((s, k) => {
    data.set((images[s.file] as DicomImage).modalityFrame(s.frame), k * frameSize);
  });
  return {
    data,
    shape: [total, rows, columns],
    spacing: [dz, dy, dx],
    origin: ordering === 'position' ? sources[0]?.position : undefined,
    meta: first.meta,
    frameSources: sources.map(({ file, frame }) => ({ file, frame })),
    ordering,
  };
}
