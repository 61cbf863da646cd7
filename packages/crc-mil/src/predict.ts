// `meddl train crc-mil` (one model on all patients, temperature on a held-out validation split) and
// `meddl predict crc-mil slide.svs`: tiling → QC → features → MIL → calibrated probabilities,
// uncertainty and an attention heatmap, with the time per slide. A slide QC rejects is reported
// as such instead of a prediction.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { readSafetensors, writeSafetensors } from '@meddl/checkpoint';
import { readFeatureBag } from '@meddl/data';
import { dirichletUncertainty, predictiveEntropy, softmax } from '@meddl/metrics';
import { OnnxSession, type OnnxSessionOptions } from '@meddl/onnx';
import { Generator } from '@meddl/tensor';
import { loadCohort, readMagnifications } from './bags';
import { type CrcMilRunConfigInput, preprocessConfigOf } from './config';
import { CrcMilDataError } from './errors';
import { claimRunDir, parseRunConfig, prepareData } from './evaluate';
import { writeAttentionHeatmap } from './heatmap';
import { GatedAttentionMil, type MilModelConfig } from './model';
import { type PreprocessConfig, PreprocessConfigSchema, preprocess } from './preprocess';
import { writeAtomic } from './synth/generator';
import { inferBag, innerSplit, scaleIndexOf, scaleList, trainModel } from './train';

export interface SavedModelInfo {
  classes: string[];
  model: MilModelConfig;
  temperature: number;
  preprocess: PreprocessConfig;
  trainPatients: string[];
  valPatients: string[];
  /**
   * Auxiliary tasks (model.auxiliary order) with the training patients' standardization of regression
   * targets: value = head output · std + mean; binary heads output a logit. Absent without auxiliary heads.
   */
  auxiliary?: { name: string; column: string; kind: 'regression' | 'binary'; mean: number; std: number }[];
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
    ...(cfg.model.auxiliary.length > 0
      ? {
          auxiliary: cfg.model.auxiliary.map((t, j) => ({
            name: t.name,
            column: t.column,
            kind: t.kind,
            mean: trained.auxStats[j]?.mean ?? 0,
            std: trained.auxStats[j]?.std ?? 1,
          })),
        }
      : {}),
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
  /** Which engine ran the MIL head: the safetensors checkpoint (tfjs) or the exported ONNX graph. */
  engine?: MilEngine;
  seconds: number;
}

export type MilEngine = 'checkpoint' | 'onnx';

