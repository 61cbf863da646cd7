import { connect, createServer, type Server, type Socket } from 'node:net';
import { CollectiveError, DistributedError, RendezvousTimeoutError } from './errors';
import { decodeJson, encodeJson, FrameReader, writeFrame } from './framing';
import { decodeHalf, encodeHalf, quantizeHalf } from './half';
import { TCPStoreClient, TCPStoreServer } from './store';

export type ReduceOp = 'sum' | 'mean';

export interface AllReduceOptions {
  op?: ReduceOp;
  /** 'fp16' sends binary16 on the wire (accumulation stays float32); default none. */
  compression?: 'none' | 'fp16';
  /** Force an algorithm (default: direct below `ringThresholdBytes`, ring above). */
  algorithm?: 'ring' | 'direct';
}

export interface ProcessGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  /** Rank 0 starts the store server unless a launcher already hosts it (default: !MEDDL_STORE_HOSTED). */
  hostStore?: boolean;
  /** Namespace of the rendezvous keys; the launcher sets one per restart (default `MEDDL_RDZV_PREFIX` or ''). */
  prefix?: string;
  /** Address the other ranks dial to reach this one (default: this host's address towards the master). */
  advertiseAddr?: string;
  /** How long to wait for every rank to join (default 300 s). */
  rendezvousTimeoutMs?: number;
  /** How long one receive may wait during a collective (default 300 s). */
  timeoutMs?: number;
  /** allReduce switches from direct exchange to the ring above this size (default 256 KiB). */
  ringThresholdBytes?: number;
  /** Pipelining unit of the ring and of large broadcasts (default 1 MiB). */
  chunkBytes?: number;
}

const HEADER = 8; // u32 op sequence number, u32 reserved (keeps payloads 8-byte aligned)

/** One TCP connection to another rank, with a FIFO of received frames. */
class Peer {
  private frames: Uint8Array[] = [];
  private waiting: {
    resolve: (f: Uint8Array) => void;
    reject: (e: Error) => void;
    timer: NodeJS.Timeout;
  } | null = null;
  private failure: string | null = null;
  lastWrite: Promise<void> = Promise.resolve();

  constructor(
    readonly rank: number,
    readonly socket: Socket,
  ) {
    socket.on('close', () => this.fail(`rank ${rank} disconnected`));
    socket.on('error', (e) => this.fail(`connection to rank ${rank} failed: ${e.message}`));
  }

  deliver(frame: Uint8Array): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      clearTimeout(w.timer);
      w.resolve(frame);
    } else this.frames.push(frame);
  }

  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = reason;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      clearTimeout(w.timer);
      w.reject(new Error(reason));
    }
  }

  recv(timeoutMs: number, op: string): Promise<Uint8Array> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    if (this.failure) return Promise.reject(new CollectiveError(`${op}: ${this.failure}`, this.rank, op));
    return new Promise((resolve, reject) => {
      this.waiting = {
        resolve,
        reject: (e) => reject(new CollectiveError(`${op}: ${e.message}`, this.rank, op)),
        timer: setTimeout(() => {
          this.waiting = null;
          reject(
            new CollectiveError(
              `${op}: rank ${this.rank} sent nothing for ${timeoutMs} ms (it may have hung or died)`,
              this.rank,
              op,
            ),
          );
        }, timeoutMs),
      };
    });
  }

  send(parts: Uint8Array[]): void {
    const p = writeFrame(this.socket, parts);
    p.catch(() => undefined); // surfaced through 'close'/'error' → recv failures
    this.lastWrite = p;
  }
}

