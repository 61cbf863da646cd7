// VOI LUT functions, DICOM PS3.3 C.11.2.1.2 (LINEAR), C.11.2.1.3.1 (SIGMOID), C.11.2.1.3.2 (LINEAR_EXACT),
// with the output range normalised to 0..1.
import { DicomError } from './errors';

export type VoiFunction = 'LINEAR' | 'LINEAR_EXACT' | 'SIGMOID';

export interface VoiWindow {
  center: number;
  width: number;
  /** VOI LUT Function (0028,1056); default LINEAR. */
  function?: VoiFunction;
}

/** Applies a window to modality values; returns display values in 0..1. */
export function applyVoi(values: ArrayLike<number>, window: VoiWindow): Float32Array {
  const out = new Float32Array(values.length);
  const fn = window.function ?? 'LINEAR';
  const { center, width } = window;
  if (fn === 'SIGMOID') {
    if (!(width > 0)) throw new DicomError('<window>', `SIGMOID window width must be > 0, got ${width}`);
    for (let i = 0; i < values.length; i++)
      out[i] = 1 / (1 + Math.exp((-4 * ((values[i] as number) - center)) / width));
    return out;
  }
  // LINEAR uses c − 0.5 and w − 1 (the discrete definition); LINEAR_EXACT uses c and w as given.
  const c = fn === 'LINEAR' ? center - 0.5 : center;
  const w = fn === 'LINEAR' ? width - 1 : width;
  if (fn === 'LINEAR' ? !(width >= 1) : !(width > 0)) {
    throw new DicomError(
      '<window>',
      `${fn} window width must be ${fn === 'LINEAR' ? '>= 1' : '> 0'}, got ${width}`,
    );
  }
  const lo = c - w / 2;
  const hi = c + w / 2;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    out[i] = x <= lo ? 0 : x > hi ? 1 : w === 0 ? 1 : (x - c) / w + 0.5;
  }
  return out;
}
