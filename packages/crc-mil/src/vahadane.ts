// Vahadane et al. 2016 ("Structure-preserving color normalization and sparse stain separation"): the
// stain matrix W is learned by sparse non-negative matrix factorization of the optical density,
//   min ½‖V − H W‖²_F + λ‖H‖₁   s.t. H ≥ 0, W ≥ 0, ‖W_k‖₂ ≤ 1   (V: tissue pixels × 3, W: 2 × 3),
// alternating an exact non-negative lasso for H (two atoms: the KKT cases enumerated, no iterations) and
// block coordinate descent for W (each atom in turn, clipped to ≥ 0 and projected onto the unit ball, the
// dictionary update of scikit-learn's dict_learning and SPAMS' trainDL modeD=0). Concentrations of every
// pixel then come from the lasso with λ_c; they are rescaled to the target's 99th percentiles and
// recomposed with the target stain matrix, as in Macenko. OD and the tissue mask are those of our Macenko
// (Io = 240, every channel's OD ≥ β); the dictionary starts from the Macenko stain vectors (deterministic).
// Checked against an independent numpy + scikit-learn implementation (fixtures/stain/make_vahadane_fixture.py).
import {
  fitMacenko,
  MACENKO_BETA,
  MACENKO_DEFAULT_TARGET,
  MACENKO_IO,
  type MacenkoTarget,
  opticalDensity,
  percentile,
  StainError,
  type StainFit,
} from './stain';

export const VAHADANE_LAMBDA = 0.1;
export const VAHADANE_LAMBDA_C = 0.01;
export const VAHADANE_ITERATIONS = 40;

/**
 * min_c≥0 ½‖x − c₀a − c₁b‖² + λ(c₀ + c₁) for atoms a, b (rows of W), exactly: the unconstrained
 * two-atom solution when both are positive, else the better single-atom one, else zero.
 */
export function positiveLasso2(
  x0: number,
  x1: number,
  x2: number,
  a: readonly number[],
  b: readonly number[],
  lambda: number,
): [number, number] {
  const aa = (a[0] as number) ** 2 + (a[1] as number) ** 2 + (a[2] as number) ** 2;
  const bb = (b[0] as number) ** 2 + (b[1] as number) ** 2 + (b[2] as number) ** 2;
  const ab =
    (a[0] as number) * (b[0] as number) +
    (a[1] as number) * (b[1] as number) +
    (a[2] as number) * (b[2] as number);
  const xa = x0 * (a[0] as number) + x1 * (a[1] as number) + x2 * (a[2] as number);
  const xb = x0 * (b[0] as number) + x1 * (b[1] as number) + x2 * (b[2] as number);
  const det = aa * bb - ab * ab;
  if (det > 1e-12) {
    const c0 = ((xa - lambda) * bb - (xb - lambda) * ab) / det;
    const c1 = ((xb - lambda) * aa - (xa - lambda) * ab) / det;
    if (c0 > 0 && c1 > 0) return [c0, c1];
  }
  // One atom active: c = (x·atom − λ)/‖atom‖², valid when positive and the other atom's KKT holds.
  const only0 = aa > 0 ? Math.max(0, (xa - lambda) / aa) : 0;
  const only1 = bb > 0 ? Math.max(0, (xb - lambda) / bb) : 0;
  const ok0 = only0 > 0 && xb - only0 * ab <= lambda + 1e-12;
  const ok1 = only1 > 0 && xa - only1 * ab <= lambda + 1e-12;
  const cost = (c0: number, c1: number) => {
    let s = 0;
    const x = [x0, x1, x2];
    for (let k = 0; k < 3; k++) s += ((x[k] as number) - c0 * (a[k] as number) - c1 * (b[k] as number)) ** 2;
    return 0.5 * s + lambda * (c0 + c1);
  };
  if (ok0 && ok1) return cost(only0, 0) <= cost(0, only1) ? [only0, 0] : [0, only1];
  if (ok0) return [only0, 0];
  if (ok1) return [0, only1];
  return [0, 0];
}

export interface VahadaneOptions {
  io?: number;
  beta?: number;
  lambda?: number;
  lambdaC?: number;
  iterations?: number;
  minPixels?: number;
}

