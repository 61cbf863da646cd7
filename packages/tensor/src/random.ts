/**
 * Seeded random numbers, in the manner of torch.Generator: every consumer of randomness
 * (parameter init, shuffling, augmentation) takes a Generator, so runs are reproducible.
 * The core is xoshiro128** (Blackman & Vigna) seeded through splitmix32.
 */
import { loadAddon, type NativeAddon } from './native/addon';

let maskAddonCache: NativeAddon | null | undefined;
/** The native addon when it is loaded (for dropout masks), else null. */
function maskAddon(): NativeAddon | null {
  if (maskAddonCache === undefined) {
    const a = loadAddon().addon;
    maskAddonCache = a && typeof a.dropoutMask === 'function' ? a : null;
  }
  return maskAddonCache;
}

export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Re-seeds the generator (any finite number; fractional parts are hashed in too). */
  manualSeed(seed: number): this {
    let x = (Math.floor(seed) ^ Math.floor((seed % 1) * 0x7fffffff)) >>> 0;
    const next = () => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spareNormal = null;
    return this;
  }

  /** The full generator state, for checkpoints. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.spareNormal ?? Number.NaN];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 5) throw new RangeError(`Generator state must have 5 numbers, got ${state.length}`);
    [this.s0, this.s1, this.s2, this.s3] = state.map((v) => v >>> 0);
    this.spareNormal = Number.isNaN(state[4]) ? null : state[4];
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits of randomness. */
  random(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Fills `out` with an inverted-dropout keep mask: out[i] = scale when the i-th successive
   * random() draw is ≥ p, else 0 — exactly the loop `out[i] = this.random() >= p ? scale : 0`
   * (same draws, same generator state afterwards), in native code when the addon is loaded.
   */
  fillDropoutMask(out: Float32Array, p: number, scale: number): Float32Array {
    const addon = maskAddon();
    if (addon) {
      const st = Uint32Array.of(this.s0, this.s1, this.s2, this.s3);
      addon.dropoutMask(st, out, p, scale);
      if (out.length > 0) {
        // The JS steps leave s0..s2 as signed and s3 as unsigned 32-bit numbers: keep getState() identical.
        [this.s0, this.s1, this.s2, this.s3] = [st[0] | 0, st[1] | 0, st[2] | 0, st[3]];
      }
      return out;
    }
    for (let i = 0; i < out.length; i++) out[i] = this.random() >= p ? scale : 0;
    return out;
  }

  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** Standard normal (Marsaglia polar method). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return mean + std * v;
    }
    let u = 0;
    let v = 0;
    let s = 0;
    do {
      u = this.random() * 2 - 1;
      v = this.random() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * m;
    return mean + std * u * m;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`int(n) needs n > 0, got ${n}`);
    return Math.floor(this.random() * n);
  }

  bernoulli(p: number): boolean {
    return this.random() < p;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** Index drawn with probability proportional to weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    if (!(total > 0)) throw new RangeError('categorical() needs positive total weight');
    let r = this.random() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** Gamma(shape, 1) by Marsaglia–Tsang; used for Dirichlet draws. */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * this.random() ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x = 0;
      let v = 0;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.random();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  dirichlet(alpha: ArrayLike<number>): number[] {
    const g = Array.from(alpha, (a) => this.gamma(a));
    const s = g.reduce((a, b) => a + b, 0);
    return g.map((v) => v / s);
  }

  /** Float32Array of uniform [low, high) values. */
  uniformArray(n: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * this.random();
    return out;
  }

  /** Float32Array of normal values. */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** An independent generator derived from this one (advances this one). */
  fork(): Generator {
    const g = new Generator(0);
    g.setState([this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32() | 1, Number.NaN]);
    return g;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let defaultGenerator = new Generator(0);
let currentSeed = 0;

/** The process-wide default generator (like torch's default generator). */
export function defaultRng(): Generator {
  return defaultGenerator;
}

/**
 * Seeds the default generator and tfjs's own random ops, so that parameter init and data
 * order are reproducible. Returns the seed.
 */
export function setSeed(seed: number): number {
  currentSeed = seed;
  defaultGenerator = new Generator(seed);
  return seed;
}

export function getSeed(): number {
  return currentSeed;
}
