/** A state dict does not fit a module: missing or unexpected keys, or wrong shapes. */
export class StateDictError extends Error {
  readonly meddl = true;
  constructor(
    message: string,
    readonly missingKeys: string[] = [],
    readonly unexpectedKeys: string[] = [],
    readonly shapeMismatches: { key: string; expected: number[]; got: number[] }[] = [],
  ) {
    super(message);
    this.name = 'StateDictError';
  }
}

/** An input tensor's shape does not fit the layer (the message names the argument and what was expected). */
export class ShapeError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}
