// Macenko stain normalization (Macenko et al. 2009), following torchstain's numpy normalizer
// (torchstain/numpy/normalizers/macenko.py) and MONAI's NormalizeHEStains step for step:
//   OD = −log((I + 1) / Io); drop pixels with any channel OD < β; eigenvectors of the OD covariance;
//   project on the two largest; α / 100−α percentiles of the angle give the H and E vectors;
//   concentrations by least squares; scale the 99th percentile of each to the reference maxima;
//   recompose with the reference matrix. Checked against an independent numpy implementation
//   (fixtures/stain/make_fixture.py).

export const MACENKO_IO = 240;
export const MACENKO_ALPHA = 1;
export const MACENKO_BETA = 0.15;
/** Reference H&E optical-density matrix, columns H and E (torchstain / MONAI). */
export const MACENKO_HE_REF: readonly [readonly number[], readonly number[], readonly number[]] = [
  [0.5626, 0.2159],
  [0.7201, 0.8012],
  [0.4062, 0.5581],
];
export const MACENKO_MAX_C_REF: readonly [number, number] = [1.9705, 1.0308];

export interface StainFit {
  /** Stain matrix, row-major 3×2: [rH, rE, gH, gE, bH, bE]. */
  he: Float64Array;
  /** 99th percentile of the H and E concentrations. */
  maxC: [number, number];
  /** Pixels above the OD threshold used for the fit. */
  tissuePixels: number;
}

export class StainError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'StainError';
  }
}

