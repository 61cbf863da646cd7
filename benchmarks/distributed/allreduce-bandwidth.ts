// Allreduce bus bandwidth of @meddl/distributed's ProcessGroup on loopback, against raw TCP
// throughput between the same two processes, measured in the same run.
//
//   cd packages/distributed && node --import tsx ../../benchmarks/distributed/allreduce-bandwidth.ts [world=2] [maxMB=256]
//
// busBW = S / t · 2(n−1)/n (the nccl-tests definition: the bytes each rank must move in a ring
// allreduce, so it is comparable to link bandwidth). Raw TCP = one socket, rank 0 → rank 1,
// 1 MiB writes, timed until rank 1 acknowledges the last byte. Medians of the repetitions.
import { fork } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { ProcessGroup } from '../../packages/distributed/src/process-group';

const world = Number(process.argv[2] ?? 2);
const maxMB = Number(process.argv[3] ?? 256);
const sizesMB = [1, 4, 16, 64, 256].filter((s) => s <= maxMB);
const reps = (mb: number) => (mb <= 4 ? 9 : mb <= 16 ? 5 : 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function rawTcp(group: ProcessGroup, bytes: number, key: string): Promise<number> {
  // Rank 1 listens; the port travels through the store. Rank 0 sends, rank 1 acks with one byte.
  if (group.rank === 1) {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    await group.store.set(key, String((server.address() as { port: number }).port));
    const socket = await new Promise<Socket>((r) => server.once('connection', r));
    let got = 0;
    await new Promise<void>((resolve) =>
      socket.on('data', (d) => {
        got += d.length;
        if (got >= bytes) resolve();
      }),
    );
    socket.end(Buffer.of(1));
    server.close();
    return 0;
  }
  const port = Number(await group.store.get(key));
  const socket = await new Promise<Socket>((r) => {
    const s = connect({ host: '127.0.0.1', port }, () => r(s));
  });
  socket.setNoDelay(true);
  const chunk = Buffer.alloc(1 << 20, 7);
  const t0 = performance.now();
  const ack = new Promise<void>((r) => socket.once('data', () => r()));
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent))))
      await new Promise((r) => socket.once('drain', r));
  }
  await ack;
  const secs = (performance.now() - t0) / 1000;
  socket.destroy();
  return bytes / secs;
}

async function worker(rank: number, port: number) {
  const group = await ProcessGroup.init({
    rank,
    worldSize: world,
    masterAddr: '127.0.0.1',
    masterPort: port,
  });
  const rows: string[] = [];
  for (const mb of sizesMB) {
    const bytes = mb * 1024 * 1024;
    const buf = new Float32Array(bytes / 4).fill(rank + 1);
    await group.allReduce(buf); // warm-up
    const times: number[] = [];
    const tcp: number[] = [];
    for (let i = 0; i < reps(mb); i++) {
      await group.barrier();
      const t0 = performance.now();
      await group.allReduce(buf);
      times.push((performance.now() - t0) / 1000);
      if (rank <= 1) tcp.push(await rawTcp(group, bytes, `tcp/${mb}/${i}`));
      await group.barrier();
    }
    const t = median(times);
    const algBW = bytes / t;
    const busBW = (algBW * 2 * (world - 1)) / world;
    const raw = median(tcp);
    if (rank === 0)
      rows.push(
        `| ${mb} | ${(t * 1000).toFixed(1)} | ${(algBW / 1e6).toFixed(0)} | ${(busBW / 1e6).toFixed(0)} | ${(raw / 1e6).toFixed(0)} | ${(busBW / raw).toFixed(2)} |`,
      );
  }
  await group.barrier();
  await group.destroy();
  if (rank === 0) {
    console.log(`world ${world}, ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(1)} at the end`);
    console.log(
      '| size (MB) | allreduce median (ms) | algBW (MB/s) | busBW (MB/s) | raw TCP (MB/s) | busBW / TCP |',
    );
    console.log(
      '| --------- | --------------------- | ------------ | ------------ | -------------- | ----------- |',
    );
    for (const r of rows) console.log(r);
  }
}

const role = process.argv.indexOf('--rank');
if (role > 0) {
  await worker(Number(process.argv[role + 1]), Number(process.argv[role + 2]));
} else {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  s.close();
  const kids = Array.from({ length: world }, (_, rank) =>
    fork(
      new URL(import.meta.url).pathname,
      [String(world), String(maxMB), '--rank', String(rank), String(port)],
      {
        execArgv: ['--import', 'tsx'],
      },
    ),
  );
  await Promise.all(kids.map((k) => new Promise((r) => k.on('exit', r))));
}
