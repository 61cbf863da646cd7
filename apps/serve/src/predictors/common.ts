/** Small helpers the predictors share: file and weight digests, entropies. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A tensor-like with a name: tf tensors (dataSync) or raw arrays. */
type Weight = { shape: number[]; dataSync(): ArrayLike<number> & { buffer: ArrayBufferLike } };

/**
 * SHA-256 over a state dict (names sorted; each name, shape and the raw bytes of its values): the
 * identity of the weights actually loaded, whatever file or checkpoint they came from.
 */
export function stateDictSha256(state: Record<string, Weight>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(state).sort()) {
    const t = state[name] as Weight;
    const data = t.dataSync() as unknown as ArrayBufferView;
    h.update(`${name}:${t.shape.join('x')};`);
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

/** Shannon entropy of a distribution divided by log(K): 0 = certain, 1 = uniform. */
export function normalizedEntropy(p: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < p.length; i++) {
    const q = p[i] as number;
    if (q > 0) e -= q * Math.log(q);
  }
  return p.length > 1 ? e / Math.log(p.length) : 0;
}

/** Binary entropy in bits (0 = certain, 1 = p = 0.5). */
export function binaryEntropyBits(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
}

export function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if ((p[i] as number) > (p[best] as number)) best = i;
  return best;
}