/** The MIL head behind `predict`: a saved checkpoint run by tfjs, or its ONNX export run by onnxruntime. */
export interface MilRunner {
  readonly engine: MilEngine;
  readonly info: SavedModelInfo;
  /** logits [K] (the head's raw outputs) and attention [N] over the bag's patches. */
  run(
    features: Float32Array,
    count: number,
    dim: number,
    scaleIndex?: Int32Array,
  ): Promise<{ logits: Float32Array; attention: Float32Array }>;
  dispose(): Promise<void>;
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

/** A runner over a `train` output directory (model.json + model.safetensors). */
export function checkpointRunner(modelDir: string): MilRunner {
  const { model, info } = loadSavedModel(resolve(modelDir));
  return {
    engine: 'checkpoint',
    info,
    async run(features, count, dim, scaleIndex) {
      return inferBag(model, features, count, dim, scaleIndex);
    },
    async dispose() {
      model.dispose();
    },
  };
}

/**
 * A runner over `meddl export crc-mil --out model.onnx`: the graph plus its sidecar `model.onnx.json`
 * (labels, temperature, head, model config, preprocessing). The sidecar's sha256 must match the file.
 * Session options (threads, graph optimization level, execution providers) go to @meddl/onnx's OnnxSession.
 */
export async function onnxRunner(onnxPath: string, options: OnnxSessionOptions = {}): Promise<MilRunner> {
  const path = resolve(onnxPath);
  const sidecarPath = `${path}.json`;
  if (!existsSync(path)) throw new CrcMilDataError(path, 'no such ONNX model');
  if (!existsSync(sidecarPath))
    throw new CrcMilDataError(
      sidecarPath,
      'missing sidecar: export with `meddl export crc-mil --checkpoint <run>/final --out <file>.onnx`',
    );
  let side: Record<string, unknown>;
  try {
    side = JSON.parse(readFileSync(sidecarPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CrcMilDataError(sidecarPath, `not JSON (${(e as Error).message})`);
  }
  if (side.format !== 'meddl-onnx-sidecar' || side.model !== 'crc-mil')
    throw new CrcMilDataError(
      sidecarPath,
      `not a crc-mil ONNX sidecar (format ${String(side.format)}, model ${String(side.model)})`,
    );
  const bytes = readFileSync(path);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (side.sha256 !== sha)
    throw new CrcMilDataError(
      path,
      `sha256 ${sha.slice(0, 12)}… does not match its sidecar's ${String(side.sha256).slice(0, 12)}…`,
    );
  const labels = side.labels;
  const config = side.config as MilModelConfig | undefined;
  if (!Array.isArray(labels) || typeof side.temperature !== 'number' || !config || !side.preprocessing)
    throw new CrcMilDataError(sidecarPath, 'sidecar lacks labels, temperature, config or preprocessing');
  const { note: _note, ...pre } = side.preprocessing as Record<string, unknown>;
  const info: SavedModelInfo = {
    classes: labels as string[],
    model: config,
    temperature: side.temperature,
    preprocess: PreprocessConfigSchema.parse(pre),
    trainPatients: [],
    valPatients: [],
  };
  const session = await OnnxSession.create(bytes, options);
  const multi = session.inputs.some((i) => i.name === 'scale_index');
  return {
    engine: 'onnx',
    info,
    async run(features, count, dim, scaleIndex) {
      const feeds: Parameters<OnnxSession['run']>[0] = { bag: { data: features, dims: [count, dim] } };
      if (multi) feeds.scale_index = { data: scaleIndex ?? new Int32Array(count), dims: [count] };
      const out = await session.run(feeds, ['logits', 'attention']);
      return {
        logits: Float32Array.from(out.logits?.data as Float32Array),
        attention: Float32Array.from(out.attention?.data as Float32Array),
      };
    },
    async dispose() {
      await session.release();
    },
  };
}

/** An ONNX file (with its sidecar) or a `train` output directory. */
export async function openMilRunner(model: string, onnx: OnnxSessionOptions = {}): Promise<MilRunner> {
  const p = resolve(model);
  if (p.endsWith('.onnx') || (existsSync(p) && statSync(p).isFile())) return onnxRunner(p, onnx);
  return checkpointRunner(p);
}

export interface BagPrediction {
  /** Calibrated class probabilities (temperature applied to the head's predictive logits). */
  probabilities: Float64Array;
  uncertainty: { kind: 'vacuity' | 'entropy'; value: number };
  attention: Float32Array;
  logits: Float32Array;
}

/** One bag through the MIL head, then temperature-calibrated probabilities and the head's uncertainty. */
export async function predictBag(
  runner: MilRunner,
  features: Float32Array,
  count: number,
  dim: number,
  scaleIndex?: Int32Array,
): Promise<BagPrediction> {
  const { info } = runner;
  const k = info.classes.length;
  const { logits, attention } = await runner.run(features, count, dim, scaleIndex);
  const pl =
    info.model.head === 'evidential'
      ? Float64Array.from(logits, (z) => Math.log(Math.log1p(Math.exp(z)) + 1))
      : Float64Array.from(logits);
  const probabilities = softmax({ data: pl, cols: k }, info.temperature);
  const uncertainty =
    info.model.head === 'evidential'
      ? {
          kind: 'vacuity' as const,
          value: dirichletUncertainty({ data: pl.map(Math.exp), cols: k }).uncertainty[0] as number,
        }
      : {
          kind: 'entropy' as const,
          value: predictiveEntropy({ data: probabilities, cols: k })[0] as number,
        };
  return { probabilities, uncertainty, attention, logits };
}

/**
 * Runs the whole chain on each slide with a model saved by `train` (a directory) or its ONNX export
 * (a .onnx file with its sidecar; `options.onnx` sets the onnxruntime session).
 */
export async function predict(
  slides: string[],
  modelPath: string,
  outDir: string,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
  options: { onnx?: OnnxSessionOptions } = {},
): Promise<SlidePrediction[]> {
  const runner = await openMilRunner(modelPath, options.onnx);
  const { info } = runner;
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
      const {
        probabilities: probs,
        uncertainty,
        attention,
      } = await predictBag(runner, bag.features, bag.count, bag.dim, scales);
      const primary = Array.from({ length: bag.count }, (_, i) => i).filter(
        (i) => !scales || scales[i] === 0,
      );
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
        engine: runner.engine,
        seconds: (performance.now() - t0) / 1000,
      };
      results.push(r);
      log(
        `${slideId}: ${best} (${info.classes.map((c, i) => `${c} ${(probs[i] as number).toFixed(3)}`).join(', ')}; ${uncertainty.kind} ${uncertainty.value.toFixed(3)}), ${bag.count} patches, ${r.seconds.toFixed(2)} s`,
      );
    }
  } finally {
    await runner.dispose();
  }
  writeAtomic(join(resolve(outDir), 'predictions.json'), `${JSON.stringify(results, null, 1)}\n`);
  return results;
}
