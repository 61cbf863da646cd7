// A small DICOM Part 10 writer (Explicit VR Little Endian, uncompressed) for the synthetic data
// generators: chest radiographs (CR / DX) and OCT volumes (Ophthalmic Tomography Image Storage),
// monochrome, 8 or 16 bits, one or many frames. Element encoding per PS3.5 7.1.2; file meta per PS3.10 7.1.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { DicomError } from './errors';

export const SOP_CLASS = {
  cr: '1.2.840.10008.5.1.4.1.1.1',
  dx: '1.2.840.10008.5.1.4.1.1.1.1',
  oct: '1.2.840.10008.5.1.4.1.1.77.1.5.4',
  sc: '1.2.840.10008.5.1.4.1.1.7',
} as const;

const MODALITY = { cr: 'CR', dx: 'DX', oct: 'OPT', sc: 'OT' } as const;
const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
const IMPLEMENTATION_UID = '2.25.178315273402911462914906437372591254327';

const windowSchema = z.object({
  center: z.number(),
  width: z.number().positive(),
  function: z.enum(['LINEAR', 'LINEAR_EXACT', 'SIGMOID']).optional(),
});

/** What to write. Pixels hold all frames, row-major, frame after frame. */
export const dicomWriteSpecSchema = z.object({
  kind: z.enum(['cr', 'dx', 'oct', 'sc']),
  rows: z.number().int().positive().max(65535),
  columns: z.number().int().positive().max(65535),
  frames: z.number().int().positive().default(1),
  bitsAllocated: z.union([z.literal(8), z.literal(16)]),
  bitsStored: z.number().int().positive().max(16).optional(),
  signed: z.boolean().default(false),
  photometricInterpretation: z.enum(['MONOCHROME1', 'MONOCHROME2']).default('MONOCHROME2'),
  patientId: z.string().max(64),
  patientName: z.string().max(64).optional(),
  patientSex: z.enum(['M', 'F', 'O']).optional(),
  studyUid: z.string().max(64).optional(),
  seriesUid: z.string().max(64).optional(),
  sopInstanceUid: z.string().max(64).optional(),
  studyDate: z
    .string()
    .regex(/^\d{8}$/)
    .optional(),
  seriesNumber: z.number().int().optional(),
  instanceNumber: z.number().int().optional(),
  manufacturer: z.string().max(64).optional(),
  modelName: z.string().max(64).optional(),
  /** R or L. */
  laterality: z.enum(['R', 'L', 'B', 'U']).optional(),
  /** CR/DX view position, e.g. PA, AP, LL. */
  viewPosition: z.string().max(16).optional(),
  bodyPartExamined: z.string().max(16).optional(),
  /** Row spacing, column spacing in mm. */
  pixelSpacing: z.tuple([z.number().positive(), z.number().positive()]).optional(),
  sliceThickness: z.number().positive().optional(),
  spacingBetweenSlices: z.number().positive().optional(),
  /** Image Position (Patient) per frame (OCT: written as per-frame Plane Position). */
  framePositions: z.array(z.tuple([z.number(), z.number(), z.number()])).optional(),
  imageOrientationPatient: z
    .tuple([z.number(), z.number(), z.number(), z.number(), z.number(), z.number()])
    .optional(),
  rescaleSlope: z.number().optional(),
  rescaleIntercept: z.number().optional(),
  windows: z.array(windowSchema).optional(),
});

export type DicomWriteSpec = z.input<typeof dicomWriteSpecSchema> & {
  pixels: Uint8Array | Int8Array | Uint16Array | Int16Array;
};

type Value = string | number[] | Uint8Array | Item[];
type Item = Element[];
interface Element {
  tag: number;
  vr: string;
  value: Value;
}

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'SQ', 'UT', 'UN', 'UC', 'UR']);

