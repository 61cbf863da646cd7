/** A training run cannot continue: bad configuration, non-finite losses, a missing checkpoint. */
export class TrainerError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'TrainerError';
  }
}

/** Too many optimizer steps had a NaN/Inf loss or gradient. */
export class NonFiniteLossError extends TrainerError {
  constructor(
    message: string,
    readonly count: number,
    readonly step: number,
  ) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

/** A callback asserted something about the run that does not hold (e.g. a tensor leak). */
export class CallbackError extends TrainerError {
  constructor(message: string) {
    super(message);
    this.name = 'CallbackError';
  }
}

/** The optimizer or scheduler state dict does not fit. */
export class OptimizerStateError extends TrainerError {
  constructor(message: string) {
    super(message);
    this.name = 'OptimizerStateError';
  }
}
