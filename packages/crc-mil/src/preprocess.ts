// `meddl crc-mil preprocess`: slides → tissue mask → patch grid at a magnification / µm per pixel →
// per-patch QC → Macenko normalization → patch features → one CLAM-layout HDF5 bag per slide.
// A slide that cannot be read or has no tissue is recorded and skipped; it never stops the batch.
// Resumable: slides already in the manifest with the same settings are not redone.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { writeSafetensors } from '@meddl/checkpoint';
import { Hdf5File, SlideReader, writeFeatureBag } from '@meddl/data';
import { encodePng } from '@meddl/trainer';
import { z } from 'zod';
import { readClinical } from './clinical';
import { DESCRIPTOR_DIM, PatchEncoder, patchDescriptor } from './encoder';
import { CrcMilArgumentError } from './errors';
import { type Rgb, resizeArea } from './image';
import { OnnxPatchEncoder } from './onnx';
import { measurePatch, QC_DEFAULTS, QC_REASONS, type QcReason, qcReason } from './qc';
import { macenko, normalizeReinhard, REINHARD_DEFAULT_TARGET } from './stain';
import { writeAtomic } from './synth/generator';
import { detectTissue, patchGrid, TISSUE_DEFAULTS, targetDownsample } from './tissue';
import { vahadane } from './vahadane';

export const PreprocessConfigSchema = z
  .object({
    /** Patch edge in pixels at the target resolution. */
    patchSize: z.number().int().min(8).default(256),
    magnification: z.number().positive().optional(),
    mpp: z.number().positive().optional(),
    minTissueFraction: z.number().min(0).max(1).default(0.5),
    /** Level-0 µm/px assumed for slides without mpp or objective power (otherwise they are skipped). */
    assumeMpp: z.number().positive().optional(),
    tissue: z
      .object({
        maxSize: z.number().int().min(64).default(TISSUE_DEFAULTS.maxSize),
        medianKernel: z.number().int().min(1).default(TISSUE_DEFAULTS.medianKernel),
        minSaturation: z.number().min(0).max(255).default(TISSUE_DEFAULTS.minSaturation),
        closeRadius: z.number().int().min(0).default(TISSUE_DEFAULTS.closeRadius),
        minTissueArea: z.number().min(0).default(TISSUE_DEFAULTS.minTissueArea),
        minHoleArea: z.number().min(0).default(TISSUE_DEFAULTS.minHoleArea),
      })
      .prefault({}),
    qc: z
      .object({
        maxBackground: z.number().default(QC_DEFAULTS.maxBackground),
        maxPen: z.number().default(QC_DEFAULTS.maxPen),
        maxSaturated: z.number().default(QC_DEFAULTS.maxSaturated),
        minLaplacianVariance: z.number().default(QC_DEFAULTS.minLaplacianVariance),
      })
      .prefault({}),
    stainNorm: z.enum(['macenko', 'vahadane', 'reinhard', 'none']).default('macenko'),
    /** Reinhard target L*a*b* statistics (default REINHARD_DEFAULT_TARGET). */
    reinhardTarget: z
      .object({
        mean: z.tuple([z.number(), z.number(), z.number()]),
        std: z.tuple([z.number(), z.number(), z.number()]),
      })
      .optional(),
    encoder: z
      .object({
        /** 'meddl-stain-texture' (built in) or 'onnx' (a model file, e.g. a pretrained pathology encoder). */
        name: z.enum(['meddl-stain-texture', 'onnx']).default('meddl-stain-texture'),
        dim: z.number().int().min(1).default(64),
        seed: z.number().int().default(0),
        /** ONNX model: input [N,3,H,W] float, output [N,D]. */
        path: z.string().optional(),
        inputSize: z.number().int().min(8).default(224),
        batchSize: z.number().int().min(1).default(32),
        mean: z.tuple([z.number(), z.number(), z.number()]).optional(),
        std: z.tuple([z.number(), z.number(), z.number()]).optional(),
      })
      .prefault({})
      .refine((e) => e.name !== 'onnx' || !!e.path, { message: "encoder 'onnx' needs a path" }),
    /** Patches read ahead of the encoder (tile decoding overlaps compute). */
    readAhead: z.number().int().min(1).default(8),
    /** Slides processed concurrently. */
    slideConcurrency: z.number().int().min(1).default(1),
    /** Further magnifications for multi-scale bags (each patch's magnification is stored per row). */
    extraMagnifications: z.array(z.number().positive()).default([]),
    /** Cap on patches per slide (evenly subsampled from the grid); 0 = all. */
    maxPatches: z.number().int().min(0).default(0),
  })
  .refine((c) => (c.magnification === undefined) !== (c.mpp === undefined), {
    message: 'give exactly one of magnification or mpp',
  });
