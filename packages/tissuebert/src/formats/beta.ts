import { readFileSync, writeFileSync } from 'node:fs';
import { TissueBertDataError } from '../errors';

/**
 * wgbstools `.beta`: headerless, NR_SITES rows × 2 columns (methylated count, covered count),
 * row i = CpG index i + 1, uint8 (counts capped at 255 by wgbstools). `.lbeta` is the same
 * with uint16 little-endian values.
 */
export interface BetaData {
  methylated: Uint8Array | Uint16Array;
  covered: Uint8Array | Uint16Array;
  nSites: number;
}

function isLbeta(file: string): boolean {
  return file.endsWith('.lbeta');
}

export function readBeta(file: string, expectedSites?: number): BetaData {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new TissueBertDataError(file, `cannot read: ${(e as Error).message}`);
  }
  const bytesPerValue = isLbeta(file) ? 2 : 1;
  if (raw.length % (2 * bytesPerValue) !== 0) {
    throw new TissueBertDataError(
      file,
      `size ${raw.length} is not a multiple of ${2 * bytesPerValue} bytes (2 columns)`,
    );
  }
  const nSites = raw.length / (2 * bytesPerValue);
  if (expectedSites !== undefined && nSites !== expectedSites) {
    throw new TissueBertDataError(file, `has ${nSites} CpG sites, the genome has ${expectedSites}`);
  }
  const methylated = bytesPerValue === 2 ? new Uint16Array(nSites) : new Uint8Array(nSites);
  const covered = bytesPerValue === 2 ? new Uint16Array(nSites) : new Uint8Array(nSites);
  for (let i = 0; i < nSites; i++) {
    if (bytesPerValue === 2) {
      methylated[i] = raw.readUInt16LE(4 * i);
      covered[i] = raw.readUInt16LE(4 * i + 2);
    } else {
      methylated[i] = raw[2 * i];
      covered[i] = raw[2 * i + 1];
    }
    if (methylated[i] > covered[i]) {
      throw new TissueBertDataError(
        file,
        `CpG ${i + 1}: methylated count ${methylated[i]} exceeds covered ${covered[i]}`,
      );
    }
  }
  return { methylated, covered, nSites };
}

/**
 * Writes `.beta` (uint8) or `.lbeta` (uint16, by extension). Counts above the type's maximum are
 * scaled down keeping the ratio, as wgbstools does for `.beta` (round(m·255/cov), 255).
 */
export function writeBeta(file: string, methylated: ArrayLike<number>, covered: ArrayLike<number>): void {
  const n = methylated.length;
  if (covered.length !== n)
    throw new TissueBertDataError(file, 'methylated and covered arrays differ in length');
  const bytesPerValue = isLbeta(file) ? 2 : 1;
  const max = bytesPerValue === 2 ? 0xffff : 0xff;
  const out = Buffer.alloc(n * 2 * bytesPerValue);
  for (let i = 0; i < n; i++) {
    let m = methylated[i];
    let c = covered[i];
    if (c > max) {
      m = Math.round((m * max) / c);
      c = max;
    }
    if (bytesPerValue === 2) {
      out.writeUInt16LE(m, 4 * i);
      out.writeUInt16LE(c, 4 * i + 2);
    } else {
      out[2 * i] = m;
      out[2 * i + 1] = c;
    }
  }
  writeFileSync(file, out);
}

/** Beta values m/c per site (NaN where not covered). */
export function betaValues(data: BetaData): Float64Array {
  const out = new Float64Array(data.nSites);
  for (let i = 0; i < data.nSites; i++)
    out[i] = data.covered[i] > 0 ? data.methylated[i] / data.covered[i] : Number.NaN;
  return out;
}
