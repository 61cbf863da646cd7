// Thin typed accessors over dicom-parser's DataSet, and Part 10 parsing with errors that name the file.
import { createRequire } from 'node:module';
import { inflateRawSync } from 'node:zlib';
import type { DataSet, Element } from 'dicom-parser';
import { DicomError } from './errors';

const require = createRequire(import.meta.url);
// dicom-parser ships a UMD bundle; load it through require so Node's ESM/CJS interop is not involved.
const dicomParser = require('dicom-parser') as typeof import('dicom-parser');

export type { DataSet, Element };

/** Tag keys as dicom-parser spells them: `x` + group + element, lower-case hex. */
export const TAG = {
  transferSyntaxUid: 'x00020010',
  sopClassUid: 'x00080016',
  sopInstanceUid: 'x00080018',
  modality: 'x00080060',
  manufacturer: 'x00080070',
  modelName: 'x00081090',
  patientId: 'x00100020',
  studyUid: 'x0020000d',
  seriesUid: 'x0020000e',
  instanceNumber: 'x00200013',
  laterality: 'x00200060',
  imageLaterality: 'x00200062',
  viewPosition: 'x00185101',
  sliceThickness: 'x00180050',
  spacingBetweenSlices: 'x00180088',
  imagePositionPatient: 'x00200032',
  imageOrientationPatient: 'x00200037',
  samplesPerPixel: 'x00280002',
  photometricInterpretation: 'x00280004',
  planarConfiguration: 'x00280006',
  numberOfFrames: 'x00280008',
  rows: 'x00280010',
  columns: 'x00280011',
  pixelSpacing: 'x00280030',
  imagerPixelSpacing: 'x00181164',
  bitsAllocated: 'x00280100',
  bitsStored: 'x00280101',
  highBit: 'x00280102',
  pixelRepresentation: 'x00280103',
  windowCenter: 'x00281050',
  windowWidth: 'x00281051',
  rescaleIntercept: 'x00281052',
  rescaleSlope: 'x00281053',
  rescaleType: 'x00281054',
  voiLutFunction: 'x00281056',
  redDescriptor: 'x00281101',
  greenDescriptor: 'x00281102',
  blueDescriptor: 'x00281103',
  redData: 'x00281201',
  greenData: 'x00281202',
  blueData: 'x00281203',
  doseGridScaling: 'x3004000e',
  modalityLutSequence: 'x00283000',
  voiLutSequence: 'x00283010',
  lutDescriptor: 'x00283002',
  lutData: 'x00283006',
  lutExplanation: 'x00283003',
  sharedFunctionalGroups: 'x52009229',
  perFrameFunctionalGroups: 'x52009230',
  pixelMeasures: 'x00289110',
  planePosition: 'x00209113',
  planeOrientation: 'x00209116',
  pixelValueTransformation: 'x00289145',
  frameVoiLut: 'x00289132',
  pixelData: 'x7fe00010',
  floatPixelData: 'x7fe00008',
  doubleFloatPixelData: 'x7fe00009',
} as const;

export function str(ds: DataSet, tag: string): string | undefined {
  const el = ds.elements[tag];
  if (!el || el.length === 0) return undefined;
  const v = ds.string(tag);
  return v === undefined ? undefined : v.trim();
}

/** All values of a numeric string (DS/IS) element, backslash-separated. */
export function numbers(ds: DataSet, tag: string): number[] | undefined {
  const s = str(ds, tag);
  if (s === undefined || s === '') return undefined;
  const values = s.split('\\').map((v) => Number.parseFloat(v));
  return values.every((v) => Number.isFinite(v)) ? values : undefined;
}

export function number(ds: DataSet, tag: string): number | undefined {
  return numbers(ds, tag)?.[0];
}

/** US value; for implicit VR the parser does not know the VR, so read the binary field directly. */
export function us(ds: DataSet, tag: string): number | undefined {
  const el = ds.elements[tag];
  if (!el || el.length < 2) return undefined;
  return ds.uint16(tag);
}

export function firstItem(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

export function items(ds: DataSet | undefined, tag: string): DataSet[] {
  return (ds?.elements[tag]?.items ?? []).flatMap((i) => (i.dataSet ? [i.dataSet] : []));
}

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  // dicom-parser throws strings, or { exception, dataSet } from parseDicom.
  if (typeof e === 'object' && e !== null && 'exception' in e)
    return messageOf((e as { exception: unknown }).exception);
  return String(e);
}

export interface ParseOptions {
  /** Stop after this tag (dicom-parser `untilTag`); used to read headers only. */
  untilTag?: string;
}

/** Parses DICOM Part 10 bytes (preamble + DICM + file meta). Deflated datasets are inflated with zlib. */
export function parseDicomBytes(bytes: Uint8Array, file: string, options: ParseOptions = {}): DataSet {
  if (
    bytes.length < 132 ||
    bytes[128] !== 0x44 ||
    bytes[129] !== 0x49 ||
    bytes[130] !== 0x43 ||
    bytes[131] !== 0x4d
  ) {
    throw new DicomError(
      file,
      `not a DICOM Part 10 file: no "DICM" magic at byte 128 (${bytes.length} bytes)`,
    );
  }
  try {
    return dicomParser.parseDicom(bytes, {
      ...(options.untilTag ? { untilTag: options.untilTag } : {}),
      inflater: ((arr: Uint8Array, position: number): Uint8Array => {
        let inflated: Uint8Array;
        try {
          inflated = inflateRawSync(arr.subarray(position));
        } catch (e) {
          throw new DicomError(file, `deflated dataset does not inflate: ${messageOf(e)}`);
        }
        const full = new Uint8Array(position + inflated.length);
        full.set(arr.subarray(0, position), 0);
        full.set(inflated, position);
        return full;
      }) as unknown as (arr: Uint8Array, position: number) => void,
    });
  } catch (e) {
    if (e instanceof DicomError) throw e;
    if (!options.untilTag) {
      // Say which element runs past the end when the header itself is intact.
      let head: DataSet | undefined;
      try {
        head = parseDicomBytes(bytes, file, { untilTag: TAG.pixelData });
      } catch {
        head = undefined;
      }
      const pixel = head?.elements[TAG.pixelData];
      if (pixel && pixel.dataOffset + pixel.length > bytes.length) {
        throw new DicomError(
          file,
          `Pixel Data declares ${pixel.length} bytes but the file ends after ${bytes.length - pixel.dataOffset} (truncated file)`,
          { cause: e },
        );
      }
    }
    throw new DicomError(file, `malformed DICOM dataset: ${messageOf(e)}`, { cause: e });
  }
}

export { dicomParser };
