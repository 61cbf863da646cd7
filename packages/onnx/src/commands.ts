import { basename } from 'node:path';
import { OnnxArgumentError } from './errors';
import { type ExportedModel, type OnnxSidecar, writeOnnx } from './export';
import { OnnxSession } from './runtime';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface OnnxCommand {
  path: string[];
  description: string;
  arguments?: Array<{ name: string; description: string; required?: boolean }>;
  options?: Array<{ flags: string; description: string; default?: string | number | boolean }>;
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}

export interface ModelExportRequest {
  /** The checkpoint directory given with --checkpoint. */
  checkpoint: string;
  /** Default-domain opset (--opset, default 17). */
  opset: number;
  /** Every other command-line option, as commander parsed it (domain-specific flags). */
  options: Record<string, unknown>;
}

export interface ModelExportResult {
  exported: ExportedModel;
  /**
   * Sidecar fields beyond the generic ones (hash, opset, signature): preprocessing parameters,
   * label names, calibration temperature, the model's version and config.
   */
  sidecar?: Record<string, unknown>;
}

/** How a domain package exports its model: load the checkpoint, build the module, lower it. */
export interface ModelExporter {
  description: string;
  export(request: ModelExportRequest): Promise<ModelExportResult> | ModelExportResult;
}

/** Model name → exporter. Domain packages register theirs; `meddl export <name>` looks them up. */
export class ExportRegistry {
  private readonly exporters = new Map<string, ModelExporter>();

  register(name: string, exporter: ModelExporter): this {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name))
      throw new OnnxArgumentError('model', `'${name}' is not a valid model name (lowercase, digits, '-')`);
    if (this.exporters.has(name))
      throw new OnnxArgumentError('model', `an exporter for '${name}' is already registered`);
    this.exporters.set(name, exporter);
    return this;
  }

  get(name: string): ModelExporter {
    const e = this.exporters.get(name);
    if (!e) {
      const known = this.names();
      throw new OnnxArgumentError(
        'model',
        `no exporter for '${name}' (${known.length ? `known: ${known.join(', ')}` : 'no model has registered an exporter'})`,
      );
    }
    return e;
  }

  names(): string[] {
    return [...this.exporters.keys()].sort();
  }
}

/** The registry the `commands` below use; domain packages call `exportRegistry.register(...)`. */
export const exportRegistry = new ExportRegistry();

/** Runs one export as `meddl export` does and returns the sidecar written beside the model. */
export async function runExport(
  registry: ExportRegistry,
  model: string,
  options: Record<string, unknown>,
): Promise<OnnxSidecar> {
  const exporter = registry.get(model);
  const { checkpoint, out, opset, ...rest } = options;
  if (typeof checkpoint !== 'string' || checkpoint === '')
    throw new OnnxArgumentError('--checkpoint', 'a checkpoint directory is required');
  if (typeof out !== 'string' || !out.endsWith('.onnx'))
    throw new OnnxArgumentError(
      '--out',
      `an output path ending in .onnx is required, got '${String(out ?? '')}'`,
    );
  const opsetNumber = opset === undefined ? 17 : Number(opset);
  if (!Number.isInteger(opsetNumber))
    throw new OnnxArgumentError('--opset', `expected an integer, got '${String(opset)}'`);
  const result = await exporter.export({ checkpoint, opset: opsetNumber, options: rest });
  return writeOnnx(out, result.exported, { model, checkpoint, ...(result.sidecar ?? {}) });
}

/** `meddl export` and `meddl onnx inspect`, bound to a registry. */
export function exportCommands(registry: ExportRegistry = exportRegistry): OnnxCommand[] {
  return [
    {
      path: ['export'],
      description:
        'Export a trained model (tissuebert, crc-mil, mdf-net, vjepa3d…) to ONNX with a JSON sidecar',
      arguments: [{ name: 'model', description: 'model name, e.g. tissuebert', required: true }],
      options: [
        { flags: '--checkpoint <dir>', description: 'checkpoint directory of a training run' },
        { flags: '--out <file>', description: 'output .onnx path (the sidecar is <file>.json)' },
        { flags: '--opset <n>', description: 'ONNX opset (17–21)', default: 17 },
        {
          flags: '--encoder <which>',
          description: 'for models with several encoders, which one to export (vjepa3d: context | target)',
        },
      ],
      async run(args, options) {
        if (!args[0]) throw new OnnxArgumentError('model', 'a model name is required');
        const sidecar = await runExport(registry, args[0], options);
        console.log(
          `wrote ${String(options.out)} (${sidecar.inputs.map((i) => i.name).join(', ')} → ${sidecar.outputs.map((o) => o.name).join(', ')}; opset ${sidecar.opset}; sha256 ${sidecar.sha256.slice(0, 12)}) and ${basename(String(options.out))}.json`,
        );
      },
    },
    {
      path: ['onnx', 'inspect'],
      description: 'Load an ONNX file with onnxruntime and print its inputs, outputs and metadata',
      arguments: [{ name: 'file', description: '.onnx file', required: true }],
      async run(args) {
        if (!args[0]) throw new OnnxArgumentError('file', 'an .onnx file is required');
        const s = await OnnxSession.create(args[0]);
        const fmt = (v: { name: string; dtype: string; dims: Array<number | string | null> }) =>
          `  ${v.name}: ${v.dtype} [${v.dims.map((d) => d ?? '?').join(', ')}]`;
        console.log(`${args[0]} (providers: ${s.executionProviders.join(', ')})`);
        console.log('inputs:');
        for (const i of s.inputs) console.log(fmt(i));
        console.log('outputs:');
        for (const o of s.outputs) console.log(fmt(o));
        for (const [k, v] of Object.entries(s.metadata)) console.log(`metadata ${k}: ${v}`);
        await s.release();
      },
    },
  ];
}

/** The commands on the shared registry, for the CLI to mount. */
export const commands: OnnxCommand[] = exportCommands(exportRegistry);
