// NumPy .npy volumes (format 1.0–3.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// research exports often arrive as raw arrays. Little/big-endian ints, unsigned ints and floats,
// C or Fortran order, 3-D (or 4-D with a leading/trailing singleton channel).
import { readFileSync } from 'node:fs';
import { VJepaDataError } from '../errors';
import type { Volume3d } from './read';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Reads a .npy file into a float32 [D, H, W] volume (spacing as given, default 1 mm). */
export function readNpyVolume(path: string, spacing: [number, number, number] = [1, 1, 1]): Volume3d {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new VJepaDataError(path, `cannot read file: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw new VJepaDataError(path, 'not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(headerStart, headerStart + headerLen),
  );
  const descr = /'descr':\s*'([<>|=])([a-z])(\d+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeMatch = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeMatch)
    throw new VJepaDataError(path, `unreadable .npy header: ${header.trim()}`);
  const [, order, kind, sizeText] = descr as unknown as [string, string, string, string];
  const size = Number(sizeText);
  let shape = shapeMatch[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.length === 4 && shape[0] === 1) shape = shape.slice(1);
  else if (shape.length === 4 && shape[3] === 1) shape = shape.slice(0, 3);
  if (shape.length !== 3)
    throw new VJepaDataError(path, `expected a 3-D array, got shape (${shape.join(', ')})`);
  const n = shape[0]! * shape[1]! * shape[2]!;
  const dataStart = headerStart + headerLen;
  if (bytes.length - dataStart < n * size)
    throw new VJepaDataError(
      path,
      `truncated: ${bytes.length - dataStart} data bytes for ${n} × ${size}-byte values`,
    );
  const little = order !== '>';
  const readers: Record<string, (o: number) => number> = {
    f4: (o: number) => view.getFloat32(o, little),
    f8: (o: number) => view.getFloat64(o, little),
    u1: (o: number) => view.getUint8(o),
    i1: (o: number) => view.getInt8(o),
    u2: (o: number) => view.getUint16(o, little),
    i2: (o: number) => view.getInt16(o, little),
    u4: (o: number) => view.getUint32(o, little),
    i4: (o: number) => view.getInt32(o, little),
  };
  const get = readers[`${kind}${size}`];
  if (!get) throw new VJepaDataError(path, `unsupported dtype '${order}${kind}${size}'`);
  const [D, H, W] = shape as [number, number, number];
  const data = new Float32Array(n);
  const isFortran = fortran[1] === 'True';
  for (let z = 0; z < D; z++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const src = isFortran ? z + D * (y + H * x) : (z * H + y) * W + x;
        data[(z * H + y) * W + x] = get(dataStart + src * size);
      }
  return { data, shape: [D, H, W], spacing };
}