function bytesOf(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * A process group over TCP (a full mesh of connections between ranks, set up through a
 * TCPStore-like rendezvous on the master). Collectives must be called in the same order on
 * every rank; each carries a sequence number so a rank that is out of step is reported.
 */
export class ProcessGroup {
  private seq = 0;
  /** Collectives run one at a time, in call order (calls may overlap, e.g. Promise.all of two). */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly ringThreshold: number;
  private readonly chunkElems: number;
  readonly timeoutMs: number;

  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly peers: (Peer | null)[],
    private readonly server: Server,
    readonly store: TCPStoreClient,
    private readonly storeServer: TCPStoreServer | null,
    options: ProcessGroupOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.ringThreshold = options.ringThresholdBytes ?? 256 * 1024;
    this.chunkElems = Math.max(1, Math.floor((options.chunkBytes ?? 1 << 20) / 4));
  }

  /** Joins the group: rendezvous through the store, then connects to every other rank. */
  static async init(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const { rank, worldSize, masterAddr, masterPort } = options;
    if (!Number.isInteger(worldSize) || worldSize < 1)
      throw new DistributedError(`world size must be a positive integer, got ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
      throw new DistributedError(`rank ${rank} is outside 0..${worldSize - 1}`);
    const rdzvTimeout = options.rendezvousTimeoutMs ?? 300_000;
    const prefix = options.prefix ?? process.env.MEDDL_RDZV_PREFIX ?? '';
    const hostStore = options.hostStore ?? (rank === 0 && process.env.MEDDL_STORE_HOSTED !== '1');
    const storeServer = hostStore ? await TCPStoreServer.listen(masterPort) : null;
    const store = await TCPStoreClient.connect(masterAddr, masterPort, {
      connectTimeoutMs: rdzvTimeout,
      timeoutMs: rdzvTimeout,
    });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', () => resolve()));
    const port = (server.address() as { port: number }).port;
    const advertise = options.advertiseAddr ?? process.env.MEDDL_ADVERTISE_ADDR ?? store.localAddress;
    const peers: (Peer | null)[] = new Array(worldSize).fill(null);
    const accepted = new Map<number, (p: Peer) => void>();
    const early = new Map<number, Peer>();
    server.on('connection', (socket) => {
      socket.setNoDelay(true);
      const reader = new FrameReader();
      let peer: Peer | null = null;
      socket.on('data', (chunk) =>
        reader.push(chunk, (frame) => {
          if (peer) return peer.deliver(frame);
          const hello = decodeJson<{ rank: number; prefix: string }>(frame);
          if (hello.prefix !== prefix || peers[hello.rank] !== null) return void socket.destroy();
          peer = new Peer(hello.rank, socket);
          const waiter = accepted.get(hello.rank);
          if (waiter) waiter(peer);
          else early.set(hello.rank, peer);
        }),
      );
      socket.on('error', () => socket.destroy());
    });
    await store.set(`${prefix}addr/${rank}`, `${advertise}:${port}`);
    const keys = Array.from({ length: worldSize }, (_, r) => `${prefix}addr/${r}`);
    const missing = await store.waitKeys(keys, rdzvTimeout);
    if (missing.length > 0) {
      const ranks = missing.map((k) => Number(k.slice(k.lastIndexOf('/') + 1)));
      store.close();
      server.close();
      if (storeServer) {
        // The other ranks' waits time out moments later; keep the store up so they get the same
        // timeout (naming the missing ranks) rather than a lost connection.
        await new Promise((r) => setTimeout(r, Math.min(2000, rdzvTimeout / 4)));
        await storeServer.close();
      }
      throw new RendezvousTimeoutError(
        `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} never joined the rendezvous at ` +
          `${masterAddr}:${masterPort} within ${rdzvTimeout} ms (world size ${worldSize}, this is rank ${rank})`,
        ranks,
      );
    }
    const addrs = await Promise.all(keys.map((k) => store.get(k)));
    const connections: Promise<void>[] = [];
    for (let r = 0; r < worldSize; r++) {
      if (r === rank) continue;
      if (r < rank) {
        // Dial lower ranks; higher ranks dial us.
        const [host, p] = [addrs[r].slice(0, addrs[r].lastIndexOf(':')), Number(addrs[r].split(':').pop())];
        connections.push(
          new Promise<void>((resolve, reject) => {
            const socket = connect({ host, port: p }, () => {
              socket.setNoDelay(true);
              const peer = new Peer(r, socket);
              const reader = new FrameReader();
              socket.on('data', (chunk) => reader.push(chunk, (f) => peer.deliver(f)));
              peers[r] = peer;
              writeFrame(socket, [encodeJson({ rank, prefix })]).then(resolve, reject);
            });
            socket.once('error', (e) =>
              reject(
                new CollectiveError(`cannot connect to rank ${r} at ${addrs[r]}: ${e.message}`, r, 'init'),
              ),
            );
          }),
        );
      } else {
        connections.push(
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () =>
                reject(new RendezvousTimeoutError(`rank ${r} did not connect within ${rdzvTimeout} ms`, [r])),
              rdzvTimeout,
            );
            const got = (p: Peer) => {
              clearTimeout(timer);
              peers[r] = p;
              resolve();
            };
            const e = early.get(r);
            if (e) got(e);
            else accepted.set(r, got);
          }),
        );
      }
    }
    await Promise.all(connections);
    return new ProcessGroup(rank, worldSize, peers, server, store, storeServer, options);
  }

  private peer(r: number): Peer {
    return this.peers[r] as Peer;
  }

  private header(seq: number): Uint8Array {
    const h = new Uint8Array(HEADER);
    new DataView(h.buffer).setUint32(0, seq, true);
    return h;
  }

  private async recv(from: number, seq: number, op: string): Promise<Uint8Array> {
    const frame = await this.peer(from).recv(this.timeoutMs, `${op} #${seq}`);
    const got = new DataView(frame.buffer, frame.byteOffset).getUint32(0, true);
    if (got !== seq)
      throw new CollectiveError(
        `${op} #${seq}: rank ${from} is out of step (sent collective #${got}); every rank must call the same collectives in the same order`,
        from,
        op,
      );
    return frame.subarray(HEADER);
  }

  private async flush(): Promise<void> {
    await Promise.all(this.peers.map((p) => p?.lastWrite));
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Sums (or averages) `buf` across ranks, in place. Every rank ends with identical values. */
  allReduce(buf: Float32Array, options: AllReduceOptions = {}): Promise<Float32Array> {
    return this.serialized(() => this.allReduceNow(buf, options));
  }

  private async allReduceNow(buf: Float32Array, options: AllReduceOptions): Promise<Float32Array> {
    const seq = this.seq++;
    const n = this.worldSize;
    const op = options.op ?? 'sum';
    const fp16 = options.compression === 'fp16';
    if (n === 1) {
      if (fp16) quantizeHalf(buf);
      return buf;
    }
    if (fp16) {
      // As in PyTorch's fp16 hook: divide first (keeps the sum in range), round, then exchange.
      if (op === 'mean') for (let i = 0; i < buf.length; i++) buf[i] /= n;
      quantizeHalf(buf);
    }
    const algorithm =
      options.algorithm ?? (buf.byteLength / (fp16 ? 2 : 1) > this.ringThreshold ? 'ring' : 'direct');
    if (algorithm === 'ring' && buf.length >= n) await this.ringAllReduce(buf, seq, fp16);
    else await this.directAllReduce(buf, seq, fp16);
    if (op === 'mean' && !fp16) for (let i = 0; i < buf.length; i++) buf[i] /= n;
    await this.flush();
    return buf;
  }

  /** Everyone sends its buffer to everyone; sums in rank order so all ranks get the same bits. */
  private async directAllReduce(buf: Float32Array, seq: number, fp16: boolean): Promise<void> {
    const payload = fp16 ? bytesOf(encodeHalf(buf)) : bytesOf(buf);
    for (let r = 0; r < this.worldSize; r++)
      if (r !== this.rank) this.peer(r).send([this.header(seq), payload]);
    const parts: Float32Array[] = [];
    for (let r = 0; r < this.worldSize; r++) {
      if (r === this.rank) {
        parts.push(Float32Array.from(buf));
        continue;
      }
      const bytes = await this.recv(r, seq, 'allReduce');
      if (bytes.byteLength !== payload.byteLength)
        throw new CollectiveError(
          `allReduce #${seq}: rank ${r} sent ${bytes.byteLength} bytes, this rank has ${payload.byteLength}; buffer sizes differ across ranks`,
          r,
          'allReduce',
        );
      parts.push(
        fp16
          ? decodeHalf(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2))
          : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
      );
    }
    buf.fill(0);
    for (const p of parts) for (let i = 0; i < buf.length; i++) buf[i] += p[i];
  }

  /**
   * Ring allreduce (reduce-scatter then allgather, each N−1 steps; Patarasuk & Yuan 2009, as in
   * Horovod/NCCL). Each of the N segments is cut into chunks; a chunk is forwarded as soon as it
   * has been reduced, so sending and receiving overlap along the ring.
   */
  private async ringAllReduce(buf: Float32Array, seq: number, fp16: boolean): Promise<void> {
    const n = this.worldSize;
    const r = this.rank;
    const next = this.peer((r + 1) % n);
    const prev = (r - 1 + n) % n;
    const bounds = (s: number) => [Math.floor((s * buf.length) / n), Math.floor(((s + 1) * buf.length) / n)];
    const chunks = (s: number): [number, number][] => {
      const [a, b] = bounds(s);
      const out: [number, number][] = [];
      for (let i = a; i < b; i += this.chunkElems) out.push([i, Math.min(b, i + this.chunkElems)]);
      return out;
    };
    const send = (a: number, b: number) =>
      next.send([
        this.header(seq),
        fp16 ? bytesOf(encodeHalf(buf.subarray(a, b))) : bytesOf(buf.subarray(a, b)),
      ]);
    const recvChunk = async (a: number, b: number, phase: string): Promise<Float32Array> => {
      const bytes = await this.recv(prev, seq, `allReduce (${phase})`);
      const len = fp16 ? bytes.byteLength / 2 : bytes.byteLength / 4;
      if (len !== b - a)
        throw new CollectiveError(
          `allReduce #${seq}: rank ${prev} sent a chunk of ${len} values, expected ${b - a}; buffer sizes differ across ranks`,
          prev,
          'allReduce',
        );
      return fp16
        ? decodeHalf(new Uint16Array(bytes.buffer, bytes.byteOffset, len))
        : new Float32Array(bytes.buffer, bytes.byteOffset, len);
    };
    // Reduce-scatter: send segment r, then receive r−1−s, add, forward. The last step completes
    // segment r+1, which this rank owns: each of its chunks is sent on (allgather step 0) as soon as
    // it is final, so the two phases overlap too.
    for (const [a, b] of chunks(r)) send(a, b);
    for (let s = 0; s < n - 1; s++) {
      const seg = (r - s - 1 + 2 * n) % n;
      for (const [a, b] of chunks(seg)) {
        const v = await recvChunk(a, b, 'reduce-scatter');
        const dst = buf.subarray(a, b);
        for (let i = 0; i < dst.length; i++) dst[i] += v[i];
        // Owned chunks are rounded before they leave, so every rank keeps the same bits.
        if (s === n - 2 && fp16) quantizeHalf(dst);
        send(a, b);
      }
    }
    for (let s = 0; s < n - 1; s++) {
      const seg = (r - s + 2 * n) % n;
      for (const [a, b] of chunks(seg)) {
        buf.set(await recvChunk(a, b, 'allgather'), a);
        if (s < n - 2) send(a, b);
      }
    }
  }

  /** Copies root's `buf` into every rank's `buf` (same length everywhere), in chunks. */
  broadcast(buf: Float32Array, root = 0): Promise<Float32Array> {
    return this.serialized(() => this.broadcastNow(buf, root));
  }

  private async broadcastNow(buf: Float32Array, root: number): Promise<Float32Array> {
    const seq = this.seq++;
    if (this.worldSize === 1) return buf;
    const step = Math.max(this.chunkElems, 1);
    if (this.rank === root) {
      for (let r = 0; r < this.worldSize; r++) {
        if (r === root) continue;
        for (let a = 0; a < buf.length || a === 0; a += step) {
          this.peer(r).send([this.header(seq), bytesOf(buf.subarray(a, Math.min(buf.length, a + step)))]);
          if (buf.length === 0) break;
        }
      }
      await this.flush();
      return buf;
    }
    for (let a = 0; a < buf.length || a === 0; a += step) {
      const b = Math.min(buf.length, a + step);
      const bytes = await this.recv(root, seq, 'broadcast');
      if (bytes.byteLength !== (b - a) * 4)
        throw new CollectiveError(
          `broadcast #${seq}: rank ${root} sent ${bytes.byteLength} bytes, expected ${(b - a) * 4}; buffer sizes differ`,
          root,
          'broadcast',
        );
      buf.set(new Float32Array(bytes.buffer, bytes.byteOffset, b - a), a);
      if (buf.length === 0) break;
    }
    return buf;
  }

  /** Every rank's bytes, in rank order (lengths may differ). */
  allGatherBytes(data: Uint8Array): Promise<Uint8Array[]> {
    return this.serialized(() => this.allGatherBytesNow(data));
  }

  private async allGatherBytesNow(data: Uint8Array): Promise<Uint8Array[]> {
    const seq = this.seq++;
    for (let r = 0; r < this.worldSize; r++) if (r !== this.rank) this.peer(r).send([this.header(seq), data]);
    const out: Uint8Array[] = [];
    for (let r = 0; r < this.worldSize; r++)
      out.push(r === this.rank ? Uint8Array.from(data) : await this.recv(r, seq, 'allGather'));
    await this.flush();
    return out;
  }

  /** Every rank's buffer, in rank order (lengths may differ). */
  async allGather(buf: Float32Array): Promise<Float32Array[]> {
    const all = await this.allGatherBytes(bytesOf(buf));
    return all.map((b) => {
      const aligned = b.byteOffset % 4 === 0 ? b : Uint8Array.from(b);
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    });
  }

  /** JSON-serializable values from every rank, in rank order. */
  async allGatherObject<T>(value: T): Promise<T[]> {
    return (await this.allGatherBytes(encodeJson(value))).map((b) => decodeJson<T>(b));
  }

  /** Returns when every rank has called barrier. */
  async barrier(): Promise<void> {
    await this.allReduce(new Float32Array(1), { algorithm: 'direct' });
  }

  /** Closes the connections (and the store server on the rank that hosts it). Call barrier() first. */
  async destroy(): Promise<void> {
    for (const p of this.peers) p?.socket.destroy();
    this.store.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.storeServer?.close();
  }
}
