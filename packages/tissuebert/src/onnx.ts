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
  lowerEmbedding,
  lowerLayerNorm,
  lowerLinear,
  lowerTransformerEncoder,
  maskedMeanPool,
  type OnnxValue,
} from '@meddl/onnx';
import { TissueBertArgumentError } from './errors';
import { loadRunModel } from './run-model';
import { PAD_ID } from './tokenizer';

/** The parts of TissueBert the lowering reads (structurally: any model shaped like it fits). */
export interface TissueBertLike extends Module {
  readonly config: { hidden: number; numClasses: number; stemKernel?: number; pooling?: string };
  readonly embeddings: Module & {
    readonly tokens: Embedding | null;
    readonly methylation: Embedding | null;
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
  if (!e.tokens || !e.methylation || !e.positions || (model.config.pooling ?? 'mean') !== 'mean')
    throw new TissueBertArgumentError(
      'model',
      'ONNX export covers the specified layout (summed token, methylation and position embeddings, mean pooling); this model uses the convolutional stem, no position embeddings or max pooling, which the exporter does not lower yet',
    );
  const { tokens, methylation: methylationEmbedding, positions: positionEmbedding } = e;
  const summed = b.scope('embeddings', () => {
    // positions 0…L-1 for the sequence length of this batch (a dynamic axis)
    const length = b.squeeze(b.shape(tokenIds, 1, 2), [0]);
    const positions = b.node(
      'Range',
      [b.constant('int64', [], [0]), length, b.constant('int64', [], [1])],
      {},
      'int64',
    );
    const sum = b.add(
      b.add(lowerEmbedding(b, tokens, tokenIds), lowerEmbedding(b, methylationEmbedding, methylation)),
      lowerEmbedding(b, positionEmbedding, positions),
    );
    return b.scope('norm', () => lowerLayerNorm(b, e.norm, sum));
  });
  const padding = b.equal(tokenIds, b.constant(tokenIds.dtype ?? 'int32', [], [padId]));
  const hidden = b.scope('encoder', () =>
    lowerTransformerEncoder(b, model.encoder, summed, { srcKeyPaddingMask: padding }),
  );
  const embedding = maskedMeanPool(b, hidden, padding);
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
 * The sidecar carries the tissue labels, the temperature fitted by `meddl eval` (1 when the run
 * has no tissuebert-eval.json) and the preprocessing parameters. Idempotent.
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
