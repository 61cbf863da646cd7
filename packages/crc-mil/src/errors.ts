/** A slide, feature bag or clinical table that cannot be used; names the file and the problem. */
export class CrcMilDataError extends Error {
  readonly meddl = true;
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CrcMilDataError';
    this.file = file;
    this.problem = problem;
  }
}

/** A bad argument, option or config field (names it and what was expected). */
export class CrcMilArgumentError extends Error {
  readonly meddl = true;
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'CrcMilArgumentError';
    this.argument = argument;
  }
}
