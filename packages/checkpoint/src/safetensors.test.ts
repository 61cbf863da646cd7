import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, initBackend, tf } from '@meddl/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError } from './errors';
import {
  bfloat16ToFloat,
  DTYPES,
  type Dtype,
  floatToBfloat16,
  floatToHalf,
  halfToFloat,
  type RawTensor,
  readSafetensors,
  SafetensorsFile,
  serializeSafetensors,
  writeSafetensors,
} from './safetensors';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
let dir: string;

beforeAll(async () => {
  await initBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'meddl-st-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A raw tensor of `dtype` with seeded values covering each type's range. */
function sample(dtype: Dtype, shape: number[], rng: Generator): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const f = () => rng.normal(0, 10);
  switch (dtype) {
    case 'F64':
      return { dtype, shape, data: Float64Array.from({ length: n }, f) };
    case 'F32':
      return { dtype, shape, data: Float32Array.from({ length: n }, f) };
    case 'F16':
      return { dtype, shape, data: Uint16Array.from({ length: n }, () => floatToHalf(f())) };
    case 'BF16':
      return { dtype, shape, data: Uint16Array.from({ length: n }, () => floatToBfloat16(f())) };
    case 'I64':
      return {
        dtype,
        shape,
        data: BigInt64Array.from({ length: n }, () => BigInt(rng.int(2 ** 31)) * 4099n - 2n ** 40n),
      };
    case 'I32':
      return { dtype, shape, data: Int32Array.from({ length: n }, () => rng.nextUint32() | 0) };
    case 'I16':
      return { dtype, shape, data: Int16Array.from({ length: n }, () => rng.int(65536) - 32768) };
    case 'I8':
      return { dtype, shape, data: Int8Array.from({ length: n }, () => rng.int(256) - 128) };
    case 'U8':
      return { dtype, shape, data: Uint8Array.from({ length: n }, () => rng.int(256)) };
    case 'BOOL':
      return { dtype, shape, data: Uint8Array.from({ length: n }, () => (rng.bernoulli(0.5) ? 1 : 0)) };
  }
}

describe('safetensors round trip', () => {
  it('keeps every dtype, scalar and empty tensors, and metadata bit-exact', () => {
    const rng = new Generator(7);
    const tensors: Record<string, RawTensor> = {};
    for (const dtype of DTYPES) {
      tensors[`${dtype}.matrix`] = sample(dtype, [3, 5], rng);
      tensors[`${dtype}.scalar`] = sample(dtype, [], rng);
      tensors[`${dtype}.empty`] = sample(dtype, [0, 4], rng);
    }
    const path = join(dir, 'all.safetensors');
    writeSafetensors(path, tensors, { note: 'round trip', epoch: '3' });
    const f = SafetensorsFile.open(path);
    try {
      expect(f.metadata).toEqual({ note: 'round trip', epoch: '3' });
      expect(f.keys().sort()).toEqual(Object.keys(tensors).sort());
      for (const [k, t] of Object.entries(tensors)) {
        const back = f.read(k);
        expect(back.dtype).toBe(t.dtype);
        expect(back.shape).toEqual(t.shape);
        expect(back.data.constructor).toBe(t.data.constructor);
        expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(t.data as ArrayLike<number>));
        // Aligned to the element size (widest dtypes are laid out first, header padded to 8).
        expect(
          (8 + Number(readFileSync(path).readBigUInt64LE(0)) + f.info(k).dataOffsets[0]) %
            back.data.BYTES_PER_ELEMENT,
        ).toBe(0);
      }
    } finally {
      f.close();
    }
    const whole = readSafetensors(path);
    expect(Object.keys(whole.tensors).length).toBe(30);
  });

  it('converts tfjs tensors both ways (float32, int32, bool) and widens other dtypes on load', () => {
    const path = join(dir, 'tf.safetensors');
    const a = tf.tensor([
      [1.5, -2],
      [3, 4.25],
    ]);
    const b = tf.tensor([1, -7, 2147483647], [3], 'int32');
    const c = tf.tensor([true, false], [2], 'bool');
    const s = tf.scalar(2.5);
    writeSafetensors(path, {
      a,
      b,
      c,
      s,
      h: { dtype: 'F16', shape: [2], data: Uint16Array.of(floatToHalf(0.5), floatToHalf(-3)) },
    });
    const f = SafetensorsFile.open(path);
    const t = f.readAllTensors();
    f.close();
    expect(t.a.dtype).toBe('float32');
    expect(t.a.arraySync()).toEqual([
      [1.5, -2],
      [3, 4.25],
    ]);
    expect(t.b.dtype).toBe('int32');
    expect(Array.from(t.b.dataSync())).toEqual([1, -7, 2147483647]);
    expect(t.c.dtype).toBe('bool');
    expect(Array.from(t.c.dataSync())).toEqual([1, 0]);
    expect(t.s.shape).toEqual([]);
    expect(t.s.dataSync()[0]).toBe(2.5);
    expect(Array.from(t.h.dataSync())).toEqual([0.5, -3]);
    for (const x of [a, b, c, s, ...Object.values(t)]) x.dispose();
  });

  it('float16 / bfloat16 conversions match IEEE rounding at edges', () => {
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00); // rounds up to Inf
    expect(floatToHalf(2 ** -24)).toBe(1);
    expect(floatToHalf(2 ** -25)).toBe(0); // tie to even
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie to even (down)
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie to even (up)
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(Number.isNaN(halfToFloat(floatToHalf(Number.NaN)))).toBe(true);
    for (let h = 0; h < 0x7c00; h += 37) expect(floatToHalf(halfToFloat(h))).toBe(h);
    expect(floatToBfloat16(1)).toBe(0x3f80);
    expect(bfloat16ToFloat(0x3f80)).toBe(1);
    expect(Number.isNaN(bfloat16ToFloat(floatToBfloat16(Number.NaN)))).toBe(true);
  });
});