/** numpy.percentile with the default linear interpolation (sorts `values` in place). */
export function percentile(values: Float64Array, q: number): number {
  values.sort();
  const n = values.length;
  const pos = ((n - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const f = pos - lo;
  return (values[lo] as number) + f * ((values[hi] as number) - (values[lo] as number));
}

/** Eigen-decomposition of a symmetric 3×3 matrix by cyclic Jacobi; eigenvalues ascending (numpy eigh order). */
export function symmetricEigen3(m: readonly number[]): { values: number[]; vectors: number[][] } {
  const a = [
    [m[0] as number, m[1] as number, m[2] as number],
    [m[3] as number, m[4] as number, m[5] as number],
    [m[6] as number, m[7] as number, m[8] as number],
  ] as number[][];
  const v = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ] as number[][];
  const A = (i: number, j: number) => (a[i] as number[])[j] as number;
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = A(0, 1) ** 2 + A(0, 2) ** 2 + A(1, 2) ** 2;
    if (off < 1e-30) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const) {
      const apq = A(p, q);
      if (Math.abs(apq) < 1e-300) continue;
      const theta = (A(q, q) - A(p, p)) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = A(k, p);
        const akq = A(k, q);
        (a[k] as number[])[p] = c * akp - s * akq;
        (a[k] as number[])[q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = A(p, k);
        const aqk = A(q, k);
        (a[p] as number[])[k] = c * apk - s * aqk;
        (a[q] as number[])[k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = (v[k] as number[])[p] as number;
        const vkq = (v[k] as number[])[q] as number;
        (v[k] as number[])[p] = c * vkp - s * vkq;
        (v[k] as number[])[q] = s * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((i, j) => A(i, i) - A(j, j));
  return {
    values: order.map((i) => A(i, i)),
    // vectors[j] is the j-th eigenvector (a column of numpy's eigvecs).
    vectors: order.map((i) => [0, 1, 2].map((k) => (v[k] as number[])[i] as number)),
  };
}

export function opticalDensity(rgb: Uint8Array, io: number): Float64Array {
  const od = new Float64Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) od[i] = -Math.log(((rgb[i] as number) + 1) / io);
  return od;
}

/** Least-squares H and E concentrations per pixel (normal equations of the 3×2 system). */
function concentrations(od: Float64Array, he: Float64Array): [Float64Array, Float64Array] {
  const n = od.length / 3;
  const h = [he[0] as number, he[2] as number, he[4] as number];
  const e = [he[1] as number, he[3] as number, he[5] as number];
  const hh = h[0] ** 2 + h[1] ** 2 + h[2] ** 2;
  const ee = e[0] ** 2 + e[1] ** 2 + e[2] ** 2;
  const he_ = h[0] * e[0] + h[1] * e[1] + h[2] * e[2];
  const det = hh * ee - he_ * he_;
  if (!(Math.abs(det) > 1e-12)) throw new StainError('degenerate stain matrix: H and E vectors are parallel');
  const cH = new Float64Array(n);
  const cE = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = od[3 * i] as number;
    const g = od[3 * i + 1] as number;
    const b = od[3 * i + 2] as number;
    const bh = h[0] * r + h[1] * g + h[2] * b;
    const be = e[0] * r + e[1] * g + e[2] * b;
    cH[i] = (ee * bh - he_ * be) / det;
    cE[i] = (hh * be - he_ * bh) / det;
  }
  return [cH, cE];
}

/** Fits the Macenko stain matrix and maximum concentrations of an RGB image (interleaved uint8). */
export function fitMacenko(
  rgb: Uint8Array,
  options: { io?: number; alpha?: number; beta?: number; minPixels?: number } = {},
): StainFit {
  const io = options.io ?? MACENKO_IO;
  const alpha = options.alpha ?? MACENKO_ALPHA;
  const beta = options.beta ?? MACENKO_BETA;
  const od = opticalDensity(rgb, io);
  const n = od.length / 3;
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    if (
      (od[3 * i] as number) >= beta &&
      (od[3 * i + 1] as number) >= beta &&
      (od[3 * i + 2] as number) >= beta
    )
      keep.push(i);
  }
  if (keep.length < (options.minPixels ?? 10)) {
    throw new StainError(
      `only ${keep.length} pixels above the OD threshold ${beta}: too little stained tissue`,
    );
  }
  // Sample covariance (numpy.cov: ddof 1).
  const mean = [0, 0, 0];
  for (const i of keep) for (let c = 0; c < 3; c++) mean[c] = (mean[c] as number) + (od[3 * i + c] as number);
  for (let c = 0; c < 3; c++) mean[c] = (mean[c] as number) / keep.length;
  const cov = new Array<number>(9).fill(0);
  for (const i of keep) {
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        cov[3 * a + b] =
          (cov[3 * a + b] as number) +
          ((od[3 * i + a] as number) - (mean[a] as number)) *
            ((od[3 * i + b] as number) - (mean[b] as number));
      }
    }
  }
  for (let k = 0; k < 9; k++) cov[k] = (cov[k] as number) / (keep.length - 1);
  const { vectors } = symmetricEigen3(cov);
  const e1 = vectors[1] as number[];
  const e2 = vectors[2] as number[];
  const phi = new Float64Array(keep.length);
  keep.forEach((i, j) => {
    const r = od[3 * i] as number;
    const g = od[3 * i + 1] as number;
    const b = od[3 * i + 2] as number;
    const t0 = r * (e1[0] as number) + g * (e1[1] as number) + b * (e1[2] as number);
    const t1 = r * (e2[0] as number) + g * (e2[1] as number) + b * (e2[2] as number);
    phi[j] = Math.atan2(t1, t0);
  });
  const minPhi = percentile(phi, alpha);
  const maxPhi = percentile(phi, 100 - alpha);
  const vec = (a: number) =>
    [0, 1, 2].map((k) => (e1[k] as number) * Math.cos(a) + (e2[k] as number) * Math.sin(a));
  const vMin = vec(minPhi);
  const vMax = vec(maxPhi);
  // H first: the vector with the larger red OD component.
  const [hv, ev] = (vMin[0] as number) > (vMax[0] as number) ? [vMin, vMax] : [vMax, vMin];
  const he = Float64Array.from([hv[0], ev[0], hv[1], ev[1], hv[2], ev[2]] as number[]);
  const [cH, cE] = concentrations(od, he);
  const maxC: [number, number] = [percentile(cH, 99), percentile(cE, 99)];
  return { he, maxC, tissuePixels: keep.length };
}

export interface MacenkoTarget {
  he: readonly [readonly number[], readonly number[], readonly number[]];
  maxC: readonly [number, number];
}