/** Learns the Vahadane stain matrix (H first) and the 99th-percentile concentrations of an RGB image. */
export function fitVahadane(rgb: Uint8Array, options: VahadaneOptions = {}): StainFit {
  const io = options.io ?? MACENKO_IO;
  const beta = options.beta ?? MACENKO_BETA;
  const lambda = options.lambda ?? VAHADANE_LAMBDA;
  const init = fitMacenko(rgb, { io, beta, minPixels: options.minPixels });
  const od = opticalDensity(rgb, io);
  const n = od.length / 3;
  const keep: number[] = [];
  for (let i = 0; i < n; i++)
    if (
      (od[3 * i] as number) >= beta &&
      (od[3 * i + 1] as number) >= beta &&
      (od[3 * i + 2] as number) >= beta
    )
      keep.push(i);
  const m = keep.length;
  // W rows: atom 0 = H, atom 1 = E (from the Macenko columns).
  const w = [
    [init.he[0] as number, init.he[2] as number, init.he[4] as number],
    [init.he[1] as number, init.he[3] as number, init.he[5] as number],
  ] as [number[], number[]];
  const code = new Float64Array(2 * m);
  for (let it = 0; it < (options.iterations ?? VAHADANE_ITERATIONS); it++) {
    for (let j = 0; j < m; j++) {
      const i = keep[j] as number;
      const [c0, c1] = positiveLasso2(
        od[3 * i] as number,
        od[3 * i + 1] as number,
        od[3 * i + 2] as number,
        w[0],
        w[1],
        lambda,
      );
      code[2 * j] = c0;
      code[2 * j + 1] = c1;
    }
    // A = CᵀC (2×2), B = CᵀV (2×3).
    const A = [0, 0, 0, 0];
    const B = [0, 0, 0, 0, 0, 0];
    for (let j = 0; j < m; j++) {
      const i = keep[j] as number;
      const c0 = code[2 * j] as number;
      const c1 = code[2 * j + 1] as number;
      A[0] = (A[0] as number) + c0 * c0;
      A[1] = (A[1] as number) + c0 * c1;
      A[3] = (A[3] as number) + c1 * c1;
      for (let k = 0; k < 3; k++) {
        B[k] = (B[k] as number) + c0 * (od[3 * i + k] as number);
        B[3 + k] = (B[3 + k] as number) + c1 * (od[3 * i + k] as number);
      }
    }
    A[2] = A[1] as number;
    for (let k = 0; k < 2; k++) {
      const akk = A[3 * k] as number;
      if (akk <= 1e-6) continue; // an unused atom stays where it is (scikit-learn would resample it)
      const other = 1 - k;
      const row = w[k] as number[];
      for (let c = 0; c < 3; c++) {
        const grad =
          (B[3 * k + c] as number) -
          (A[3 * k] as number) * (row[c] as number) -
          (A[k === 0 ? 1 : 2] as number) * ((w[other] as number[])[c] as number);
        row[c] = Math.max(0, (row[c] as number) + grad / akk);
      }
      const norm = Math.hypot(row[0] as number, row[1] as number, row[2] as number);
      if (norm > 1) for (let c = 0; c < 3; c++) row[c] = (row[c] as number) / norm;
    }
  }
  // Unit rows, H (larger red OD) first.
  for (const row of w) {
    const norm = Math.hypot(row[0] as number, row[1] as number, row[2] as number);
    if (!(norm > 1e-12)) throw new StainError('Vahadane: a stain vector vanished (one stain only?)');
    for (let c = 0; c < 3; c++) row[c] = (row[c] as number) / norm;
  }
  if ((w[0][0] as number) < (w[1][0] as number)) w.reverse();
  const he = Float64Array.from([w[0][0], w[1][0], w[0][1], w[1][1], w[0][2], w[1][2]] as number[]);
  const [cH, cE] = vahadaneConcentrations(od, he, options.lambdaC ?? VAHADANE_LAMBDA_C);
  return { he, maxC: [percentile(cH, 99), percentile(cE, 99)], tissuePixels: m };
}

/** Per-pixel non-negative lasso concentrations under stain matrix `he` (row-major 3×2). */
export function vahadaneConcentrations(
  od: Float64Array,
  he: Float64Array,
  lambdaC: number,
): [Float64Array, Float64Array] {
  const a = [he[0] as number, he[2] as number, he[4] as number];
  const b = [he[1] as number, he[3] as number, he[5] as number];
  const n = od.length / 3;
  const cH = new Float64Array(n);
  const cE = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [h, e] = positiveLasso2(
      od[3 * i] as number,
      od[3 * i + 1] as number,
      od[3 * i + 2] as number,
      a,
      b,
      lambdaC,
    );
    cH[i] = h;
    cE[i] = e;
  }
  return [cH, cE];
}

/** Recomposes the image with the target stains (float and uint8, clipped to 0..255 and rounded). */
export function normalizeVahadane(
  rgb: Uint8Array,
  fit: StainFit,
  target: MacenkoTarget = MACENKO_DEFAULT_TARGET,
  options: { io?: number; lambdaC?: number } = {},
): { float: Float64Array; image: Uint8Array } {
  const io = options.io ?? MACENKO_IO;
  const [cH, cE] = vahadaneConcentrations(
    opticalDensity(rgb, io),
    fit.he,
    options.lambdaC ?? VAHADANE_LAMBDA_C,
  );
  const sH = target.maxC[0] / fit.maxC[0];
  const sE = target.maxC[1] / fit.maxC[1];
  const n = cH.length;
  const float = new Float64Array(3 * n);
  const image = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const row = target.he[c] as readonly number[];
      const v =
        io *
          Math.exp(
            -((row[0] as number) * (cH[i] as number) * sH + (row[1] as number) * (cE[i] as number) * sE),
          ) -
        1;
      float[3 * i + c] = v;
      image[3 * i + c] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return { float, image };
}

/** Fits and normalizes in one step; `null` when the patch has too little stain to fit (left as is). */
export function vahadane(rgb: Uint8Array, target: MacenkoTarget = MACENKO_DEFAULT_TARGET): Uint8Array | null {
  try {
    return normalizeVahadane(rgb, fitVahadane(rgb), target).image;
  } catch (err) {
    if (err instanceof StainError) return null;
    throw err;
  }
}
