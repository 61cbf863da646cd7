/** A malformed or unreadable methylation input file; names the file and, where known, the 1-based line. */
export class TissueBertDataError extends Error {
  readonly meddl = true;
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, message: string, line?: number) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'TissueBertDataError';
    this.file = file;
    this.line = line;
  }
}

/** A bad argument or option (names the argument and what was expected). */
export class TissueBertArgumentError extends Error {
  readonly meddl = true;
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'TissueBertArgumentError';
    this.argument = argument;
  }
}

/** An optimizer that did not converge within its iteration budget. */
export class DeconvolutionError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'DeconvolutionError';
  }
}
