import { createServer } from 'node:net';
import { ProcessGroup, type ProcessGroupOptions } from './process-group';

/** A free loopback TCP port (bound then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** `worldSize` ranks of one group inside this process (all over loopback TCP). */
export async function localGroups(
  worldSize: number,
  options: Partial<ProcessGroupOptions> = {},
): Promise<ProcessGroup[]> {
  const masterPort = await freePort();
  return Promise.all(
    Array.from({ length: worldSize }, (_, rank) =>
      ProcessGroup.init({
        rank,
        worldSize,
        masterAddr: '127.0.0.1',
        masterPort,
        hostStore: rank === 0,
        rendezvousTimeoutMs: 10_000,
        timeoutMs: 10_000,
        ...options,
      }),
    ),
  );
}
