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

/**
 * A pretrained encoder brought as an ONNX file that cannot be used: missing, unreadable, or its
 * inputs/outputs do not fit what mdf-net feeds it. Names the file and lists each problem.
 */
export class MdfNetEncoderError extends Error {
  readonly meddl = true;
  readonly file: string;
  readonly problems: string[];
  constructor(file: string, problems: string[], expected?: string) {
    super(`${file}: ${problems.join('; ')}${expected ? ` (expected ${expected})` : ''}`);
    this.name = 'MdfNetEncoderError';
    this.file = file;
    this.problems = problems;
  }
}
