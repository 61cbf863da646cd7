/**
 * Compares calibration modes on a trained run without retraining: fits temperatures on the
 * validation logits (none / shared / per-finding) and reports the test split's NLL and ECE over
 * the pooled certain label cells.
 *   npx tsx packages/mdf-net/scripts/calibration-check.ts runs/mdf-net-quickstart
 */
import { join } from 'node:path';
import { expectedCalibrationError, logLoss } from '@meddl/metrics';
import { Generator, initBackend } from '@meddl/tensor';
import {
  type CalibrationMode,
  collectLogits,
  createModel,
  fitCalibration,
  loadBestCheckpoint,
  MdfNetRunConfigSchema,
  makeLoader,
  prepareData,
  readRunFiles,
  splitIndices,
} from '../src/index';

await initBackend();
const runDir = process.argv[2];
if (!runDir) throw new Error('usage: calibration-check.ts RUN_DIR');
const files = readRunFiles(runDir);
const config = MdfNetRunConfigSchema.parse(files.config);
const model = createModel(files.modelConfig, new Generator(0));
await loadBestCheckpoint(model, join(runDir, config.stage2.enabled ? 'stage2' : 'stage1'));
const data = await prepareData(config.data.dir, {
  imageSize: files.modelConfig.imageSize,
  maxTokens: files.modelConfig.maxTokens,
  tokenizer: files.tokenizer,
  ratios: config.data.ratios,
  seed: config.trainer.seed,
  clinicalStats: files.clinicalStats,
});
const logitsOf = (split: 'val' | 'test') =>
  collectLogits(
    model,
    makeLoader(data, splitIndices(data, split), config, model.config, false),
    config.normalization,
  );
const val = await logitsOf('val');
const test = await logitsOf('test');
const K = 14;
for (const mode of ['none', 'shared', 'per-finding'] as CalibrationMode[]) {
  const t = fitCalibration(mode, val.logits, val.target, val.certain);
  const y: number[] = [];
  const p: number[] = [];
  test.logits.forEach((z, i) => {
    if (test.certain[i]) {
      y.push(test.target[i]);
      p.push(1 / (1 + Math.exp(-z / t[i % K])));
    }
  });
  const ece = expectedCalibrationError(y, p, { bins: 10 });
  console.log(
    `${mode.padEnd(12)} test NLL ${logLoss(y, p).toFixed(4)}  ECE(10 bins) ${ece.toFixed(4)}  T ${[...new Set(t.map((v) => v.toFixed(2)))].join(' ')}`,
  );
}
model.dispose();