/** Deterministic UID under the 2.25 root (UUID-derived OIDs, PS3.5 B.2) from the given parts. */
export function deterministicUid(...parts: string[]): string {
  const hash = createHash('sha256').update(parts.join('\u0000')).digest();
  let n = 0n;
  for (let i = 0; i < 16; i++) n = (n << 8n) | BigInt(hash[i] as number);
  return `2.25.${n}`;
}

function ds(v: number): string {
  // DS is at most 16 characters.
  let s = String(v);
  if (s.length > 16) s = v.toPrecision(10).replace(/\.?0+(e|$)/, '$1');
  return s;
}

function encodeValue(el: Element): Uint8Array {
  const { vr, value } = el;
  if (vr === 'SQ') throw new Error('sequences are encoded by encodeElement');
  if (typeof value === 'string') {
    const pad = vr === 'UI' ? '\0' : ' ';
    const s = value.length % 2 ? value + pad : value;
    return new TextEncoder().encode(s);
  }
  if (value instanceof Uint8Array) {
    if (value.length % 2 === 0) return value;
    const padded = new Uint8Array(value.length + 1);
    padded.set(value);
    return padded;
  }
  const numbers = value as number[];
  const size = vr === 'US' || vr === 'SS' ? 2 : 4;
  const buf = new Uint8Array(numbers.length * size);
  const view = new DataView(buf.buffer);
  numbers.forEach((n, i) => {
    if (vr === 'US') view.setUint16(i * 2, n, true);
    else if (vr === 'SS') view.setInt16(i * 2, n, true);
    else if (vr === 'UL') view.setUint32(i * 4, n, true);
    else if (vr === 'AT') {
      view.setUint16(i * 4, n >>> 16, true);
      view.setUint16(i * 4 + 2, n & 0xffff, true);
    } else throw new Error(`no binary encoding for VR ${vr}`);
  });
  return buf;
}

