import { tf } from '@meddl/tensor';
import { StateDictError } from './errors';

/** A tensor-like value accepted by loadStateDict: a tfjs tensor, or raw data with a shape. */
export type StateValue = tf.Tensor | { shape: number[]; data: Float32Array | Int32Array | Uint8Array };
export type StateDict = Record<string, tf.Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * The base of every model: a tree of named parameters, buffers and submodules, as in
 * torch.nn.Module. Parameters are tf.Variables (trainable unless frozen); buffers are
 * non-trainable Variables that are saved in the state dict (running statistics, fixed tables).
 * Keys are hierarchical and follow PyTorch's order: own parameters, own buffers, then children
 * in registration order.
 */
export class Module {
  training = true;
  private readonly _parameters = new Map<string, tf.Variable>();
  private readonly _buffers = new Map<string, tf.Variable>();
  private readonly _persistent = new Set<string>();
  private readonly _modules = new Map<string, Module>();

  /** Registers a trainable parameter, taking ownership of `value`. */
  protected registerParameter(name: string, value: tf.Tensor): tf.Variable {
    this.checkName(name);
    const v = tf.variable(value, true, undefined, value.dtype);
    value.dispose();
    this._parameters.set(name, v);
    return v;
  }

  /** Registers a buffer (not trained). Persistent buffers appear in the state dict. */
  protected registerBuffer(name: string, value: tf.Tensor, persistent = true): tf.Variable {
    this.checkName(name);
    const v = tf.variable(value, false, undefined, value.dtype);
    value.dispose();
    this._buffers.set(name, v);
    if (persistent) this._persistent.add(name);
    return v;
  }

  /** Registers a submodule under `name` and returns it. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this._modules.set(name, module);
    return module;
  }

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`Invalid parameter or module name '${name}'`);
    if (this._parameters.has(name) || this._buffers.has(name) || this._modules.has(name)) {
      throw new Error(`'${name}' is already registered in ${this.constructor.name}`);
    }
  }

  *namedChildren(): IterableIterator<[string, Module]> {
    yield* this._modules.entries();
  }

  *namedModules(prefix = ''): IterableIterator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this._modules) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *namedParameters(prefix = ''): IterableIterator<[string, tf.Variable]> {
    for (const [name, p] of this._parameters) yield [prefix ? `${prefix}.${name}` : name, p];
    for (const [name, child] of this._modules)
      yield* child.namedParameters(prefix ? `${prefix}.${name}` : name);
  }

  *namedBuffers(prefix = ''): IterableIterator<[string, tf.Variable]> {
    for (const [name, b] of this._buffers) yield [prefix ? `${prefix}.${name}` : name, b];
    for (const [name, child] of this._modules) yield* child.namedBuffers(prefix ? `${prefix}.${name}` : name);
  }

  parameters(): tf.Variable[] {
    return Array.from(this.namedParameters(), ([, p]) => p);
  }

  /** Parameters that are not frozen. */
  trainableParameters(): tf.Variable[] {
    return this.parameters().filter((p) => p.trainable);
  }

  numParameters(onlyTrainable = false): number {
    return (onlyTrainable ? this.trainableParameters() : this.parameters()).reduce((n, p) => n + p.size, 0);
  }

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Stops gradients for every parameter in this subtree (PyTorch: requires_grad_(False)). */
  freeze(): this {
    for (const p of this.parameters()) p.trainable = false;
    return this;
  }

  unfreeze(): this {
    for (const p of this.parameters()) p.trainable = true;
    return this;
  }

  /**
   * The state dict with PyTorch's keys and layouts. Values are the live variables (not
   * copies): read them, do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = {};
    this.collectState(prefix, out);
    return out;
  }

  private collectState(prefix: string, out: StateDict): void {
    const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
    for (const [n, p] of this._parameters) out[key(n)] = p;
    for (const [n, b] of this._buffers) if (this._persistent.has(n)) out[key(n)] = b;
    for (const [n, m] of this._modules) m.collectState(key(n), out);
  }

  /**
   * Copies values into this module's parameters and buffers. With `strict` (the default),
   * missing or unexpected keys are an error that lists them; a shape mismatch is always an
   * error. Values are copied, so the caller keeps ownership of `dict`.
   */
  loadStateDict(dict: Record<string, StateValue>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in dict));
    const unexpectedKeys = Object.keys(dict).filter((k) => !(k in own));
    const shapeMismatches: { key: string; expected: number[]; got: number[] }[] = [];
    for (const [k, target] of Object.entries(own)) {
      const v = dict[k];
      if (v === undefined) continue;
      const shape = v.shape;
      if (shape.length !== target.shape.length || shape.some((d, i) => d !== target.shape[i])) {
        shapeMismatches.push({ key: k, expected: target.shape, got: [...shape] });
      }
    }
    const problems: string[] = [];
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (shapeMismatches.length) {
      problems.push(
        `shape mismatches: ${shapeMismatches.map((m) => `${m.key} expected [${m.expected}] got [${m.got}]`).join('; ')}`,
      );
    }
    if (problems.length) {
      throw new StateDictError(
        `Cannot load state dict into ${this.constructor.name}: ${problems.join('; ')}`,
        missingKeys,
        unexpectedKeys,
        shapeMismatches,
      );
    }
    for (const [k, target] of Object.entries(own)) {
      const v = dict[k];
      if (v === undefined) continue;
      tf.tidy(() => {
        const t = v instanceof tf.Tensor ? v : tf.tensor(v.data, v.shape);
        (target as tf.Variable).assign(t.dtype === target.dtype ? t : tf.cast(t, target.dtype));
      });
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter and buffer of this subtree. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const p of m._parameters.values()) p.dispose();
      for (const b of m._buffers.values()) b.dispose();
    }
  }
}

/** An indexed list of modules; children are named 0, 1, 2… as in torch.nn.ModuleList. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: M): this {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new RangeError(`ModuleList index ${i} out of range (${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
