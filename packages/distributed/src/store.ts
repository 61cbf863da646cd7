import { connect, createServer, type Server, type Socket } from 'node:net';
import { RendezvousTimeoutError, StoreError } from './errors';
import { decodeJson, encodeJson, FrameReader, writeFrame } from './framing';

/**
 * A key-value rendezvous store in the manner of PyTorch's TCPStore: one server (on the master),
 * any number of clients. `get` and `wait` block until the keys exist or the timeout passes;
 * `add` is an atomic counter. Values are strings. The wire format is length-prefixed JSON.
 */
interface Request {
  id: number;
  op: 'set' | 'get' | 'add' | 'wait' | 'check' | 'delete';
  key?: string;
  keys?: string[];
  value?: string;
  delta?: number;
  timeoutMs?: number;
}

interface Reply {
  id: number;
  value?: string | number | boolean;
  missing?: string[];
  error?: string;
}

interface Waiter {
  keys: string[];
  done: (missing: string[]) => void;
  timer: NodeJS.Timeout;
}

export class TCPStoreServer {
  private readonly data = new Map<string, string>();
  private waiters: Waiter[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on host:port (port 0 picks a free one; read `.port`). */
  static async listen(port: number, host = '0.0.0.0'): Promise<TCPStoreServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new StoreError(
            `cannot listen on ${host}:${port} for the rendezvous store: ${e.code ?? e.message}` +
              (e.code === 'EADDRINUSE' ? ' (pick another --master-port)' : ''),
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    const store = new TCPStoreServer(server, typeof addr === 'object' && addr ? addr.port : port);
    server.on('connection', (s) => store.serve(s));
    return store;
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new FrameReader();
    const reply = (r: Reply) => {
      if (!socket.destroyed) writeFrame(socket, [encodeJson(r)]).catch(() => socket.destroy());
    };
    socket.on('data', (chunk) => reader.push(chunk, (f) => this.handle(decodeJson<Request>(f), reply)));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(req: Request, reply: (r: Reply) => void): void {
    const { id } = req;
    switch (req.op) {
      case 'set':
        this.data.set(req.key as string, req.value ?? '');
        this.wake();
        reply({ id });
        return;
      case 'add': {
        const next = Number(this.data.get(req.key as string) ?? '0') + (req.delta ?? 0);
        this.data.set(req.key as string, String(next));
        this.wake();
        reply({ id, value: next });
        return;
      }
      case 'check':
        reply({ id, value: (req.keys ?? []).every((k) => this.data.has(k)) });
        return;
      case 'delete':
        reply({ id, value: this.data.delete(req.key as string) });
        return;
      case 'get':
      case 'wait': {
        const keys = req.op === 'get' ? [req.key as string] : (req.keys ?? []);
        const done = (missing: string[]) =>
          missing.length > 0
            ? reply({ id, missing })
            : reply({ id, value: req.op === 'get' ? this.data.get(keys[0]) : true });
        if (keys.every((k) => this.data.has(k))) {
          done([]);
          return;
        }
        const waiter: Waiter = {
          keys,
          done,
          timer: setTimeout(() => {
            this.waiters = this.waiters.filter((w) => w !== waiter);
            done(keys.filter((k) => !this.data.has(k)));
          }, req.timeoutMs ?? 300_000),
        };
        this.waiters.push(waiter);
        return;
      }
      default:
        reply({ id, error: `unknown store op ${String(req.op)}` });
        return;
    }
  }

  private wake(): void {
    const ready = this.waiters.filter((w) => w.keys.every((k) => this.data.has(k)));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) {
      clearTimeout(w.timer);
      w.done([]);
    }
  }

  async close(): Promise<void> {
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters = [];
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface StoreClientOptions {
  /** How long to keep retrying the first connection (the master may start later). Default 60 s. */
  connectTimeoutMs?: number;
  /** Default timeout of get/wait. Default 300 s. */
  timeoutMs?: number;
}

export class TCPStoreClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private closed = false;
  readonly timeoutMs: number;

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    options: StoreClientOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 300_000;
    const reader = new FrameReader();
    socket.on('data', (chunk) =>
      reader.push(chunk, (f) => {
        const r = decodeJson<Reply>(f);
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        p?.resolve(r);
      }),
    );
    const fail = () => {
      const err = new StoreError(`lost the connection to the rendezvous store at ${address}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    socket.on('close', fail);
    socket.on('error', () => socket.destroy());
  }

  /** Connects to host:port, retrying until `connectTimeoutMs` (default 60 s). */
  static async connect(
    host: string,
    port: number,
    options: StoreClientOptions = {},
  ): Promise<TCPStoreClient> {
    const deadline = Date.now() + (options.connectTimeoutMs ?? 60_000);
    let lastError = '';
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect({ host, port });
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        socket.setNoDelay(true);
        socket.removeAllListeners('error');
        return new TCPStoreClient(socket, `${host}:${port}`, options);
      } catch (e) {
        lastError = (e as NodeJS.ErrnoException).code ?? String(e);
      }
      if (Date.now() + delay > deadline)
        throw new StoreError(
          `could not reach the rendezvous store at ${host}:${port} within ${options.connectTimeoutMs ?? 60_000} ms (${lastError}); ` +
            'is the master (rank 0 or the launcher on node 0) running and MASTER_ADDR/MASTER_PORT right?',
        );
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private request(req: Omit<Request, 'id'>): Promise<Reply> {
    if (this.closed) return Promise.reject(new StoreError(`store client for ${this.address} is closed`));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      writeFrame(this.socket, [encodeJson({ ...req, id })]).catch((e) => {
        this.pending.delete(id);
        reject(new StoreError(`cannot send to the rendezvous store at ${this.address}: ${String(e)}`));
      });
    }).then((r) => {
      if (r.error) throw new StoreError(`store at ${this.address}: ${r.error}`);
      return r;
    });
  }

  async set(key: string, value: string): Promise<void> {
    await this.request({ op: 'set', key, value });
  }

  /** Waits for `key` (up to timeoutMs) and returns its value. */
  async get(key: string, timeoutMs = this.timeoutMs): Promise<string> {
    const r = await this.request({ op: 'get', key, timeoutMs });
    if (r.missing) throw new RendezvousTimeoutError(`store key '${key}' not set within ${timeoutMs} ms`, []);
    return r.value as string;
  }

  /** Atomically adds `delta` to the integer at `key` (0 when absent) and returns the new value. */
  async add(key: string, delta: number): Promise<number> {
    return (await this.request({ op: 'add', key, delta })).value as number;
  }

  /** Waits until all keys exist; on timeout returns the missing keys instead of throwing. */
  async waitKeys(keys: string[], timeoutMs = this.timeoutMs): Promise<string[]> {
    const r = await this.request({ op: 'wait', keys, timeoutMs });
    return r.missing ?? [];
  }

  /** Waits until all keys exist or throws a RendezvousTimeoutError listing them. */
  async wait(keys: string[], timeoutMs = this.timeoutMs): Promise<void> {
    const missing = await this.waitKeys(keys, timeoutMs);
    if (missing.length > 0)
      throw new RendezvousTimeoutError(
        `store keys not set within ${timeoutMs} ms: ${missing.join(', ')}`,
        [],
      );
  }

  async check(keys: string[]): Promise<boolean> {
    return (await this.request({ op: 'check', keys })).value as boolean;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.request({ op: 'delete', key })).value as boolean;
  }

  /** This host's address on the connection to the store (the interface that reaches the master). */
  get localAddress(): string {
    return (this.socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
