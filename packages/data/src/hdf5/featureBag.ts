// Feature bags in CLAM's layout (Lu et al. 2021, github.com/mahmoodlab/CLAM: extract_features_fp.py):
// `features` [N, D] float32 and `coords` [N, 2] (x, y of each patch, level-0 pixels), with the patching
// parameters (patch_level, patch_size, ...) as attributes of `coords`.
import { Hdf5Error } from './errors';
import { type Hdf5AttributeValue, Hdf5File } from './file';

export interface FeatureBag {
  /** Row-major [count, dim]. */
  features: Float32Array;
  /** Row-major [count, 2]: x, y in level-0 pixels. */
  coords: Int32Array;
  count: number;
  dim: number;
  /** Attributes of `coords` (CLAM: patch_level, patch_size, ...) merged over the file's root attributes. */
  attributes: Record<string, Hdf5AttributeValue>;
}

export interface WriteFeatureBagOptions {
  /** Rows per chunk (default min(count, 1024)); chunks span the full feature width. */
  chunkRows?: number;
  /** gzip level (default none: CLAM files are uncompressed and bags are read whole). */
  gzip?: number;
}

export async function writeFeatureBag(
  path: string,
  bag: Omit<FeatureBag, 'count' | 'attributes'> & { attributes?: Record<string, Hdf5AttributeValue> },
  options: WriteFeatureBagOptions = {},
): Promise<void> {
  const { features, coords, dim } = bag;
  if (!Number.isInteger(dim) || dim <= 0 || features.length % dim !== 0) {
    throw new Hdf5Error(path, `features length ${features.length} is not a multiple of dim ${dim}`);
  }
  const count = features.length / dim;
  if (coords.length !== count * 2)
    throw new Hdf5Error(path, `coords must be [${count}, 2] (${count * 2} values), got ${coords.length}`);
  const chunkRows = Math.max(1, Math.min(options.chunkRows ?? 1024, Math.max(count, 1)));
  const file = await Hdf5File.open(path, 'w');
  try {
    const chunked = count > 0;
    file.writeDataset('features', features, {
      shape: [count, dim],
      ...(chunked ? { chunks: [chunkRows, dim] } : {}),
      ...(chunked && options.gzip !== undefined ? { gzip: options.gzip } : {}),
    });
    file.writeDataset('coords', coords, {
      shape: [count, 2],
      ...(chunked ? { chunks: [chunkRows, 2] } : {}),
      ...(bag.attributes ? { attributes: bag.attributes } : {}),
    });
  } finally {
    file.close();
  }
}

export interface ReadFeatureBagOptions {
  /** Read only rows [start, end) (hyperslab; nothing else is read). */
  rows?: [number, number];
}

export async function readFeatureBag(path: string, options: ReadFeatureBagOptions = {}): Promise<FeatureBag> {
  const file = await Hdf5File.open(path, 'r');
  try {
    const f = file.info('features');
    const c = file.info('coords');
    if (f.shape.length !== 2)
      throw new Hdf5Error(path, `'features' must be 2-D [N, D], got shape [${f.shape.join(', ')}]`);
    if (c.shape.length !== 2 || c.shape[1] !== 2)
      throw new Hdf5Error(path, `'coords' must be [N, 2], got shape [${c.shape.join(', ')}]`);
    const [n, dim] = f.shape as [number, number];
    if (c.shape[0] !== n)
      throw new Hdf5Error(path, `'features' has ${n} rows but 'coords' has ${c.shape[0]}`);
    if (!f.dtype.startsWith('float'))
      throw new Hdf5Error(path, `'features' must be floating point, got ${f.dtype}`);
    if (c.dtype.startsWith('float')) throw new Hdf5Error(path, `'coords' must be integers, got ${c.dtype}`);
    const rows = options.rows ?? [0, n];
    const rawFeatures = options.rows ? file.readSlice('features', [rows, null]) : file.read('features');
    const rawCoords = options.rows ? file.readSlice('coords', [rows, null]) : file.read('coords');
    const features =
      rawFeatures instanceof Float32Array ? rawFeatures : Float32Array.from(rawFeatures as Float64Array);
    let coords: Int32Array;
    if (rawCoords instanceof Int32Array) coords = rawCoords;
    else if (rawCoords instanceof BigInt64Array || rawCoords instanceof BigUint64Array) {
      coords = Int32Array.from(rawCoords, (v) => Number(v)); // CLAM writes numpy int64
    } else coords = Int32Array.from(rawCoords as ArrayLike<number>);
    return {
      features,
      coords,
      count: rows[1] - rows[0],
      dim,
      attributes: { ...file.attributes('/'), ...file.attributes('coords') },
    };
  } finally {
    file.close();
  }
}
