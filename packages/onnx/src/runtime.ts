/**
 * An inference session on onnxruntime-node with typed-array feeds, signature checks that name
 * the file and each mismatch, and an execution-provider list that tries CUDA first when a
 * CUDA-enabled onnxruntime build is installed, then falls back to the CPU.
 */

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as ort from 'onnxruntime-node';

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | null = null;

/** onnxruntime-node, loaded on first use so that exporting never needs its native binary. */
function loadOrt(source: string): Promise<Ort> {
  ortModule ??= import('onnxruntime-node');
  return ortModule.catch((e: Error) => {
    ortModule = null;
    throw new OnnxModelError(source, `onnxruntime-node cannot be loaded on this platform: ${e.message}`);
  });
}

import { OnnxModelError, OnnxSignatureError } from './errors';

export type TensorDType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';
export type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int32Array
  | BigInt64Array
  | Uint16Array;

/** A tensor as plain data: row-major values and their dims. */
export interface TensorData {
  data: TypedData;
  dims: readonly number[];
}

export interface OutputTensor extends TensorData {
  dtype: string;
}

/** One input or output of a model: dims are sizes, dynamic-axis names, or null (unknown). */
export interface ValueSpec {
  name: string;
  dtype: string;
  dims: Array<number | string | null>;
}

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface OnnxSessionOptions {
  /** Threads inside one operator (onnxruntime's intra_op_num_threads; 0 = its default). */
  threads?: number;
  /** Threads across independent operators (inter_op_num_threads). */
  interOpThreads?: number;
  /** Default 'all'. */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Provider names in order of preference, or 'auto' (the default): CUDA first when the
   * installed onnxruntime-node carries the CUDA provider library, then CPU.
   */
  executionProviders?: 'auto' | string[];
  /** 0 verbose … 4 fatal (default 3, errors only). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** Whether the installed onnxruntime-node has the CUDA execution provider library beside it. */
export function cudaProviderInstalled(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('onnxruntime-node/package.json'));
    const bin = join(root, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(bin, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

/** The provider list that 'auto' resolves to on this machine. */
export function defaultExecutionProviders(): string[] {
  return cudaProviderInstalled() ? ['cuda', 'cpu'] : ['cpu'];
}

const DTYPE_OF_ARRAY: Array<[new (...a: never[]) => TypedData, string[]]> = [
  [Float32Array, ['float32']],
  [Float64Array, ['float64']],
  [Int32Array, ['int32']],
  [BigInt64Array, ['int64']],
  [Uint8Array, ['uint8', 'bool']],
  [Int8Array, ['int8']],
  [Uint16Array, ['float16']],
];

function dtypesOf(data: TypedData): string[] {
  for (const [ctor, names] of DTYPE_OF_ARRAY) if (data instanceof ctor) return names;
  return [];
}

export class OnnxSession {
  /** Where the model came from (a path, or '<bytes>'), used in every error message. */
  readonly source: string;
  readonly inputs: ValueSpec[];
  readonly outputs: ValueSpec[];
  /** The providers the session was created with (after any CUDA → CPU fallback). */
  readonly executionProviders: string[];
  /** Why a requested provider was dropped, when it was. */
  readonly fallbackReason: string | null;
  /** ModelProto.metadata_props. */
  readonly metadata: Record<string, string>;

  private constructor(
    private readonly ort: Ort,
    private readonly session: ort.InferenceSession,
    source: string,
    providers: string[],
    fallbackReason: string | null,
    metadata: Record<string, string>,
  ) {
    this.source = source;
    this.executionProviders = providers;
    this.fallbackReason = fallbackReason;
    this.metadata = metadata;
    this.inputs = session.inputMetadata.map(toSpec);
    this.outputs = session.outputMetadata.map(toSpec);
  }

  /** Loads a model from a file path or from its bytes. */
  static async create(model: string | Uint8Array, options: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const source = typeof model === 'string' ? model : '<bytes>';
    let bytes: Uint8Array;
    try {
      bytes = typeof model === 'string' ? readFileSync(model) : model;
    } catch (e) {
      throw new OnnxModelError(source, `cannot read the model file (${(e as Error).message})`);
    }
    const rt = await loadOrt(source);
    const requested =
      options.executionProviders === undefined || options.executionProviders === 'auto'
        ? defaultExecutionProviders()
        : options.executionProviders;
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      logSeverityLevel: options.logSeverityLevel ?? 3,
      ...(options.threads !== undefined ? { intraOpNumThreads: options.threads } : {}),
      ...(options.interOpThreads !== undefined ? { interOpNumThreads: options.interOpThreads } : {}),
    };
    let fallbackReason: string | null = null;
    let providers = [...requested];
    if (providers.includes('cuda') && providers.includes('cpu') && !cudaProviderInstalled()) {
      // Do not ask onnxruntime for a provider library that is not there (it logs an error).
      providers = providers.filter((p) => p !== 'cuda');
      fallbackReason = 'cuda unavailable: this onnxruntime-node build has no CUDA provider library';
    }
    let session: ort.InferenceSession;
    try {
      session = await rt.InferenceSession.create(bytes, { ...base, executionProviders: providers });
    } catch (e) {
      const message = (e as Error).message;
      if (providers.length > 1 && providers.includes('cpu')) {
        // A GPU provider that cannot start (no driver, wrong build): run on the CPU instead.
        fallbackReason = `${providers.filter((p) => p !== 'cpu').join(', ')} unavailable: ${message}`;
        providers = ['cpu'];
        try {
          session = await rt.InferenceSession.create(bytes, { ...base, executionProviders: providers });
        } catch (e2) {
          throw new OnnxModelError(source, `onnxruntime cannot load the model: ${(e2 as Error).message}`);
        }
      } else {
        throw new OnnxModelError(source, `onnxruntime cannot load the model: ${message}`);
      }
    }
    const metadata = readMetadataProps(bytes);
    return new OnnxSession(rt, session, source, providers, fallbackReason, metadata);
  }

  /** The problems with `feeds` against the model's inputs (empty when they fit). */
  check(feeds: Record<string, TensorData>): string[] {
    const problems: string[] = [];
    const expected = new Map(this.inputs.map((i) => [i.name, i]));
    for (const name of Object.keys(feeds)) {
      if (!expected.has(name))
        problems.push(
          `unexpected input '${name}' (the model takes ${this.inputs.map((i) => `'${i.name}'`).join(', ')})`,
        );
    }
    const bound = new Map<string, { size: number; where: string }>();
    for (const spec of this.inputs) {
      const feed = feeds[spec.name];
      if (!feed) {
        problems.push(`missing input '${spec.name}' (${describe(spec)})`);
        continue;
      }
      const got = dtypesOf(feed.data);
      if (!got.includes(spec.dtype)) {
        problems.push(
          `input '${spec.name}': expected dtype ${spec.dtype}, got ${feed.data.constructor.name} (${got.join('/') || 'unknown'})`,
        );
      }
      const count = feed.dims.reduce((a, d) => a * d, 1);
      if (count !== feed.data.length)
        problems.push(
          `input '${spec.name}': dims [${feed.dims}] need ${count} values, got ${feed.data.length}`,
        );
      if (feed.dims.length !== spec.dims.length) {
        problems.push(
          `input '${spec.name}': expected rank ${spec.dims.length} ${describe(spec)}, got dims [${feed.dims}]`,
        );
        continue;
      }
      spec.dims.forEach((d, axis) => {
        const size = feed.dims[axis];
        if (typeof d === 'number' && d !== size)
          problems.push(`input '${spec.name}': axis ${axis} must be ${d}, got ${size}`);
        if (typeof d === 'string') {
          const prior = bound.get(d);
          if (prior && prior.size !== size)
            problems.push(
              `input '${spec.name}': axis ${axis} ('${d}') is ${size} but ${prior.where} is ${prior.size}`,
            );
          else if (!prior) bound.set(d, { size, where: `'${d}' of input '${spec.name}'` });
        }
      });
    }
    return problems;
  }

  /** Throws OnnxSignatureError listing every problem with `feeds`. */
  validate(feeds: Record<string, TensorData>): void {
    const problems = this.check(feeds);
    if (problems.length) throw new OnnxSignatureError(this.source, problems);
  }

  /**
   * Checks that the model has (at least) the given inputs and outputs — for ONNX encoders from
   * elsewhere. An expected numeric dim must match a fixed dim of the model (a dynamic model dim
   * accepts it); a string or null expected dim accepts anything of that rank.
   */
  expectSignature(expected: { inputs?: ValueSpec[]; outputs?: ValueSpec[] }): void {
    const problems: string[] = [];
    const compare = (kind: 'input' | 'output', want: ValueSpec[], have: ValueSpec[]) => {
      const byName = new Map(have.map((v) => [v.name, v]));
      for (const w of want) {
        const h = byName.get(w.name);
        if (!h) {
          problems.push(
            `no ${kind} named '${w.name}' (the model's ${kind}s: ${have.map((v) => `'${v.name}'`).join(', ')})`,
          );
          continue;
        }
        if (w.dtype !== h.dtype)
          problems.push(`${kind} '${w.name}': expected dtype ${w.dtype}, the model has ${h.dtype}`);
        if (w.dims.length !== h.dims.length) {
          problems.push(
            `${kind} '${w.name}': expected rank ${w.dims.length} [${fmtDims(w.dims)}], the model has [${fmtDims(h.dims)}]`,
          );
          continue;
        }
        w.dims.forEach((d, axis) => {
          const m = h.dims[axis];
          if (typeof d === 'number' && typeof m === 'number' && d !== m)
            problems.push(`${kind} '${w.name}': axis ${axis} expected ${d}, the model has ${m}`);
        });
      }
    };
    compare('input', expected.inputs ?? [], this.inputs);
    compare('output', expected.outputs ?? [], this.outputs);
    if (problems.length) throw new OnnxSignatureError(this.source, problems);
  }

  /** Validates, runs, and returns every output (or those named in `outputNames`) as plain data. */
  async run(
    feeds: Record<string, TensorData>,
    outputNames?: string[],
  ): Promise<Record<string, OutputTensor>> {
    this.validate(feeds);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const spec of this.inputs) {
      const f = feeds[spec.name];
      ortFeeds[spec.name] = new this.ort.Tensor(spec.dtype as ort.Tensor.Type, f.data as never, f.dims);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = outputNames
        ? await this.session.run(ortFeeds, outputNames)
        : await this.session.run(ortFeeds);
    } catch (e) {
      throw new OnnxModelError(this.source, `inference failed: ${(e as Error).message}`);
    }
    const out: Record<string, OutputTensor> = {};
    for (const [name, t] of Object.entries(results)) {
      out[name] = { data: t.data as TypedData, dims: [...t.dims], dtype: t.type };
    }
    return out;
  }

  /**
   * Runs `feeds` in chunks of at most `batchSize` along axis 0 (every input must have the same
   * leading size) and concatenates the outputs along axis 0 — for inputs larger than memory or
   * latency budgets allow in one call. Outputs must have the batch as their leading axis.
   */
  async runBatched(
    feeds: Record<string, TensorData>,
    batchSize: number,
    outputNames?: string[],
  ): Promise<Record<string, OutputTensor>> {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new OnnxSignatureError(this.source, [`batchSize must be a positive integer, got ${batchSize}`]);
    const entries = Object.entries(feeds);
    const sizes = new Set(entries.map(([, f]) => f.dims[0]));
    if (sizes.size !== 1)
      throw new OnnxSignatureError(this.source, [
        `runBatched needs one leading size across inputs, got ${entries.map(([k, f]) => `${k}: ${f.dims[0]}`).join(', ')}`,
      ]);
    const n = entries[0]?.[1].dims[0] ?? 0;
    if (n <= batchSize) return this.run(feeds, outputNames);
    const parts: Array<Record<string, OutputTensor>> = [];
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      const chunk: Record<string, TensorData> = {};
      for (const [name, f] of entries) {
        const row = f.dims.slice(1).reduce((a, d) => a * d, 1);
        chunk[name] = {
          data: f.data.subarray(start * row, end * row) as TypedData,
          dims: [end - start, ...f.dims.slice(1)],
        };
      }
      parts.push(await this.run(chunk, outputNames));
    }
    const out: Record<string, OutputTensor> = {};
    for (const name of Object.keys(parts[0])) {
      const pieces = parts.map((p) => p[name]);
      const total = pieces.reduce((a, p) => a + p.data.length, 0);
      const Ctor = pieces[0].data.constructor as new (n: number) => TypedData;
      const data = new Ctor(total);
      let offset = 0;
      for (const p of pieces) {
        (data as Float32Array).set(p.data as Float32Array, offset);
        offset += p.data.length;
      }
      const lead = pieces.reduce((a, p) => a + (p.dims[0] ?? 0), 0);
      out[name] = { data, dims: [lead, ...pieces[0].dims.slice(1)], dtype: pieces[0].dtype };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toSpec(m: ort.InferenceSession.ValueMetadata): ValueSpec {
  if (!m.isTensor) return { name: m.name, dtype: 'non-tensor', dims: [] };
  return { name: m.name, dtype: m.type, dims: m.shape.map((d) => (d === '' ? null : d)) };
}

function fmtDims(dims: ValueSpec['dims']): string {
  return dims.map((d) => (d === null ? '?' : String(d))).join(', ');
}

function describe(spec: ValueSpec): string {
  return `${spec.dtype} [${fmtDims(spec.dims)}]`;
}

/** ModelProto.metadata_props without decoding the whole file (weights are skipped). */
function readMetadataProps(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    // Walk the top-level fields; field 14 (metadata_props) is a StringStringEntryProto.
    let pos = 0;
    const varint = (): number => {
      let result = 0;
      let shift = 0;
      for (;;) {
        const b = bytes[pos++];
        result += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) return result;
        shift += 7;
      }
    };
    const decoder = new TextDecoder();
    while (pos < bytes.length) {
      const tag = varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const len = varint();
        const end = pos + len;
        if (field === 14) {
          let key = '';
          let value = '';
          while (pos < end) {
            const t = varint();
            const l = varint();
            const s = decoder.decode(bytes.subarray(pos, pos + l));
            pos += l;
            if (t >> 3 === 1) key = s;
            else if (t >> 3 === 2) value = s;
          }
          out[key] = value;
        }
        pos = end;
      } else break;
    }
  } catch {
    // metadata is informative only
  }
  return out;
}
