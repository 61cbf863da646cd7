/** Raised for invalid metric inputs; the message names the argument and what was expected. */
export class MetricsError extends Error {
  readonly meddl = true;
  /** The name of the offending argument (e.g. `yScore`). */
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'MetricsError';
    this.argument = argument;
  }
}
