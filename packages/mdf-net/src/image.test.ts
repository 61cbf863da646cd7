import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readDicom } from '@meddl/data';
import { Generator } from '@meddl/tensor';
import { encodePng } from '@meddl/trainer';
import { describe, expect, it } from 'vitest';
import { MdfNetDataError } from './errors';
import {
  augmentImage,
  centerCropSquare,
  decodePng,
  loadImage,
  normalizeImage,
  preprocessImage,
  resizeImage,
} from './image';
import { FINDINGS, type Finding } from './labels';
import { renderChest, synthesize } from './synth/generator';

const SHARED = resolve(__dirname, '../../../../shared/data/torchxrayvision');
const SIIM = join(SHARED, '1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm');
const FAKE_MONO1 = join(SHARED, 'Fake_MONOHR1.dcm');
const NIH_PNG = join(SHARED, '00000001_000.png');

describe('image transforms', () => {
  it('decodes PNG to ITU-R 601 luma', () => {
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 200, 200, 0, 0, 0]);
    const img = decodePng(encodePng(rgb, 3, 2, 3));
    expect([img.rows, img.cols]).toEqual([2, 3]);
    const expected = [0.299, 0.587, 0.114, (0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 255, 200 / 255, 0];
    for (const [i, v] of expected.entries()) expect(img.data[i]).toBeCloseTo(v, 5);
    expect(() => decodePng(new Uint8Array([1, 2, 3]), 'x.png')).toThrow(/x\.png: not a PNG/);
  });

  it('crops the centred square and area-resizes exactly', () => {
    const img = { rows: 2, cols: 4, data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]) };
    expect(Array.from(centerCropSquare(img).data)).toEqual([1, 2, 5, 6]);
    const four = { rows: 4, cols: 4, data: Float32Array.from({ length: 16 }, (_, i) => i) };
    // each output pixel is the mean of a 2×2 block
    expect(Array.from(resizeImage(four, 2, 2).data)).toEqual([2.5, 4.5, 10.5, 12.5]);
    // 3 → 2: output pixel 0 covers source pixels 0 and half of 1
    const row = { rows: 1, cols: 3, data: Float32Array.from([0, 3, 6]) };
    expect(resizeImage(row, 1, 2).data[0]).toBeCloseTo((0 + 0.5 * 3) / 1.5, 6);
    expect(Array.from(normalizeImage(Float32Array.of(0, 1), 'xrv'))).toEqual([-1024, 1024]);
    expect(normalizeImage(Float32Array.of(0.449), 'imagenet')[0]).toBeCloseTo(0, 6);
  });

  it('augments reproducibly and within [0, 1]', () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => (i % 8) / 7);
    const a = augmentImage(x, 8, new Generator(3));
    const b = augmentImage(x, 8, new Generator(3));
    expect(a).toEqual(b);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
  });
});

describe('synthetic DICOM images', () => {
  it('plants findings that change the picture and inverts MONOCHROME1 back on load', async () => {
    const none = Object.fromEntries(FINDINGS.map((f) => [f, false])) as Record<Finding, boolean>;
    const big = renderChest({ ...none, Cardiomegaly: true }, 64, new Generator(1));
    const small = renderChest(none, 64, new Generator(1));
    // heart shadow: row through the heart centre, count bright pixels
    const bright = (a: Float32Array) =>
      Array.from(a.subarray(42 * 64, 43 * 64)).filter((v) => v > 0.6).length;
    expect(bright(big)).toBeGreaterThan(bright(small) + 5);

    const dir = mkdtempSync(join(tmpdir(), 'mdf-img-'));
    const ds = synthesize(dir, { studies: 12, seed: 2, imageSize: 64, monochrome1Fraction: 0.5 });
    const m1 = ds.studies.find((s) => s.photometric === 'MONOCHROME1');
    const m2 = ds.studies.find((s) => s.photometric === 'MONOCHROME2');
    expect(m1 && m2).toBeTruthy();
    for (const s of [m1, m2]) {
      const path = join(dir, 'images', `${s?.studyId}.dcm`);
      const dcm = await readDicom(path);
      expect(dcm.meta.photometricInterpretation).toBe(s?.photometric);
      const img = await loadImage(path);
      // after VOI + inversion, lungs (dark) are darker than the mediastinum (bright) either way
      const at = (y: number, x: number) => img.data[Math.round(y * 64) * 64 + Math.round(x * 64)];
      expect(at(0.3, 0.25)).toBeLessThan(at(0.3, 0.5) - 0.2);
    }
    // same seed, same bytes
    const dir2 = mkdtempSync(join(tmpdir(), 'mdf-img-'));
    synthesize(dir2, { studies: 12, seed: 2, imageSize: 64, monochrome1Fraction: 0.5 });
    expect(readFileSync(join(dir2, 'images', 's00003.dcm'))).toEqual(
      readFileSync(join(dir, 'images', 's00003.dcm')),
    );
    expect(readFileSync(join(dir2, 'labels.csv'), 'utf8')).toBe(
      readFileSync(join(dir, 'labels.csv'), 'utf8'),
    );
  });

  it('rejects a file that is not an image with a typed error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdf-img-'));
    await expect(loadImage(join(dir, 'missing.png'))).rejects.toThrow(MdfNetDataError);
  });
});

describe.skipIf(!existsSync(SIIM))('real chest radiographs from shared/data', () => {
  it('loads the SIIM DICOM and its MONOCHROME1 twin as inverses', async () => {
    const a = await loadImage(SIIM);
    const b = await loadImage(FAKE_MONO1);
    expect([a.rows, a.cols]).toEqual([1024, 1024]);
    let maxErr = 0;
    for (let i = 0; i < a.data.length; i += 997)
      maxErr = Math.max(maxErr, Math.abs(a.data[i] + b.data[i] - 1));
    expect(maxErr).toBeLessThan(1e-5);
    const x = await preprocessImage(SIIM, 64);
    expect(x.length).toBe(64 * 64);
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    expect(mean).toBeGreaterThan(0.2);
    expect(mean).toBeLessThan(0.8);
  });

  it('loads the NIH ChestX-ray14 PNG', async () => {
    const img = await loadImage(NIH_PNG);
    expect([img.rows, img.cols]).toEqual([512, 512]);
    const x = await preprocessImage(NIH_PNG, 32);
    expect(Math.max(...x)).toBeLessThanOrEqual(1);
    expect(Math.max(...x) - Math.min(...x)).toBeGreaterThan(0.5);
  });
});
