/**
 * Pretrained encoders brought as ONNX files (a CLIP / TorchXRayVision image tower, a BERT text
 * tower), run frozen through @meddl/onnx's OnnxSession, and an on-disk embedding cache so that each
 * input is encoded once per encoder: stage 1, stage 2, evaluation and later runs reuse it.
 *
 * Expected signatures (names configurable; dims checked when the model fixes them):
 *   image: one input  float32 [batch, C, H, W] with C = 1 or 3 (grey is repeated to 3 channels)
 *          → output   float32 [batch, D]
 *   text:  input_ids, attention_mask int64 (or int32) [batch, seq] → output float32 [batch, D]
 * A model that does not fit is refused with MdfNetEncoderError naming the file and each problem.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readSafetensors, writeSafetensors } from '@meddl/checkpoint';
import { OnnxSession, OnnxSignatureError, type TensorData, type ValueSpec } from '@meddl/onnx';
import { z } from 'zod';
import type { PreparedStudy } from './data';
import { MdfNetEncoderError } from './errors';
import { type Normalization, normalizeImage } from './image';

export const ImageEncoderFileSchema = z.object({
  /** Path of the .onnx file. */
  path: z.string(),
  input: z.string().default('pixel_values'),
  output: z.string().default('embeddings'),
  /** Intensity mapping the encoder was trained with (see image.ts). */
  normalization: z.enum(['imagenet', 'xrv', 'none']).default('imagenet'),
  /** Input size when the model's H and W are dynamic (a fixed H, W in the file wins). */
  imageSize: z.number().int().min(8).optional(),
  batchSize: z.number().int().positive().default(32),
});
export type ImageEncoderFile = z.infer<typeof ImageEncoderFileSchema>;

export const TextEncoderFileSchema = z.object({
  path: z.string(),
  inputIds: z.string().default('input_ids'),
  attentionMask: z.string().default('attention_mask'),
  output: z.string().default('embeddings'),
  batchSize: z.number().int().positive().default(32),
});
export type TextEncoderFile = z.infer<typeof TextEncoderFileSchema>;

