import { closeSync, openSync, utimesSync } from 'node:fs';
import type { Callback } from '@meddl/trainer';

/**
 * Tells `meddl launch` this worker is alive: touches the file named by MEDDL_HEARTBEAT_FILE (set
 * by the launcher). A worker whose file goes stale for longer than `--hang-timeout` is treated
 * as hung and the group is restarted. No-op outside the launcher.
 */
export function heartbeat(file = process.env.MEDDL_HEARTBEAT_FILE): void {
  if (!file) return;
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    closeSync(openSync(file, 'a'));
  }
}

/** A trainer callback that beats once per optimizer step and at every epoch end. */
export class HeartbeatCallback implements Callback {
  readonly name = 'heartbeat';
  onFitStart(): void {
    heartbeat();
  }
  onTrainStepEnd(): void {
    heartbeat();
  }
  onEpochEnd(): void {
    heartbeat();
  }
}