export const MACENKO_DEFAULT_TARGET: MacenkoTarget = { he: MACENKO_HE_REF, maxC: MACENKO_MAX_C_REF };

/**
 * Normalizes an RGB image to the target stain appearance. Returns float values (before the uint8
 * cast) and the uint8 image (values > 255 set to 254 and truncated toward zero, as torchstain does).
 */
export function normalizeMacenko(
  rgb: Uint8Array,
  fit: StainFit,
  target: MacenkoTarget = MACENKO_DEFAULT_TARGET,
  io = MACENKO_IO,
): { float: Float64Array; image: Uint8Array } {
  const od = opticalDensity(rgb, io);
  const [cH, cE] = concentrations(od, fit.he);
  const sH = fit.maxC[0] / target.maxC[0];
  const sE = fit.maxC[1] / target.maxC[1];
  const n = cH.length;
  const float = new Float64Array(3 * n);
  const image = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const h = (cH[i] as number) / sH;
    const e = (cE[i] as number) / sE;
    for (let c = 0; c < 3; c++) {
      const row = target.he[c] as readonly number[];
      let v = io * Math.exp(-((row[0] as number) * h + (row[1] as number) * e));
      if (v > 255) v = 254;
      float[3 * i + c] = v;
      image[3 * i + c] = Math.trunc(v);
    }
  }
  return { float, image };
}

/** Fits and normalizes in one step; `null` when the patch has too little stain to fit (left as is). */
export function macenko(rgb: Uint8Array, target: MacenkoTarget = MACENKO_DEFAULT_TARGET): Uint8Array | null {
  try {
    return normalizeMacenko(rgb, fitMacenko(rgb), target).image;
  } catch (err) {
    if (err instanceof StainError) return null;
    throw err;
  }
}

/** H and E concentrations under a fixed stain matrix (default: the reference), per pixel. */
export function stainConcentrations(
  rgb: Uint8Array,
  he: readonly [readonly number[], readonly number[], readonly number[]] = MACENKO_HE_REF,
  io = MACENKO_IO,
): [Float64Array, Float64Array] {
  const m = Float64Array.from([
    he[0][0] as number,
    he[0][1] as number,
    he[1][0] as number,
    he[1][1] as number,
    he[2][0] as number,
    he[2][1] as number,
  ]);
  return concentrations(opticalDensity(rgb, io), m);
}

// ---- Reinhard (Reinhard et al. 2001) in CIE L*a*b* ---------------------------------------------
// Per-channel mean and std of the tissue's L*a*b* values are matched to a target's. The colour
// conversion is sRGB (IEC 61966-2-1 transfer curve) → XYZ (D65) → L*a*b*, as scikit-image's
// rgb2lab / lab2rgb compute it; checked against scikit-image (fixtures/stain/make_fixture.py).

const D65 = [0.95047, 1.0, 1.08883];
const RGB2XYZ = [
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
];
// Inverse of RGB2XYZ (as scikit-image's xyz_from_rgb inverse, computed once).
const XYZ2RGB = invert3(RGB2XYZ);

function invert3(m: number[][]): number[][] {
  const [a, b, c] = m[0] as number[];
  const [d, e, f] = m[1] as number[];
  const [g, h, i] = m[2] as number[];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = (a as number) * A + (b as number) * B + (c as number) * C;
  return [
    [A / det, -((b as number) * i - (c as number) * h) / det, ((b as number) * f - (c as number) * e) / det],
    [B / det, ((a as number) * i - (c as number) * g) / det, -((a as number) * f - (c as number) * d) / det],
    [C / det, -((a as number) * h - (b as number) * g) / det, ((a as number) * e - (b as number) * d) / det],
  ] as number[][];
}

