/** An OCT input file that cannot be used (names the file and the problem). */
export class VJepaDataError extends Error {
  readonly meddl = true;
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'VJepaDataError';
    this.file = file;
  }
}

/** A bad argument, option or config field (names it and what was expected). */
export class VJepaArgumentError extends Error {
  readonly meddl = true;
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'VJepaArgumentError';
    this.argument = argument;
  }
}
