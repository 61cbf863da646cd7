/** Base of every @meddl/distributed error: the message is for the user (the CLI prints it without a stack). */
export class DistributedError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A rendezvous or store wait ran past its timeout; `missingRanks` names the ranks that never arrived. */
export class RendezvousTimeoutError extends DistributedError {
  constructor(
    message: string,
    readonly missingRanks: number[],
  ) {
    super(message);
  }
}

/** A collective failed: a peer disconnected, timed out, or sent something unexpected. `rank` is the peer. */
export class CollectiveError extends DistributedError {
  constructor(
    message: string,
    readonly rank: number,
    readonly op: string,
  ) {
    super(message);
  }
}

/** The store server is unreachable or answered with an error. */
export class StoreError extends DistributedError {}

/** Bad launcher arguments or environment, or workers that failed more often than --max-restarts allows. */
export class LaunchError extends DistributedError {}

/** A batch-queue problem (bad URL, job failed, output not writable). */
export class QueueError extends DistributedError {}
