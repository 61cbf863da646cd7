/** Raised when a requested backend cannot be loaded or initialized. */
export class BackendError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}
