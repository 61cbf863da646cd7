// `meddl train crc-mil` (one model on all patients, temperature on a held-out validation split) and
// `meddl predict crc-mil slide.svs`: tiling → QC → features → MIL → calibrated probabilities,
// uncertainty and an attention heatmap, with the time per slide. A slide QC rejects is reported
// as such instead of a prediction.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { readSafetensors, writeSafetensors } from '@meddl/checkpoint';
import { readFeatureBag } from '@meddl/data';
import { dirichletUncertainty, predictiveEntropy, softmax } from '@meddl/metrics';
import { Generator } from '@meddl/tensor';
import { loadCohort, readMagnifications } from './bags';
import { type CrcMilRunConfigInput, preprocessConfigOf } from './config';
import { CrcMilDataError } from './errors';
import { claimRunDir, parseRunConfig, prepareData } from './evaluate';
import { writeAttentionHeatmap } from './heatmap';
import { GatedAttentionMil, type MilModelConfig } from './model';
import { type PreprocessConfig, preprocess } from './preprocess';
import { writeAtomic } from './synth/generator';
import { inferBag, innerSplit, scaleIndexOf, scaleList, trainModel } from './train';

export interface SavedModelInfo {
  classes: string[];
  model: MilModelConfig;
  temperature: number;
  preprocess: PreprocessConfig;
  trainPatients: string[];
  valPatients: string[];
}

export interface TrainResult {
  runDir: string;
  modelPath: string;
  temperature: number;
  epochs: number;
  lastMetrics: Record<string, number>;
}

