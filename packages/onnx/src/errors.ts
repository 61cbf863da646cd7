/** A module or graph that cannot be lowered to ONNX (names the module path and the problem). */
export class OnnxExportError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

/** An ONNX file that cannot be read or loaded by onnxruntime (names the file). */
export class OnnxModelError extends Error {
  readonly meddl = true;
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'OnnxModelError';
    this.file = file;
  }
}

/**
 * Inputs that do not fit a model's signature, or a model whose signature does not fit what the
 * caller expects (an external encoder). `problems` lists each mismatch, e.g.
 * `input 'pixel_values': expected dtype float32, got int32`.
 */
export class OnnxSignatureError extends Error {
  readonly meddl = true;
  readonly file: string;
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'OnnxSignatureError';
    this.file = file;
    this.problems = problems;
  }
}

/** A bad argument or option of an onnx command (names the argument and what was expected). */
export class OnnxArgumentError extends Error {
  readonly meddl = true;
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'OnnxArgumentError';
    this.argument = argument;
  }
}
