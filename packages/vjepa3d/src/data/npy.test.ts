import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpyVolume } from './npy';

const fixtures = resolve(__dirname, '../../fixtures');
const expected = JSON.parse(readFileSync(join(fixtures, 'npy_expected.json'), 'utf8')) as Record<
  string,
  { shape: number[]; values: number[] }
>;

describe('.npy volumes (fixtures written by numpy 1.24)', () => {
  for (const [name, want] of Object.entries(expected)) {
    it(`reads ${name}`, () => {
      const v = readNpyVolume(join(fixtures, name), [2, 1, 1]);
      expect(v.shape).toEqual(want.shape);
      expect(v.spacing).toEqual([2, 1, 1]);
      want.values.forEach((x, i) => {
        if (Math.abs(v.data[i]! - x) > 1e-6 * Math.max(1, Math.abs(x)))
          throw new Error(`${name}[${i}]: ${v.data[i]} vs ${x}`);
      });
    });
  }
  it('names the file on bad input', () => {
    const bad = join(tmpdir(), `vjepa3d-bad-${process.pid}.npy`);
    writeFileSync(bad, 'hello');
    expect(() => readNpyVolume(bad)).toThrow(/bad-.*\.npy: not a \.npy file/);
    const bytes = readFileSync(join(fixtures, 'f4_c.npy'));
    writeFileSync(bad, bytes.subarray(0, bytes.length - 8));
    expect(() => readNpyVolume(bad)).toThrow(/truncated/);
  });
});
