/**
 * The safetensors format (https://github.com/huggingface/safetensors, "Format" section):
 *   8 bytes   N, the header length, unsigned 64-bit little-endian
 *   N bytes   a UTF-8 JSON object: { "__metadata__"?: {string: string},
 *             "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ... }
 *   rest      the byte buffer; offsets are relative to its start, tensors are row-major little-endian.
 * As the reference reader does, we require the tensors to tile the buffer exactly (no holes, no
 * overlaps, nothing past the end) and each tensor's byte length to match dtype x shape.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { endianness } from 'node:os';
import { tf } from '@meddl/tensor';
import { SafetensorsError } from './errors';

export const DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type Dtype = (typeof DTYPES)[number];

/** The raw array type each dtype is held in (F16/BF16 as their bit patterns, BOOL as 0/1 bytes). */
export interface RawArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}
export type RawArray = RawArrays[Dtype];

/** A tensor as stored in the file, without conversion. */
export interface RawTensor {
  dtype: Dtype;
  shape: number[];
  data: RawArray;
}

export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** Offsets into the data buffer (after the header), as in the file. */
  dataOffsets: [number, number];
}

const BYTES: Record<Dtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const ARRAY: { [D in Dtype]: new (b: ArrayBuffer, o: number, n: number) => RawArrays[D] } = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};
/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

export function dtypeBytes(dtype: Dtype): number {
  return BYTES[dtype];
}

function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && (DTYPES as readonly string[]).includes(s);
}

function checkHostEndianness(file: string): void {
  if (endianness() !== 'LE') throw new SafetensorsError(`${file}: big-endian hosts are not supported`, file);
}

// ---------------------------------------------------------------- float16 / bfloat16 bits

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits -> number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number -> IEEE binary16 bits, round to nearest even (as numpy's astype(float16)). */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry correctly rounds up to Inf
  return sign | half;
}

/** bfloat16 bits -> number (the high half of a float32). */
export function bfloat16ToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

/** number -> bfloat16 bits, round to nearest even (as torch's .to(torch.bfloat16)). */
export function floatToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff; // quiet NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---------------------------------------------------------------- conversion to / from tfjs

/** What a raw tensor becomes in tfjs: floats -> float32, integers -> int32, BOOL -> bool. */
export function rawToTensor(raw: RawTensor, name = 'tensor', file = ''): tf.Tensor {
  const { dtype, shape, data } = raw;
  switch (dtype) {
    case 'F32':
      return tf.tensor(data as Float32Array, shape, 'float32');
    case 'I32':
      return tf.tensor(data as Int32Array, shape, 'int32');
    case 'BOOL':
      return tf.tensor(data as Uint8Array, shape, 'bool');
    case 'F64':
      return tf.tensor(Float32Array.from(data as Float64Array), shape, 'float32');
    case 'F16': {
      const bits = data as Uint16Array;
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i]);
      return tf.tensor(out, shape, 'float32');
    }
    case 'BF16': {
      const bits = data as Uint16Array;
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = bfloat16ToFloat(bits[i]);
      return tf.tensor(out, shape, 'float32');
    }
    case 'I64': {
      const big = data as BigInt64Array;
      const out = new Int32Array(big.length);
      for (let i = 0; i < big.length; i++) {
        const v = big[i];
        if (v > 2147483647n || v < -2147483648n) {
          throw new SafetensorsError(
            `${file || 'safetensors'}: I64 tensor '${name}' holds ${v}, outside the int32 range tfjs supports; read it raw with SafetensorsFile.read()`,
            file,
          );
        }
        out[i] = Number(v);
      }
      return tf.tensor(out, shape, 'int32');
    }
    case 'I16':
    case 'I8':
    case 'U8':
      return tf.tensor(Int32Array.from(data as Int16Array), shape, 'int32');
  }
}

/**
 * Copies a tfjs tensor out into a raw tensor (float32 -> F32, int32 -> I32, bool -> BOOL). With
 * `copy: false` the data may be the backend's own array: use it at once, never keep or change it.
 */
export function tensorToRaw(t: tf.Tensor, name = 'tensor', copy = true): RawTensor {
  const shape = [...t.shape];
  const values = t.dataSync();
  switch (t.dtype) {
    case 'float32':
      return {
        dtype: 'F32',
        shape,
        data: copy ? Float32Array.from(values as Float32Array) : (values as Float32Array),
      };
    case 'int32':
      return {
        dtype: 'I32',
        shape,
        data: copy ? Int32Array.from(values as Int32Array) : (values as Int32Array),
      };
    case 'bool':
      return { dtype: 'BOOL', shape, data: Uint8Array.from(values as Uint8Array) };
    default:
      throw new SafetensorsError(`tensor '${name}' has dtype ${t.dtype}, which safetensors cannot store`, '');
  }
}

