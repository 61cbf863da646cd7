// Files pydicom cannot decode here (no JPEG-LS / JPEG-lossless handler installed) are checked against
// their lossless siblings, which pydicom does decode (reference.test.ts); and malformed files must
// fail with a DicomError naming the file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DicomError, readDicom, readDicomHeader } from './index';
import { decodeSequentialDct } from './jpeg-dct';

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, '..', '..', '..', '..', '..', 'shared', 'data');
const data = (p: string): string => join(dataDir, p);

async function framesOf(path: string): Promise<number[][]> {
  const img = await readDicom(path);
  return Array.from({ length: img.meta.numberOfFrames }, (_, i) => Array.from(img.frame(i)));
}

describe('lossless siblings decode identically', () => {
  const pairs: [string, string][] = [
    ['pydicom/MR_small_jpeg_ls_lossless.dcm', 'pydicom/MR_small.dcm'],
    ['pydicom-data/emri_small_jpeg_ls_lossless.dcm', 'pydicom-data/emri_small.dcm'],
    ['pydicom/MR_small_jp2klossless.dcm', 'pydicom/MR_small.dcm'],
    ['pydicom-data/emri_small_jpeg_2k_lossless.dcm', 'pydicom-data/emri_small.dcm'],
    ['pydicom-data/emri_small_RLE.dcm', 'pydicom-data/emri_small.dcm'],
    ['pydicom-data/emri_small_big_endian.dcm', 'pydicom-data/emri_small.dcm'],
  ];
  for (const [compressed, native] of pairs) {
    it(`${compressed} == ${native}`, async () => {
      const [a, b] = await Promise.all([framesOf(data(compressed)), framesOf(data(native))]);
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) expect(a[i]).toEqual(b[i]);
    });
  }

  it('JPEG-LL.dcm (process 14 SV1) is the NM image of which JPEG2000.dcm is a lossy copy', async () => {
    // No lossless uncompressed sibling exists; JPEG2000.dcm is a lossy J2K of the same NM1 study.
    const ll = await readDicom(data('pydicom-data/JPEG-LL.dcm'));
    const j2k = await readDicom(data('pydicom/JPEG2000.dcm'));
    expect(ll.meta.rows).toBe(1024);
    expect(ll.meta.columns).toBe(256);
    const a = ll.frame(0);
    const b = j2k.frame(0);
    expect(a).toBeInstanceOf(Int16Array);
    let sad = 0;
    for (let k = 0; k < a.length; k++) sad += Math.abs((a[k] as number) - (b[k] as number));
    // Same scan, lossy vs lossless: mean absolute difference well under one grey level.
    // JPEG2000.dcm is heavily compressed (3 kB for 256 kB of pixels): MAD 4.2 grey levels measured.
    expect(sad / a.length).toBeLessThan(6);
    let same = 0;
    for (let k = 0; k < a.length; k++) if (a[k] === b[k]) same++;
    expect(same / a.length).toBeGreaterThan(0.3);
  });

  it('Fake_MONOHR1 shows the SIIM image inverted', async () => {
    const m2 = await readDicom(
      data('torchxrayvision/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm'),
    );
    const m1 = await readDicom(data('torchxrayvision/Fake_MONOHR1.dcm'));
    const f1 = m1.frame(0);
    const f2 = m2.frame(0);
    let diff = 0;
    for (let k = 0; k < f1.length; k++) if (f1[k] !== f2[k]) diff++;
    expect(diff).toBe(0);
    const d1 = m1.displayFrame(0);
    const d2 = m2.displayFrame(0);
    for (const k of [0, 1000, 500_000, 1024 * 1024 - 1]) expect(d1[k]).toBeCloseTo(1 - (d2[k] as number), 6);
    expect(m2.meta.viewPosition).toBe('PA');
    expect(m2.meta.modality).toBe('CR');
    expect(m2.meta.pixelSpacing).toEqual([0.168, 0.168]);
  });

  it('JPGExtended.dcm (12-bit JPEG, our T.81 decoder) is the NM scan of JPEG-LL.dcm, lossy', async () => {
    const ext = await readDicom(data('pydicom/JPGExtended.dcm'));
    const ll = await readDicom(data('pydicom-data/JPEG-LL.dcm'));
    expect(ext.meta).toMatchObject({ bitsAllocated: 16, bitsStored: 12, rows: 1024, columns: 256 });
    const a = ext.frame(0);
    const b = ll.frame(0);
    expect(a).toBeInstanceOf(Uint16Array);
    let sad = 0;
    let same = 0;
    for (let k = 0; k < a.length; k++) {
      const d = Math.abs((a[k] as number) - (b[k] as number));
      sad += d;
      if (d === 0) same++;
    }
    // Measured: mean absolute difference 2.28 grey levels, 10.5 % of pixels identical.
    expect(sad / a.length).toBeLessThan(3);
    expect(same / a.length).toBeGreaterThan(0.08);
  });

  it('the T.81 sequential decoder agrees with libjpeg-turbo on an 8-bit JPEG within 1 level', async () => {
    const img = await readDicom(
      data('torchxrayvision/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm'),
    );
    const libjpeg = img.frame(0);
    const ours = decodeSequentialDct(img.encapsulatedFrame(0));
    expect([ours.width, ours.height, ours.precision]).toEqual([1024, 1024, 8]);
    let maxDiff = 0;
    let sum = 0;
    for (let k = 0; k < libjpeg.length; k++) {
      const d = Math.abs((libjpeg[k] as number) - (ours.samples[k] as number));
      if (d > maxDiff) maxDiff = d;
      sum += d;
    }
    // libjpeg's integer IDCT vs our float IDCT: measured max 1, mean 0.014.
    expect(maxDiff).toBeLessThanOrEqual(1);
    expect(sum / libjpeg.length).toBeLessThan(0.05);
  });
});

