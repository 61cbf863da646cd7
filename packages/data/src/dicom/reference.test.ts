// Every DICOM file in ../shared/data against pydicom 2.3 (fixtures/dicom/reference.json, made by
// fixtures/dicom/make_fixtures.py): geometry, dtype, pixel statistics and sample values of the stored
// pixels, of the modality LUT and of the VOI LUT. Exact for lossless syntaxes; lossy ones within the
// tolerances documented in docs/data-dicom.md.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type DicomImage, readDicom } from './index';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..', '..');
const dataDir = join(repoRoot, '..', 'shared', 'data');

interface Stats {
  min: number;
  max: number;
  mean: number;
  std: number;
  sum: number;
}
interface RefFile {
  file: string;
  readable: boolean;
  decodable?: boolean;
  error?: string;
  transferSyntaxUid?: string;
  photometricInterpretation?: string;
  rows?: number;
  columns?: number;
  frames?: number;
  samplesPerPixel?: number;
  dtype?: string;
  pixelStats?: Stats;
  pixelSamples?: [number, number][];
  frameStats?: Stats[] | null;
  modalityStats?: Stats;
  modalitySamples?: [number, number][];
  voiStats?: Stats;
  voiSamples?: [number, number][];
  paletteStats?: Stats;
  paletteSamples?: [number, number][];
}

const reference = JSON.parse(
  readFileSync(join(here, '..', '..', 'fixtures', 'dicom', 'reference.json'), 'utf8'),
) as {
  files: RefFile[];
};

/** Lossy syntaxes: JPEG baseline/extended and JPEG 2000 (lossy). */
const LOSSY = new Set(['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.91']);

function stats(values: ArrayLike<number>): Stats {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / values.length;
  let ss = 0;
  for (let i = 0; i < values.length; i++) ss += ((values[i] as number) - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(ss / values.length), sum };
}

function allFrames(img: DicomImage, get: (i: number) => ArrayLike<number>): Float64Array {
  const frames = Array.from({ length: img.meta.numberOfFrames }, (_, i) => get(i));
  const out = new Float64Array(frames.reduce((n, f) => n + f.length, 0));
  let o = 0;
  for (const f of frames) {
    out.set(f as ArrayLike<number>, o);
    o += f.length;
  }
  return out;
}

const DTYPE: Record<string, string> = {
  Uint8Array: 'uint8',
  Int8Array: 'int8',
  Uint16Array: 'uint16',
  Int16Array: 'int16',
  Uint32Array: 'uint32',
  Int32Array: 'int32',
};
const numpyDtype = (d: string): string =>
  ({ '>i2': 'int16', '>u2': 'uint16', '>i4': 'int32', '>u4': 'uint32' })[d] ?? d;

function expectStats(actual: Stats, expected: Stats, lossy: boolean, label: string): void {
  if (!lossy) {
    expect(actual.min, `${label} min`).toBe(expected.min);
    expect(actual.max, `${label} max`).toBe(expected.max);
    expect(actual.sum, `${label} sum`).toBeCloseTo(expected.sum, 6);
    expect(actual.mean, `${label} mean`).toBeCloseTo(expected.mean, 9);
    expect(actual.std, `${label} std`).toBeCloseTo(expected.std, 6);
  } else {
    const range = Math.max(1, expected.max - expected.min);
    expect(Math.abs(actual.mean - expected.mean) / range, `${label} mean`).toBeLessThan(0.005);
    expect(Math.abs(actual.std - expected.std) / range, `${label} std`).toBeLessThan(0.005);
    expect(Math.abs(actual.min - expected.min) / range, `${label} min`).toBeLessThan(0.02);
    expect(Math.abs(actual.max - expected.max) / range, `${label} max`).toBeLessThan(0.02);
  }
}

function expectSamples(
  values: ArrayLike<number>,
  samples: [number, number][],
  tolerance: number,
  label: string,
): void {
  for (const [index, value] of samples) {
    const got = values[index] as number;
    if (tolerance === 0) expect(got, `${label}[${index}]`).toBe(value);
    else
      expect(Math.abs(got - value), `${label}[${index}] = ${got} vs ${value}`).toBeLessThanOrEqual(tolerance);
  }
}

describe('DICOM files in shared/data match pydicom', () => {
  for (const ref of reference.files.filter((r) => r.decodable)) {
    it(ref.file, async () => {
      const img = await readDicom(join(dataDir, ref.file));
      const lossy = LOSSY.has(ref.transferSyntaxUid ?? '');
      expect(img.meta.rows).toBe(ref.rows);
      expect(img.meta.columns).toBe(ref.columns);
      expect(img.meta.numberOfFrames).toBe(ref.frames);
      expect(img.meta.samplesPerPixel).toBe(ref.samplesPerPixel);
      expect(img.meta.transferSyntaxUid).toBe(ref.transferSyntaxUid);
      expect(DTYPE[img.frame(0).constructor.name]).toBe(numpyDtype(ref.dtype ?? ''));
      const pixels = allFrames(img, (i) => img.frame(i));
      expect(pixels.length).toBe(
        (ref.rows ?? 0) * (ref.columns ?? 0) * (ref.frames ?? 0) * (ref.samplesPerPixel ?? 0),
      );
      expectStats(stats(pixels), ref.pixelStats as Stats, lossy, 'pixels');
      expectSamples(pixels, ref.pixelSamples ?? [], lossy ? 8 : 0, 'pixels');
      const frameSize = pixels.length / img.meta.numberOfFrames;
      ref.frameStats?.forEach((fs, i) => {
        expectStats(stats(pixels.subarray(i * frameSize, (i + 1) * frameSize)), fs, lossy, `frame ${i}`);
      });
      if (ref.modalityStats) {
        const modality = allFrames(img, (i) => img.modalityFrame(i));
        expectStats(stats(modality), ref.modalityStats, lossy, 'modality');
        expectSamples(modality, ref.modalitySamples ?? [], lossy ? 8 : 0, 'modality');
      }
      if (ref.voiStats) {
        const voi = allFrames(img, (i) => img.displayFrame(i, { invertMonochrome1: false }));
        const s = stats(voi);
        const tol = lossy ? 0.01 : 1e-6;
        for (const k of ['min', 'max', 'mean', 'std'] as const) {
          expect(Math.abs(s[k] - (ref.voiStats[k] as number)), `voi ${k}`).toBeLessThan(tol);
        }
        expectSamples(voi, ref.voiSamples ?? [], lossy ? 0.02 : 1e-6, 'voi');
      }
      if (ref.paletteStats) {
        const rgb = allFrames(img, (i) => img.rgbFrame(i));
        expectStats(stats(rgb), ref.paletteStats, false, 'palette');
        expectSamples(rgb, ref.paletteSamples ?? [], 0, 'palette');
      }
    });
  }
});
