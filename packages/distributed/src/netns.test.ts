import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './test-utils';

// Two "hosts" on one machine: network namespaces joined by a veth pair, each rank with its own
// address. Needs root (or CAP_NET_ADMIN) and iproute2; skipped with a message otherwise.
const id = process.pid % 100_000;
const ns = [`meddl-${id}-a`, `meddl-${id}-b`];
const subnet = `10.231.${id % 250}`;
const addr = [`${subnet}.1`, `${subnet}.2`];
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

function setUp(): string | null {
  try {
    ip('netns', 'add', ns[0]);
  } catch (e) {
    return `ip netns add failed (${String((e as { stderr?: Buffer }).stderr ?? e).trim()})`;
  }
  try {
    ip('netns', 'add', ns[1]);
    ip('link', 'add', `mdA${id}`, 'type', 'veth', 'peer', 'name', `mdB${id}`);
    for (const [i, dev] of [`mdA${id}`, `mdB${id}`].entries()) {
      ip('link', 'set', dev, 'netns', ns[i]);
      ip('-n', ns[i], 'addr', 'add', `${addr[i]}/24`, 'dev', dev);
      ip('-n', ns[i], 'link', 'set', dev, 'up');
      ip('-n', ns[i], 'link', 'set', 'lo', 'up');
    }
    return null;
  } catch (e) {
    return `could not wire the namespaces (${String((e as { stderr?: Buffer }).stderr ?? e).trim()})`;
  }
}

let skipReason: string | null = null;
beforeAll(() => {
  skipReason = setUp();
  if (skipReason) console.warn(`network-namespace test skipped: ${skipReason}`);
});
afterAll(() => {
  for (const n of ns) {
    try {
      ip('netns', 'del', n); // also removes the veth pair
    } catch {}
  }
});

describe('ProcessGroup across network namespaces', () => {
  it('two ranks with their own addresses rendezvous, allReduce (ring) and broadcast over a veth pair', async (ctx) => {
    if (skipReason) return ctx.skip();
    const port = await freePort();
    const cwd = join(new URL('.', import.meta.url).pathname, '..');
    const outputs = await Promise.all(
      [0, 1].map(
        (rank) =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(
              'ip',
              ['netns', 'exec', ns[rank], process.execPath, '--import', 'tsx', 'test/pg-worker.ts'],
              {
                cwd,
                env: {
                  ...process.env,
                  RANK: String(rank),
                  WORLD_SIZE: '2',
                  MASTER_ADDR: addr[0],
                  MASTER_PORT: String(port),
                },
                stdio: ['ignore', 'pipe', 'inherit'],
              },
            );
            let out = '';
            child.stdout.on('data', (d) => (out += d));
            child.on('exit', (code) =>
              code === 0 ? resolve(out) : reject(new Error(`rank ${rank} exited ${code}`)),
            );
          }),
      ),
    );
    const results = outputs.map((o) => JSON.parse(o.trim()));
    for (const r of results) {
      expect([r.first, r.last, r.bc]).toEqual([3, 3, 42]);
      expect(r.addrs).toEqual(addr); // each rank reached the master from its own host address
    }
  });
});