describe('malformed input gives DicomError naming the file', () => {
  const cases: [string, RegExp][] = [
    [
      'pydicom/MR_truncated.dcm',
      /MR_truncated\.dcm: Pixel Data declares 8192 bytes but the file ends after 8130/,
    ],
    [
      'pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm',
      /too_short\.dcm: encapsulated Pixel Data ends without/,
    ],
  ];
  for (const [file, message] of cases) {
    it(file, async () => {
      const err = await readDicom(data(file)).then(
        (img) => Array.from({ length: img.meta.numberOfFrames }, (_, i) => img.frame(i)),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DicomError);
      expect((err as DicomError).meddl).toBe(true);
      expect(String((err as Error).message), String((err as Error).message)).toMatch(message);
    });
  }

  it('JPEG2000-embedded-sequence-delimiter.dcm: header reads, frame decode fails typed', async () => {
    const img = await readDicom(data('pydicom/JPEG2000-embedded-sequence-delimiter.dcm'));
    expect(img.meta.rows).toBe(1024);
    expect(() => img.frame(0)).toThrow(DicomError);
    expect(() => img.frame(0)).toThrow(/JPEG2000-embedded-sequence-delimiter\.dcm: frame 0/);
  });

  it('non-DICOM bytes, a PNG, and a missing file', async () => {
    await expect(readDicom(new TextEncoder().encode('hello, not dicom'))).rejects.toThrow(
      /<bytes>: not a DICOM Part 10 file/,
    );
    await expect(readDicom(data('torchxrayvision/00000001_000.png'))).rejects.toThrow(
      /00000001_000\.png: not a DICOM/,
    );
    await expect(readDicom(data('pydicom/does-not-exist.dcm'))).rejects.toThrow(DicomError);
    await expect(readDicomHeader(data('torchxrayvision/00000001_000.png'))).rejects.toThrow(DicomError);
  });

  it('a file cut inside its header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meddl-dicom-'));
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(data('pydicom/CT_small.dcm'));
    const cut = join(dir, 'cut.dcm');
    writeFileSync(cut, bytes.subarray(0, 700));
    await expect(readDicom(cut)).rejects.toThrow(/cut\.dcm: /);
  });

  it('unsupported transfer syntax, impossible dimensions, missing required tag', async () => {
    const { readFileSync } = await import('node:fs');
    const siim = readFileSync(
      data('torchxrayvision/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm'),
    );
    const patched = (bytes: Uint8Array, from: number[], to: number[]): Uint8Array => {
      const out = bytes.slice();
      const hex = Buffer.from(out).indexOf(Buffer.from(from));
      expect(hex).toBeGreaterThan(0);
      out.set(to, hex);
      return out;
    };
    const enc = (s: string): number[] => Array.from(new TextEncoder().encode(s));
    // Same-length UID swap in the file meta: JPEG Baseline → retired JPEG Spectral Selection.
    const retired = patched(siim, enc('1.2.840.10008.1.2.4.50'), enc('1.2.840.10008.1.2.4.53'));
    await expect(readDicom(retired)).rejects.toThrow(
      /unsupported transfer syntax 1\.2\.840\.10008\.1\.2\.4\.53 \(JPEG Spectral Selection/,
    );
    const mr = readFileSync(data('pydicom/MR_small.dcm'));
    // (0028,0010) US 2 → value 0.
    const rowsTag = [0x28, 0, 0x10, 0, 0x55, 0x53, 2, 0];
    const zeroRows = patched(mr, rowsTag, [...rowsTag, 0, 0]);
    await expect(readDicom(zeroRows)).rejects.toThrow(/impossible dimensions: Rows 0, Columns 64/);
    // Rename (0028,0010) Rows to the retired (0028,0012) so Rows is missing.
    const noRows = patched(mr, rowsTag, [0x28, 0, 0x12, 0, 0x55, 0x53, 2, 0]);
    await expect(readDicom(noRows)).rejects.toThrow(/missing required tag Rows \(0028,0010\)/);
  });

  it('frame index out of range and memory limit', async () => {
    const img = await readDicom(data('pydicom/MR_small.dcm'));
    expect(() => img.frame(1)).toThrow(/frame 1 out of range/);
    await expect(readDicom(data('pydicom-data/RG3_J2KR.dcm'), { maxFrameBytes: 1_000_000 })).rejects.toThrow(
      /RG3_J2KR\.dcm: a 1760×1760×1 frame needs 6195200 bytes, over the limit/,
    );
  });
});

