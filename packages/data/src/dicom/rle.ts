// RLE Lossless decoding, DICOM PS3.5 Annex G: a 64-byte header (segment count + up to 15 offsets),
// then one PackBits-coded segment per byte plane: for each sample, its most significant byte first.

/** Decodes one RLE frame to stored values interleaved by pixel (little-endian byte assembly). */
export function decodeRleFrame(
  frame: Uint8Array,
  pixels: number,
  samplesPerPixel: number,
  bytesPerSample: number,
): Uint8Array {
  if (frame.length < 64)
    throw new Error(`RLE frame is ${frame.length} bytes, shorter than its 64-byte header`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  const expected = samplesPerPixel * bytesPerSample;
  if (segments !== expected) {
    throw new Error(
      `RLE header lists ${segments} segments, expected ${expected} (samples × bytes per sample)`,
    );
  }
  // Output as little-endian bytes, interleaved by pixel: [pixel][sample][byte LSB..MSB].
  const out = new Uint8Array(pixels * expected);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || start > frame.length || end > frame.length || end < start) {
      throw new Error(`RLE segment ${s} offset ${start}..${end} lies outside the ${frame.length}-byte frame`);
    }
    const sample = Math.floor(s / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample); // segment 0 holds the MSB
    const stride = expected;
    let o = sample * bytesPerSample + byteInSample;
    let written = 0;
    let p = start;
    while (p < end && written < pixels) {
      const n = frame[p++] as number;
      if (n < 128) {
        // literal run of n + 1 bytes
        const count = Math.min(n + 1, pixels - written, end - p);
        for (let k = 0; k < count; k++) {
          out[o] = frame[p + k] as number;
          o += stride;
        }
        p += n + 1;
        written += count;
      } else if (n > 128) {
        // replicate the next byte 257 - n times
        const value = frame[p++] as number;
        const count = Math.min(257 - n, pixels - written);
        for (let k = 0; k < count; k++) {
          out[o] = value;
          o += stride;
        }
        written += count;
      }
      // n === 128: no operation
    }
    if (written < pixels) {
      throw new Error(`RLE segment ${s} decodes to ${written} bytes, expected ${pixels}`);
    }
  }
  return out;
}
