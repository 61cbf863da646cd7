// Manifest scanner: headers only (no pixel decoding), device detection, shape and spacing, and a
// reproducible patient-level split stratified by device.
import { readdirSync, statSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import { groupRatioSplit, readDicomHeader } from '@meddl/data';
import { Generator } from '@meddl/tensor';
import { VJepaArgumentError } from '../errors';
import { detectDevice, type OctVendor } from './device';
import { OCT_SOP_CLASS } from './read';

export interface ManifestRow {
  /** Path relative to the scanned directory. */
  path: string;
  patientId: string;
  laterality: string;
  studyUid: string;
  seriesUid: string;
  sopClassUid: string;
  isOct: boolean;
  manufacturer: string;
  modelName: string;
  vendor: OctVendor;
  device: string;
  transferSyntax: string;
  frames: number;
  rows: number;
  columns: number;
  bitsStored: number;
  /** Slice spacing (Spacing Between Slices, else Slice Thickness, else 1), row and column spacing, mm. */
  dz: number;
  dy: number;
  dx: number;
  split?: string;
}

export interface RejectedFile {
  path: string;
  error: string;
}

export interface Manifest {
  root: string;
  rows: ManifestRow[];
  rejected: RejectedFile[];
}

const DICOM_EXTENSIONS = new Set(['', '.dcm', '.dicom', '.dic', '.ima']);

function listFiles(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (entry.name.startsWith('.')) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (recursive) out.push(...listFiles(p, recursive));
    } else if (entry.isFile() && DICOM_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(p);
  }
  return out;
}

export interface ScanOptions {
  recursive?: boolean;
  /** Keep only Ophthalmic Tomography Image Storage files (others are rejected with a reason). */
  octOnly?: boolean;
  /** Keep only volumes (more than one frame). */
  volumesOnly?: boolean;
}

/** Scans a directory (or a list of files) for DICOM volumes, reading headers only. */
export async function scanManifest(
  dirOrFiles: string | string[],
  options: ScanOptions = {},
): Promise<Manifest> {
  let root: string;
  let files: string[];
  if (Array.isArray(dirOrFiles)) {
    root = process.cwd();
    files = dirOrFiles.map((f) => resolve(f));
  } else {
    root = resolve(dirOrFiles);
    let isDir = false;
    try {
      isDir = statSync(root).isDirectory();
    } catch {
      throw new VJepaArgumentError('DIR', `${dirOrFiles} does not exist`);
    }
    if (!isDir) throw new VJepaArgumentError('DIR', `${dirOrFiles} is not a directory`);
    files = listFiles(root, options.recursive ?? true);
  }
  const rows: ManifestRow[] = [];
  const rejected: RejectedFile[] = [];
  for (const file of files) {
    const rel = relative(root, file) || file;
    try {
      const h = await readDicomHeader(file);
      if (h.imageError) throw new Error(h.imageError);
      const isOct = h.sopClassUid === OCT_SOP_CLASS;
      if (options.octOnly && !isOct)
        throw new Error(`SOP Class ${h.sopClassUid} is not Ophthalmic Tomography`);
      if (options.volumesOnly && h.numberOfFrames < 2) throw new Error('single frame, not a volume');
      if (h.samplesPerPixel !== 1)
        throw new Error(`Samples per Pixel ${h.samplesPerPixel}: not a monochrome volume`);
      const { vendor, device } = detectDevice(h.manufacturer, h.modelName);
      const [dy, dx] = h.pixelSpacing ?? [1, 1];
      rows.push({
        path: rel,
        patientId: h.patientId ?? '',
        laterality: h.laterality ?? '',
        studyUid: h.studyUid ?? '',
        seriesUid: h.seriesUid ?? '',
        sopClassUid: h.sopClassUid ?? '',
        isOct,
        manufacturer: h.manufacturer ?? '',
        modelName: h.modelName ?? '',
        vendor,
        device,
        transferSyntax: h.transferSyntaxUid,
        frames: h.numberOfFrames,
        rows: h.rows,
        columns: h.columns,
        bitsStored: h.bitsStored,
        dz: h.spacingBetweenSlices ?? h.sliceThickness ?? 1,
        dy,
        dx,
      });
    } catch (e) {
      rejected.push({ path: rel, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return { root, rows, rejected };
}

/**
 * Assigns train/val/test by patient (a patient's eyes never cross splits), stratified by device,
 * reproducibly for a seed. Rows without a Patient ID are grouped by their own path.
 */
export function splitManifest(
  rows: ManifestRow[],
  options: { ratios?: Record<string, number>; seed?: number } = {},
): ManifestRow[] {
  const ratios = options.ratios ?? { train: 0.7, val: 0.15, test: 0.15 };
  const keyed = rows.map((r) => ({ patient: r.patientId || `file:${r.path}`, device: r.device }));
  const split = groupRatioSplit(keyed, {
    ratios,
    group: 'patient',
    stratify: 'device',
    generator: new Generator(options.seed ?? 0),
  });
  return rows.map((r, i) => ({ ...r, split: split[i] }));
}

export const MANIFEST_COLUMNS: (keyof ManifestRow)[] = [
  'path',
  'patientId',
  'laterality',
  'device',
  'vendor',
  'manufacturer',
  'modelName',
  'isOct',
  'sopClassUid',
  'transferSyntax',
  'frames',
  'rows',
  'columns',
  'bitsStored',
  'dz',
  'dy',
  'dx',
  'studyUid',
  'seriesUid',
  'split',
];

function csvCell(v: unknown): string {
  const s = v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV of the manifest rows (header = MANIFEST_COLUMNS). */
export function manifestToCsv(rows: ManifestRow[]): string {
  const lines = [MANIFEST_COLUMNS.join(',')];
  for (const r of rows) lines.push(MANIFEST_COLUMNS.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}
