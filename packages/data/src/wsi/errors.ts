/** Thrown for any whole-slide problem: unreadable container, unsupported compression, tile decode failure, limits. */
export class SlideError extends Error {
  readonly meddl = true;
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'SlideError';
  }
}
