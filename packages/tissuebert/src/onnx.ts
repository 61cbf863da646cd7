/**
 * The ONNX lowering of `TissueBert` (moved here from @meddl/onnx, which must not depend on this
 * domain package). It mirrors model.ts top to bottom: token + methylation + position embeddings,
 * LayerNorm, the post-norm encoder with the [PAD] key-padding mask, mean pooling over
 * non-padding tokens, the classification head. `TissueBert.toOnnx` calls `lowerTissueBert`;
 * `meddl export tissuebert` goes through `exportTissueBert` (registered below).
 */

import type { Embedding, LayerNorm, Linear, Module, TransformerEncoder } from '@meddl/nn';
import {
  type ExportedModel,
  type ExportRegistry,
  exportModule,
  exportRegistry,
  type GraphBuilder,
  lowerActivation,
  lowerEmbedding,
  lowerLayerNorm,
  lowerLinear,
  lowerTransformerEncoder,
  maskedMeanPool,
  type OnnxValue,
} from '@meddl/onnx';
import type { tf } from '@meddl/tensor';
import { TissueBertArgumentError } from './errors';
import { METH_NONE } from './formats/pat';
import { loadRunModel } from './run-model';
import { PAD_ID } from './tokenizer';

/** The parts of TissueBert the lowering reads (structurally: any model shaped like it fits). */
export interface TissueBertLike extends Module {
  readonly config: { hidden: number; numClasses: number; pooling?: string };
  readonly embeddings: Module & {
    readonly tokens: Embedding | null;
    readonly methylation: Embedding | null;
    readonly stem?: StemLike | null;
    readonly positions: Embedding | null;
    readonly norm: LayerNorm;
  };
  readonly encoder: TransformerEncoder;
  readonly head: Linear;
}

export interface TissueBertOnnxOptions {
  /** The [PAD] token id (tokenizer PAD_ID, 0). */
  padId?: number;
}

/** The stem's parts the lowering reads (TissueBert's OneHotConvStem). */
interface StemLike {
  readonly kernel: number;
  readonly vocabSize: number;
  readonly states: number;
  readonly tokens: Embedding;
  readonly methylation: Embedding;
  readonly bias: tf.Variable;
}

/** The one-hot convolution stem: k shifted lookups per input, summed, + bias, ReLU ([B, L, H]). */
function lowerStem(
  b: GraphBuilder,
  stem: StemLike,
  tokenIds: OnnxValue,
  methylation: OnnxValue,
  padId: number,
): OnnxValue {
  const half = (stem.kernel - 1) / 2;
  const length = b.shape(tokenIds, 1, 2); // [1] int64
  const windows = (ids: OnnxValue, fill: number, n: number) => {
    const dtype = ids.dtype ?? 'int32';
    const padded = b.node(
      'Pad',
      [ids, b.ints([0, half, 0, half]), b.constant(dtype, [], [fill])],
      { mode: 'constant' },
      dtype,
    );
    const cols = Array.from({ length: stem.kernel }, (_, j) =>
      b.unsqueeze(
        b.add(b.slice(padded, b.ints([j]), b.add(length, b.ints([j])), [1]), b.constant(dtype, [], [j * n])),
        [2],
      ),
    );
    return b.concat(cols, 2); // [B, L, k]
  };
  const rows = b.add(
    lowerEmbedding(b, stem.tokens, windows(tokenIds, padId, stem.vocabSize)),
    lowerEmbedding(b, stem.methylation, windows(methylation, METH_NONE, stem.states)),
  );
  return lowerActivation(b, 'relu', b.add(b.reduce('ReduceSum', rows, [2], false), b.param(stem.bias)));
}

/** Max over the sequence of non-padding positions: [B, S, H] → [B, H]. */
function maskedMaxPool(b: GraphBuilder, hidden: OnnxValue, padding: OnnxValue): OnnxValue {
  const pad = b.unsqueeze(b.toBool(padding), [2]); // [B, S, 1]
  return b.reduce('ReduceMax', b.where(pad, b.scalar(-1e9), hidden), [1], false);
}

