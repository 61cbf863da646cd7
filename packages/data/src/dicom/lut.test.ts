// Modality LUT Sequence and VOI LUT Sequence tables against pydicom's apply_modality_lut /
// apply_voi_lut on small synthetic files (fixtures/dicom/make_lut_fixtures.py).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readDicom } from './index';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'dicom');
const reference = JSON.parse(readFileSync(join(fixtures, 'lut_reference.json'), 'utf8')) as {
  files: { file: string; stored: number[]; modality?: number[]; voi?: number[]; voiBits?: number }[];
};

it('Modality LUT Sequence replaces rescale, as pydicom apply_modality_lut', async () => {
  const ref = reference.files.find((f) => f.file === 'lut_modality.dcm');
  const img = await readDicom(join(fixtures, 'lut_modality.dcm'));
  expect(img.meta.modalityLut?.firstMapped).toBe(100);
  expect(img.meta.modalityLut?.data.length).toBe(1000);
  expect(Array.from(img.frame(0))).toEqual(ref?.stored);
  expect(Array.from(img.modalityFrame(0))).toEqual(ref?.modality);
});

it('VOI LUT Sequence is preferred over the window, as pydicom apply_voi_lut(prefer_lut=True)', async () => {
  const ref = reference.files.find((f) => f.file === 'lut_voi.dcm');
  const img = await readDicom(join(fixtures, 'lut_voi.dcm'));
  expect(img.meta.voiLuts).toHaveLength(1);
  expect(img.meta.windows).toEqual([{ center: 0, width: 400, function: 'LINEAR' }]);
  expect(Array.from(img.frame(0))).toEqual(ref?.stored);
  const shown = img.displayFrame(0);
  const max = 2 ** (ref?.voiBits ?? 0) - 1;
  ref?.voi?.forEach((v, k) => {
    expect(shown[k]).toBeCloseTo(v / max, 6);
  });
  // Asking for the window (or turning the LUT off) uses the window instead.
  const windowed = img.displayFrame(0, { useVoiLut: false });
  expect(windowed).toEqual(img.displayFrame(0, { windowIndex: 0 }));
  expect(windowed).not.toEqual(shown);
});
