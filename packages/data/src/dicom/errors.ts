/** Thrown for unreadable, malformed or unsupported DICOM input. `file` names the source. */
export class DicomError extends Error {
  readonly meddl = true;
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'DicomError';
    this.file = file;
  }
}
