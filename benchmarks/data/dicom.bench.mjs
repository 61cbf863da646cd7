// DICOM decode throughput, meddl vs pydicom, on the shared sample files. Not a test.
//   npx --yes pnpm@10.34.8 --filter @meddl/data build
//   node benchmarks/data/dicom.bench.mjs [seconds]  # meddl, then pydicom if /usr/bin/python3 has it
// Both sides parse each file once, then decode all of its frames repeatedly for ~1 s
// (meddl: DicomImage.frame(i) for every i, frame cache off; pydicom: Dataset.convert_pixel_data() with its cache cleared).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDicom } from '../../packages/data/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const data = join(here, '..', '..', '..', 'shared', 'data');
const FILES = [
  'pydicom/MR_small.dcm',
  'pydicom/MR_small_bigendian.dcm',
  'pydicom-data/emri_small.dcm',
  'pydicom-data/emri_small_RLE.dcm',
  'pydicom-data/emri_small_jpeg_ls_lossless.dcm',
  'pydicom-data/emri_small_jpeg_2k_lossless.dcm',
  'pydicom/image_dfl.dcm',
  'pydicom-data/eCT_Supplemental.dcm',
  'pydicom-data/JPEG-LL.dcm',
  'pydicom/JPGExtended.dcm',
  'pydicom-data/RG3_J2KR.dcm',
  'torchxrayvision/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm',
  'pydicom/examples_ybr_color.dcm',
];
// Optional first argument: seconds per file and side (default 1).
const seconds = Number(process.argv[2] ?? 1);

const results = {};
for (const file of FILES) {
  const img = await readDicom(join(data, file), { cacheLastFrame: false });
  const n = img.meta.numberOfFrames;
  for (let i = 0; i < n; i++) img.frame(i); // warm-up (codec load, JIT)
  let frames = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < n; i++) img.frame(i);
    frames += n;
  }
  const elapsed = (performance.now() - start) / 1000;
  results[file] = {
    meddl: frames / elapsed,
    size: `${img.meta.rows}x${img.meta.columns}x${n}`,
    ts: img.meta.transferSyntaxName,
  };
}

const python = '/usr/bin/python3';
if (existsSync(python)) {
  const script = `
import json, sys, time, warnings
warnings.simplefilter('ignore')
import pydicom
out = {}
for f in sys.argv[2:]:
    ds = pydicom.dcmread(f)
    try:
        ds.convert_pixel_data()
    except Exception as e:
        out[f] = None
        continue
    n = int(ds.get('NumberOfFrames', 1) or 1)
    frames, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < float(sys.argv[1]):
        ds._pixel_array = None  # pydicom caches the decoded array; force a fresh decode
        ds._pixel_id = {}
        ds.convert_pixel_data()
        frames += n
    out[f] = frames / (time.perf_counter() - t0)
print(json.dumps(out))
`;
  try {
    const out = JSON.parse(
      execFileSync(python, ['-c', script, String(seconds), ...FILES.map((f) => join(data, f))], {
        encoding: 'utf8',
      }),
    );
    for (const file of FILES) results[file].pydicom = out[join(data, file)];
  } catch (e) {
    console.error(`pydicom side skipped: ${e.message}`);
  }
}

console.log('| file | size (R×C×F) | transfer syntax | meddl frames/s | pydicom frames/s |');
console.log('|---|---|---|---:|---:|');
for (const [file, r] of Object.entries(results)) {
  const py = r.pydicom == null ? 'cannot decode' : r.pydicom.toFixed(0);
  console.log(
    `| ${file.split('/').pop().slice(0, 40)} | ${r.size} | ${r.ts} | ${r.meddl.toFixed(0)} | ${py} |`,
  );
}