describe('headers', () => {
  it('readDicomHeader matches readDicom metadata without decoding pixels', async () => {
    for (const f of ['pydicom/CT_small.dcm', 'pydicom-data/eCT_Supplemental.dcm', 'pydicom/image_dfl.dcm']) {
      const header = await readDicomHeader(data(f));
      const full = await readDicom(data(f));
      expect(header.imageError).toBeUndefined();
      const { imageError: _, ...meta } = header;
      expect(meta).toEqual(full.meta);
    }
  });

  it('metadata: identifiers, enhanced CT functional groups, multi-frame rescale', async () => {
    const ct = await readDicom(data('pydicom/CT_small.dcm'));
    expect(ct.meta.manufacturer).toBe('GE MEDICAL SYSTEMS');
    expect(ct.meta.modality).toBe('CT');
    expect(ct.meta.rescaleIntercept).toBe(-1024);
    expect(ct.meta.patientId).toBeTruthy();
    expect(ct.meta.studyUid).toMatch(/^[0-9.]+$/);
    const ect = await readDicom(data('pydicom-data/eCT_Supplemental.dcm'));
    expect(ect.meta.pixelSpacing).toEqual([0.388672, 0.388672]);
    expect(ect.meta.sliceThickness).toBe(10);
    expect(ect.frameRescale(1)).toEqual({ slope: 1, intercept: -1024 });
    expect(ect.frameWindows(0)).toEqual([{ center: 49, width: 102, function: 'LINEAR' }]);
    expect(ect.meta.imageOrientationPatient).toEqual([-1, 0, 0, 0, 1, 0]);
  });
});
