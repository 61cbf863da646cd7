import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Module } from '@meddl/nn';
import { GraphBuilder, type ModelOptions, type OnnxValue, type TensorSignature } from './builder';
import { OnnxExportError } from './errors';
import { type LowerOptions, lowerModule } from './lower';

export interface ExportSpec {
  /** Graph inputs in the order of `forward`'s arguments; string dims are dynamic axes. */
  inputs: TensorSignature[];
  /** Graph outputs, one per value the forward returns. */
  outputs: TensorSignature[];
  /**
   * Describes the forward pass. Default: `lowerModule(b, module, inputs, lowerOptions)`, i.e. the
   * module's `toOnnx` method or its registered lowering.
   */
  forward?: (b: GraphBuilder, inputs: OnnxValue[]) => OnnxValue[];
  lowerOptions?: LowerOptions;
  /** Default-domain opset (17–21, default 17). */
  opset?: number;
  model?: ModelOptions;
}

export interface ExportedModel {
  bytes: Uint8Array;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  opset: number;
  stats: { nodes: number; initializers: number; weights: number };
}

/**
 * Exports `module` as an ONNX model. The module is lowered in eval mode (its training flag is
 * restored afterwards); its parameters become initializers named by their state-dict keys.
 */
export function exportModule(module: Module, spec: ExportSpec): ExportedModel {
  const b = new GraphBuilder({ opset: spec.opset, graphName: module.constructor.name });
  b.bindModule(module);
  const wasTraining = module.training;
  module.eval();
  try {
    const ins = spec.inputs.map((s) => b.input(s.name, s.dtype, s.dims));
    const outs = spec.forward ? spec.forward(b, ins) : lowerModule(b, module, ins, spec.lowerOptions ?? {});
    if (outs.length !== spec.outputs.length) {
      throw new OnnxExportError(
        `${module.constructor.name}: the forward returned ${outs.length} values but ${spec.outputs.length} outputs were declared`,
      );
    }
    outs.forEach((v, i) => {
      const o = spec.outputs[i];
      b.output(v, o.name, o.dtype, o.dims);
    });
    return {
      bytes: b.toBytes(spec.model),
      inputs: spec.inputs,
      outputs: spec.outputs,
      opset: b.opset,
      stats: b.stats(),
    };
  } finally {
    module.train(wasTraining);
  }
}

/** What `writeOnnx` puts beside the model as `<file>.json`. */
export interface OnnxSidecar {
  format: 'meddl-onnx-sidecar';
  version: 1;
  /** The model family, e.g. 'tissuebert'. */
  model: string;
  /** SHA-256 of the .onnx file's bytes. */
  sha256: string;
  opset: number;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /** Domain-specific fields: preprocessing parameters, label names, calibration temperature… */
  [extra: string]: unknown;
}

/**
 * Writes the model and its JSON sidecar atomically (each to a temp file, then renamed). Returns
 * the sidecar.
 */
export function writeOnnx(
  path: string,
  exported: ExportedModel,
  sidecar: { model: string } & Record<string, unknown>,
): OnnxSidecar {
  mkdirSync(dirname(path), { recursive: true });
  const full: OnnxSidecar = {
    ...sidecar,
    format: 'meddl-onnx-sidecar',
    version: 1,
    model: sidecar.model,
    sha256: createHash('sha256').update(exported.bytes).digest('hex'),
    opset: exported.opset,
    inputs: exported.inputs,
    outputs: exported.outputs,
  };
  atomicWrite(path, exported.bytes);
  atomicWrite(`${path}.json`, `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

function atomicWrite(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
