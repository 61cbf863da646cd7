/**
 * The one routine that puts a checkpoint on disk. It is plain JavaScript kept in a string so that
 * the very same code runs in the calling thread (CheckpointManager.save) and in a worker thread
 * (saveAsync) whether the package runs from its TypeScript sources or from dist.
 *
 * Steps: mkdir a temporary sibling `.tmp-<name>-<pid>-<rand>`; write every file (gzip if asked),
 * fsync each; write manifest.json (size + sha256 of every file) last, fsync it; fsync the temporary
 * directory; rename it to its final name; fsync the parent; then replace the `latest` pointer the
 * same way (temporary file, fsync, rename, fsync). A reader therefore sees either no checkpoint or a
 * complete one, and a crash at any moment leaves at most a `.tmp-*` directory behind.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface CommitFile {
  name: string;
  data: Uint8Array;
  gzip: boolean;
}

export interface CommitJob {
  /** The checkpoints directory. */
  dir: string;
  /** Final directory name of this checkpoint. */
  name: string;
  files: CommitFile[];
  /** The manifest without its `files` map. */
  manifest: Record<string, unknown>;
  gzipLevel: number;
}

export interface ManifestFile {
  size: number;
  sha256: string;
  compression: 'none' | 'gzip';
  /** Size before compression. */
  rawSize: number;
}

export interface CommitResult {
  path: string;
  files: Record<string, ManifestFile>;
  bytes: number;
  ms: number;
}

/** A failure inside the commit, with the OS error details that survive a thread boundary. */
export interface CommitFailure {
  message: string;
  code?: string;
  path?: string;
  syscall?: string;
}

const COMMIT_SOURCE = String.raw`
function commitCheckpoint(job) {
  const fs = require('node:fs');
  const path = require('node:path');
  const crypto = require('node:crypto');
  const zlib = require('node:zlib');
  const t0 = Date.now();
  const finalDir = path.join(job.dir, job.name);
  const tmpDir = path.join(job.dir, '.tmp-' + job.name + '-' + process.pid + '-' + crypto.randomBytes(4).toString('hex'));
  const writeDurable = (file, data) => {
    const fd = fs.openSync(file, 'w');
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
  const fsyncDir = (dir) => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
  if (fs.existsSync(finalDir)) {
    const e = new Error('checkpoint ' + finalDir + ' already exists');
    e.code = 'EEXIST';
    e.path = finalDir;
    throw e;
  }
  fs.mkdirSync(tmpDir);
  const files = {};
  let bytes = 0;
  try {
    for (const f of job.files) {
      const raw = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
      const stored = f.gzip ? zlib.gzipSync(raw, { level: job.gzipLevel }) : raw;
      const fileName = f.gzip ? f.name + '.gz' : f.name;
      writeDurable(path.join(tmpDir, fileName), stored);
      files[fileName] = {
        size: stored.length,
        sha256: crypto.createHash('sha256').update(stored).digest('hex'),
        compression: f.gzip ? 'gzip' : 'none',
        rawSize: raw.length,
      };
      bytes += stored.length;
    }
    const manifest = Buffer.from(JSON.stringify(Object.assign({}, job.manifest, { files }), null, 2) + '\n');
    writeDurable(path.join(tmpDir, 'manifest.json'), manifest);
    bytes += manifest.length;
    fsyncDir(tmpDir);
    fs.renameSync(tmpDir, finalDir);
  } catch (err) {
    try {
      fs.rmSync(tmpDir, { recursive: true, force: true });
    } catch {}
    throw err;
  }
  fsyncDir(job.dir);
  const tmpLatest = path.join(job.dir, '.latest-' + process.pid);
  writeDurable(tmpLatest, Buffer.from(job.name + '\n'));
  fs.renameSync(tmpLatest, path.join(job.dir, 'latest'));
  fsyncDir(job.dir);
  return { path: finalDir, files, bytes, ms: Date.now() - t0 };
}
`;

const WORKER_SOURCE = `${COMMIT_SOURCE}
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (job) => {
  try {
    parentPort.postMessage({ ok: true, result: commitCheckpoint(job) });
  } catch (e) {
    parentPort.postMessage({
      ok: false,
      error: { message: String(e && e.message), code: e && e.code, path: e && e.path, syscall: e && e.syscall },
    });
  }
});
`;

type CommitFn = (job: CommitJob) => CommitResult;
let commitInThread: CommitFn | null = null;

/** Runs the commit in the calling thread (blocking). */
export function commitSync(job: CommitJob): CommitResult {
  if (!commitInThread) {
    // One source for both threads: see the comment at the top of this file.
    const make = new Function('require', `${COMMIT_SOURCE}\nreturn commitCheckpoint;`) as (
      r: NodeRequire,
    ) => CommitFn;
    commitInThread = make(createRequire(import.meta.url));
  }
  return commitInThread(job);
}

type Reply = { ok: true; result: CommitResult } | { ok: false; error: CommitFailure };

/** A worker thread that runs commits one at a time; it does not keep the process alive when idle. */
export class CommitWorker {
  private worker: Worker | null = null;
  private pending: { resolve: (r: CommitResult) => void; reject: (e: unknown) => void } | null = null;

  private start(): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (reply: Reply) => {
      const p = this.pending;
      this.pending = null;
      w.unref();
      if (!p) return;
      if (reply.ok) p.resolve(reply.result);
      else p.reject(Object.assign(new Error(reply.error.message), reply.error));
    });
    const fail = (err: unknown) => {
      const p = this.pending;
      this.pending = null;
      if (this.worker === w) this.worker = null;
      p?.reject(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`checkpoint writer thread exited with code ${code}`)));
    w.unref();
    return w;
  }

  run(job: CommitJob): Promise<CommitResult> {
    if (this.pending) return Promise.reject(new Error('CommitWorker: a commit is already in flight'));
    this.worker ??= this.start();
    const w = this.worker;
    return new Promise<CommitResult>((resolve, reject) => {
      this.pending = { resolve, reject };
      // Hand over whole buffers without copying; views into shared pools are copied instead.
      const transfer = job.files
        .map((f) => f.data)
        .filter(
          (d) =>
            d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && d.buffer instanceof ArrayBuffer,
        )
        .map((d) => d.buffer as ArrayBuffer);
      w.ref();
      w.postMessage(job, transfer);
    });
  }

  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
