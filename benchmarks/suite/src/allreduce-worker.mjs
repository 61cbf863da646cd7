// One rank of the suite's allreduce scenario (forked twice by pipelines.mjs): @meddl/distributed's
// ProcessGroup ring allreduce of `mb` MiB float32 over loopback, and, on the same two processes,
// raw TCP of the same bytes (one socket, rank 0 → rank 1, 1 MiB writes, timed until rank 1 acks
// the last byte). Rank 0 sends { allreduce: [s…], tcp: [s…] } to the parent per round.
import { connect, createServer } from 'node:net';
import { ProcessGroup } from '@meddl/distributed';

const [rank, world, port, mb, rounds, steps, warmup] = process.argv.slice(2).map(Number);
const bytes = mb * 1024 * 1024;

async function rawTcp(group, key) {
  if (group.rank === 1) {
    const server = createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    await group.store.set(key, String(server.address().port));
    const socket = await new Promise((r) => server.once('connection', r));
    let got = 0;
    await new Promise((resolve) =>
      socket.on('data', (d) => {
        got += d.length;
        if (got >= bytes) resolve();
      }),
    );
    socket.end(Buffer.of(1));
    server.close();
    return 0;
  }
  const p = Number(await group.store.get(key));
  const socket = await new Promise((r) => {
    const s = connect({ host: '127.0.0.1', port: p }, () => r(s));
  });
  socket.setNoDelay(true);
  const chunk = Buffer.alloc(1 << 20, 7);
  const t0 = performance.now();
  const ack = new Promise((r) => socket.once('data', r));
  for (let sent = 0; sent < bytes; sent += chunk.length)
    if (!socket.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent))))
      await new Promise((r) => socket.once('drain', r));
  await ack;
  const secs = (performance.now() - t0) / 1000;
  socket.destroy();
  return secs;
}

const group = await ProcessGroup.init({ rank, worldSize: world, masterAddr: '127.0.0.1', masterPort: port });
const buf = new Float32Array(bytes / 4).fill(rank + 1);
let k = 0;
for (let i = 0; i < warmup; i++) {
  await group.allReduce(buf);
  await rawTcp(group, `tcp/${k++}`);
}
// Correctness: after warm-up allreduces of 1 + 2 = 3 (growing by ×world each call), every value
// must be equal across the buffer; checked on a fresh buffer so the sum is exact.
const probe = new Float32Array(1024).fill(rank + 1);
await group.allReduce(probe);
const expected = (world * (world + 1)) / 2;
const sumOk = probe.every((v) => v === expected);
for (let r = 0; r < rounds; r++) {
  const allreduce = [];
  const tcp = [];
  for (let s = 0; s < steps; s++) {
    await group.barrier();
    const t0 = performance.now();
    await group.allReduce(buf);
    allreduce.push((performance.now() - t0) / 1000);
    await group.barrier();
    const t = await rawTcp(group, `tcp/${k++}`);
    if (rank === 0) tcp.push(t);
  }
  if (rank === 0) process.send({ allreduce, tcp, sumOk });
}
await group.barrier();
await group.destroy();
process.disconnect?.();