export type PreprocessConfig = z.infer<typeof PreprocessConfigSchema>;
export type PreprocessConfigInput = z.input<typeof PreprocessConfigSchema>;

export type SlideStatus = 'done' | 'unreadable' | 'no-resolution' | 'no-tissue' | 'no-usable-patches';

export interface SlideQcRecord {
  slide_id: string;
  file: string;
  status: SlideStatus;
  message?: string;
  tissue_fraction: number;
  grid_cells: number;
  below_tissue: number;
  candidates: number;
  accepted: number;
  rejected: Record<QcReason, number>;
  stain_fallback: number;
  seconds: number;
  bag?: string;
  /** Level-0 top-left of each rejected patch and why. */
  rejected_patches: [number, number, QcReason, number][];
}

export interface PreprocessResult {
  outDir: string;
  slides: SlideQcRecord[];
  totals: {
    slides: number;
    done: number;
    skipped: number;
    accepted: number;
    rejected: Record<QcReason, number>;
  };
}

function settingsHash(cfg: PreprocessConfig): string {
  const { slideConcurrency: _a, readAhead: _b, ...rest } = cfg;
  const h = createHash('sha256').update(JSON.stringify(rest));
  if (cfg.encoder.name === 'onnx' && cfg.encoder.path) h.update(readFileSync(cfg.encoder.path));
  return h.digest('hex').slice(0, 16);
}

/** The built-in encoder or an ONNX model behind one interface. */
interface FeatureEncoder {
  readonly dim: number;
  /** Features for a batch of (normalized) patches. */
  encode(patches: Rgb[]): Promise<Float32Array>;
  /** Patches buffered before `encode` (bounds memory for big slides). */
  readonly batchSize: number;
  close(): Promise<void>;
}

async function openEncoder(cfg: PreprocessConfig, outDir: string): Promise<FeatureEncoder> {
  if (cfg.encoder.name === 'onnx') {
    const path = resolve(cfg.encoder.path as string);
    const onnx = await OnnxPatchEncoder.open(path, {
      inputSize: cfg.encoder.inputSize,
      batchSize: cfg.encoder.batchSize,
      ...(cfg.encoder.mean ? { mean: cfg.encoder.mean } : {}),
      ...(cfg.encoder.std ? { std: cfg.encoder.std } : {}),
    });
    return {
      dim: onnx.dim,
      batchSize: cfg.encoder.batchSize,
      encode: (p) => onnx.encode(p),
      close: () => onnx.close(),
    };
  }
  const enc = new PatchEncoder(cfg.encoder.dim, cfg.encoder.seed);
  writeSafetensors(join(outDir, 'encoder.safetensors'), enc.stateDict(), {
    format: 'pt',
    encoder: cfg.encoder.name,
  });
  return {
    dim: enc.outDim,
    batchSize: 256,
    async encode(patches) {
      const flat = new Float32Array(patches.length * DESCRIPTOR_DIM);
      for (const [i, p] of patches.entries()) flat.set(patchDescriptor(p), i * DESCRIPTOR_DIM);
      return enc.encode(flat, patches.length);
    },
    async close() {
      enc.dispose();
    },
  };
}

export interface SlideInput {
  slideId: string;
  path: string;
}

const SLIDE_EXT = new Set(['.svs', '.tif', '.tiff', '.ndpi', '.btf']);

/** Slides from a folder (by extension) or from a clinical CSV's slide_file column (relative to the CSV). */
export function listSlides(source: string): SlideInput[] {
  const path = resolve(source);
  if (!existsSync(path)) throw new CrcMilArgumentError('slides', `${path} does not exist`);
  if (path.endsWith('.csv')) {
    const rows = readClinical(path);
    const seen = new Set<string>();
    return rows.flatMap((r) => {
      if (seen.has(r.slide_id)) return [];
      seen.add(r.slide_id);
      return [{ slideId: r.slide_id, path: resolve(join(path, '..'), r.slide_file) }];
    });
  }
  return readdirSync(path)
    .filter((f) => SLIDE_EXT.has(extname(f).toLowerCase()))
    .sort()
    .map((f) => ({ slideId: basename(f, extname(f)), path: join(path, f) }));
}

