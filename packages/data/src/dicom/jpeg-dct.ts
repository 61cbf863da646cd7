// Sequential DCT JPEG decoding (ITU-T T.81 processes 1, 2 and 4: baseline and extended, Huffman
// coded, 8- or 12-bit samples) for the case the libjpeg-turbo 8-bit WASM build cannot handle:
// 12-bit precision (DICOM JPEG Extended, 1.2.840.10008.1.2.4.51). Greyscale only, as DICOM uses it.
// Written from the T.81 text: Annex F.2 (decoding), Annex C (Huffman tables), A.3.3 (IDCT).

interface HuffmanTable {
  /** maxcode[l]: largest code of length l (−1 when none), T.81 F.2.2.3 */
  maxcode: Int32Array;
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const maxcode = new Int32Array(18).fill(-1);
  const valptr = new Int32Array(17);
  const mincode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= 16; l++) {
    const n = counts[l - 1] as number;
    if (n) {
      valptr[l] = k;
      mincode[l] = code;
      code += n;
      k += n;
      maxcode[l] = code - 1;
    }
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { maxcode, valptr, mincode, values };
}

const ZIGZAG = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63,
]);

/** cos((2x+1)uπ/16)·C(u)/2, indexed [x*8+u] (T.81 A.3.3). */
const IDCT = (() => {
  const t = new Float64Array(64);
  for (let x = 0; x < 8; x++) {
    for (let u = 0; u < 8; u++) {
      t[x * 8 + u] = ((u === 0 ? Math.SQRT1_2 : 1) / 2) * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
    }
  }
  return t;
})();

