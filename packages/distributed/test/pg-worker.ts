// One rank for the network-namespace test: joins the group named by the torchrun variables,
// runs an allReduce and a broadcast, prints what it saw as JSON.
import { resolveDistributedEnv } from '../src/env';
import { ProcessGroup } from '../src/process-group';

const env = resolveDistributedEnv();
const group = await ProcessGroup.init({ ...env, rendezvousTimeoutMs: 15_000, timeoutMs: 15_000 });
const buf = new Float32Array(300_000).fill(env.rank + 1); // 1.2 MB: the ring path
await group.allReduce(buf);
const bc = Float32Array.of(env.rank === 0 ? 42 : 0);
await group.broadcast(bc, 0);
const addrs = await group.allGatherObject(group.store.localAddress);
await group.barrier();
process.stdout.write(
  `${JSON.stringify({ rank: env.rank, first: buf[0], last: buf[buf.length - 1], bc: bc[0], addrs })}\n`,
);
await group.destroy();
