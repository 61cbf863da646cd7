// Decodes the writer's files without its code path: a hand-written protobuf wire-format reader
// keyed by the field numbers published in tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto, and a bitwise (table-free) CRC-32C.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { TensorBoardWriter } from './writer';

const tmp = mkdtempSync(join(tmpdir(), 'meddl-tb-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function crc32cBitwise(buf: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}
const mask = (c: number) => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;

type Field = { no: number; wire: number; value: bigint | Buffer };
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let p = 0;
  const varint = (): bigint => {
    let r = 0n;
    let s = 0n;
    for (;;) {
      const b = buf[p++];
      r |= BigInt(b & 0x7f) << s;
      if (!(b & 0x80)) return r;
      s += 7n;
    }
  };
  while (p < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 1) {
      out.push({ no, wire, value: buf.subarray(p, p + 8) });
      p += 8;
    } else if (wire === 2) {
      const len = Number(varint());
      out.push({ no, wire, value: buf.subarray(p, p + len) });
      p += len;
    } else if (wire === 5) {
      out.push({ no, wire, value: buf.subarray(p, p + 4) });
      p += 4;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}
const one = (fs: Field[], no: number) => fs.find((f) => f.no === no)?.value;
const all = (fs: Field[], no: number) => fs.filter((f) => f.no === no).map((f) => f.value as Buffer);

function readRecords(path: string): Buffer[] {
  const data = readFileSync(path);
  const recs: Buffer[] = [];
  let p = 0;
  while (p < data.length) {
    const len = Number(data.readBigUInt64LE(p));
    expect(data.readUInt32LE(p + 8)).toBe(mask(crc32cBitwise(data.subarray(p, p + 8))));
    const body = data.subarray(p + 12, p + 12 + len);
    expect(data.readUInt32LE(p + 12 + len)).toBe(mask(crc32cBitwise(body)));
    recs.push(body);
    p += 16 + len;
  }
  expect(p).toBe(data.length);
  return recs;
}

describe('TensorBoard event files', () => {
  it('CRC-32C check value matches the standard (RFC 3720) test vector', () => {
    expect(crc32cBitwise(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('decodes independently: file_version, scalars, image (PNG), text plugin; all CRCs valid', () => {
    const w = new TensorBoardWriter(tmp, { now: () => 1700000000.5 });
    w.scalars(3, { 'train/loss': 0.25, lr: 1e-3, skipped: Number.NaN });
    w.confusionMatrix(
      'val/confusion',
      [
        [5, 1],
        [2, 7],
      ],
      4,
    );
    w.text('config', '```yaml\nseed: 1\n```', 0);
    w.close();
    expect(w.path).toMatch(/events\.out\.tfevents\.1700000000\./);
    const events = readRecords(w.path).map(fields);
    expect(events).toHaveLength(4);
    // Event.wall_time = 1 (double), step = 2, file_version = 3
    expect((one(events[0], 1) as Buffer).readDoubleLE(0)).toBe(1700000000.5);
    expect((one(events[0], 3) as Buffer).toString()).toBe('brain.Event:2');

    expect(one(events[1], 2)).toBe(3n);
    const values = all(fields(one(events[1], 5) as Buffer), 1).map(fields); // Summary.value = 1
    expect(values.map((v) => (one(v, 1) as Buffer).toString())).toEqual(['train/loss', 'lr']); // NaN dropped
    expect((one(values[0], 2) as Buffer).readFloatLE(0)).toBe(0.25); // simple_value = 2 (float)
    expect((one(values[1], 2) as Buffer).readFloatLE(0)).toBeCloseTo(1e-3, 9);

    const img = fields(one(fields(all(fields(one(events[2], 5) as Buffer), 1)[0]), 4) as Buffer); // Value.image = 4
    const [h, wd, cs] = [one(img, 1), one(img, 2), one(img, 3)];
    expect([h, wd, cs]).toEqual([32n, 32n, 3n]);
    const png = one(img, 4) as Buffer; // encoded_image_string = 4
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(32); // IHDR width
    const idatLen = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString()).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(raw.length).toBe(32 * (32 * 3 + 1));
    // cell (row 0, col 0): fraction 5/6 → white-to-blue, sampled inside the cell
    const px = 5 * (32 * 3 + 1) + 1 + 5 * 3;
    expect([raw[px], raw[px + 1], raw[px + 2]]).toEqual([
      Math.round(255 * (1 - 5 / 6)),
      Math.round(255 * (1 - 0.6 * (5 / 6))),
      255,
    ]);

    const textVal = fields(all(fields(one(events[3], 5) as Buffer), 1)[0]);
    const meta = fields(one(textVal, 9) as Buffer); // Value.metadata = 9
    expect((one(fields(one(meta, 1) as Buffer), 1) as Buffer).toString()).toBe('text'); // plugin_data.plugin_name
    const tensor = fields(one(textVal, 8) as Buffer); // Value.tensor = 8
    expect(one(tensor, 1)).toBe(7n); // DT_STRING
    expect((all(tensor, 8)[0] as Buffer).toString()).toBe('```yaml\nseed: 1\n```'); // string_val = 8
  });
});
