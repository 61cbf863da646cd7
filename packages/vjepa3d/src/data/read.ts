// Reading OCT volumes through @meddl/data's DICOM volume reader, with Zeiss unscrambling.
import { DicomError, type DicomMeta, readDicomVolume, type Volume } from '@meddl/data';
import { VJepaDataError } from '../errors';
import { detectDevice } from './device';
import { isPlainJpeg2000, unscrambleCzmFrame } from './zeiss';

/** SOP Class UID of Ophthalmic Tomography Image Storage. */
export const OCT_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.5.4';
const JPEG2000_SYNTAXES = new Set(['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91']);

/** A volume as the model pipeline uses it: float32, [frames, rows, columns] (slow, depth, fast). */
export interface Volume3d {
  data: Float32Array;
  shape: [number, number, number];
  /** [dz, dy, dx] in mm. */
  spacing: [number, number, number];
}

/**
 * The filter given to the DICOM reader: unscrambles Zeiss (CZM) JPEG 2000 frames, leaves plain
 * codestreams alone (newer Zeiss exports are not scrambled).
 */
export function czmFrameFilter(path: string) {
  return (encoded: Uint8Array, frame: number, meta: DicomMeta): Uint8Array => {
    if (!JPEG2000_SYNTAXES.has(meta.transferSyntaxUid)) return encoded;
    if (detectDevice(meta.manufacturer, meta.modelName).vendor !== 'zeiss') return encoded;
    if (isPlainJpeg2000(encoded)) return encoded;
    return unscrambleCzmFrame(encoded, `${path} frame ${frame}`);
  };
}

export interface ReadOctOptions {
  /** Refuse volumes larger than this many float32 bytes (default 2 GiB). */
  maxBytes?: number;
  /** Accept DICOMs of other SOP classes (multi-frame MR/CT, tests); default true. */
  allowNonOct?: boolean;
}

/** Reads one multi-frame OCT DICOM into a float32 volume (modality values). */
export async function readOctVolume(
  path: string,
  options: ReadOctOptions = {},
): Promise<Volume3d & { meta: DicomMeta }> {
  let vol: Volume;
  try {
    vol = await readDicomVolume(path, {
      ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
      encapsulatedFrameFilter: czmFrameFilter(path),
    });
  } catch (e) {
    if (e instanceof DicomError || e instanceof VJepaDataError) throw e;
    throw new VJepaDataError(path, `cannot read volume: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  if (options.allowNonOct === false && vol.meta.sopClassUid !== OCT_SOP_CLASS) {
    throw new VJepaDataError(
      path,
      `SOP Class ${vol.meta.sopClassUid} is not Ophthalmic Tomography Image Storage`,
    );
  }
  return { data: vol.data, shape: vol.shape, spacing: vol.spacing, meta: vol.meta };
}
