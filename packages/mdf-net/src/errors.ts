/** A malformed or unreadable input file (image, report, CSV, tokenizer); names the file and, where known, the row. */
export class MdfNetDataError extends Error {
  readonly meddl = true;
  readonly file: string;
  readonly row: number | undefined;
  constructor(file: string, message: string, row?: number) {
    super(`${file}${row !== undefined ? `:${row}` : ''}: ${message}`);
    this.name = 'MdfNetDataError';
    this.file = file;
    this.row = row;
  }
}

/** A bad argument, option or config field (names it and what was expected). */
export class MdfNetArgumentError extends Error {
  readonly meddl = true;
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'MdfNetArgumentError';
    this.argument = argument;
  }
}