export const OnnxEncodersSchema = z.object({
  image: ImageEncoderFileSchema.optional(),
  text: TextEncoderFileSchema.optional(),
  /** Embedding cache directory; default `<runsDir>/embedding-cache`. */
  cacheDir: z.string().optional(),
});
export type OnnxEncoders = z.infer<typeof OnnxEncodersSchema>;

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function sha256Bytes(...parts: ArrayBufferView[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex');
}

async function openSession(path: string): Promise<OnnxSession> {
  const file = resolve(path);
  if (!existsSync(file)) throw new MdfNetEncoderError(file, ['the file does not exist']);
  return OnnxSession.create(file);
}

/** Runs OnnxSession.expectSignature and re-throws its problems as MdfNetEncoderError. */
function checkSignature(
  session: OnnxSession,
  expected: { inputs: ValueSpec[]; outputs: ValueSpec[] },
  signature: string,
): void {
  try {
    session.expectSignature(expected);
  } catch (e) {
    if (e instanceof OnnxSignatureError) throw new MdfNetEncoderError(session.source, e.problems, signature);
    throw e;
  }
}

function fixedDim(spec: ValueSpec | undefined, axis: number): number | null {
  const d = spec?.dims[axis];
  return typeof d === 'number' ? d : null;
}

function outputDim(session: OnnxSession, name: string, signature: string): number {
  const d = fixedDim(
    session.outputs.find((o) => o.name === name),
    1,
  );
  if (d === null)
    throw new MdfNetEncoderError(
      session.source,
      [`output '${name}' must have a fixed embedding width (axis 1), the model leaves it dynamic`],
      signature,
    );
  return d;
}

/** What an encoder is, for cache keys: the file's bytes and everything that shapes its input. */
export interface EncoderIdentity {
  kind: 'image' | 'text';
  file: string;
  fileSha256: string;
  params: Record<string, string | number>;
}

export function encoderKey(id: EncoderIdentity): string {
  return createHash('sha256')
    .update(JSON.stringify({ kind: id.kind, file: id.fileSha256, params: id.params }))
    .digest('hex')
    .slice(0, 32);
}

const IMAGE_SIGNATURE = 'image encoder: input float32 [batch, 1|3, H, W] → output float32 [batch, D]';

export class OnnxImageEncoder {
  /** Number of times the ONNX session was run (tests use it to prove the cache is hit). */
  sessionRuns = 0;
  private constructor(
    readonly session: OnnxSession,
    readonly spec: ImageEncoderFile,
    readonly channels: 1 | 3,
    readonly imageSize: number,
    readonly dim: number,
    readonly identity: EncoderIdentity,
  ) {}

  static async load(input: z.input<typeof ImageEncoderFileSchema>): Promise<OnnxImageEncoder> {
    const spec = ImageEncoderFileSchema.parse(input);
    const session = await openSession(spec.path);
    try {
      checkSignature(
        session,
        {
          inputs: [{ name: spec.input, dtype: 'float32', dims: ['batch', null, null, null] }],
          outputs: [{ name: spec.output, dtype: 'float32', dims: ['batch', null] }],
        },
        IMAGE_SIGNATURE,
      );
      const problems: string[] = [];
      const extra = session.inputs.filter((i) => i.name !== spec.input).map((i) => `'${i.name}'`);
      if (extra.length) problems.push(`it has inputs besides '${spec.input}': ${extra.join(', ')}`);
      const inSpec = session.inputs.find((i) => i.name === spec.input);
      const c = fixedDim(inSpec, 1);
      if (c !== 1 && c !== 3)
        problems.push(
          `input '${spec.input}': axis 1 (channels) must be 1 or 3, the model has ${c ?? 'dynamic'}`,
        );
      const h = fixedDim(inSpec, 2);
      const w = fixedDim(inSpec, 3);
      if (h !== null && w !== null && h !== w)
        problems.push(`input '${spec.input}': H and W must be equal (square crops), the model has ${h}×${w}`);
      const size = h ?? w ?? spec.imageSize;
      if (size === undefined)
        problems.push(
          `input '${spec.input}': H and W are dynamic, so the config must give encoders.image.imageSize`,
        );
      if (spec.imageSize !== undefined && size !== undefined && spec.imageSize !== size)
        problems.push(`the config asks for imageSize ${spec.imageSize}, the model fixes ${size}`);
      if (problems.length) throw new MdfNetEncoderError(session.source, problems, IMAGE_SIGNATURE);
      const dim = outputDim(session, spec.output, IMAGE_SIGNATURE);
      const identity: EncoderIdentity = {
        kind: 'image',
        file: session.source,
        fileSha256: sha256File(session.source),
        params: {
          input: spec.input,
          output: spec.output,
          normalization: spec.normalization,
          imageSize: size as number,
          channels: c as number,
          preprocessing: 'centerCropSquare+bilinear',
        },
      };
      return new OnnxImageEncoder(session, spec, c as 1 | 3, size as number, dim, identity);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /** images: [n·S·S] in [0, 1] (S = imageSize) → embeddings [n·D]. */
  async embed(images: Float32Array, n: number): Promise<Float32Array> {
    const S = this.imageSize;
    if (images.length !== n * S * S)
      throw new MdfNetEncoderError(this.session.source, [
        `expected ${n} images of ${S}×${S} (${n * S * S} values), got ${images.length}`,
      ]);
    const norm = normalizeImage(images, this.spec.normalization as Normalization);
    const C = this.channels;
    const pixels = new Float32Array(n * C * S * S);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < C; c++) pixels.set(norm.subarray(i * S * S, (i + 1) * S * S), (i * C + c) * S * S);
    this.sessionRuns++;
    const out = await this.session.runBatched(
      { [this.spec.input]: { data: pixels, dims: [n, C, S, S] } },
      this.spec.batchSize,
      [this.spec.output],
    );
    return Float32Array.from(out[this.spec.output].data as Float32Array);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

const TEXT_SIGNATURE =
  'text encoder: input_ids, attention_mask int64|int32 [batch, seq] → output float32 [batch, D]';

export class OnnxTextEncoder {
  sessionRuns = 0;
  private constructor(
    readonly session: OnnxSession,
    readonly spec: TextEncoderFile,
    readonly dtype: 'int64' | 'int32',
    readonly maxTokens: number,
    readonly dim: number,
    readonly identity: EncoderIdentity,
  ) {}

  /** `maxTokens` is the tokenizer's padded length; a model that fixes seq must agree. */
  static async load(
    input: z.input<typeof TextEncoderFileSchema>,
    maxTokens: number,
  ): Promise<OnnxTextEncoder> {
    const spec = TextEncoderFileSchema.parse(input);
    const session = await openSession(spec.path);
    try {
      const ids = session.inputs.find((i) => i.name === spec.inputIds);
      const dtype = ids?.dtype === 'int32' ? 'int32' : 'int64';
      checkSignature(
        session,
        {
          inputs: [
            { name: spec.inputIds, dtype, dims: ['batch', maxTokens] },
            { name: spec.attentionMask, dtype, dims: ['batch', maxTokens] },
          ],
          outputs: [{ name: spec.output, dtype: 'float32', dims: ['batch', null] }],
        },
        TEXT_SIGNATURE,
      );
      const extra = session.inputs
        .filter((i) => i.name !== spec.inputIds && i.name !== spec.attentionMask)
        .map((i) => `'${i.name}'`);
      if (extra.length)
        throw new MdfNetEncoderError(
          session.source,
          [`it has inputs besides '${spec.inputIds}' and '${spec.attentionMask}': ${extra.join(', ')}`],
          TEXT_SIGNATURE,
        );
      const dim = outputDim(session, spec.output, TEXT_SIGNATURE);
      const identity: EncoderIdentity = {
        kind: 'text',
        file: session.source,
        fileSha256: sha256File(session.source),
        params: {
          inputIds: spec.inputIds,
          attentionMask: spec.attentionMask,
          output: spec.output,
          maxTokens,
        },
      };
      return new OnnxTextEncoder(session, spec, dtype, maxTokens, dim, identity);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /** ids, mask: [n·L] → embeddings [n·D]. */
  async embed(ids: Int32Array, mask: ArrayLike<number>, n: number): Promise<Float32Array> {
    const L = this.maxTokens;
    if (ids.length !== n * L || mask.length !== n * L)
      throw new MdfNetEncoderError(this.session.source, [
        `expected ${n}×${L} token ids and mask, got ${ids.length} and ${mask.length}`,
      ]);
    const toData = (a: ArrayLike<number>): TensorData['data'] =>
      this.dtype === 'int64' ? BigInt64Array.from(Array.from(a), (v) => BigInt(v)) : Int32Array.from(a);
    this.sessionRuns++;
    const out = await this.session.runBatched(
      {
        [this.spec.inputIds]: { data: toData(ids), dims: [n, L] },
        [this.spec.attentionMask]: { data: toData(mask), dims: [n, L] },
      },
      this.spec.batchSize,
      [this.spec.output],
    );
    return Float32Array.from(out[this.spec.output].data as Float32Array);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export interface CacheStats {
  /** Inputs whose embedding came from the cache file. */
  reused: number;
  /** Inputs run through the encoder (and added to the cache). */
  computed: number;
  file: string;
  /** Wall time of the lookup, encoding and cache write. */
  seconds: number;
}

/**
 * One safetensors file per encoder identity (`<dir>/<kind>-<encoderKey>.safetensors`), one F32 [D]
 * tensor per input named by the SHA-256 of the preprocessed input. Changing the encoder file or
 * any preprocessing parameter changes the key, so stale embeddings are never read. Rewrites are
 * atomic (writeSafetensors: temp file, fsync, rename).
 */
export class EmbeddingCache {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  fileFor(id: EncoderIdentity): string {
    return join(this.dir, `${id.kind}-${encoderKey(id)}.safetensors`);
  }

  /**
   * Embeddings [D] for each input (identified by its content hash), computing only those not
   * cached with `compute(indices)` → [indices.length·D].
   */
  async getOrCompute(
    id: EncoderIdentity,
    dim: number,
    contentHashes: readonly string[],
    compute: (indices: number[]) => Promise<Float32Array>,
  ): Promise<{ embeddings: Float32Array[]; stats: CacheStats }> {
    const t0 = performance.now();
    const file = this.fileFor(id);
    const stored = new Map<string, Float32Array>();
    if (existsSync(file)) {
      try {
        for (const [name, t] of Object.entries(readSafetensors(file).tensors))
          if (t.dtype === 'F32' && t.shape.length === 1 && t.shape[0] === dim)
            stored.set(name, t.data as Float32Array);
      } catch {
        // An unreadable cache is derived data: drop it and recompute.
        stored.clear();
      }
    }
    const missing: number[] = [];
    const seen = new Set<string>();
    contentHashes.forEach((h, i) => {
      if (!stored.has(h) && !seen.has(h)) {
        seen.add(h);
        missing.push(i);
      }
    });
    if (missing.length) {
      const out = await compute(missing);
      if (out.length !== missing.length * dim)
        throw new MdfNetEncoderError(id.file, [
          `the encoder returned ${out.length} values for ${missing.length} inputs of width ${dim}`,
        ]);
      missing.forEach((i, j) => {
        stored.set(contentHashes[i], out.slice(j * dim, (j + 1) * dim));
      });
      mkdirSync(this.dir, { recursive: true });
      const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
      for (const [name, data] of stored) tensors[name] = { dtype: 'F32', shape: [dim], data };
      writeSafetensors(file, tensors, {
        format: 'meddl-mdf-net-embedding-cache',
        kind: id.kind,
        encoder: id.file,
        encoder_sha256: id.fileSha256,
        params: JSON.stringify(id.params),
      });
    }
    return {
      embeddings: contentHashes.map((h) => stored.get(h) as Float32Array),
      stats: {
        reused: contentHashes.length - missing.length,
        computed: missing.length,
        file,
        seconds: (performance.now() - t0) / 1000,
      },
    };
  }
}

/** Content hash of one preprocessed image ([S·S] in [0, 1]). */
export function imageContentHash(image: Float32Array): string {
  return sha256Bytes(image);
}

/** Content hash of one tokenized report (ids and mask). */
export function textContentHash(ids: Int32Array, mask: Uint8Array): string {
  return sha256Bytes(ids, mask);
}

/** Embeds every image through the cache; rows without an image use a blank one (as the CNN path does). */
export async function cachedImageEmbeddings(
  encoder: OnnxImageEncoder,
  cache: EmbeddingCache,
  images: ReadonlyArray<Float32Array | null>,
): Promise<{ embeddings: Float32Array[]; stats: CacheStats }> {
  const S = encoder.imageSize;
  const blank = new Float32Array(S * S);
  const rows = images.map((im) => im ?? blank);
  return cache.getOrCompute(encoder.identity, encoder.dim, rows.map(imageContentHash), (idx) => {
    const batch = new Float32Array(idx.length * S * S);
    idx.forEach((i, j) => {
      batch.set(rows[i], j * S * S);
    });
    return encoder.embed(batch, idx.length);
  });
}

/** Embeds every tokenized report through the cache; rows without a report attend one [PAD]. */
export async function cachedTextEmbeddings(
  encoder: OnnxTextEncoder,
  cache: EmbeddingCache,
  reports: ReadonlyArray<{ ids: Int32Array; mask: Uint8Array } | null>,
): Promise<{ embeddings: Float32Array[]; stats: CacheStats }> {
  const L = encoder.maxTokens;
  const emptyMask = new Uint8Array(L);
  emptyMask[0] = 1;
  const rows = reports.map((r) => r ?? { ids: new Int32Array(L), mask: emptyMask });
  return cache.getOrCompute(
    encoder.identity,
    encoder.dim,
    rows.map((r) => textContentHash(r.ids, r.mask)),
    (idx) => {
      const ids = new Int32Array(idx.length * L);
      const mask = new Uint8Array(idx.length * L);
      idx.forEach((i, j) => {
        ids.set(rows[i].ids.subarray(0, L), j * L);
        mask.set(rows[i].mask.subarray(0, L), j * L);
      });
      return encoder.embed(ids, mask, idx.length);
    },
  );
}

/** The encoders a run config names, loaded and checked. */
export interface LoadedEncoders {
  image: OnnxImageEncoder | null;
  text: OnnxTextEncoder | null;
}

export async function loadEncoders(spec: OnnxEncoders, maxTokens: number): Promise<LoadedEncoders> {
  const image = spec.image ? await OnnxImageEncoder.load(spec.image) : null;
  try {
    const text = spec.text ? await OnnxTextEncoder.load(spec.text, maxTokens) : null;
    return { image, text };
  } catch (e) {
    await image?.release();
    throw e;
  }
}

export async function releaseEncoders(e: LoadedEncoders): Promise<void> {
  await e.image?.release();
  await e.text?.release();
}

/**
 * Sets `imageEmbedding` / `textEmbedding` on every study from the cache (encoding what is not
 * there). Images must already be at the image encoder's size. Returns the cache statistics.
 */
export async function attachEncoderEmbeddings(
  studies: PreparedStudy[],
  encoders: LoadedEncoders,
  cache: EmbeddingCache,
): Promise<{ image: CacheStats | null; text: CacheStats | null }> {
  let image: CacheStats | null = null;
  let text: CacheStats | null = null;
  if (encoders.image) {
    const r = await cachedImageEmbeddings(
      encoders.image,
      cache,
      studies.map((s) => s.image),
    );
    studies.forEach((s, i) => {
      s.imageEmbedding = r.embeddings[i];
    });
    image = r.stats;
  }
  if (encoders.text) {
    const r = await cachedTextEmbeddings(
      encoders.text,
      cache,
      studies.map((s) => (s.tokens && s.attention ? { ids: s.tokens, mask: s.attention } : null)),
    );
    studies.forEach((s, i) => {
      s.textEmbedding = r.embeddings[i];
    });
    text = r.stats;
  }
  return { image, text };
}