describe('lazy reading', () => {
  it('reads one tensor of a 5 GiB (sparse) file without reading the rest', () => {
    // Header: a 5 GiB U8 tensor followed by a small F32 one; the big region is a hole in the file.
    const big = 5 * 2 ** 30;
    const header = Buffer.from(
      JSON.stringify({
        huge: { dtype: 'U8', shape: [big], data_offsets: [0, big] },
        small: { dtype: 'F32', shape: [3], data_offsets: [big, big + 12] },
      }),
    );
    const path = join(dir, 'sparse.safetensors');
    const fd = openSync(path, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, Buffer.concat([len, header]));
    writeSync(fd, Buffer.from(Float32Array.of(1.5, -2, 3).buffer), 0, 12, 8 + header.length + big);
    closeSync(fd);
    const rss = process.memoryUsage().rss;
    const f = SafetensorsFile.open(path);
    expect(f.info('huge').shape).toEqual([big]);
    expect(Array.from(f.read('small').data as Float32Array)).toEqual([1.5, -2, 3]);
    f.close();
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 2 ** 20);
    rmSync(path);
  });
});

describe('safetensors interop with the numpy reference (fixtures/make_fixture.py)', () => {
  const expected = JSON.parse(readFileSync(join(fixtures, 'numpy.expected.json'), 'utf8')) as {
    metadata: Record<string, string>;
    tensors: Record<
      string,
      { dtype: Dtype; shape: number[]; values: (number | string | boolean)[]; bits?: number[] }
    >;
  };

  it('reads every tensor of a file written by numpy', () => {
    const f = SafetensorsFile.open(join(fixtures, 'numpy.safetensors'));
    try {
      expect(f.metadata).toEqual(expected.metadata);
      expect(f.keys().sort()).toEqual(Object.keys(expected.tensors).sort());
      for (const [k, e] of Object.entries(expected.tensors)) {
        const raw = f.read(k);
        expect(raw.dtype, k).toBe(e.dtype);
        expect(raw.shape, k).toEqual(e.shape);
        if (e.dtype === 'I64') expect(Array.from(raw.data as BigInt64Array, String), k).toEqual(e.values);
        else if (e.dtype === 'BOOL') expect(Array.from(raw.data as Uint8Array, Boolean), k).toEqual(e.values);
        else if (e.bits) expect(Array.from(raw.data as Uint16Array), k).toEqual(e.bits);
        else expect(Array.from(raw.data as Float64Array), k).toEqual(e.values);
      }
      // Conversion to tfjs: F16/BF16 decode to the values numpy decoded; I64 within int32 works.
      const half = f.readTensor('half');
      expect(Array.from(half.dataSync())).toEqual(
        expected.tensors.half.values.map((v) => Math.fround(v as number)),
      );
      const brain = f.readTensor('brain');
      expect(Array.from(brain.dataSync())).toEqual(expected.tensors.brain.values);
      const nbt = f.readTensor('bn.num_batches_tracked');
      expect(nbt.dtype).toBe('int32');
      expect(nbt.dataSync()[0]).toBe(42);
      expect(() => f.readTensor('big_ids')).toThrow(/outside the int32 range/);
      for (const t of [half, brain, nbt]) t.dispose();
      // F16/BF16 encoders agree with numpy's float16 and the fixture's round-to-nearest-even bf16.
      expect(Array.from([0.1, -2.5, 65504.0, 6e-8, 1e-5, -0], floatToHalf)).toEqual(
        expected.tensors.half.bits,
      );
      expect(Array.from([1.0, -1 / 3, 314159265e-8, 1e30], floatToBfloat16)).toEqual(
        expected.tensors.brain.bits,
      );
    } finally {
      f.close();
    }
  });

  it('writes a file the numpy reference reader accepts (same header rules, same bytes)', () => {
    // Re-create the fixture's tensors in TypeScript; the reference reader requires contiguous
    // offsets covering the body, a u64 LE length and a JSON header; we also match its byte order.
    const src = SafetensorsFile.open(join(fixtures, 'numpy.safetensors'));
    const tensors: Record<string, RawTensor> = {};
    for (const k of src.keys()) tensors[k] = src.read(k);
    src.close();
    const bytes = serializeSafetensors(tensors, expected.metadata);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<
      string,
      { data_offsets: [number, number] }
    >;
    const { __metadata__: meta, ...entries } = header;
    expect(meta).toEqual(expected.metadata);
    const spans = Object.values(entries)
      .map((e) => e.data_offsets)
      .sort((a, b) => a[0] - b[0]);
    let end = 0;
    for (const [b, e] of spans) {
      expect(b).toBe(end);
      end = e;
    }
    expect(end).toBe(bytes.length - 8 - n);
    // Both writers put the widest dtype first; the data buffers are byte-identical.
    const fixture = readFileSync(join(fixtures, 'numpy.safetensors'));
    const fn = Number(fixture.readBigUInt64LE(0));
    const mine = SafetensorsFile.fromBuffer(bytes);
    for (const k of mine.keys()) {
      const a = mine.read(k);
      expect(Buffer.from(a.data.buffer).equals(Buffer.from(tensors[k].data.buffer)), k).toBe(true);
    }
    expect(fixture.length - 8 - fn).toBe(bytes.length - 8 - n);
  });
});

