// Writer round trips through meddl's own reader, volumes from multi-frame files, and VOI functions
// against the PS3.3 C.11.2.1.2 formulas written out independently here.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import {
  DicomError,
  readDicom,
  readDicomHeader,
  readDicomVolume,
  SOP_CLASS,
  writeDicom,
  writeDicomFile,
} from './index';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, '..', '..', '..', '..', '..', 'shared', 'data');
const tmp = mkdtempSync(join(tmpdir(), 'meddl-dicom-writer-'));

function randomPixels(n: number, max: number, seed: number): Uint16Array {
  const g = new Generator(seed);
  return Uint16Array.from({ length: n }, () => g.int(max + 1));
}

describe('writeDicom → readDicom', () => {
  it('OCT volume: 16-bit multi-frame, functional groups, frames ordered by position', async () => {
    const [frames, rows, columns] = [5, 6, 7];
    const pixels = randomPixels(frames * rows * columns, 4095, 1);
    // Frames stored in shuffled z order; the volume must come back sorted along the normal.
    const z = [2, 0, 4, 1, 3];
    const path = join(tmp, 'oct.dcm');
    await writeDicomFile(path, {
      kind: 'oct',
      rows,
      columns,
      frames,
      bitsAllocated: 16,
      bitsStored: 12,
      pixels,
      patientId: 'PAT-001',
      manufacturer: 'Heidelberg Engineering',
      modelName: 'Spectralis',
      laterality: 'R',
      pixelSpacing: [0.0039, 0.0114],
      sliceThickness: 0.12,
      imageOrientationPatient: [1, 0, 0, 0, 1, 0],
      framePositions: z.map((k) => [0, 0, 0.12 * k] as [number, number, number]),
      rescaleSlope: 2,
      rescaleIntercept: -10,
    });
    const img = await readDicom(path);
    expect(img.meta).toMatchObject({
      sopClassUid: SOP_CLASS.oct,
      modality: 'OPT',
      manufacturer: 'Heidelberg Engineering',
      modelName: 'Spectralis',
      laterality: 'R',
      patientId: 'PAT-001',
      rows,
      columns,
      numberOfFrames: frames,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelSpacing: [0.0039, 0.0114],
      sliceThickness: 0.12,
      rescaleSlope: 2,
      rescaleIntercept: -10,
    });
    expect(img.meta.studyUid).toMatch(/^2\.25\.\d+$/);
    for (let f = 0; f < frames; f++) {
      expect(Array.from(img.frame(f))).toEqual(
        Array.from(pixels.subarray(f * rows * columns, (f + 1) * rows * columns)),
      );
    }
    const vol = await readDicomVolume(path);
    expect(vol.shape).toEqual([frames, rows, columns]);
    expect(vol.ordering).toBe('position');
    expect(vol.spacing[0]).toBeCloseTo(0.12, 9);
    expect(vol.spacing.slice(1)).toEqual([0.0039, 0.0114]);
    expect(vol.origin).toEqual([0, 0, 0]);
    // Output frame j is the stored frame whose z index is j.
    for (let j = 0; j < frames; j++) {
      const stored = z.indexOf(j);
      expect(vol.frameSources[j]).toEqual({ file: 0, frame: stored });
      const k = 3;
      expect(vol.data[j * rows * columns + k]).toBe((pixels[stored * rows * columns + k] as number) * 2 - 10);
    }
    const header = await readDicomHeader(path);
    expect(header.manufacturer).toBe('Heidelberg Engineering');
  });

  it('chest X-ray CR: 8-bit, view position, MONOCHROME1, multi-valued windows, deterministic UIDs', async () => {
    const g = new Generator(7);
    const pixels = Uint8Array.from({ length: 16 * 12 }, () => g.int(256));
    const spec = {
      kind: 'cr' as const,
      rows: 16,
      columns: 12,
      bitsAllocated: 8 as const,
      pixels,
      photometricInterpretation: 'MONOCHROME1' as const,
      patientId: 'CXR-42',
      viewPosition: 'PA',
      laterality: 'L' as const,
      pixelSpacing: [0.143, 0.143] as [number, number],
      manufacturer: 'meddl synthetic',
      windows: [
        { center: 128, width: 256 },
        { center: 100, width: 50 },
      ],
    };
    const bytes = writeDicom(spec);
    expect(writeDicom(spec)).toEqual(bytes);
    const img = await readDicom(bytes);
    expect(img.meta).toMatchObject({
      sopClassUid: SOP_CLASS.cr,
      modality: 'CR',
      viewPosition: 'PA',
      laterality: 'L',
      patientId: 'CXR-42',
      photometricInterpretation: 'MONOCHROME1',
      pixelSpacing: [0.143, 0.143],
      windows: [
        { center: 128, width: 256, function: 'LINEAR' },
        { center: 100, width: 50, function: 'LINEAR' },
      ],
    });
    expect(img.frame(0)).toEqual(pixels);
    // frame() hands out copies: changing one does not reach the next call (nor the cache).
    const copy = img.frame(0);
    copy[0] = ((pixels[0] as number) + 1) % 256;
    expect(img.frame(0)[0]).toBe(pixels[0]);
    const uncached = await readDicom(bytes, { cacheLastFrame: false });
    expect(uncached.frame(0)).toEqual(uncached.frame(0));
    const shown = img.displayFrame(0, { windowIndex: 1 });
    const raw = img.displayFrame(0, { windowIndex: 1, invertMonochrome1: false });
    for (let k = 0; k < pixels.length; k++) {
      const x = pixels[k] as number;
      // PS3.3 C.11.2.1.2.1 LINEAR with c = 100, w = 50.
      const y = x <= 99.5 - 49 / 2 ? 0 : x > 99.5 + 49 / 2 ? 1 : (x - 99.5) / 49 + 0.5;
      expect(raw[k]).toBeCloseTo(y, 6);
      expect(shown[k]).toBeCloseTo(1 - y, 6);
    }
    expect(() => img.displayFrame(0, { windowIndex: 2 })).toThrow(/window index 2 out of range/);
  });

  it('signed 16-bit with bits stored < allocated is sign-extended; SIGMOID and LINEAR_EXACT windows', async () => {
    const values = Int16Array.from([-2048, -1, 0, 1, 2047, -100, 100, 5]);
    // Put garbage in the 4 bits above Bits Stored 12; the reader must sign-extend from bit 11.
    const dirty = Uint16Array.from(values, (v) => ((v & 0x0fff) | 0xa000) & 0xffff);
    const bytes = writeDicom({
      kind: 'dx',
      rows: 2,
      columns: 4,
      bitsAllocated: 16,
      bitsStored: 12,
      signed: true,
      pixels: new Int16Array(dirty.buffer),
      patientId: 'S',
      windows: [{ center: 0, width: 400, function: 'SIGMOID' }],
    });
    const img = await readDicom(bytes);
    expect(Array.from(img.frame(0))).toEqual(Array.from(values));
    const sig = img.displayFrame(0);
    values.forEach((x, k) => {
      expect(sig[k]).toBeCloseTo(1 / (1 + Math.exp((-4 * (x - 0)) / 400)), 6);
    });
    const exact = img.displayFrame(0, { window: { center: 0, width: 200, function: 'LINEAR_EXACT' } });
    values.forEach((x, k) => {
      const y = x <= -100 ? 0 : x > 100 ? 1 : x / 200 + 0.5;
      expect(exact[k]).toBeCloseTo(y, 6);
    });
  });

  it('series of single-frame files: ordered by position along the normal, else by Instance Number', async () => {
    const base = { kind: 'sc' as const, rows: 2, columns: 3, bitsAllocated: 16 as const, patientId: 'S1' };
    const z = [2.5, 0.5, 1.5];
    // Orientation with a tilted normal: positions are projected on it, not read as plain z.
    const iop: [number, number, number, number, number, number] = [1, 0, 0, 0, 0, -1]; // normal (0, 1, 0)
    const paths = await Promise.all(
      z.map(async (zz, k) => {
        const path = join(tmp, `slice${k}.dcm`);
        await writeDicomFile(path, {
          ...base,
          pixels: Uint16Array.from({ length: 6 }, () => k),
          instanceNumber: 10 - k,
          framePositions: [[5, zz, 100]],
          imageOrientationPatient: iop,
          pixelSpacing: [0.5, 0.25],
        });
        return path;
      }),
    );
    const vol = await readDicomVolume(paths);
    expect(vol.ordering).toBe('position');
    expect(vol.frameSources.map((s) => s.file)).toEqual([1, 2, 0]);
    expect(vol.spacing).toEqual([1, 0.5, 0.25]);
    expect(vol.origin).toEqual([5, 0.5, 100]);
    expect(Array.from(vol.data.subarray(0, 6))).toEqual([1, 1, 1, 1, 1, 1]);
    const noPos = await Promise.all(
      [0, 1, 2].map(async (k) => {
        const path = join(tmp, `inst${k}.dcm`);
        await writeDicomFile(path, {
          ...base,
          pixels: Uint16Array.from({ length: 6 }, () => k),
          instanceNumber: 10 - k,
        });
        return path;
      }),
    );
    const byInstance = await readDicomVolume(noPos);
    expect(byInstance.ordering).toBe('instance-number');
    expect(byInstance.frameSources.map((s) => s.file)).toEqual([2, 1, 0]);
  });

  it('rejects bad specs with typed errors', () => {
    const base = { kind: 'cr' as const, rows: 2, columns: 2, bitsAllocated: 8 as const, patientId: 'p' };
    expect(() => writeDicom({ ...base, pixels: new Uint8Array(3) })).toThrow(/pixels has 3 values/);
    expect(() => writeDicom({ ...base, pixels: new Uint16Array(4) })).toThrow(
      /Uint16Array but bitsAllocated is 8/,
    );
    expect(() => writeDicom({ ...base, rows: 0, pixels: new Uint8Array(0) })).toThrow(DicomError);
  });
});

