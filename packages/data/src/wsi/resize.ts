// Area-average resampling (each output pixel is the coverage-weighted mean of the input pixels under it),
// the right filter for downscaling pyramid reads to a target magnification. Separable: rows, then columns.

function weights(
  inSize: number,
  outSize: number,
): { start: Int32Array; count: Int32Array; w: Float32Array; stride: number } {
  const scale = inSize / outSize;
  const stride = Math.ceil(scale) + 2;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const w = new Float32Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const a = o * scale;
    const b = Math.min(inSize, (o + 1) * scale);
    const first = Math.floor(a);
    let n = 0;
    for (let i = first; i < b && n < stride; i++, n++) {
      const cover = Math.min(b, i + 1) - Math.max(a, i);
      w[o * stride + n] = cover / (b - a);
    }
    start[o] = first;
    count[o] = n;
  }
  return { start, count, w, stride };
}

/** Resize interleaved 8-bit pixels (`channels` per pixel) by area averaging. Intended for downscaling. */
export function resizeArea(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (outWidth === width && outHeight === height) return src;
  const wx = weights(width, outWidth);
  const wy = weights(height, outHeight);
  // Vertical pass first (rows shrink before the horizontal pass touches them), into float rows.
  const rowLen = width * channels;
  const tmp = new Float32Array(outHeight * rowLen);
  for (let o = 0; o < outHeight; o++) {
    const s = wy.start[o] as number;
    const n = wy.count[o] as number;
    const dst = o * rowLen;
    for (let k = 0; k < n; k++) {
      const wk = wy.w[o * wy.stride + k] as number;
      const srcRow = (s + k) * rowLen;
      for (let i = 0; i < rowLen; i++)
        tmp[dst + i] = (tmp[dst + i] as number) + wk * (src[srcRow + i] as number);
    }
  }
  const out = new Uint8Array(outWidth * outHeight * channels);
  const acc = new Float64Array(channels);
  for (let y = 0; y < outHeight; y++) {
    const rowIn = y * rowLen;
    const rowOut = y * outWidth * channels;
    for (let o = 0; o < outWidth; o++) {
      const s = wx.start[o] as number;
      const n = wx.count[o] as number;
      acc.fill(0);
      for (let k = 0; k < n; k++) {
        const wk = wx.w[o * wx.stride + k] as number;
        const p = rowIn + (s + k) * channels;
        for (let c = 0; c < channels; c++) acc[c] = (acc[c] as number) + wk * (tmp[p + c] as number);
      }
      for (let c = 0; c < channels; c++) out[rowOut + o * channels + c] = Math.round(acc[c] as number);
    }
  }
  return out;
}