// ---------------------------------------------------------------- writing

export type TensorLike = RawTensor | tf.Tensor;

function isTfTensor(v: TensorLike): v is tf.Tensor {
  return v instanceof tf.Tensor;
}

function checkRaw(name: string, raw: RawTensor): void {
  if (!isDtype(raw.dtype)) {
    throw new SafetensorsError(
      `tensor '${name}': unknown dtype '${raw.dtype}' (expected one of ${DTYPES.join(', ')})`,
      '',
    );
  }
  const n = raw.shape.reduce((a, b) => a * b, 1);
  if (!raw.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`tensor '${name}': shape [${raw.shape}] must be non-negative integers`, '');
  }
  const Expected = ARRAY[raw.dtype];
  if (!(raw.data instanceof Expected)) {
    throw new SafetensorsError(`tensor '${name}': ${raw.dtype} data must be a ${Expected.name}`, '');
  }
  if (raw.data.length !== n) {
    throw new SafetensorsError(
      `tensor '${name}': shape [${raw.shape}] needs ${n} values, data has ${raw.data.length}`,
      '',
    );
  }
}

/**
 * Serializes tensors to one safetensors buffer. tfjs tensors are copied out here, so the caller may
 * dispose or change them as soon as this returns. Tensors are laid out widest dtype first, so that
 * each one is aligned to its element size (the header is padded with spaces to a multiple of 8).
 */