describe('readDicomVolume on shared data', () => {
  it('enhanced MR (emri_small, anonymised: no functional groups): stored order, Spacing Between Slices', async () => {
    const vol = await readDicomVolume(join(dataDir, 'pydicom-data/emri_small.dcm'));
    expect(vol.shape).toEqual([10, 64, 64]);
    expect(vol.ordering).toBe('file-order');
    expect(vol.spacing).toEqual([1.2, 1, 1]);
    expect(vol.frameSources.map((s) => s.frame)).toEqual([...Array(10).keys()]);
  });

  it('enhanced CT (eCT_Supplemental): rescale from shared functional groups in the volume', async () => {
    const vol = await readDicomVolume(join(dataDir, 'pydicom-data/eCT_Supplemental.dcm'));
    expect(vol.shape).toEqual([2, 512, 512]);
    expect(vol.spacing.slice(1)).toEqual([0.388672, 0.388672]);
    const img = await readDicom(join(dataDir, 'pydicom-data/eCT_Supplemental.dcm'));
    const src = vol.frameSources[0] as { frame: number };
    expect(vol.data[1000]).toBe((img.frame(src.frame)[1000] as number) - 1024);
  });

  it('single-frame files as a series, and the memory limit', async () => {
    const paths = ['pydicom/MR_small.dcm', 'pydicom/MR_small_implicit.dcm'].map((p) => join(dataDir, p));
    const vol = await readDicomVolume(paths);
    expect(vol.shape).toEqual([2, 64, 64]);
    expect(vol.spacing.slice(1)).toEqual([0.3125, 0.3125]);
    await expect(
      readDicomVolume(join(dataDir, 'pydicom-data/emri_small.dcm'), { maxBytes: 100_000 }),
    ).rejects.toThrow(
      /emri_small\.dcm: volume of 10×64×64 float32 needs 163840 bytes, over the limit of 100000/,
    );
    await expect(readDicomVolume(join(dataDir, 'pydicom/SC_rgb_small_odd.dcm'))).rejects.toThrow(
      /monochrome/,
    );
  });
});