/** Reads one patch at the grid's level and area-resizes it to patchSize. */
export async function readPatch(
  slide: SlideReader,
  x: number,
  y: number,
  level: number,
  readSize: number,
  patchSize: number,
): Promise<Rgb> {
  const img = await slide.readRegion(x, y, level, readSize, readSize, { format: 'rgb' });
  return resizeArea({ width: img.width, height: img.height, data: img.data }, patchSize, patchSize);
}

async function processSlide(
  input: SlideInput,
  cfg: PreprocessConfig,
  encoder: FeatureEncoder,
  outDir: string,
): Promise<SlideQcRecord> {
  const t0 = performance.now();
  const rec: SlideQcRecord = {
    slide_id: input.slideId,
    file: input.path,
    status: 'done',
    tissue_fraction: 0,
    grid_cells: 0,
    below_tissue: 0,
    candidates: 0,
    accepted: 0,
    rejected: { background: 0, pen: 0, saturation: 0, blur: 0 },
    stain_fallback: 0,
    seconds: 0,
    rejected_patches: [],
  };
  let slide: SlideReader;
  try {
    slide = await SlideReader.open(input.path);
  } catch (err) {
    rec.status = 'unreadable';
    rec.message = (err as Error).message;
    rec.seconds = (performance.now() - t0) / 1000;
    return rec;
  }
  try {
    // Resolution first: a slide that cannot be tiled at the target is not worth a thumbnail.
    const ds = targetDownsample(slide, {
      magnification: cfg.magnification,
      mpp: cfg.mpp,
      assumeMpp: cfg.assumeMpp,
    });
    if (ds === null || !(ds >= 0.5)) {
      rec.status = 'no-resolution';
      rec.message =
        ds === null
          ? 'the slide records neither mpp nor objective power; set preprocess.assumeMpp to tile it'
          : `the target resolution needs a level-0 downsample of ${ds.toPrecision(3)} (< 0.5: finer than the scan; slide mpp ${slide.mpp?.x.toPrecision(4)}, objective ${slide.objectivePower ?? 'unknown'})`;
      return rec;
    }
    const tissue = await detectTissue(slide, cfg.tissue);
    rec.tissue_fraction = tissue.tissueFraction;
    mkdirSync(join(outDir, 'thumbnails'), { recursive: true });
    writeAtomic(
      join(outDir, 'thumbnails', `${input.slideId}.png`),
      encodePng(tissue.thumbnail.data, tissue.thumbnail.width, tissue.thumbnail.height, 3),
    );
    const maskRgb = new Uint8Array(tissue.width * tissue.height);
    for (let i = 0; i < maskRgb.length; i++) maskRgb[i] = tissue.mask[i] ? 255 : 0;
    writeAtomic(
      join(outDir, 'thumbnails', `${input.slideId}.mask.png`),
      encodePng(expandGray(maskRgb), tissue.width, tissue.height, 3),
    );
    const grid = patchGrid(slide, tissue, {
      patchSize: cfg.patchSize,
      magnification: cfg.magnification,
      mpp: cfg.mpp,
      minTissueFraction: cfg.minTissueFraction,
      assumeMpp: cfg.assumeMpp,
    });
    if (!grid) throw new Error('unreachable: resolution checked above');
    // Multi-scale bags: further grids at extraMagnifications over the same tissue mask.
    const grids = [grid];
    for (const m of cfg.extraMagnifications) {
      const g = patchGrid(slide, tissue, {
        patchSize: cfg.patchSize,
        magnification: m,
        minTissueFraction: cfg.minTissueFraction,
        assumeMpp: cfg.assumeMpp,
      });
      if (g) grids.push(g);
    }
    rec.grid_cells = grid.cells;
    rec.below_tissue = grid.belowTissue;
    const subsample = (c: Int32Array, n: number) => {
      if (cfg.maxPatches <= 0 || n <= cfg.maxPatches) return c;
      const keep = new Int32Array(cfg.maxPatches * 2);
      for (let k = 0; k < cfg.maxPatches; k++) {
        const j = Math.floor((k * n) / cfg.maxPatches);
        keep[2 * k] = c[2 * j] as number;
        keep[2 * k + 1] = c[2 * j + 1] as number;
      }
      return keep;
    };
    const primaryCount = subsample(grid.coords, grid.count).length / 2;
    rec.candidates = primaryCount;
    if (tissue.tissueFraction === 0 || primaryCount === 0) {
      rec.status = 'no-tissue';
      rec.message = `no detectable tissue (tissue fraction ${tissue.tissueFraction.toFixed(4)}, Otsu ${tissue.otsu})`;
      return rec;
    }
    const featureChunks: Float32Array[] = [];
    let batch: Rgb[] = [];
    const kept: number[] = [];
    const keptMagnification: number[] = [];
    for (const [gi, g] of grids.entries()) {
      const coords = subsample(g.coords, g.count);
      const count = coords.length / 2;
      if (gi > 0) rec.candidates += count;
      const mag = g.magnification ?? -1;
      // Read ahead: keep `readAhead` patch reads in flight while the current one is measured and encoded.
      const pending: Promise<Rgb>[] = [];
      const start = (k: number) =>
        readPatch(
          slide,
          coords[2 * k] as number,
          coords[2 * k + 1] as number,
          g.level,
          g.readSize,
          cfg.patchSize,
        );
      for (let k = 0; k < Math.min(cfg.readAhead, count); k++) pending.push(start(k));
      for (let k = 0; k < count; k++) {
        const patch = await (pending.shift() as Promise<Rgb>);
        if (k + cfg.readAhead < count) pending.push(start(k + cfg.readAhead));
        const reason = qcReason(measurePatch(patch), cfg.qc);
        const x = coords[2 * k] as number;
        const y = coords[2 * k + 1] as number;
        if (reason) {
          rec.rejected[reason]++;
          rec.rejected_patches.push([x, y, reason, mag]);
          continue;
        }
        let pixels = patch.data;
        if (cfg.stainNorm === 'macenko') {
          const norm = macenko(pixels);
          if (norm) pixels = norm;
          else rec.stain_fallback++;
        } else if (cfg.stainNorm === 'vahadane') {
          const norm = vahadane(pixels);
          if (norm) pixels = norm;
          else rec.stain_fallback++;
        } else if (cfg.stainNorm === 'reinhard') {
          pixels = normalizeReinhard(pixels, cfg.reinhardTarget ?? REINHARD_DEFAULT_TARGET);
        }
        batch.push({ width: cfg.patchSize, height: cfg.patchSize, data: pixels });
        kept.push(x, y);
        keptMagnification.push(mag);
        if (batch.length >= encoder.batchSize) {
          featureChunks.push(await encoder.encode(batch));
          batch = [];
        }
      }
    }
    if (batch.length) featureChunks.push(await encoder.encode(batch));
    const accepted = kept.length / 2;
    rec.accepted = accepted;
    if (accepted === 0) {
      rec.status = 'no-usable-patches';
      rec.message = 'every tissue patch was rejected by QC';
      return rec;
    }
    const features = new Float32Array(accepted * encoder.dim);
    let off = 0;
    for (const c of featureChunks) {
      features.set(c, off);
      off += c.length;
    }
    mkdirSync(join(outDir, 'bags'), { recursive: true });
    const bagPath = join(outDir, 'bags', `${input.slideId}.h5`);
    const tmp = `${bagPath}.tmp-${process.pid}`;
    const magnification = grid.magnification ?? -1;
    await writeFeatureBag(tmp, {
      features,
      coords: Int32Array.from(kept),
      dim: encoder.dim,
      attributes: {
        patch_level: grid.level,
        patch_size: cfg.patchSize,
        patch_size_level0: grid.level0Size,
        downsample: grid.downsample,
        magnification,
        mpp: grid.mpp ?? -1,
        coords_units: 'level-0 pixels, top-left corner of each patch',
        level_dim: `${slide.dimensions.width}x${slide.dimensions.height}`,
        encoder: cfg.encoder.name,
        stain_norm: cfg.stainNorm,
        slide_id: input.slideId,
      },
    });
    // The magnification of each patch (one scale here; multi-scale bags concatenate scales).
    const f = await Hdf5File.open(tmp, 'a');
    try {
      f.writeDataset('magnifications', Float32Array.from(keptMagnification), {
        shape: [accepted],
      });
    } finally {
      f.close();
    }
    renameSync(tmp, bagPath);
    rec.bag = `bags/${input.slideId}.h5`;
    return rec;
  } catch (err) {
    rec.status = 'unreadable';
    rec.message = (err as Error).message;
    return rec;
  } finally {
    rec.seconds = (performance.now() - t0) / 1000;
    await slide.close();
  }
}