class BitReader {
  private bits = 0;
  private count = 0;
  pos: number;
  constructor(
    private readonly data: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  bit(): number {
    if (this.count === 0) {
      if (this.pos >= this.data.length) throw new Error('entropy-coded data ends early');
      let b = this.data[this.pos++] as number;
      if (b === 0xff) {
        const next = this.data[this.pos] as number;
        if (next === 0) this.pos++;
        else throw new Error(`unexpected marker FF${next.toString(16).toUpperCase()} inside a scan`);
      }
      this.bits = b;
      this.count = 8;
      b = 0;
    }
    this.count--;
    return (this.bits >> this.count) & 1;
  }

  receive(s: number): number {
    let v = 0;
    for (let i = 0; i < s; i++) v = (v << 1) | this.bit();
    return v;
  }

  decode(t: HuffmanTable): number {
    let code = this.bit();
    let l = 1;
    while (code > (t.maxcode[l] as number)) {
      code = (code << 1) | this.bit();
      l++;
      if (l > 16) throw new Error('invalid Huffman code');
    }
    return t.values[(t.valptr[l] as number) + code - (t.mincode[l] as number)] as number;
  }

  /** Drops the rest of the byte and consumes an RSTn marker (T.81 F.2.2.5 restart). */
  restart(): void {
    this.count = 0;
    if (this.data[this.pos] === 0xff && ((this.data[this.pos + 1] as number) & 0xf8) === 0xd0) this.pos += 2;
    else throw new Error(`expected a restart marker at byte ${this.pos}`);
  }
}

function extend(v: number, t: number): number {
  return t === 0 ? 0 : v < 1 << (t - 1) ? v - (1 << t) + 1 : v;
}

export interface DctImage {
  width: number;
  height: number;
  precision: number;
  samples: Uint16Array;
}

/** Decodes a single-component sequential-DCT JPEG (SOF0/SOF1, Huffman), precision 8 or 12. */
export function decodeSequentialDct(data: Uint8Array): DctImage {
  if (data[0] !== 0xff || data[1] !== 0xd8) throw new Error('no JPEG SOI marker');
  const quant: Uint16Array[] = [];
  const dc: HuffmanTable[] = [];
  const ac: HuffmanTable[] = [];
  let frame:
    | { precision: number; height: number; width: number; h: number; v: number; tq: number }
    | undefined;
  let restartInterval = 0;
  let p = 2;
  const u16 = (at: number): number => ((data[at] as number) << 8) | (data[at + 1] as number);
  for (;;) {
    while (p < data.length && data[p] === 0xff && data[p + 1] === 0xff) p++;
    if (p + 4 > data.length) throw new Error('JPEG stream ends before its scan');
    if (data[p] !== 0xff) throw new Error(`expected a marker at byte ${p}`);
    const marker = data[p + 1] as number;
    const length = u16(p + 2);
    const seg = p + 4;
    const end = p + 2 + length;
    switch (marker) {
      case 0xdb: {
        // DQT: Pq (0: 8-bit, 1: 16-bit entries), Tq, 64 values in zigzag order
        let q = seg;
        while (q < end) {
          const pq = (data[q] as number) >> 4;
          const tq = (data[q] as number) & 15;
          q++;
          const table = new Uint16Array(64);
          for (let k = 0; k < 64; k++) {
            table[ZIGZAG[k] as number] = pq ? u16(q + 2 * k) : (data[q + k] as number);
          }
          q += pq ? 128 : 64;
          quant[tq] = table;
        }
        break;
      }
      case 0xc4: {
        let q = seg;
        while (q < end) {
          const tc = (data[q] as number) >> 4;
          const th = (data[q] as number) & 15;
          const counts = data.subarray(q + 1, q + 17);
          const n = counts.reduce((a, b) => a + b, 0);
          const table = buildHuffman(counts, data.slice(q + 17, q + 17 + n));
          if (tc === 0) dc[th] = table;
          else ac[th] = table;
          q += 17 + n;
        }
        break;
      }
      case 0xc0:
      case 0xc1: {
        const components = data[seg + 5] as number;
        if (components !== 1)
          throw new Error(`${components}-component DCT JPEG: only greyscale is supported here`);
        const hv = data[seg + 7] as number;
        frame = {
          precision: data[seg] as number,
          height: u16(seg + 1),
          width: u16(seg + 3),
          h: hv >> 4,
          v: hv & 15,
          tq: data[seg + 8] as number,
        };
        if (frame.precision !== 8 && frame.precision !== 12)
          throw new Error(`sample precision ${frame.precision}`);
        break;
      }
      case 0xc2:
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf:
        throw new Error(`JPEG process with SOF${(marker - 0xc0).toString(16)} is not sequential Huffman DCT`);
      case 0xdd:
        restartInterval = u16(seg);
        break;
      case 0xda: {
        if (!frame) throw new Error('scan before frame header');
        const sel = data[seg + 2] as number;
        const tables = { dc: dc[sel >> 4], ac: ac[sel & 15], q: quant[frame.tq] };
        if (!tables.dc || !tables.ac || !tables.q)
          throw new Error('scan refers to a missing Huffman or quantisation table');
        return decodeScan(data, end, frame, tables as Required<typeof tables>, restartInterval);
      }
      default:
        break; // APPn, COM, DNL…: skip
    }
    p = end;
  }
}

function decodeScan(
  data: Uint8Array,
  start: number,
  frame: { precision: number; height: number; width: number },
  tables: { dc: HuffmanTable; ac: HuffmanTable; q: Uint16Array },
  restartInterval: number,
): DctImage {
  const { width, height, precision } = frame;
  // A single-component scan is non-interleaved: one 8×8 block per MCU (T.81 A.2.2).
  const bw = Math.ceil(width / 8);
  const bh = Math.ceil(height / 8);
  const stride = bw * 8;
  const plane = new Float64Array(stride * bh * 8);
  const reader = new BitReader(data, start);
  const coef = new Float64Array(64);
  const tmp = new Float64Array(64);
  const shift = 1 << (precision - 1);
  let pred = 0;
  const blocks = bw * bh;
  for (let b = 0; b < blocks; b++) {
    if (restartInterval && b > 0 && b % restartInterval === 0) {
      reader.restart();
      pred = 0;
    }
    coef.fill(0);
    let acSeen = false;
    const t = reader.decode(tables.dc);
    pred += extend(reader.receive(t), t);
    coef[0] = pred * (tables.q[0] as number);
    for (let k = 1; k < 64; ) {
      const rs = reader.decode(tables.ac);
      const r = rs >> 4;
      const s = rs & 15;
      if (s === 0) {
        if (r !== 15) break;
        k += 16;
        continue;
      }
      k += r;
      if (k > 63) throw new Error('AC coefficient index past 63');
      const z = ZIGZAG[k] as number;
      coef[z] = extend(reader.receive(s), s) * (tables.q[z] as number);
      acSeen = true;
      k++;
    }
    const bx = (b % bw) * 8;
    const by = Math.floor(b / bw) * 8;
    if (!acSeen) {
      // DC only: the block is flat, DC · C(0)/2 · C(0)/2.
      const flat = (coef[0] as number) / 8;
      for (let y = 0; y < 8; y++) plane.fill(flat, (by + y) * stride + bx, (by + y) * stride + bx + 8);
      continue;
    }
    // Separable inverse DCT: rows then columns.
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        let sum = 0;
        for (let u = 0; u < 8; u++) sum += (IDCT[x * 8 + u] as number) * (coef[y * 8 + u] as number);
        tmp[y * 8 + x] = sum;
      }
    }
    for (let x = 0; x < 8; x++) {
      for (let y = 0; y < 8; y++) {
        let sum = 0;
        for (let v = 0; v < 8; v++) sum += (IDCT[y * 8 + v] as number) * (tmp[v * 8 + x] as number);
        plane[(by + y) * stride + bx + x] = sum;
      }
    }
  }
  const max = (1 << precision) - 1;
  const samples = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = Math.round((plane[y * stride + x] as number) + shift);
      samples[y * width + x] = Math.min(max, Math.max(0, v));
    }
  }
  return { width, height, precision, samples };
}
