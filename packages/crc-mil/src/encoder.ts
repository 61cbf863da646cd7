// The built-in patch encoder ("meddl-stain-texture"): a fixed stain/texture descriptor of each
// (stain-normalized) patch — haematoxylin / eosin concentration statistics and histograms, edge
// and Laplacian energy, nucleus-like blob measures, fibre coherence, lumen fraction and a 4×4 map
// of mean H and E — followed by a learnable linear projection (a meddl Module, PyTorch names
// `proj.weight` / `proj.bias`). It stands in for a pretrained pathology encoder; pretrained
// encoders plug in as ONNX models instead (see docs/crc-mil.md).
import { Linear, Module } from '@meddl/nn';
import { Generator, tf } from '@meddl/tensor';
import type { Rgb } from './image';
import { stainConcentrations } from './stain';

export const DESCRIPTOR_DIM = 4 + 8 + 8 + 4 + 2 + 1 + 1 + 32;

function hist(values: Float64Array, lo: number, hi: number, bins: number, out: number[]): void {
  const h = new Array<number>(bins).fill(0);
  for (const v of values) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)));
    h[b] = (h[b] as number) + 1;
  }
  for (const c of h) out.push(c / values.length);
}

function meanStd(v: Float64Array): [number, number] {
  let s = 0;
  for (const x of v) s += x;
  const m = s / v.length;
  let q = 0;
  for (const x of v) q += (x - m) ** 2;
  return [m, Math.sqrt(q / v.length)];
}

/** The descriptor of one RGB patch (length DESCRIPTOR_DIM). */
export function patchDescriptor(img: Rgb): Float32Array {
  const { width: w, height: h } = img;
  const [cH, cE] = stainConcentrations(img.data);
  const out: number[] = [];
  const [mh, sh] = meanStd(cH);
  const [me, se] = meanStd(cE);
  out.push(mh, sh, me, se);
  hist(cH, 0, 2.4, 8, out);
  hist(cE, 0, 1.6, 8, out);
  // Gradient and Laplacian energy of H and E; structure-tensor coherence of E (fibres).
  let gH = 0;
  let gE = 0;
  let lH = 0;
  let lE = 0;
  let jxx = 0;
  let jyy = 0;
  let jxy = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const hx = ((cH[i + 1] as number) - (cH[i - 1] as number)) / 2;
      const hy = ((cH[i + w] as number) - (cH[i - w] as number)) / 2;
      const ex = ((cE[i + 1] as number) - (cE[i - 1] as number)) / 2;
      const ey = ((cE[i + w] as number) - (cE[i - w] as number)) / 2;
      gH += Math.hypot(hx, hy);
      gE += Math.hypot(ex, ey);
      lH += Math.abs(
        (cH[i + 1] as number) +
          (cH[i - 1] as number) +
          (cH[i + w] as number) +
          (cH[i - w] as number) -
          4 * (cH[i] as number),
      );
      lE += Math.abs(
        (cE[i + 1] as number) +
          (cE[i - 1] as number) +
          (cE[i + w] as number) +
          (cE[i - w] as number) -
          4 * (cE[i] as number),
      );
      jxx += ex * ex;
      jyy += ey * ey;
      jxy += ex * ey;
      n++;
    }
  }
  n = Math.max(1, n);
  out.push(gH / n, gE / n, lH / n, lE / n);
  // Nucleus-like pixels (H > 0.7) and the share of them inside a blob (all 4 neighbours nuclear):
  // small lymphocytes have a low interior share, large nuclei a high one.
  let nuc = 0;
  let interior = 0;
  let lumen = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if ((cH[i] as number) < 0.1 && (cE[i] as number) < 0.15) lumen++;
      if ((cH[i] as number) <= 0.7) continue;
      nuc++;
      if (
        x > 0 &&
        y > 0 &&
        x < w - 1 &&
        y < h - 1 &&
        (cH[i - 1] as number) > 0.7 &&
        (cH[i + 1] as number) > 0.7 &&
        (cH[i - w] as number) > 0.7 &&
        (cH[i + w] as number) > 0.7
      )
        interior++;
    }
  }
  out.push(nuc / (w * h), nuc > 0 ? interior / nuc : 0);
  const tr = jxx + jyy;
  out.push(tr > 0 ? Math.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / tr : 0);
  out.push(lumen / (w * h));
  // 4×4 map of mean H and E.
  for (const c of [cH, cE]) {
    for (let gy = 0; gy < 4; gy++) {
      for (let gx = 0; gx < 4; gx++) {
        let s = 0;
        let k = 0;
        for (let y = Math.floor((gy * h) / 4); y < Math.floor(((gy + 1) * h) / 4); y++) {
          for (let x = Math.floor((gx * w) / 4); x < Math.floor(((gx + 1) * w) / 4); x++) {
            s += c[y * w + x] as number;
            k++;
          }
        }
        out.push(k ? s / k : 0);
      }
    }
  }
  return Float32Array.from(out);
}

/** Descriptor → feature projection; seeded init so a given seed always gives the same encoder. */
export class PatchEncoder extends Module {
  readonly proj: Linear;
  readonly outDim: number;
  constructor(outDim = 64, seed = 0) {
    super();
    this.outDim = outDim;
    this.proj = this.registerModule('proj', new Linear(DESCRIPTOR_DIM, outDim, { rng: new Generator(seed) }));
  }

  forward(descriptors: tf.Tensor2D): tf.Tensor2D {
    return this.proj.forward(descriptors) as tf.Tensor2D;
  }

  /** Features [N, outDim] for N descriptors laid out row-major. */
  encode(descriptors: Float32Array, n: number): Float32Array {
    if (n === 0) return new Float32Array(0);
    const out = tf.tidy(() => this.forward(tf.tensor2d(descriptors, [n, DESCRIPTOR_DIM])));
    const data = Float32Array.from(out.dataSync());
    out.dispose();
    return data;
  }
}