/** sRGB uint8 → L*a*b* (float64, interleaved). */
export function rgbToLab(rgb: Uint8Array): Float64Array {
  const n = rgb.length / 3;
  const out = new Float64Array(rgb.length);
  const lin = (v: number) => {
    const c = v / 255;
    return c > 0.04045 ? ((c + 0.055) / 1.055) ** 2.4 : c / 12.92;
  };
  const f = (t: number) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
  for (let p = 0; p < n; p++) {
    const r = lin(rgb[3 * p] as number);
    const g = lin(rgb[3 * p + 1] as number);
    const b = lin(rgb[3 * p + 2] as number);
    const xyz = RGB2XYZ.map(
      (row, k) =>
        ((row[0] as number) * r + (row[1] as number) * g + (row[2] as number) * b) / (D65[k] as number),
    );
    const fx = f(xyz[0] as number);
    const fy = f(xyz[1] as number);
    const fz = f(xyz[2] as number);
    const y = xyz[1] as number;
    out[3 * p] = y > 0.008856 ? 116 * fy - 16 : 903.3 * y;
    out[3 * p + 1] = 500 * (fx - fy);
    out[3 * p + 2] = 200 * (fy - fz);
  }
  return out;
}

/** L*a*b* → sRGB in [0, 1] (float64, clipped), as scikit-image's lab2rgb. */
export function labToRgb(lab: Float64Array): Float64Array {
  const n = lab.length / 3;
  const out = new Float64Array(lab.length);
  const finv = (t: number) => (t > 0.2068966 ? t ** 3 : (t - 16 / 116) / 7.787);
  const gamma = (c: number) => (c > 0.0031308 ? 1.055 * c ** (1 / 2.4) - 0.055 : 12.92 * c);
  for (let p = 0; p < n; p++) {
    const fy = ((lab[3 * p] as number) + 16) / 116;
    const fx = fy + (lab[3 * p + 1] as number) / 500;
    const fz = Math.max(0, fy - (lab[3 * p + 2] as number) / 200);
    const xyz = [finv(fx) * (D65[0] as number), finv(fy) * (D65[1] as number), finv(fz) * (D65[2] as number)];
    for (let c = 0; c < 3; c++) {
      const row = XYZ2RGB[c] as number[];
      const v =
        (row[0] as number) * (xyz[0] as number) +
        (row[1] as number) * (xyz[1] as number) +
        (row[2] as number) * (xyz[2] as number);
      out[3 * p + c] = Math.min(1, Math.max(0, gamma(Math.max(0, v))));
    }
  }
  return out;
}

export interface LabStats {
  mean: [number, number, number];
  std: [number, number, number];
}

/** Mean and (population) std per L*a*b* channel. */
export function labStats(lab: Float64Array): LabStats {
  const n = lab.length / 3;
  const mean: [number, number, number] = [0, 0, 0];
  const std: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let s = 0;
    for (let p = 0; p < n; p++) s += lab[3 * p + c] as number;
    const m = s / n;
    let q = 0;
    for (let p = 0; p < n; p++) q += ((lab[3 * p + c] as number) - m) ** 2;
    mean[c] = m;
    std[c] = Math.sqrt(q / n);
  }
  return { mean, std };
}

/**
 * Default Reinhard target: the L*a*b* statistics of the seeded H&E-like reference patch of
 * fixtures/stain/make_fixture.py (seed 2), as scikit-image computes them. Set your own with
 * `preprocess.reinhardTarget` (e.g. labStats of a reference patch from your lab).
 */
export const REINHARD_DEFAULT_TARGET: LabStats = {
  mean: [55.3374, 30.4093, -19.035],
  std: [19.7656, 11.8839, 9.3377],
};

/** Reinhard normalization of an RGB image to target L*a*b* statistics; returns uint8 RGB (rounded). */
export function normalizeReinhard(rgb: Uint8Array, target: LabStats): Uint8Array {
  const lab = rgbToLab(rgb);
  const src = labStats(lab);
  for (let p = 0; p < lab.length / 3; p++) {
    for (let c = 0; c < 3; c++) {
      const sd = src.std[c] > 1e-8 ? src.std[c] : 1;
      lab[3 * p + c] = (((lab[3 * p + c] as number) - src.mean[c]) / sd) * target.std[c] + target.mean[c];
    }
  }
  const out = labToRgb(lab);
  return Uint8Array.from(out, (v) => Math.round(v * 255));
}
