import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions of the compiled addon (packages/tensor/native/src/addon.cc). */
export interface NativeAddon {
  setThreads(n: number): number;
  getThreads(): number;
  blasConfig(): string;
  sgemmBatch(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    aOffsets: Int32Array,
    bOffsets: Int32Array,
  ): void;
  binary(
    op: number,
    a: Float32Array,
    aShape: Int32Array,
    b: Float32Array,
    bShape: Int32Array,
    out: Float32Array,
    outShape: Int32Array,
  ): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, inner: number): void;
  reduceMiddle(
    op: number,
    x: Float32Array,
    out: Float32Array,
    outer: number,
    red: number,
    inner: number,
  ): void;
  conv(mode: 0 | 1 | 2, a: Float32Array, b: Float32Array, out: Float32Array, params: Int32Array): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  transpose(
    x: Float32Array | Int32Array,
    shape: Int32Array,
    perm: Int32Array,
    out: Float32Array | Int32Array,
  ): void;
  slice(
    x: Float32Array | Int32Array,
    shape: Int32Array,
    begin: Int32Array,
    size: Int32Array,
    out: Float32Array | Int32Array,
  ): void;
  gather(
    x: Float32Array | Int32Array,
    indices: Int32Array,
    out: Float32Array | Int32Array,
    outer: number,
    axisSize: number,
    inner: number,
  ): number;
  segmentSum(
    x: Float32Array,
    ids: Int32Array,
    out: Float32Array,
    n: number,
    inner: number,
    segs: number,
  ): void;
  layerNorm(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  layerNormGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    rows: number,
    cols: number,
  ): void;
  gelu(x: Float32Array, out: Float32Array): void;
  geluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  /** hp = [lr, beta1, beta2, eps, weightDecay, step, decoupled]; m and v are ignored when first. */
  adam(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    hp: Float64Array,
    first: boolean,
  ): void;
  /** Generator dropout masks (see Generator.fillDropoutMask); state is xoshiro128**'s, advanced in place. */
  dropoutMask(state: Uint32Array, out: Float32Array, p: number, scale: number): void;
  softmaxGrad(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
}

export const ADDON_FILE = 'meddl_native.node';

/** The root of @meddl/tensor, found from this module's location in src/native/ or dist/. */
function packageDir(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return null;
}

function releaseDir(): string | null {
  const dir = packageDir();
  return dir ? join(dir, 'build', 'Release') : null;
}

/** Version of @meddl/tensor, which builds the addon. */
export function packageVersion(): string {
  const dir = packageDir();
  try {
    return dir
      ? (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
      : 'unknown';
  } catch {
    return 'unknown';
  }
}

let cached: { addon: NativeAddon | null; reason: string } | null = null;

/** Loads the addon once; on failure returns null with the reason (from the build's note when it left one). */
export function loadAddon(): { addon: NativeAddon | null; reason: string } {
  if (cached) return cached;
  if (process.env.MEDDL_NATIVE === '0') {
    cached = { addon: null, reason: 'disabled by MEDDL_NATIVE=0' };
    return cached;
  }
  const dir = releaseDir();
  const file = dir ? join(dir, ADDON_FILE) : null;
  const note = dir ? join(dir, 'native-unavailable.txt') : null;
  if (!file || !existsSync(file)) {
    const why =
      note && existsSync(note)
        ? readFileSync(note, 'utf8').trim().split('\n')[0]
        : 'the native addon is not built (run `pnpm --filter @meddl/tensor build`; see docs/performance.md)';
    cached = { addon: null, reason: why };
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    cached = { addon: require(file) as NativeAddon, reason: '' };
  } catch (err) {
    cached = {
      addon: null,
      reason: `the native addon failed to load: ${(err as Error).message.split('\n')[0]}`,
    };
  }
  return cached;
}