function header(tag: number, vr: string, length: number): Uint8Array {
  const long = LONG_VRS.has(vr);
  const buf = new Uint8Array(long ? 12 : 8);
  const view = new DataView(buf.buffer);
  view.setUint16(0, tag >>> 16, true);
  view.setUint16(2, tag & 0xffff, true);
  buf[4] = vr.charCodeAt(0);
  buf[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, length, true);
  else {
    if (length > 0xffff) throw new Error(`value of ${tag.toString(16)} too long for VR ${vr}`);
    view.setUint16(6, length, true);
  }
  return buf;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function encodeElements(elements: Element[]): Uint8Array {
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  return concat(sorted.map(encodeElement));
}

function encodeElement(el: Element): Uint8Array {
  if (el.vr === 'SQ') {
    const items = (el.value as Item[]).map((item) => {
      const body = encodeElements(item);
      const h = new Uint8Array(8);
      const v = new DataView(h.buffer);
      v.setUint16(0, 0xfffe, true);
      v.setUint16(2, 0xe000, true);
      v.setUint32(4, body.length, true);
      return concat([h, body]);
    });
    const body = concat(items);
    return concat([header(el.tag, 'SQ', body.length), body]);
  }
  const value = encodeValue(el);
  return concat([header(el.tag, el.vr, value.length), value]);
}

const str = (tag: number, vr: string, value: string | undefined): Element[] =>
  value === undefined ? [] : [{ tag, vr, value }];
const dsList = (tag: number, values: readonly number[] | undefined): Element[] =>
  values === undefined ? [] : [{ tag, vr: 'DS', value: values.map(ds).join('\\') }];

/** Encodes a DICOM Part 10 file (Explicit VR Little Endian). */
export function writeDicom(input: DicomWriteSpec): Uint8Array {
  const parsed = dicomWriteSpecSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DicomError(
      '<writeDicom>',
      `invalid spec at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const spec = parsed.data;
  const pixels = input.pixels;
  const expected = spec.rows * spec.columns * spec.frames;
  if (pixels.length !== expected) {
    throw new DicomError(
      '<writeDicom>',
      `pixels has ${pixels.length} values, rows×columns×frames is ${expected}`,
    );
  }
  const bytesPer = spec.bitsAllocated / 8;
  if (pixels.BYTES_PER_ELEMENT !== bytesPer) {
    throw new DicomError(
      '<writeDicom>',
      `pixels is ${pixels.constructor.name} but bitsAllocated is ${spec.bitsAllocated}`,
    );
  }
  if (spec.framePositions && spec.framePositions.length !== spec.frames) {
    throw new DicomError(
      '<writeDicom>',
      `framePositions has ${spec.framePositions.length} entries for ${spec.frames} frames`,
    );
  }
  const sopClass = SOP_CLASS[spec.kind];
  const studyUid = spec.studyUid ?? deterministicUid('study', spec.patientId, spec.studyDate ?? '');
  const seriesUid =
    spec.seriesUid ?? deterministicUid('series', studyUid, String(spec.seriesNumber ?? 1), spec.kind);
  const sopInstanceUid =
    spec.sopInstanceUid ??
    deterministicUid('instance', seriesUid, String(spec.instanceNumber ?? 1), spec.laterality ?? '');
  const enhanced = spec.kind === 'oct';
  const bitsStored = spec.bitsStored ?? spec.bitsAllocated;
  const pixelBytes = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);

  const measures: Element[] = [
    ...dsList(0x00280030, spec.pixelSpacing),
    ...dsList(0x00180050, spec.sliceThickness === undefined ? undefined : [spec.sliceThickness]),
    ...dsList(0x00180088, spec.spacingBetweenSlices === undefined ? undefined : [spec.spacingBetweenSlices]),
  ];
  const windowElements: Element[] = spec.windows?.length
    ? [
        ...dsList(
          0x00281050,
          spec.windows.map((w) => w.center),
        ),
        ...dsList(
          0x00281051,
          spec.windows.map((w) => w.width),
        ),
        ...(spec.windows.some((w) => w.function && w.function !== 'LINEAR')
          ? [{ tag: 0x00281056, vr: 'CS', value: spec.windows[0]?.function ?? 'LINEAR' }]
          : []),
      ]
    : [];
  const rescaleElements: Element[] =
    spec.rescaleSlope !== undefined || spec.rescaleIntercept !== undefined
      ? [
          ...dsList(0x00281052, [spec.rescaleIntercept ?? 0]),
          ...dsList(0x00281053, [spec.rescaleSlope ?? 1]),
          { tag: 0x00281054, vr: 'LO', value: 'US' },
        ]
      : [];

  const elements: Element[] = [
    { tag: 0x00080016, vr: 'UI', value: sopClass },
    { tag: 0x00080018, vr: 'UI', value: sopInstanceUid },
    { tag: 0x00080060, vr: 'CS', value: MODALITY[spec.kind] },
    { tag: 0x00080008, vr: 'CS', value: 'DERIVED\\PRIMARY' },
    ...str(0x00080020, 'DA', spec.studyDate),
    ...str(0x00080070, 'LO', spec.manufacturer),
    ...str(0x00081090, 'LO', spec.modelName),
    { tag: 0x00100010, vr: 'PN', value: spec.patientName ?? spec.patientId },
    { tag: 0x00100020, vr: 'LO', value: spec.patientId },
    ...str(0x00100040, 'CS', spec.patientSex),
    ...str(0x00180015, 'CS', spec.bodyPartExamined),
    ...str(0x00185101, 'CS', spec.viewPosition),
    { tag: 0x0020000d, vr: 'UI', value: studyUid },
    { tag: 0x0020000e, vr: 'UI', value: seriesUid },
    { tag: 0x00200011, vr: 'IS', value: String(spec.seriesNumber ?? 1) },
    { tag: 0x00200013, vr: 'IS', value: String(spec.instanceNumber ?? 1) },
    ...str(0x00200062, 'CS', spec.laterality),
    { tag: 0x00280002, vr: 'US', value: [1] },
    { tag: 0x00280004, vr: 'CS', value: spec.photometricInterpretation },
    { tag: 0x00280010, vr: 'US', value: [spec.rows] },
    { tag: 0x00280011, vr: 'US', value: [spec.columns] },
    { tag: 0x00280100, vr: 'US', value: [spec.bitsAllocated] },
    { tag: 0x00280101, vr: 'US', value: [bitsStored] },
    { tag: 0x00280102, vr: 'US', value: [bitsStored - 1] },
    { tag: 0x00280103, vr: 'US', value: [spec.signed ? 1 : 0] },
    { tag: 0x7fe00010, vr: spec.bitsAllocated === 8 ? 'OB' : 'OW', value: pixelBytes },
  ];
  if (spec.frames > 1 || enhanced) {
    elements.push({ tag: 0x00280008, vr: 'IS', value: String(spec.frames) });
  }
  if (!enhanced && spec.frames > 1) {
    // Frame Increment Pointer → Frame Time would need timing; point at Image Position instead when known.
    elements.push({ tag: 0x00280009, vr: 'AT', value: [spec.framePositions ? 0x00200032 : 0x00181063] });
    if (!spec.framePositions) elements.push({ tag: 0x00181063, vr: 'DS', value: '1' });
  }
  if (enhanced) {
    // Enhanced IOD: geometry, rescale and windows live in the functional groups.
    const shared: Element[] = [];
    if (measures.length) shared.push({ tag: 0x00289110, vr: 'SQ', value: [measures] });
    if (spec.imageOrientationPatient) {
      shared.push({ tag: 0x00209116, vr: 'SQ', value: [dsList(0x00200037, spec.imageOrientationPatient)] });
    }
    if (rescaleElements.length) shared.push({ tag: 0x00289145, vr: 'SQ', value: [rescaleElements] });
    if (windowElements.length) shared.push({ tag: 0x00289132, vr: 'SQ', value: [windowElements] });
    elements.push({ tag: 0x52009229, vr: 'SQ', value: [shared] });
    const perFrame: Item[] = Array.from({ length: spec.frames }, (_, i) => {
      // Frame Content: In-Stack Position Number (1-based).
      const item: Element[] = [
        { tag: 0x00209111, vr: 'SQ', value: [[{ tag: 0x00209057, vr: 'UL', value: [i + 1] }]] },
      ];
      const pos = spec.framePositions?.[i];
      if (pos) item.push({ tag: 0x00209113, vr: 'SQ', value: [dsList(0x00200032, pos)] });
      return item;
    });
    elements.push({ tag: 0x52009230, vr: 'SQ', value: perFrame });
  } else {
    elements.push(...measures, ...rescaleElements, ...windowElements);
    if (spec.imageOrientationPatient) elements.push(...dsList(0x00200037, spec.imageOrientationPatient));
    if (spec.framePositions?.length === 1) elements.push(...dsList(0x00200032, spec.framePositions[0]));
  }

  const meta: Element[] = [
    { tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) },
    { tag: 0x00020002, vr: 'UI', value: sopClass },
    { tag: 0x00020003, vr: 'UI', value: sopInstanceUid },
    { tag: 0x00020010, vr: 'UI', value: EXPLICIT_VR_LE },
    { tag: 0x00020012, vr: 'UI', value: IMPLEMENTATION_UID },
    { tag: 0x00020013, vr: 'SH', value: 'MEDDL_0_1' },
  ];
  const metaBody = encodeElements(meta);
  const groupLength = encodeElement({ tag: 0x00020000, vr: 'UL', value: [metaBody.length] });
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([preamble, groupLength, metaBody, encodeElements(elements)]);
}

/** Writes `writeDicom(spec)` to a file. */
export async function writeDicomFile(path: string, spec: DicomWriteSpec): Promise<void> {
  const bytes = writeDicom(spec);
  try {
    await writeFile(path, bytes);
  } catch (e) {
    throw new DicomError(path, `cannot write file: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}
