import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readSafetensors } from '@meddl/checkpoint';
import { OnnxSession } from '@meddl/onnx';
import { Generator } from '@meddl/tensor';
import { describe, expect, it } from 'vitest';
import {
  cachedImageEmbeddings,
  cachedTextEmbeddings,
  EmbeddingCache,
  OnnxImageEncoder,
  OnnxTextEncoder,
} from './encoders';
import { MdfNetEncoderError } from './errors';
import { preprocessImage } from './image';

const FIXTURES = resolve(__dirname, '../fixtures/encoders');
const IMAGE_ONNX = join(FIXTURES, 'image_encoder.onnx');
const TEXT_ONNX = join(FIXTURES, 'text_encoder.onnx');
// An encoder from another exporter (onnx.helper) whose names differ from mdf-net's defaults.
const PATCH_ONNX = resolve(__dirname, '../../onnx/fixtures/patch_encoder.onnx');

interface Recorded {
  dims: number[];
  data: number[];
}
const fixture = JSON.parse(readFileSync(join(FIXTURES, 'encoders.json'), 'utf8')) as {
  cases: {
    image: Array<{ pixel_values: Recorded; embeddings: Recorded }>;
    text: Array<{ input_ids: Recorded; attention_mask: Recorded; embeddings: Recorded }>;
  };
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('ONNX encoder fixtures exported from PyTorch', () => {
  it('are small', () => {
    expect(statSync(IMAGE_ONNX).size).toBeLessThan(200_000);
    expect(statSync(TEXT_ONNX).size).toBeLessThan(200_000);
  });

  it("OnnxSession reproduces PyTorch's recorded outputs within 1e-4", async () => {
    const image = await OnnxSession.create(IMAGE_ONNX);
    for (const c of fixture.cases.image) {
      const out = await image.run({
        pixel_values: { data: Float32Array.from(c.pixel_values.data), dims: c.pixel_values.dims },
      });
      expect(out.embeddings.dims).toEqual(c.embeddings.dims);
      expect(maxAbsDiff(out.embeddings.data as Float32Array, c.embeddings.data)).toBeLessThan(1e-4);
    }
    await image.release();
    const text = await OnnxSession.create(TEXT_ONNX);
    for (const c of fixture.cases.text) {
      const big = (r: Recorded) => BigInt64Array.from(r.data, (v) => BigInt(v));
      const out = await text.run({
        input_ids: { data: big(c.input_ids), dims: c.input_ids.dims },
        attention_mask: { data: big(c.attention_mask), dims: c.attention_mask.dims },
      });
      expect(out.embeddings.dims).toEqual(c.embeddings.dims);
      expect(maxAbsDiff(out.embeddings.data as Float32Array, c.embeddings.data)).toBeLessThan(1e-4);
    }
    await text.release();
  });

  it('OnnxImageEncoder / OnnxTextEncoder read the signatures and feed the right layouts', async () => {
    const image = await OnnxImageEncoder.load({ path: IMAGE_ONNX, normalization: 'none' });
    expect([image.channels, image.imageSize, image.dim]).toEqual([3, 32, 16]);
    // A grey image repeated to 3 channels gives what PyTorch gives on the 3-channel tensor.
    const grey = new Generator(1).uniformArray(32 * 32, 0, 1);
    const rgb = new Float32Array(3 * 32 * 32);
    for (let c = 0; c < 3; c++) rgb.set(grey, c * 32 * 32);
    const direct = await image.session.run({ pixel_values: { data: rgb, dims: [1, 3, 32, 32] } });
    expect(Array.from(await image.embed(grey, 1))).toEqual(
      Array.from(direct.embeddings.data as Float32Array),
    );
    await image.release();

    const text = await OnnxTextEncoder.load({ path: TEXT_ONNX }, 20);
    expect([text.dtype, text.dim]).toEqual(['int64', 16]);
    const c = fixture.cases.text[1]; // batch 3, 20 tokens
    const got = await text.embed(
      Int32Array.from(c.input_ids.data),
      Uint8Array.from(c.attention_mask.data),
      3,
    );
    expect(maxAbsDiff(got, c.embeddings.data)).toBeLessThan(1e-4);
    await text.release();
  });
});

describe('ONNX encoders that do not fit are refused, naming the file', () => {
  const refused = async (p: Promise<unknown>, pattern: RegExp, file: string) => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(MdfNetEncoderError);
    expect((e as MdfNetEncoderError).meddl).toBe(true);
    expect((e as MdfNetEncoderError).file).toBe(file);
    expect((e as Error).message).toContain(file);
    expect((e as Error).message).toMatch(pattern);
  };

  it('a text encoder given as the image encoder', () =>
    refused(
      OnnxImageEncoder.load({ path: TEXT_ONNX }),
      /no input named 'pixel_values' \(the model's inputs: 'input_ids', 'attention_mask'\)/,
      TEXT_ONNX,
    ));

  it('an image encoder given as the text encoder', () =>
    refused(OnnxTextEncoder.load({ path: IMAGE_ONNX }, 48), /no input named 'input_ids'/, IMAGE_ONNX));

  it("another exporter's names: the output is 'features', not 'embeddings'", async () => {
    await refused(OnnxImageEncoder.load({ path: PATCH_ONNX }), /no output named 'embeddings'/, PATCH_ONNX);
    // Named in the config, it loads (3 × 8 × 8 in, 16 out).
    const e = await OnnxImageEncoder.load({ path: PATCH_ONNX, output: 'features' });
    expect([e.channels, e.imageSize, e.dim]).toEqual([3, 8, 16]);
    await e.release();
  });

  it('a config image size that contradicts the file', () =>
    refused(
      OnnxImageEncoder.load({ path: IMAGE_ONNX, imageSize: 64 }),
      /imageSize 64, the model fixes 32/,
      IMAGE_ONNX,
    ));

  it('token ids beyond the text encoder vocabulary fail at run time with a typed error naming the file', async () => {
    const enc = await OnnxTextEncoder.load({ path: TEXT_ONNX }, 4);
    const e = await enc.embed(Int32Array.of(2, 600, 3, 0), Uint8Array.of(1, 1, 1, 0), 1).then(
      () => null,
      (err: unknown) => err as Error & { meddl?: boolean },
    );
    expect(e?.meddl).toBe(true);
    expect(e?.message).toContain(TEXT_ONNX);
    await enc.release();
  });

  it('a missing file', async () => {
    const missing = join(tmpdir(), 'no-such-encoder.onnx');
    await refused(OnnxImageEncoder.load({ path: missing }), /does not exist/, missing);
  });
});

describe('embedding cache', () => {
  /** A copy of the image encoder whose bytes differ (an appended ModelProto doc_string) but whose graph is the same. */
  function alteredCopy(dir: string): string {
    const out = join(dir, 'image_encoder_v2.onnx');
    const doc = Buffer.from('v2');
    writeFileSync(
      out,
      Buffer.concat([readFileSync(IMAGE_ONNX), Buffer.from([(6 << 3) | 2, doc.length]), doc]),
    );
    return out;
  }

  it('encodes each input once, reuses it across calls, and is invalidated by a changed encoder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdf-cache-'));
    const cache = new EmbeddingCache(join(dir, 'cache'));
    const g = new Generator(7);
    const images = [g.uniformArray(32 * 32, 0, 1), null, g.uniformArray(32 * 32, 0, 1), null];
    const first = await OnnxImageEncoder.load({ path: IMAGE_ONNX });
    const a = await cachedImageEmbeddings(first, cache, images);
    // Two images and one blank (shared by both rows without an image): one session run, 3 inputs.
    expect(a.stats).toMatchObject({ computed: 3, reused: 1 });
    expect(first.sessionRuns).toBe(1);
    await first.release();
    const stored = readSafetensors(a.stats.file);
    expect(Object.keys(stored.tensors)).toHaveLength(3);
    expect(stored.metadata.kind).toBe('image');

    // A fresh encoder instance (another run): nothing is recomputed and the values are identical.
    const second = await OnnxImageEncoder.load({ path: IMAGE_ONNX });
    const b = await cachedImageEmbeddings(second, cache, images);
    expect(b.stats).toMatchObject({ computed: 0, reused: 4 });
    expect(second.sessionRuns).toBe(0);
    b.embeddings.forEach((e, i) => {
      expect(Array.from(e)).toEqual(Array.from(a.embeddings[i]));
    });
    // …and they are what the encoder gives when run directly.
    const direct = await second.embed(images[0] as Float32Array, 1);
    expect(Array.from(a.embeddings[0])).toEqual(Array.from(direct));
    // A new input is the only one computed.
    const c = await cachedImageEmbeddings(second, cache, [...images, g.uniformArray(32 * 32, 0, 1)]);
    expect(c.stats).toMatchObject({ computed: 1, reused: 4 });
    await second.release();

    // Changed file bytes → another cache file, everything recomputed.
    const changed = await OnnxImageEncoder.load({ path: alteredCopy(dir) });
    const d = await cachedImageEmbeddings(changed, cache, images);
    expect(d.stats.file).not.toBe(a.stats.file);
    expect(d.stats).toMatchObject({ computed: 3, reused: 1 });
    await changed.release();
    // Changed preprocessing (normalization) → also recomputed.
    const renormalized = await OnnxImageEncoder.load({ path: IMAGE_ONNX, normalization: 'none' });
    const e = await cachedImageEmbeddings(renormalized, cache, images);
    expect(e.stats.file).not.toBe(a.stats.file);
    expect(e.stats.computed).toBe(3);
    expect(Array.from(e.embeddings[0])).not.toEqual(Array.from(a.embeddings[0]));
    await renormalized.release();
  });

  it('caches text embeddings keyed by ids and mask; an unreadable cache file is rebuilt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdf-cache-text-'));
    const cache = new EmbeddingCache(dir);
    const L = 12;
    const row = (ids: number[]) => {
      const t = new Int32Array(L);
      const m = new Uint8Array(L);
      ids.forEach((v, i) => {
        t[i] = v;
        m[i] = 1;
      });
      return { ids: t, mask: m };
    };
    const reports = [row([2, 40, 41, 3]), row([2, 40, 3]), null];
    const enc = await OnnxTextEncoder.load({ path: TEXT_ONNX }, L);
    const a = await cachedTextEmbeddings(enc, cache, reports);
    expect(a.stats.computed).toBe(3);
    const b = await cachedTextEmbeddings(enc, cache, reports);
    expect(b.stats.computed).toBe(0);
    expect(enc.sessionRuns).toBe(1);
    expect(Array.from(a.embeddings[0])).not.toEqual(Array.from(a.embeddings[1]));
    writeFileSync(a.stats.file, 'not safetensors');
    const c = await cachedTextEmbeddings(enc, cache, reports);
    expect(c.stats.computed).toBe(3);
    expect(Array.from(c.embeddings[2])).toEqual(Array.from(a.embeddings[2]));
    await enc.release();
    copyFileSync(a.stats.file, join(dir, 'copy.safetensors')); // still a valid file after the rebuild
    expect(Object.keys(readSafetensors(join(dir, 'copy.safetensors')).tensors)).toHaveLength(3);
  });
});

const SIIM = resolve(
  __dirname,
  '../../../../shared/data/torchxrayvision/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm',
);
const FAKE_MONO1 = resolve(__dirname, '../../../../shared/data/torchxrayvision/Fake_MONOHR1.dcm');

describe.skipIf(!existsSync(SIIM))('real chest radiographs through the ONNX image encoder', () => {
  it('the SIIM DICOM embeds, and its MONOCHROME1 twin (same pixels) embeds as the inverted image', async () => {
    const enc = await OnnxImageEncoder.load({ path: IMAGE_ONNX });
    const x = await preprocessImage(SIIM, enc.imageSize);
    const a = await enc.embed(x, 1);
    const inverted = await enc.embed(
      x.map((v) => 1 - v),
      1,
    );
    const b = await enc.embed(await preprocessImage(FAKE_MONO1, enc.imageSize), 1);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(inverted, b)).toBeLessThan(1e-4);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-2);
    // …and differ from a blank image's embedding.
    const blank = await enc.embed(new Float32Array(enc.imageSize ** 2), 1);
    expect(maxAbsDiff(a, blank)).toBeGreaterThan(1e-2);
    await enc.release();
  });
});