export function serializeSafetensors(
  tensors: Record<string, TensorLike>,
  metadata?: Record<string, string>,
): Buffer {
  checkHostEndianness('');
  const entries = Object.entries(tensors).map(([name, v]) => {
    const raw = isTfTensor(v) ? tensorToRaw(v, name, false) : v; // copied into the output below
    checkRaw(name, raw);
    return { name, raw };
  });
  entries.sort((a, b) => BYTES[b.raw.dtype] - BYTES[a.raw.dtype]);
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new SafetensorsError(`metadata '${k}' must be a string, got ${typeof v}`, '');
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const { name, raw } of entries) {
    if (name === '__metadata__')
      throw new SafetensorsError(`'__metadata__' is reserved and cannot name a tensor`, '');
    const nbytes = raw.data.byteLength;
    header[name] = { dtype: raw.dtype, shape: raw.shape, data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const out = Buffer.allocUnsafe(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let pos = 8 + json.length;
  for (const { raw } of entries) {
    const bytes = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}

/** Writes a safetensors file atomically (temporary sibling, fsync, rename). */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorLike>,
  metadata?: Record<string, string>,
): void {
  let bytes: Buffer;
  try {
    bytes = serializeSafetensors(tensors, metadata);
  } catch (err) {
    if (err instanceof SafetensorsError) throw new SafetensorsError(`${path}: ${err.message}`, path);
    throw err;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    const e = err as NodeJS.ErrnoException;
    throw new SafetensorsError(`cannot write ${path}: ${e.code ?? ''} ${e.message}`, path);
  }
}

// ---------------------------------------------------------------- reading

interface ByteSource {
  readonly size: number;
  /** Reads exactly `target.length` bytes at `position` into `target`. */
  readInto(target: Uint8Array, position: number): void;
  close(): void;
}

function fileSource(path: string): ByteSource {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SafetensorsError(`cannot open ${path}: ${e.code ?? e.message}`, path);
  }
  const size = fstatSync(fd).size;
  let open = true;
  return {
    size,
    readInto(target, position) {
      if (!open) throw new SafetensorsError(`${path} is closed`, path);
      let done = 0;
      while (done < target.length) {
        const n = readSync(fd, target, done, target.length - done, position + done);
        if (n === 0)
          throw new SafetensorsError(`${path}: unexpected end of file at byte ${position + done}`, path);
        done += n;
      }
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

function bufferSource(buf: Uint8Array): ByteSource {
  return {
    size: buf.length,
    readInto(target, position) {
      target.set(buf.subarray(position, position + target.length));
    },
    close() {},
  };
}

/**
 * A safetensors file opened for lazy reading: the header is parsed and validated on open, and each
 * `read(key)` reads only that tensor's bytes (positioned reads, no whole-file buffer).
 */
export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  private readonly entries: Map<string, TensorInfo>;
  private readonly dataStart: number;

  private constructor(
    readonly path: string,
    private readonly source: ByteSource,
  ) {
    try {
      const { metadata, entries, dataStart } = parseHeader(source, path);
      this.metadata = metadata;
      this.entries = entries;
      this.dataStart = dataStart;
    } catch (err) {
      source.close();
      throw err;
    }
  }

  static open(path: string): SafetensorsFile {
    checkHostEndianness(path);
    return new SafetensorsFile(path, fileSource(path));
  }

  /** Parses an in-memory safetensors buffer (e.g. after decompression); `name` is used in errors. */
  static fromBuffer(buffer: Uint8Array, name = '<buffer>'): SafetensorsFile {
    checkHostEndianness(name);
    return new SafetensorsFile(name, bufferSource(buffer));
  }

  /** Tensor names in file order (by data offset). */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  info(key: string): TensorInfo {
    const e = this.entries.get(key);
    if (!e) throw new SafetensorsError(`${this.path}: no tensor named '${key}'`, this.path);
    return { dtype: e.dtype, shape: [...e.shape], dataOffsets: [...e.dataOffsets] };
  }

  /** Reads one tensor's raw values (no dtype conversion). */
  read(key: string): RawTensor {
    const { dtype, shape, dataOffsets } = this.info(key);
    const nbytes = dataOffsets[1] - dataOffsets[0];
    const buffer = new ArrayBuffer(nbytes);
    this.source.readInto(new Uint8Array(buffer), this.dataStart + dataOffsets[0]);
    const data = new ARRAY[dtype](buffer, 0, nbytes / BYTES[dtype]);
    return { dtype, shape, data };
  }

  /** Reads one tensor as a tfjs tensor (see rawToTensor for the dtype mapping). */
  readTensor(key: string): tf.Tensor {
    return rawToTensor(this.read(key), key, this.path);
  }

  /** Reads every tensor as a tfjs tensor; on error, tensors already made are disposed. */
  readAllTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    try {
      for (const k of this.keys()) out[k] = this.readTensor(k);
    } catch (err) {
      for (const t of Object.values(out)) t.dispose();
      throw err;
    }
    return out;
  }

  close(): void {
    this.source.close();
  }
}

function parseHeader(
  source: ByteSource,
  file: string,
): { metadata: Record<string, string>; entries: Map<string, TensorInfo>; dataStart: number } {
  const name = file || 'safetensors';
  const fail: (msg: string) => never = (msg) => {
    throw new SafetensorsError(`${name}: ${msg}`, file);
  };
  if (source.size < 8) fail(`truncated: ${source.size} bytes, a safetensors file needs at least 8`);
  const lenBytes = new Uint8Array(8);
  source.readInto(lenBytes, 0);
  const headerLen = Buffer.from(lenBytes.buffer).readBigUInt64LE(0);
  if (headerLen > BigInt(source.size - 8)) {
    fail(`header length ${headerLen} runs past the end of the file (${source.size} bytes)`);
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES))
    fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLen);
  const headerBytes = new Uint8Array(n);
  source.readInto(headerBytes, 8);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = source.size - dataStart;
  let metadata: Record<string, string> = {};
  const list: [string, TensorInfo][] = [];
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        fail('__metadata__ must be an object');
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__.${mk} must be a string`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    if (typeof value !== 'object' || value === null) fail(`entry '${key}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDtype(dtype))
      fail(
        `tensor '${key}' has unknown dtype ${JSON.stringify(dtype)} (expected one of ${DTYPES.join(', ')})`,
      );
    const dt = dtype as Dtype;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${key}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`tensor '${key}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end > dataLen)
      fail(`tensor '${key}' data_offsets [${begin}, ${end}] run past the data buffer (${dataLen} bytes)`);
    if (count * BYTES[dt] !== end - begin) {
      fail(
        `tensor '${key}': ${dt} [${shape}] needs ${count * BYTES[dt]} bytes, data_offsets span ${end - begin}`,
      );
    }
    list.push([key, { dtype: dt, shape: shape as number[], dataOffsets: [begin, end] }]);
  }
  list.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let expected = 0;
  for (const [key, info] of list) {
    const [begin, end] = info.dataOffsets;
    if (begin < expected)
      fail(
        `tensor '${key}' data_offsets [${begin}, ${end}] overlap the previous tensor (ends at ${expected})`,
      );
    if (begin > expected) fail(`tensor '${key}' starts at ${begin}, leaving a hole after byte ${expected}`);
    expected = end;
  }
  if (expected !== dataLen)
    fail(`tensors cover ${expected} bytes but the data buffer has ${dataLen} (truncated or trailing bytes)`);
  return { metadata, entries: new Map(list), dataStart };
}

/** Reads a whole file as raw tensors. */
export function readSafetensors(path: string): {
  tensors: Record<string, RawTensor>;
  metadata: Record<string, string>;
} {
  const f = SafetensorsFile.open(path);
  try {
    const tensors: Record<string, RawTensor> = {};
    for (const k of f.keys()) tensors[k] = f.read(k);
    return { tensors, metadata: f.metadata };
  } finally {
    f.close();
  }
}
