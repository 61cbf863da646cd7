// Thin typed layer over h5wasm's Node build, which does its I/O on the real file through HDF5 itself:
// opening a file reads only the superblock and object headers; slices read only the chunks they touch.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import h5wasm from 'h5wasm/node';
import { Hdf5Error } from './errors';

export type Hdf5Dtype =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64';
export type Hdf5Array =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;
export type Hdf5AttributeValue = number | string | number[];

export interface Hdf5DatasetInfo {
  path: string;
  shape: number[];
  dtype: Hdf5Dtype;
  /** Chunk shape, or null for contiguous storage. */
  chunks: number[] | null;
  /** Filter names (e.g. 'deflate', 'shuffle'). */
  filters: string[];
}

export interface WriteDatasetOptions {
  shape: number[];
  /** Chunk shape (required for compression). */
  chunks?: number[];
  /** gzip level 0..9 (needs chunks). */
  gzip?: number;
  attributes?: Record<string, Hdf5AttributeValue>;
}

/** [start, end) per dimension; null means the whole dimension. */
export type Hdf5Selection = ([number, number] | null)[];

// h5wasm's dtype strings are struct-style: the letter gives the size (b/B 1, h/H 2, i/I 4, q/Q 8,
// f 4, d 8; upper case unsigned). A numpy-style '<f8' / '<u4' / '|u1' is read by its letter only
// ('<f8' became float32, '<i8' int32) or rejected ('u' is not a letter h5wasm knows).
const DTYPE_CODE: Record<Hdf5Dtype, string> = {
  float32: '<f',
  float64: '<d',
  int8: '<b',
  int16: '<h',
  int32: '<i',
  int64: '<q',
  uint8: '<B',
  uint16: '<H',
  uint32: '<I',
  uint64: '<Q',
};

function dtypeOf(array: Hdf5Array): Hdf5Dtype {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Float64Array) return 'float64';
  if (array instanceof Int8Array) return 'int8';
  if (array instanceof Int16Array) return 'int16';
  if (array instanceof Int32Array) return 'int32';
  if (array instanceof BigInt64Array) return 'int64';
  if (array instanceof Uint8Array) return 'uint8';
  if (array instanceof Uint16Array) return 'uint16';
  if (array instanceof Uint32Array) return 'uint32';
  return 'uint64';
}

interface Meta {
  type: number;
  signed: boolean;
  size: number;
  shape: number[] | null;
  chunks: number[] | null;
}

