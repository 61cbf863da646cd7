/** A safetensors file is malformed or cannot be read/written; the message names the file. */
export class SafetensorsError extends Error {
  readonly meddl = true;
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** A checkpoint could not be written or read (disk full, permissions, resume limit, ...). */
export class CheckpointError extends Error {
  readonly meddl = true;
  constructor(
    message: string,
    readonly path: string,
    /** The operating-system error code when there is one (ENOSPC, EACCES, EFBIG, ...). */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** A checkpoint on disk fails verification: missing file, wrong size or hash, unreadable content. */
export class CheckpointCorruptError extends Error {
  readonly meddl = true;
  constructor(
    message: string,
    /** The checkpoint directory. */
    readonly checkpoint: string,
    /** The file inside it that failed (or the directory itself). */
    readonly file: string,
  ) {
    super(message);
    this.name = 'CheckpointCorruptError';
  }
}
