#!/usr/bin/python3
"""Python-library peers of the suite's data-pipeline scenarios (benchmarks/suite/src/pipelines.mjs).

Reads one JSON request on stdin: {"scenario": ..., "steps": S, "warmup": W, ...} and prints one
JSON line: {"times": [seconds per timed step], "version": "...", "check": number or null}.
Exit status 3 with {"missing": "module"} when the library is not installed.
  dicom-decode: pydicom, decode every frame of each file (pixel cache cleared) per step
  wsi-tiles:    openslide, read_region of every whole 256-px tile at level 0, row-major, fresh
                OpenSlide object per step (cold cache); check = mean RGB of the first tile
  hdf5-read:    h5py, read the whole 'features' and 'coords' datasets of a feature bag
  hdf5-write:   h5py, write a CLAM-layout bag (features float32 [rows, dim], coords int32 [rows, 2])
  wsi-preprocess: openslide + numpy/scipy, CLAM tissue detection on the thumbnail (saturation,
                median 7, Otsu, closing, components, holes) then read every 256-px tile with
                >= 50 % tissue and Macenko-normalize it in numpy (torchstain's numpy recipe);
                check = [tissue tiles, normalized tiles, mean RGB of the first normalized tile]
  methylation-parse: gzip + pure-Python parse of every .pat.gz (tab fields, int checks, pattern
                characters validated); check = [lines, reads]
  methylation-store: h5py, read every sample's tokens/methylation/region/count of a tissuebert
                store.h5 (gzip chunks); check = [examples, sum of tokens]
  metrics-auroc: scikit-learn roc_auc_score on the same labels/scores; check = AUROC
  metrics-bootstrap: numpy percentile bootstrap (rng.integers resamples) of roc_auc_score;
                check = [estimate, lower, upper]
"""
import json
import os
import sys
import time


def missing(name):
    print(json.dumps({'missing': name}))
    sys.exit(3)


