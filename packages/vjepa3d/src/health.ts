// Representation health: per-dimension std of the embeddings (a collapse detector: a collapsed
// encoder maps every input to nearly the same vector) and the effective rank (Roy & Vetterli 2007;
// RankMe, Garrido et al. 2023): exp of the entropy of the normalised singular values.

/** Eigenvalues of a symmetric n×n matrix (row-major, copied) by cyclic Jacobi rotations. */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(matrix);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  return Float64Array.from({ length: n }, (_, i) => a[i * n + i]!);
}

export interface RepresentationHealth {
  /** Mean and minimum over dimensions of the per-dimension std across samples. */
  stdMean: number;
  stdMin: number;
  /** Fraction of dimensions whose std is below 1e-3 × the mean std. */
  deadFraction: number;
  /** exp(H(p)), p = σ / Σσ over the singular values of the centred embedding matrix; 1..min(n, d). */
  effectiveRank: number;
}

/** Health of `n` embeddings of dimension `d` (row-major). */
export function representationHealth(
  embeddings: ArrayLike<number>,
  n: number,
  d: number,
): RepresentationHealth {
  if (n < 2) return { stdMean: 0, stdMin: 0, deadFraction: 1, effectiveRank: 1 };
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += embeddings[i * d + j]! / n;
  const centred = new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) centred[i * d + j] = embeddings[i * d + j]! - mean[j]!;
  const std = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    let v = 0;
    for (let i = 0; i < n; i++) v += centred[i * d + j]! ** 2;
    std[j] = Math.sqrt(v / (n - 1));
  }
  const stdMean = std.reduce((a, b) => a + b, 0) / d;
  const stdMin = Math.min(...std);
  const deadFraction = std.filter((s) => s < 1e-3 * stdMean || s === 0).length / d;
  // Singular values² = eigenvalues of XᵀX (d×d) or XXᵀ (n×n), whichever is smaller.
  const m = Math.min(n, d);
  const gram = new Float64Array(m * m);
  if (d <= n) {
    for (let i = 0; i < n; i++)
      for (let p = 0; p < d; p++) {
        const x = centred[i * d + p]!;
        for (let q = p; q < d; q++) gram[p * d + q]! += x * centred[i * d + q]!;
      }
  } else {
    for (let p = 0; p < n; p++)
      for (let q = p; q < n; q++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += centred[p * d + j]! * centred[q * d + j]!;
        gram[p * n + q] = s;
      }
  }
  for (let p = 0; p < m; p++) for (let q = 0; q < p; q++) gram[p * m + q] = gram[q * m + p]!;
  const sigma = Array.from(symmetricEigenvalues(gram, m), (e) => Math.sqrt(Math.max(0, e)));
  const total = sigma.reduce((a, b) => a + b, 0);
  let entropy = 0;
  if (total > 0)
    for (const s of sigma) {
      const p = s / total;
      if (p > 0) entropy -= p * Math.log(p);
    }
  return { stdMean, stdMin, deadFraction, effectiveRank: total > 0 ? Math.exp(entropy) : 0 };
}
