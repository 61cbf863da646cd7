/** An eval.json that is not valid JSON or breaks the contract; names the file and the offending field. */
export class EvalArtifactError extends Error {
  readonly meddl = true;
  readonly file: string;
  /** Dotted path of the first offending field, e.g. `sections[2].perClass[0].roc.fpr` ('' for the whole file). */
  readonly field: string;
  constructor(file: string, field: string, message: string) {
    super(`${file}${field ? `: ${field}` : ''}: ${message}`);
    this.name = 'EvalArtifactError';
    this.file = file;
    this.field = field;
  }
}

/** A run directory (or a file in it) that cannot be read or rendered; names the path. */
export class RunDirectoryError extends Error {
  readonly meddl = true;
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'RunDirectoryError';
    this.path = path;
  }
}

/** Bad input to a section builder or a command (names the argument and what was expected). */
export class ReportArgumentError extends Error {
  readonly meddl = true;
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'ReportArgumentError';
    this.argument = argument;
  }
}

/** Headless Chromium is missing or failed while printing a PDF. */
export class BrowserError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'BrowserError';
  }
}