function metaDtype(m: Meta): Hdf5Dtype | undefined {
  if (m.type === 1) return m.size === 4 ? 'float32' : m.size === 8 ? 'float64' : undefined;
  if (m.type === 0) {
    const bits = m.size * 8;
    if (![8, 16, 32, 64].includes(bits)) return undefined;
    return `${m.signed ? 'int' : 'uint'}${bits}` as Hdf5Dtype;
  }
  return undefined;
}

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** HDF5's superblock sits at byte 0 or at 512, 1024, 2048, ... (user block). */
function hasHdf5Signature(path: string): boolean {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      readSync(fd, buf, 0, 8, at);
      if (buf.equals(SIGNATURE)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

let ready: Promise<unknown> | undefined;

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

export class Hdf5File {
  private constructor(
    readonly path: string,
    readonly mode: 'r' | 'w' | 'a',
    private readonly file: InstanceType<typeof h5wasm.File>,
  ) {}

  /** Open for reading ('r'), create/truncate ('w') or read-write ('a'). */
  static async open(path: string, mode: 'r' | 'w' | 'a' = 'r'): Promise<Hdf5File> {
    ready ??= h5wasm.ready;
    await ready;
    if (mode !== 'w') {
      if (!existsSync(path)) throw new Hdf5Error(path, 'file does not exist');
      if (!hasHdf5Signature(path))
        throw new Hdf5Error(path, 'not an HDF5 file (no HDF5 signature at offset 0 or 512·2^k)');
    }
    try {
      return new Hdf5File(path, mode, new h5wasm.File(path, mode));
    } catch (e) {
      throw new Hdf5Error(path, `cannot open (${(e as Error).message ?? String(e)})`);
    }
  }

  private entity(name: string): ReturnType<H5Group['get']> {
    try {
      return this.file.get(name);
    } catch {
      return null;
    }
  }

  private dataset(name: string): H5Dataset {
    const d = this.entity(name);
    if (!(d instanceof h5wasm.Dataset)) throw new Hdf5Error(this.path, `missing dataset '${name}'`);
    return d;
  }

  private object(name: string): H5Group | H5Dataset {
    const e = name === '/' ? this.file : this.entity(name);
    if (e instanceof h5wasm.Group || e instanceof h5wasm.Dataset) return e;
    throw new Hdf5Error(this.path, `missing object '${name}'`);
  }

  has(name: string): boolean {
    return this.entity(name) !== null;
  }

  /** Child names of a group ('/' for the root). */
  keys(group = '/'): string[] {
    const g = group === '/' ? this.file : this.entity(group);
    if (!(g instanceof h5wasm.Group)) throw new Hdf5Error(this.path, `missing group '${group}'`);
    return g.keys();
  }

  info(name: string): Hdf5DatasetInfo {
    const d = this.dataset(name);
    const m = d.metadata as unknown as Meta;
    const dtype = metaDtype(m);
    if (dtype === undefined)
      throw new Hdf5Error(
        this.path,
        `dataset '${name}' has an unsupported type (class ${m.type}, ${m.size} bytes)`,
      );
    return {
      path: name,
      shape: m.shape ?? [],
      dtype,
      chunks: m.chunks ?? null,
      filters: d.filters.map((f) => f.name),
    };
  }

  /** Read a dataset whole. */
  read(name: string): Hdf5Array {
    const d = this.dataset(name);
    this.info(name);
    return d.value as Hdf5Array;
  }

  /** Read a hyperslab: only the chunks overlapping the selection are read and decompressed. */
  readSlice(name: string, selection: Hdf5Selection): Hdf5Array {
    const d = this.dataset(name);
    const { shape } = this.info(name);
    if (selection.length > shape.length) {
      throw new Hdf5Error(
        this.path,
        `dataset '${name}' has ${shape.length} dimensions, selection has ${selection.length}`,
      );
    }
    const ranges = shape.map((n, i) => {
      const s = selection[i];
      if (s === null || s === undefined) return [] as [];
      const [a, b] = s;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b > n || a > b) {
        throw new Hdf5Error(
          this.path,
          `dataset '${name}' dimension ${i} has ${n} entries; cannot select [${a}, ${b})`,
        );
      }
      return [a, b] as [number, number];
    });
    return d.slice(ranges) as Hdf5Array;
  }

  attributes(name = '/'): Record<string, Hdf5AttributeValue> {
    const e = this.object(name);
    const out: Record<string, Hdf5AttributeValue> = {};
    for (const [key, attr] of Object.entries(e.attrs)) {
      const v = attr.json_value;
      if (typeof v === 'number' || typeof v === 'string') out[key] = v;
      else if (typeof v === 'boolean') out[key] = v ? 1 : 0;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'number')) out[key] = v as number[];
      else if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') out[key] = v[0];
    }
    return out;
  }

  private writable(): void {
    if (this.mode === 'r') throw new Hdf5Error(this.path, 'file is open read-only');
  }

  /** Create a group and its parents as needed. */
  createGroup(name: string): void {
    this.writable();
    let path = '';
    for (const part of name.split('/').filter(Boolean)) {
      path += `/${part}`;
      if (!this.has(path)) this.file.create_group(path);
    }
  }

  setAttributes(name: string, attributes: Record<string, Hdf5AttributeValue>): void {
    this.writable();
    const e = this.object(name);
    for (const [key, value] of Object.entries(attributes)) {
      if (typeof value === 'number')
        e.create_attribute(key, value, null, Number.isInteger(value) ? '<i8' : '<f8');
      else e.create_attribute(key, value);
    }
  }

  writeDataset(name: string, data: Hdf5Array, options: WriteDatasetOptions): void {
    this.writable();
    const count = options.shape.reduce((a, b) => a * b, 1);
    if (!options.shape.every((n) => Number.isInteger(n) && n >= 0) || count !== data.length) {
      throw new Hdf5Error(
        this.path,
        `dataset '${name}': shape [${options.shape.join(', ')}] needs ${count} values, got ${data.length}`,
      );
    }
    if (options.chunks && options.chunks.length !== options.shape.length) {
      throw new Hdf5Error(
        this.path,
        `dataset '${name}': chunk rank ${options.chunks.length} != data rank ${options.shape.length}`,
      );
    }
    if (options.gzip !== undefined && !options.chunks)
      throw new Hdf5Error(this.path, `dataset '${name}': gzip needs chunks`);
    // h5wasm reports a failed create (e.g. the name exists) on stderr only: check before and after.
    if (this.has(name)) throw new Hdf5Error(this.path, `dataset '${name}' already exists`);
    const parent = name.split('/').filter(Boolean).slice(0, -1).join('/');
    if (parent) this.createGroup(parent);
    this.file.create_dataset({
      name,
      data,
      shape: options.shape,
      dtype: DTYPE_CODE[dtypeOf(data)],
      chunks: options.chunks ?? null,
      ...(options.gzip !== undefined ? { compression: options.gzip } : {}),
    });
    if (!this.has(name)) throw new Hdf5Error(this.path, `dataset '${name}' could not be created`);
    if (options.attributes) this.setAttributes(name, options.attributes);
  }

  close(): void {
    this.file.close();
  }
}
