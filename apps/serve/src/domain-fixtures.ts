/**
 * Test fixtures for the crc-mil, mdf-net and vjepa3d predictors: each domain's synthetic data in
 * its real formats (tiled TIFF slides + HDF5 bags, DICOM chest X-rays + reports + triage CSV,
 * multi-frame OCT DICOMs) and a tiny model trained on it with the package's own `train` /
 * `pretrain` — the smallest configurations that still run every stage, to keep CPU low. Each
 * fixture is built once per test process (memoised) and shared by the tests that need it.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize as synthCrc, train as trainCrc } from '@meddl/crc-mil';
import { train as trainMdf } from '@meddl/mdf-net';
import { initBackend } from '@meddl/tensor';
import { pretrain } from '@meddl/vjepa3d';

const root = mkdtempSync(join(tmpdir(), 'meddl-serve-domains-'));

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => {
    p ??= f();
    return p;
  };
}

export interface CrcMilFixture {
  modelDir: string;
  /** A slide with tissue, a blank slide (QC rejects it), and a feature bag of the first. */
  slide: string;
  blankSlide: string;
  bag: string;
  slidesDir: string;
}

/** 6 synthetic patients at 512×384, 32-px patches, a 16-d descriptor encoder, one epoch. */
export const crcMilFixture = once(async (): Promise<CrcMilFixture> => {
  await initBackend();
  const dir = join(root, 'crc-mil');
  const synth = await synthCrc(join(dir, 'data'), {
    seed: 3,
    patients: 6,
    width: 512,
    height: 384,
    blurFraction: 0,
    penFraction: 0,
    blankSlides: 1,
    multiSlideFraction: 0,
  });
  const t = await trainCrc(
    {
      name: 'serve',
      runsDir: join(dir, 'runs'),
      seed: 1,
      data: { clinical: synth.clinicalCsv, preprocessDir: join(dir, 'pre') },
      preprocess: {
        patchSize: 32,
        magnification: 20,
        tissue: { maxSize: 256, minTissueArea: 10_000, minHoleArea: 4_000 },
        qc: { minLaplacianVariance: 30 },
        encoder: { dim: 16 },
      },
      model: { preset: 'tiny', head: 'evidential' },
      training: { maxEpochs: 1, lr: 0.003, valFraction: 0.34 },
    },
    () => {},
  );
  const first = synth.slides[0] as { slide_id: string; slide_file: string };
  const last = synth.slides[synth.slides.length - 1] as { slide_file: string };
  const bags = readdirSync(join(dir, 'pre'), { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.h5') && f.includes(first.slide_id),
  );
  return {
    modelDir: join(t.runDir, 'final'),
    slide: join(dir, 'data', first.slide_file),
    blankSlide: join(dir, 'data', last.slide_file),
    bag: join(dir, 'pre', bags[0] as string),
    slidesDir: join(dir, 'data'),
  };
});

export interface MdfNetFixture {
  runDir: string;
  dataDir: string;
  /** A DICOM X-ray of the data set and its report text. */
  image: string;
  report: string;
}

/** 40 synthetic studies at 32 px, mdf-net-tiny, one epoch per stage. */
export const mdfNetFixture = once(async (): Promise<MdfNetFixture> => {
  await initBackend();
  const dir = join(root, 'mdf-net');
  mkdirSync(dir, { recursive: true });
  const r = await trainMdf({
    data: { dir: join(dir, 'data'), synth: { studies: 40, seed: 3, imageSize: 32 } },
    model: { preset: 'mdf-net-tiny' },
    batchSize: 16,
    stage1: { epochs: 1, warmupEpochs: 0 },
    stage2: { epochs: 1, lrs: { encoders: 1e-3, fusion: 1e-3, head: 1e-3 } },
    trainer: {
      name: 'serve',
      runsDir: join(dir, 'runs'),
      seed: 0,
      loggers: { console: false, tensorboard: false },
      handleSignals: false,
    },
  });
  const images = readdirSync(join(dir, 'data', 'images')).sort();
  const id = (images[0] as string).replace(/\.dcm$/, '');
  return {
    runDir: r.runDir,
    dataDir: join(dir, 'data'),
    image: join(dir, 'data', 'images', `${id}.dcm`),
    report: readFileSync(join(dir, 'data', 'reports', `${id}.txt`), 'utf8'),
  };
});

export interface VJepaFixture {
  runDir: string;
  /** Two OCT DICOM volumes of the synthetic set. */
  volumes: string[];
}

/** 9 synthetic patients (one device) at scale 0.4, vit3d-tiny, one epoch, no probe. */
export const vjepaFixture = once(async (): Promise<VJepaFixture> => {
  await initBackend();
  const dir = join(root, 'vjepa3d');
  const r = await pretrain({
    data: {
      dir: join(dir, 'data'),
      synth: { seed: 1, patients: 9, scale: 0.4, bothEyes: 0, devices: ['heidelberg-spectralis'] },
      valFraction: 0.35,
    },
    model: { preset: 'vit3d-tiny' },
    masks: [{ numBlocks: 2, spatialScale: [0.15, 0.15] }],
    batchSize: 4,
    probe: false,
    trainer: {
      name: 'serve',
      runsDir: join(dir, 'runs'),
      seed: 0,
      maxEpochs: 1,
      optimizer: { name: 'adamw', lr: 2e-3 },
      loggers: { console: false, csv: false, jsonl: false, tensorboard: false },
      handleSignals: false,
    },
  });
  const volumes = readdirSync(join(dir, 'data'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .slice(0, 2)
    .map((f) => join(dir, 'data', f));
  return { runDir: r.runDir, volumes };
});
