import { DeconvolutionError } from '../errors';

/**
 * Least squares min ‖A_P x − b‖ over the columns `cols` of A (m × n, row-major) by Householder
 * QR, so the conditioning is that of A_P, not of A_Pᵀ A_P.
 */
function lstsqColumns(A: Float64Array, m: number, n: number, b: Float64Array, cols: number[]): Float64Array {
  const p = cols.length;
  const R = new Float64Array(m * p);
  for (let i = 0; i < m; i++) for (let j = 0; j < p; j++) R[i * p + j] = A[i * n + cols[j]];
  const y = Float64Array.from(b);
  const v = new Float64Array(m);
  for (let j = 0; j < p; j++) {
    let norm = 0;
    for (let i = j; i < m; i++) norm += R[i * p + j] ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) continue;
    const alpha = R[j * p + j] > 0 ? -norm : norm;
    for (let i = j; i < m; i++) v[i] = R[i * p + j];
    v[j] -= alpha;
    let vnorm = 0;
    for (let i = j; i < m; i++) vnorm += v[i] * v[i];
    if (vnorm === 0) continue;
    for (let c = j; c < p; c++) {
      let dot = 0;
      for (let i = j; i < m; i++) dot += v[i] * R[i * p + c];
      const f = (2 * dot) / vnorm;
      for (let i = j; i < m; i++) R[i * p + c] -= f * v[i];
    }
    let dot = 0;
    for (let i = j; i < m; i++) dot += v[i] * y[i];
    const f = (2 * dot) / vnorm;
    for (let i = j; i < m; i++) y[i] -= f * v[i];
  }
  const x = new Float64Array(p);
  for (let j = p - 1; j >= 0; j--) {
    let s = y[j];
    for (let c = j + 1; c < p; c++) s -= R[j * p + c] * x[c];
    const d = R[j * p + j];
    x[j] = d === 0 ? 0 : s / d;
  }
  return x;
}

export interface NnlsResult {
  x: Float64Array;
  /** ‖Ax − b‖₂ (scipy.optimize.nnls returns the same "rnorm"). */
  residualNorm: number;
  iterations: number;
}

/**
 * Non-negative least squares min ‖Ax − b‖₂ s.t. x ≥ 0 by the Lawson–Hanson active-set method
 * (Lawson & Hanson, Solving Least Squares Problems, 1974, ch. 23), the algorithm behind
 * scipy.optimize.nnls.
 *
 * @param A m × n, row-major
 */
export function nnls(
  A: Float64Array,
  m: number,
  n: number,
  b: ArrayLike<number>,
  options: { maxIter?: number; tol?: number } = {},
): NnlsResult {
  if (A.length !== m * n) throw new DeconvolutionError(`nnls: A has ${A.length} values, expected ${m}×${n}`);
  if (b.length !== m) throw new DeconvolutionError(`nnls: b has ${b.length} values, expected ${m}`);
  const bb = Float64Array.from(b);
  const maxIter = options.maxIter ?? 3 * n;
  let anorm = 0;
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += Math.abs(A[i * n + j]);
    anorm = Math.max(anorm, s);
  }
  const tol = options.tol ?? 10 * Number.EPSILON * anorm * Math.max(m, n);
  const x = new Float64Array(n);
  const passive = new Array<boolean>(n).fill(false);
  const w = new Float64Array(n);
  const gradient = () => {
    const r = Float64Array.from(bb);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += A[i * n + j] * x[j];
      r[i] -= s;
    }
    w.fill(0);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) w[j] += A[i * n + j] * r[i];
  };
  let iterations = 0;
  gradient();
  for (;;) {
    let jmax = -1;
    let wmax = tol;
    for (let j = 0; j < n; j++) {
      if (!passive[j] && w[j] > wmax) {
        wmax = w[j];
        jmax = j;
      }
    }
    if (jmax < 0) break;
    passive[jmax] = true;
    for (;;) {
      if (++iterations > maxIter)
        throw new DeconvolutionError(`nnls did not converge in ${maxIter} iterations`);
      const cols = passive.flatMap((p, j) => (p ? [j] : []));
      const z = lstsqColumns(A, m, n, bb, cols);
      if (z.every((v) => v > 0)) {
        x.fill(0);
        cols.forEach((j, k) => {
          x[j] = z[k];
        });
        break;
      }
      // Step from x towards z until the first passive variable hits zero, then drop those.
      let alpha = Number.POSITIVE_INFINITY;
      cols.forEach((j, k) => {
        if (z[k] <= 0) alpha = Math.min(alpha, x[j] / (x[j] - z[k]));
      });
      cols.forEach((j, k) => {
        x[j] += alpha * (z[k] - x[j]);
        if (x[j] <= tol) {
          x[j] = 0;
          passive[j] = false;
        }
      });
      if (!passive.some(Boolean)) break;
    }
    gradient();
  }
  let rn = 0;
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += A[i * n + j] * x[j];
    rn += (s - bb[i]) ** 2;
  }
  return { x, residualNorm: Math.sqrt(rn), iterations };
}

/**
 * The MethAtlas estimator (Moss et al. 2018, meth_atlas `deconvolve.py`): NNLS of the mixture's
 * beta values on the atlas columns, then normalized to sum to 1.
 *
 * @param atlasRows one row per CpG/marker, one value per cell type
 * @param mixture one value per CpG/marker
 */
export function nnlsDeconvolve(
  atlasRows: ReadonlyArray<ArrayLike<number>>,
  mixture: ArrayLike<number>,
): { proportions: Float64Array; residualNorm: number } {
  const m = atlasRows.length;
  if (m === 0) throw new DeconvolutionError('nnlsDeconvolve: no sites shared by the atlas and the mixture');
  const n = atlasRows[0].length;
  const A = new Float64Array(m * n);
  const b: number[] = [];
  let k = 0;
  for (let i = 0; i < m; i++) {
    if (Number.isNaN(mixture[i]) || Array.from(atlasRows[i]).some(Number.isNaN)) continue;
    for (let j = 0; j < n; j++) A[k * n + j] = atlasRows[i][j];
    b.push(mixture[i]);
    k++;
  }
  const { x, residualNorm } = nnls(A.subarray(0, k * n), k, n, b);
  const s = x.reduce((a, v) => a + v, 0);
  const proportions = s > 0 ? x.map((v) => v / s) : x;
  return { proportions, residualNorm };
}