/** Adds TissueBert's forward to `b`: token ids and methylation states [B, L] int32. */
export function lowerTissueBert(
  b: GraphBuilder,
  model: TissueBertLike,
  tokenIds: OnnxValue,
  methylation: OnnxValue,
  options: TissueBertOnnxOptions = {},
): { logits: OnnxValue; embedding: OnnxValue } {
  const padId = options.padId ?? PAD_ID;
  const e = model.embeddings;
  const summed = b.scope('embeddings', () => {
    let x: OnnxValue;
    if (e.stem) x = b.scope('stem', () => lowerStem(b, e.stem as StemLike, tokenIds, methylation, padId));
    else if (e.tokens && e.methylation)
      x = b.add(lowerEmbedding(b, e.tokens, tokenIds), lowerEmbedding(b, e.methylation, methylation));
    else throw new TissueBertArgumentError('model', 'the model has neither a stem nor token embeddings');
    if (e.positions) {
      // positions 0…L-1 for the sequence length of this batch (a dynamic axis)
      const length = b.squeeze(b.shape(tokenIds, 1, 2), [0]);
      const positions = b.node(
        'Range',
        [b.constant('int64', [], [0]), length, b.constant('int64', [], [1])],
        {},
        'int64',
      );
      x = b.add(x, lowerEmbedding(b, e.positions, positions));
    }
    return b.scope('norm', () => lowerLayerNorm(b, e.norm, x));
  });
  const padding = b.equal(tokenIds, b.constant(tokenIds.dtype ?? 'int32', [], [padId]));
  const hidden = b.scope('encoder', () =>
    lowerTransformerEncoder(b, model.encoder, summed, { srcKeyPaddingMask: padding }),
  );
  const embedding =
    (model.config.pooling ?? 'mean') === 'max'
      ? maskedMaxPool(b, hidden, padding)
      : maskedMeanPool(b, hidden, padding);
  const logits = b.scope('head', () => lowerLinear(b, model.head, embedding));
  return { logits, embedding };
}

/**
 * Exports TissueBert with inputs `token_ids` and `methylation` (int32 [batch, sequence]) and
 * outputs `logits` [batch, numClasses] and `embedding` [batch, hidden] (the pooled encoding).
 */
export function exportTissueBert(
  model: TissueBertLike,
  options: TissueBertOnnxOptions & { opset?: number; metadata?: Record<string, string> } = {},
): ExportedModel {
  const { hidden, numClasses } = model.config;
  return exportModule(model, {
    opset: options.opset,
    inputs: [
      { name: 'token_ids', dtype: 'int32', dims: ['batch', 'sequence'] },
      { name: 'methylation', dtype: 'int32', dims: ['batch', 'sequence'] },
    ],
    outputs: [
      { name: 'logits', dtype: 'float32', dims: ['batch', numClasses] },
      { name: 'embedding', dtype: 'float32', dims: ['batch', hidden] },
    ],
    forward: (b, [tokenIds, methylation]) => {
      const r = lowerTissueBert(b, model, tokenIds, methylation, options);
      return [r.logits, r.embedding];
    },
    model: { docString: 'TissueBERT methylation classifier (meddl)', metadata: options.metadata },
  });
}

/**
 * Registers `meddl export tissuebert --checkpoint <run> --out m.onnx`: `--checkpoint` is a run
 * directory (its best val-loss checkpoint) or one checkpoint directory inside `<run>/checkpoints`.
 * The sidecar carries the tissue labels, the temperature and implied class prior fitted by `meddl
 * eval` (1 and null when the run has no tissuebert-eval.json) and the preprocessing parameters. Idempotent.
 */
export function registerTissueBertExporter(registry: ExportRegistry = exportRegistry): void {
  if (registry.names().includes('tissuebert')) return;
  registry.register('tissuebert', {
    description: 'TissueBERT read classifier (token_ids, methylation → logits, embedding)',
    async export({ checkpoint, opset }) {
      const run = await loadRunModel(checkpoint);
      try {
        return {
          exported: exportTissueBert(run.model, {
            opset,
            metadata: { tissues: run.meta.tissues.join(','), checkpoint: run.checkpoint },
          }),
          sidecar: {
            labels: run.meta.tissues,
            temperature: run.temperature.value,
            temperatureSource: run.temperature.source,
            // The class prior the model implies (meddl eval), divided out before the mixture MLE.
            impliedPrior: run.impliedPrior,
            preprocessing: { kmer: 3, windowBp: 150, tokens: 148, padId: PAD_ID, methylationStates: 3 },
            preset: run.meta.preset,
            config: run.model.config,
            checkpointName: run.checkpoint,
            // Where the run's panel (regions.bed, CpG.bed.gz, genome.fa) is; predict --panel overrides.
            panelDir: run.meta.dataDir,
          },
        };
      } finally {
        run.model.dispose();
      }
    },
  });
}