function expandGray(g: Uint8Array): Uint8Array {
  const out = new Uint8Array(g.length * 3);
  for (let i = 0; i < g.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = g[i] as number;
  return out;
}

interface Manifest {
  settings: string;
  config: PreprocessConfig;
  slides: Record<string, SlideQcRecord>;
}

/** Preprocesses every slide of `source` (folder or clinical CSV) into `outDir`. */
export async function preprocess(
  source: string | SlideInput[],
  outDir: string,
  input: PreprocessConfigInput,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<PreprocessResult> {
  const parsed = PreprocessConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new CrcMilArgumentError(
      'preprocess',
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  }
  const cfg = parsed.data;
  const slides = typeof source === 'string' ? listSlides(source) : source;
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  const settings = settingsHash(cfg);
  const manifestPath = join(out, 'manifest.json');
  let manifest: Manifest = { settings, config: cfg, slides: {} };
  if (existsSync(manifestPath)) {
    const prev = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    if (prev.settings === settings) manifest = prev;
  }
  const encoder = await openEncoder(cfg, out);
  let next = 0;
  let finished = 0;
  const worker = async () => {
    while (next < slides.length) {
      const s = slides[next++] as SlideInput;
      const prev = manifest.slides[s.slideId];
      if (prev && (prev.status !== 'done' || (prev.bag && existsSync(join(out, prev.bag))))) {
        finished++;
        log(`[${finished}/${slides.length}] ${s.slideId}: already done (${prev.status})`);
        continue;
      }
      const rec = await processSlide(s, cfg, encoder, out);
      manifest.slides[s.slideId] = rec;
      writeAtomic(manifestPath, `${JSON.stringify(manifest)}\n`);
      finished++;
      const rej = QC_REASONS.filter((r) => rec.rejected[r] > 0).map((r) => `${rec.rejected[r]} ${r}`);
      log(
        `[${finished}/${slides.length}] ${s.slideId}: ${rec.status}${rec.status === 'done' ? `, ${rec.accepted} patches` : ` (${rec.message})`}${rej.length ? `, rejected ${rej.join(', ')}` : ''}, ${rec.seconds.toFixed(2)} s`,
      );
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(cfg.slideConcurrency, Math.max(1, slides.length)) }, worker),
  );
  await encoder.close();
  const records = slides.map((s) => manifest.slides[s.slideId] as SlideQcRecord);
  const totals = {
    slides: records.length,
    done: records.filter((r) => r.status === 'done').length,
    skipped: records.filter((r) => r.status !== 'done').length,
    accepted: records.reduce((a, r) => a + r.accepted, 0),
    rejected: Object.fromEntries(
      QC_REASONS.map((q) => [q, records.reduce((a, r) => a + r.rejected[q], 0)]),
    ) as Record<QcReason, number>,
  };
  writeQcReport(out, records, totals);
  return { outDir: out, slides: records, totals };
}

function writeQcReport(out: string, records: SlideQcRecord[], totals: PreprocessResult['totals']): void {
  const header = [
    'slide_id',
    'status',
    'tissue_fraction',
    'grid_cells',
    'below_tissue',
    'candidates',
    'accepted',
    ...QC_REASONS.map((r) => `rejected_${r}`),
    'stain_fallback',
    'seconds',
    'message',
  ];
  const lines = [header.join(',')];
  for (const r of records) {
    lines.push(
      [
        r.slide_id,
        r.status,
        r.tissue_fraction.toFixed(4),
        r.grid_cells,
        r.below_tissue,
        r.candidates,
        r.accepted,
        ...QC_REASONS.map((q) => r.rejected[q]),
        r.stain_fallback,
        r.seconds.toFixed(3),
        JSON.stringify(r.message ?? ''),
      ].join(','),
    );
  }
  writeAtomic(join(out, 'qc_report.csv'), `${lines.join('\n')}\n`);
  writeAtomic(join(out, 'qc_report.json'), `${JSON.stringify({ totals, slides: records }, null, 1)}\n`);
}
