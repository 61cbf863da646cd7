/**
 * Errors of the inference service. Each carries the HTTP status it maps to; like every meddl
 * error it has `meddl = true`, and its message names the field, file or key that is wrong.
 */
export class ServeError extends Error {
  readonly meddl = true;
  constructor(
    readonly statusCode: number,
    message: string,
    readonly code = 'bad_request',
  ) {
    super(message);
    this.name = 'ServeError';
  }
}

/** A bad config file or environment override: names the file and field. */
export class ServeConfigError extends Error {
  readonly meddl = true;
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ServeConfigError';
  }
}

/** A server-side path outside the configured roots, or one that does not exist. */
export class PathNotAllowedError extends ServeError {
  constructor(path: string, reason: string) {
    super(403, `path '${path}': ${reason}`, 'path_not_allowed');
    this.name = 'PathNotAllowedError';
  }
}

/** A job that was cancelled before it finished. */
export class JobCancelledError extends Error {
  readonly meddl = true;
  constructor(readonly jobId: string) {
    super(`job ${jobId} was cancelled`);
    this.name = 'JobCancelledError';
  }
}

/** True for errors thrown by meddl packages (they carry `meddl: true`). */
export function isMeddlError(e: unknown): e is Error & { meddl: true; statusCode?: number; code?: string } {
  return e instanceof Error && (e as { meddl?: unknown }).meddl === true;
}