def timed(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def macenko_np(np, rgb, io=240, alpha=1, beta=0.15):
    """torchstain's numpy Macenko (fit + normalize to its reference); None when too little stain."""
    he_ref = np.array([[0.5626, 0.2159], [0.7201, 0.8012], [0.4062, 0.5581]])
    max_c_ref = np.array([1.9705, 1.0308])
    h, w, _ = rgb.shape
    od = -np.log((rgb.reshape(-1, 3).astype(np.float64) + 1) / io)
    od_hat = od[~np.any(od < beta, axis=1)]
    if od_hat.shape[0] < 10:
        return None
    _, eigvecs = np.linalg.eigh(np.cov(od_hat.T))
    t = od_hat @ eigvecs[:, 1:3]
    phi = np.arctan2(t[:, 1], t[:, 0])
    min_phi, max_phi = np.percentile(phi, alpha), np.percentile(phi, 100 - alpha)
    v_min = eigvecs[:, 1:3] @ np.array([np.cos(min_phi), np.sin(min_phi)])
    v_max = eigvecs[:, 1:3] @ np.array([np.cos(max_phi), np.sin(max_phi)])
    he = np.array((v_min, v_max)).T if v_min[0] > v_max[0] else np.array((v_max, v_min)).T
    c = np.linalg.lstsq(he, od.T, rcond=None)[0]
    max_c = np.array([np.percentile(c[0], 99), np.percentile(c[1], 99)])
    c *= (max_c_ref / max_c)[:, None]
    out = io * np.exp(-he_ref @ c)
    out[out > 255] = 254
    return out.T.reshape(h, w, 3).astype(np.uint8)


def wsi_preprocess(req, openslide, np, ndimage):
    """CLAM tissue detection (crc-mil's TISSUE_DEFAULTS) + Macenko on every tissue tile."""
    tile, max_size = req['tile'], req['maxSize']
    o = req['tissue']
    box8 = np.ones((3, 3), bool)
    cross = ndimage.generate_binary_structure(2, 1)

    def mask_of(s):
        w0, h0 = s.dimensions
        thumb = np.asarray(s.get_thumbnail((max_size, max_size)).convert('RGB')).astype(np.int32)
        th, tw = thumb.shape[:2]
        mx, mn = thumb.max(2), thumb.min(2)
        sat = np.where(mx == 0, 0, np.floor(255 * (mx - mn) / np.maximum(mx, 1) + 0.5)).astype(np.uint8)
        sat = ndimage.median_filter(sat, size=o['medianKernel'], mode='nearest')
        hist = np.bincount(sat.ravel(), minlength=256).astype(np.float64)
        t = np.arange(256)
        w_b = np.cumsum(hist)
        w_f = hist.sum() - w_b
        s_b = np.cumsum(t * hist)
        with np.errstate(divide='ignore', invalid='ignore'):
            between = w_b * w_f * (s_b / w_b - (s_b[-1] - s_b) / w_f) ** 2
        between[(w_b == 0) | (w_f == 0)] = -1
        thr = max(int(np.argmax(between)), o['minSaturation'])
        m = sat > thr
        r = o['closeRadius']
        se = np.ones((2 * r + 1, 2 * r + 1), bool)
        m = ndimage.binary_erosion(ndimage.binary_dilation(m, se, border_value=0), se, border_value=1)
        px = (w0 / tw) * (h0 / th)
        lab, n = ndimage.label(m, box8)
        areas = np.bincount(lab.ravel(), minlength=n + 1)
        keep = areas * px >= o['minTissueArea']
        keep[0] = False
        m = keep[lab]
        lab, n = ndimage.label(~m, cross)
        areas = np.bincount(lab.ravel(), minlength=n + 1)
        border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        fill = areas * px < o['minHoleArea']
        fill[border] = False
        fill[0] = False
        m = m | fill[lab]
        return m.astype(np.uint8), w0 / tw, h0 / th, w0, h0

    def fraction(mask, sx, sy, x0, y0):
        mh, mw = mask.shape
        mx0, my0 = int(x0 // sx), int(y0 // sy)
        mx1 = max(mx0 + 1, min(mw, round((x0 + tile) / sx)))
        my1 = max(my0 + 1, min(mh, round((y0 + tile) / sy)))
        sub = mask[my0:min(my1, mh), mx0:min(mx1, mw)]
        return 0 if sub.size == 0 else sub.mean()

    first = []

    def step():
        s = openslide.OpenSlide(req['slide'])
        mask, sx, sy, w0, h0 = mask_of(s)
        tissue = normalized = 0
        for y in range(0, h0 - tile + 1, tile):
            for x in range(0, w0 - tile + 1, tile):
                if fraction(mask, sx, sy, x, y) < 0.5:
                    continue
                tissue += 1
                img = np.asarray(s.read_region((x, y), 0, (tile, tile)).convert('RGB'))
                out = macenko_np(np, img)
                if out is not None:
                    normalized += 1
                    if not first:
                        first.append(float(out.mean()))
        s.close()
        return [tissue, normalized, first[0] if first else None]
    return step, step()


def main():
    req = json.loads(sys.stdin.read())
    scenario, steps, warmup = req['scenario'], req['steps'], req['warmup']
    check = None
    if scenario == 'dicom-decode':
        try:
            import warnings
            warnings.simplefilter('ignore')
            import pydicom
        except ImportError:
            missing('pydicom')
        sets = [pydicom.dcmread(f) for f in req['files']]

        def step():
            for ds in sets:
                ds._pixel_array = None  # pydicom caches the decoded array; force a fresh decode
                ds._pixel_id = {}
                ds.convert_pixel_data()
        version = pydicom.__version__
    elif scenario == 'wsi-tiles':
        try:
            import openslide
        except ImportError:
            missing('openslide')
        tile = req['tile']

        def step():
            s = openslide.OpenSlide(req['slide'])
            w, h = s.dimensions
            for y in range(0, h - tile + 1, tile):
                for x in range(0, w - tile + 1, tile):
                    s.read_region((x, y), 0, (tile, tile)).convert('RGB')
            s.close()
        s = openslide.OpenSlide(req['slide'])
        first = s.read_region((0, 0), 0, (tile, tile)).convert('RGB').tobytes()
        s.close()
        check = sum(first) / len(first)
        version = f'openslide-python {openslide.__version__}, OpenSlide {openslide.__library_version__}'
    elif scenario in ('hdf5-read', 'hdf5-write'):
        try:
            import h5py
            import numpy as np
        except ImportError:
            missing('h5py')
        rows, dim, path = req['rows'], req['dim'], req['path']
        if scenario == 'hdf5-read':
            def step():
                with h5py.File(path, 'r') as f:
                    f['features'][()]
                    f['coords'][()]
        else:
            features = (np.arange(rows * dim, dtype=np.float32) % 9973 / 9973).reshape(rows, dim)
            coords = np.arange(rows * 2, dtype=np.int32).reshape(rows, 2)

            def step():
                tmp = path + '.tmp'
                with h5py.File(tmp, 'w') as f:
                    f.create_dataset('features', data=features, chunks=(min(rows, 1000), dim))
                    f.create_dataset('coords', data=coords)
                os.replace(tmp, path)
        version = f'h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}'
    elif scenario == 'wsi-preprocess':
        try:
            import openslide
        except ImportError:
            missing('openslide')
        try:
            import numpy as np
            from scipy import ndimage
        except ImportError:
            missing('scipy')
        step, check = wsi_preprocess(req, openslide, np, ndimage)
        version = f'openslide-python {openslide.__version__}, numpy {np.__version__}'
    elif scenario == 'methylation-parse':
        import gzip
        files = req['files']
        ok = set('CT.NHDXAG')

        def parse(path):
            lines = reads = 0
            with gzip.open(path, 'rt') as f:
                for line in f:
                    line = line.rstrip('\r\n')
                    if not line:
                        continue
                    chrom, start, pattern, count = line.split('\t')[:4]
                    start, count = int(start), int(count)
                    if start < 1 or count < 1 or not pattern or not set(pattern) <= ok:
                        raise ValueError(f'{path}: bad line {line!r}')
                    lines += 1
                    reads += count
            return lines, reads

        def step():
            tot = [0, 0]
            for p in files:
                a, b = parse(p)
                tot[0] += a
                tot[1] += b
            return tot
        check = step()
        version = f'Python {sys.version.split()[0]} gzip'
    elif scenario == 'methylation-store':
        try:
            import h5py
            import numpy as np
        except ImportError:
            missing('h5py')
        path = req['path']

        def step():
            n = 0
            tok = 0
            with h5py.File(path, 'r') as f:
                for key in f['samples']:
                    g = f['samples'][key]
                    t = g['tokens'][()]
                    g['methylation'][()]
                    g['region'][()]
                    g['count'][()]
                    n += t.shape[0]
                    tok += int(t.sum(dtype=np.int64))
            return [n, tok]
        check = step()
        version = f'h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}'
    elif scenario in ('metrics-auroc', 'metrics-bootstrap'):
        try:
            import numpy as np
            import sklearn
            from sklearn.metrics import roc_auc_score
        except ImportError:
            missing('sklearn')
        y = np.fromfile(req['labels'], dtype=np.uint8)
        sc = np.fromfile(req['scores'], dtype=np.float64)
        if scenario == 'metrics-auroc':
            def step():
                return roc_auc_score(y, sc)
            check = float(step())
        else:
            resamples = req['resamples']

            def step():
                rng = np.random.default_rng(0)
                vals = []
                n = len(y)
                for _ in range(resamples):
                    i = rng.integers(0, n, n)
                    yi = y[i]
                    if yi.min() == yi.max():
                        continue
                    vals.append(roc_auc_score(yi, sc[i]))
                lo, hi = np.percentile(vals, [2.5, 97.5])
                return [float(roc_auc_score(y, sc)), float(lo), float(hi)]
            check = step()
        version = f'scikit-learn {sklearn.__version__}, numpy {np.__version__}'
    else:
        raise SystemExit(f'unknown scenario {scenario}')
    print(json.dumps({'times': timed(step, steps, warmup), 'version': version, 'check': check}))


main()
