// Transfer syntaxes (PS3.6 Annex A) and how meddl decodes each.

export type PixelEncoding =
  | 'native'
  | 'deflate'
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'jpeg2000';

export interface TransferSyntax {
  uid: string;
  name: string;
  littleEndian: boolean;
  explicitVr: boolean;
  /** How the Pixel Data is encoded, or undefined when meddl cannot decode it. */
  encoding: PixelEncoding | undefined;
}

const ts = (
  uid: string,
  name: string,
  encoding: PixelEncoding | undefined,
  littleEndian = true,
  explicitVr = true,
): TransferSyntax => ({ uid, name, littleEndian, explicitVr, encoding });

export const TRANSFER_SYNTAXES: ReadonlyMap<string, TransferSyntax> = new Map(
  [
    ts('1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native', true, false),
    ts('1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native'),
    ts('1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'deflate'),
    ts('1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native', false),
    ts('1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'),
    ts('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg-baseline'),
    ts('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg-baseline'),
    ts('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless'),
    ts(
      '1.2.840.10008.1.2.4.70',
      'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
      'jpeg-lossless',
    ),
    ts('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless Image Compression', 'jpeg-ls'),
    ts('1.2.840.10008.1.2.4.81', 'JPEG-LS Lossy (Near-Lossless) Image Compression', 'jpeg-ls'),
    ts('1.2.840.10008.1.2.4.90', 'JPEG 2000 Image Compression (Lossless Only)', 'jpeg2000'),
    ts('1.2.840.10008.1.2.4.91', 'JPEG 2000 Image Compression', 'jpeg2000'),
    ts('1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Image Compression (Lossless Only)', undefined),
    ts(
      '1.2.840.10008.1.2.4.202',
      'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)',
      undefined,
    ),
    ts('1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000 Image Compression', undefined),
    ts('1.2.840.10008.1.2.4.52', 'JPEG Extended (Process 3 & 5) (Retired)', undefined),
    ts(
      '1.2.840.10008.1.2.4.53',
      'JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8) (Retired)',
      undefined,
    ),
    ts(
      '1.2.840.10008.1.2.4.55',
      'JPEG Full Progression, Non-Hierarchical (Process 10 & 12) (Retired)',
      undefined,
    ),
    ts(
      '1.2.840.10008.1.2.4.92',
      'JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)',
      undefined,
    ),
    ts('1.2.840.10008.1.2.4.93', 'JPEG 2000 Part 2 Multi-component Image Compression', undefined),
    ts('1.2.840.10008.1.2.4.94', 'JPIP Referenced', undefined),
    ts('1.2.840.10008.1.2.4.95', 'JPIP Referenced Deflate', undefined),
    ts('1.2.840.10008.1.2.4.100', 'MPEG2 Main Profile / Main Level', undefined),
    ts('1.2.840.10008.1.2.4.102', 'MPEG-4 AVC/H.264 High Profile / Level 4.1', undefined),
    ts('1.2.840.10008.1.2.4.110', 'JPEG XL Lossless', undefined),
    ts('1.2.840.10008.1.2.4.112', 'JPEG XL', undefined),
  ].map((t) => [t.uid, t]),
);

export function transferSyntaxName(uid: string): string {
  return TRANSFER_SYNTAXES.get(uid)?.name ?? 'unknown transfer syntax';
}