/** Trains the deployable model on every usable patient (validation split for the best epoch and T). */
export async function train(
  input: CrcMilRunConfigInput,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<TrainResult> {
  const cfg = parseRunConfig(input);
  await prepareData(cfg, log);
  const cohort = await loadCohort(cfg.data.clinical, cfg.data.preprocessDir, cfg.classes);
  if (cfg.model.multiScale)
    for (const p of cohort.patients) p.scaleIndex = scaleIndexOf(p.magnifications, scaleList(cfg));
  const { train: tr, val } = innerSplit(cohort.patients, cfg.training.valFraction, cfg.seed);
  const runDir = resolve(cfg.runsDir, cfg.name);
  claimRunDir(runDir, cfg);
  const trained = await trainModel(cfg, tr, val, runDir, 'final', cfg.seed);
  const modelDir = join(runDir, 'final');
  mkdirSync(modelDir, { recursive: true });
  const modelPath = join(modelDir, 'model.safetensors');
  writeSafetensors(modelPath, trained.model.stateDict(), { format: 'pt' });
  const info: SavedModelInfo = {
    classes: cfg.classes,
    model: trained.model.config,
    temperature: trained.temperature,
    preprocess: preprocessConfigOf(cfg),
    trainPatients: trained.trainPatients,
    valPatients: trained.valPatients,
  };
  writeAtomic(join(modelDir, 'model.json'), `${JSON.stringify(info, null, 1)}\n`);
  trained.model.dispose();
  const hist = trained.summary.history;
  return {
    runDir,
    modelPath,
    temperature: trained.temperature,
    epochs: trained.summary.epochs,
    lastMetrics: hist.length ? (hist[hist.length - 1] as { metrics: Record<string, number> }).metrics : {},
  };
}

export interface SlidePrediction {
  slide: string;
  status: 'predicted' | 'rejected';
  reason?: string;
  probabilities?: Record<string, number>;
  predicted?: string;
  uncertainty?: { kind: 'vacuity' | 'entropy'; value: number };
  patches: number;
  heatmap?: string;
  seconds: number;
}

/** Loads `<modelDir>/model.json` + `model.safetensors` (the output of `train`). */
export function loadSavedModel(modelDir: string): { model: GatedAttentionMil; info: SavedModelInfo } {
  const jsonPath = join(modelDir, 'model.json');
  if (!existsSync(jsonPath))
    throw new CrcMilDataError(jsonPath, 'no saved model here: run `meddl train crc-mil` first');
  const info = JSON.parse(readFileSync(jsonPath, 'utf8')) as SavedModelInfo;
  const model = new GatedAttentionMil(info.model, new Generator(0));
  model.loadStateDict(readSafetensors(join(modelDir, 'model.safetensors')).tensors as never);
  model.eval();
  return { model, info };
}

/** Runs the whole chain on each slide with a model saved by `train`. */
export async function predict(
  slides: string[],
  modelDir: string,
  outDir: string,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<SlidePrediction[]> {
  const { model, info } = loadSavedModel(resolve(modelDir));
  const k = info.classes.length;
  const results: SlidePrediction[] = [];
  try {
    for (const path of slides) {
      const t0 = performance.now();
      const slideId = basename(path, extname(path));
      const work = join(resolve(outDir), slideId);
      const pre = await preprocess([{ slideId, path: resolve(path) }], work, info.preprocess, () => {});
      const rec = pre.slides[0];
      if (rec?.status !== 'done' || !rec.bag) {
        results.push({
          slide: path,
          status: 'rejected',
          reason: `${rec?.status ?? 'unknown'}: ${rec?.message ?? ''}`,
          patches: 0,
          seconds: (performance.now() - t0) / 1000,
        });
        log(`${slideId}: rejected (${rec?.status}: ${rec?.message ?? ''})`);
        continue;
      }
      const bag = await readFeatureBag(join(work, rec.bag));
      const scales =
        info.model.scales > 1
          ? scaleIndexOf(
              await readMagnifications(join(work, rec.bag), bag.count, Number(bag.attributes.magnification)),
              [info.preprocess.magnification ?? -1, ...info.preprocess.extraMagnifications],
            )
          : undefined;
      const { logits, attention } = inferBag(model, bag.features, bag.count, bag.dim, scales);
      const primary = Array.from({ length: bag.count }, (_, i) => i).filter(
        (i) => !scales || scales[i] === 0,
      );
      const pl =
        info.model.head === 'evidential'
          ? Float64Array.from(logits, (z) => Math.log(Math.log1p(Math.exp(z)) + 1))
          : Float64Array.from(logits);
      const probs = softmax({ data: pl, cols: k }, info.temperature);
      const uncertainty =
        info.model.head === 'evidential'
          ? {
              kind: 'vacuity' as const,
              value: dirichletUncertainty({ data: pl.map(Math.exp), cols: k }).uncertainty[0] as number,
            }
          : { kind: 'entropy' as const, value: predictiveEntropy({ data: probs, cols: k })[0] as number };
      const heat = await writeAttentionHeatmap(
        path,
        slideId,
        Int32Array.from(
          primary.flatMap((i) => [bag.coords[2 * i] as number, bag.coords[2 * i + 1] as number]),
        ),
        Number(bag.attributes.patch_size_level0),
        Float32Array.from(primary, (i) => attention[i] as number),
        work,
        { topK: 3 },
      );
      const probabilities = Object.fromEntries(info.classes.map((c, i) => [c, probs[i] as number]));
      const best = info.classes[probs.indexOf(Math.max(...probs))] as string;
      const r: SlidePrediction = {
        slide: path,
        status: 'predicted',
        probabilities,
        predicted: best,
        uncertainty,
        patches: bag.count,
        heatmap: heat.heatmap,
        seconds: (performance.now() - t0) / 1000,
      };
      results.push(r);
      log(
        `${slideId}: ${best} (${info.classes.map((c, i) => `${c} ${(probs[i] as number).toFixed(3)}`).join(', ')}; ${uncertainty.kind} ${uncertainty.value.toFixed(3)}), ${bag.count} patches, ${r.seconds.toFixed(2)} s`,
      );
    }
  } finally {
    model.dispose();
  }
  writeAtomic(join(resolve(outDir), 'predictions.json'), `${JSON.stringify(results, null, 1)}\n`);
  return results;
}