describe('malformed safetensors give a SafetensorsError naming the file', () => {
  const good = () =>
    serializeSafetensors({
      a: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) },
      b: { dtype: 'I8', shape: [3], data: Int8Array.of(1, 2, 3) },
    });
  const withHeader = (header: unknown, body = Buffer.alloc(11)) => {
    const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, body]);
  };
  const cases: [string, () => Buffer, RegExp][] = [
    ['empty file', () => Buffer.alloc(0), /truncated: 0 bytes/],
    ['shorter than the length field', () => Buffer.alloc(5), /truncated/],
    ['truncated data', () => good().subarray(0, good().length - 3), /run past the data buffer|truncated/],
    ['trailing bytes', () => Buffer.concat([good(), Buffer.alloc(4)]), /truncated or trailing/],
    [
      'header length beyond the file',
      () => {
        const b = Buffer.from(good());
        b.writeBigUInt64LE(BigInt(b.length), 0);
        return b;
      },
      /runs past the end of the file/,
    ],
    [
      'header length of 2^64-1',
      () => {
        const b = Buffer.from(good());
        b.writeBigUInt64LE(2n ** 64n - 1n, 0);
        return b;
      },
      /runs past the end/,
    ],
    ['bad JSON', () => withHeader('{"a": {"dtype": "F32",'), /not valid UTF-8 JSON/],
    [
      'invalid UTF-8',
      () => withHeader(Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1')),
      /not valid UTF-8 JSON|not a JSON object/,
    ],
    ['a JSON array', () => withHeader('[1,2]'), /not a JSON object/],
    [
      'unknown dtype',
      () => withHeader({ a: { dtype: 'F8_E4M3', shape: [11], data_offsets: [0, 11] } }),
      /unknown dtype "F8_E4M3"/,
    ],
    [
      'offsets out of range',
      () => withHeader({ a: { dtype: 'U8', shape: [20], data_offsets: [0, 20] } }),
      /run past the data buffer/,
    ],
    [
      'overlapping offsets',
      () =>
        withHeader({
          a: { dtype: 'U8', shape: [8], data_offsets: [0, 8] },
          b: { dtype: 'U8', shape: [3], data_offsets: [6, 9] },
        }),
      /overlap/,
    ],
    [
      'a hole between tensors',
      () =>
        withHeader({
          a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
          b: { dtype: 'U8', shape: [3], data_offsets: [8, 11] },
        }),
      /hole/,
    ],
    [
      'size that does not match dtype x shape',
      () => withHeader({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 11] } }),
      /needs 12 bytes/,
    ],
    [
      'reversed offsets',
      () => withHeader({ a: { dtype: 'U8', shape: [0], data_offsets: [5, 0] } }),
      /invalid data_offsets/,
    ],
    [
      'negative shape',
      () => withHeader({ a: { dtype: 'U8', shape: [-11], data_offsets: [0, 11] } }),
      /invalid shape/,
    ],
    [
      'non-string metadata',
      () =>
        withHeader({ __metadata__: { epoch: 3 }, a: { dtype: 'U8', shape: [11], data_offsets: [0, 11] } }),
      /must be a string/,
    ],
  ];
  for (const [what, make, message] of cases) {
    it(what, () => {
      const path = join(dir, `bad-${what.replace(/\W+/g, '-')}.safetensors`);
      writeFileSync(path, make());
      let error: unknown;
      try {
        SafetensorsFile.open(path).close();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SafetensorsError);
      expect((error as SafetensorsError).meddl).toBe(true);
      expect((error as SafetensorsError).file).toBe(path);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('refuses to write inconsistent tensors', () => {
    expect(() =>
      writeSafetensors(join(dir, 'x.safetensors'), {
        a: { dtype: 'F32', shape: [3], data: Float32Array.of(1) },
      }),
    ).toThrow(SafetensorsError);
    expect(() =>
      writeSafetensors(join(dir, 'x.safetensors'), {
        a: { dtype: 'I32', shape: [1], data: Float32Array.of(1) },
      }),
    ).toThrow(/must be a Int32Array/);
    expect(() =>
      writeSafetensors(join(dir, 'x.safetensors'), {
        a: { dtype: 'Q4' as Dtype, shape: [1], data: Float32Array.of(1) },
      }),
    ).toThrow(/unknown dtype/);
  });

  it('a missing file is a SafetensorsError', () => {
    expect(() => SafetensorsFile.open(join(dir, 'nope.safetensors'))).toThrow(
      /cannot open .*nope.safetensors: ENOENT/,
    );
  });
});
