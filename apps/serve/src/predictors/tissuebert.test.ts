import { join } from 'node:path';
import { CheckpointManager } from '@meddl/checkpoint';
import { Generator, tf } from '@meddl/tensor';
import {
  createModel,
  IndexedFasta,
  meanPosterior,
  prepareSample,
  readBlocksBed,
  readCpgIndex,
  readPat,
} from '@meddl/tissuebert';
import { beforeAll, describe, expect, test } from 'vitest';
import { type ModelEntry, parseConfig } from '../config';
import { ServeConfigError } from '../errors';
import { type TissueBertFixture, tissueBertFixture } from '../test-support';
import { TissueBertPredictor } from './tissuebert';

describe('TissueBertPredictor', () => {
  let fx: TissueBertFixture;
  let file: string;
  const entry = (over: Record<string, unknown>) =>
    parseConfig({
      models: [
        {
          kind: 'tissuebert',
          checkpoint: fx.checkpoint,
          reference: fx.reference,
          preset: 'tissuebert-tiny',
          batchSize: 7,
          ...over,
        },
      ],
    }).models[0] as Extract<ModelEntry, { kind: 'tissuebert' }>;

  beforeAll(async () => {
    fx = await tissueBertFixture();
    // The smallest sample keeps the test cheap.
    const smallest = [...fx.dataset.samples].sort((a, b) => a.reads - b.reads)[0];
    file = join(fx.reference, smallest.file);
  });

  test('matches the package computation: forward, softmax, count-weighted mean posterior', async () => {
    const p = await TissueBertPredictor.load(entry({}));
    const out = await p.predict({ file, options: {} });
    // Independent path: the same weights through the package API in one batch.
    const model = createModel(
      'tissuebert-tiny',
      { numClasses: fx.dataset.groundTruth.tissues.length },
      new Generator(0),
    );
    model.eval();
    const fasta = new IndexedFasta(join(fx.reference, 'genome.fa'));
    const s = prepareSample(
      { sample: 's', tissue: 't', label: 0 },
      readPat(file),
      readBlocksBed(join(fx.reference, 'regions.bed')),
      readCpgIndex(join(fx.reference, 'CpG.bed.gz')),
      fasta,
    );
    fasta.close();
    const L = s.tokens.length / s.n;
    const probs = tf.tidy(() =>
      tf.softmax(
        model.forward(
          tf.tensor2d(Int32Array.from(s.tokens), [s.n, L], 'int32'),
          tf.tensor2d(Int32Array.from(s.methylation), [s.n, L], 'int32'),
        ),
      ),
    );
    const expected = meanPosterior(
      { probs: Float64Array.from(probs.dataSync()), nReads: s.n, nClasses: probs.shape[1] },
      s.count,
    );
    probs.dispose();
    model.dispose();
    expect(out.extras.reads).toBe(s.n);
    out.probabilities.forEach((q, k) => {
      expect(q).toBeCloseTo(expected[k], 5);
    });
    expect(out.labels).toEqual(fx.dataset.groundTruth.tissues);
    p.dispose();
  });

  test('loads the best checkpoint of a checkpoints directory; temperature flattens the probabilities', async () => {
    const weights = await TissueBertPredictor.load(entry({}));
    const model = createModel(
      'tissuebert-tiny',
      { numClasses: fx.dataset.groundTruth.tissues.length },
      new Generator(0),
    );
    const manager = new CheckpointManager(join(fx.dir, 'checkpoints'));
    await manager.save(
      { model: model.stateDict(), state: {} },
      { epoch: 1, step: 10, metrics: { val_loss: 0.5 } },
    );
    await manager.close();
    model.dispose();
    const fromDir = await TissueBertPredictor.load(
      entry({ checkpoint: join(fx.dir, 'checkpoints'), temperature: 3 }),
    );
    expect(fromDir.card().calibration).toMatchObject({ calibrated: true, temperature: 3 });
    expect(weights.card().calibration.calibrated).toBe(false);
    const a = await weights.predict({ file, options: {} });
    const b = await fromDir.predict({ file, options: {} });
    expect(b.uncertainty?.score).toBeGreaterThan(a.uncertainty?.score as number);
    expect(b.probabilities.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);
    weights.dispose();
    fromDir.dispose();
  });

  test('an implied prior is divided out before the mixture MLE; a wrong length is refused at load', async () => {
    const K = fx.dataset.groundTruth.tissues.length;
    const plain = await TissueBertPredictor.load(entry({}));
    const a = await plain.predict({ file, options: {} });
    const pa = a.extras.proportions as number[];
    // Lean hard against the tissue the plain estimate favours most: its share must fall.
    const top = pa.indexOf(Math.max(...pa));
    const prior = Array.from({ length: K }, (_, k) => (k === top ? 1000 : 1));
    const leaning = await TissueBertPredictor.load(entry({ impliedPrior: prior }));
    expect(leaning.card().calibration).toMatchObject({ impliedPrior: prior });
    const b = await leaning.predict({ file, options: {} });
    const pb = b.extras.proportions as number[];
    expect(pb[top]).toBeLessThan(pa[top] - 0.01);
    expect(b.probabilities[top]).toBeLessThan(a.probabilities[top]);
    expect(pb.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);
    plain.dispose();
    leaning.dispose();
    await expect(TissueBertPredictor.load(entry({ impliedPrior: [0.5, 0.5] }))).rejects.toThrow(
      /impliedPrior has 2 entries for \d+ labels/,
    );
  });

  test('a checkpoint of another shape is a config error naming the file', async () => {
    await expect(TissueBertPredictor.load(entry({ preset: 'tissuebert-small' }))).rejects.toThrow(
      ServeConfigError,
    );
    await expect(TissueBertPredictor.load(entry({ preset: 'tissuebert-small' }))).rejects.toThrow(
      /model\.safetensors.*shape/,
    );
  });
});
