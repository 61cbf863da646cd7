import type { Socket } from 'node:net';

/**
 * Length-prefixed frames on a byte stream: `u32 LE length` then `length` bytes. The reader keeps
 * the chunks it was given and copies each frame's bytes once, into a fresh (8-byte aligned)
 * ArrayBuffer, so payloads can be viewed as Float32Array without another copy.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1;

  /** Feeds bytes; calls `onFrame` for every complete frame. */
  push(chunk: Buffer, onFrame: (frame: Uint8Array) => void): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        this.need = this.peekLength();
        this.consume(4, null);
      }
      if (this.buffered < this.need) return;
      const out = new Uint8Array(new ArrayBuffer(this.need));
      this.consume(this.need, out);
      this.need = -1;
      onFrame(out);
    }
  }

  private peekLength(): number {
    const head = this.chunks[0].length >= 4 ? this.chunks[0] : Buffer.concat(this.chunks, 4);
    return head.readUInt32LE(0);
  }

  private consume(n: number, into: Uint8Array | null): void {
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const take = Math.min(c.length, n - off);
      if (into) into.set(take === c.length ? c : c.subarray(0, take), off);
      off += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    this.buffered -= n;
  }
}

/** Writes one frame (header + parts) and resolves when the socket has taken the bytes. */
export function writeFrame(socket: Socket, parts: Uint8Array[]): Promise<void> {
  let len = 0;
  for (const p of parts) len += p.byteLength;
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(len, 0);
  const all = [head, ...parts];
  return new Promise<void>((resolve, reject) => {
    socket.cork();
    for (let i = 0; i < all.length - 1; i++) socket.write(all[i]);
    socket.write(all[all.length - 1], (err) => (err ? reject(err) : resolve()));
    socket.uncork();
  });
}

/** Frames carrying a JSON object. */
export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function decodeJson<T>(frame: Uint8Array): T {
  return JSON.parse(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8')) as T;
}
