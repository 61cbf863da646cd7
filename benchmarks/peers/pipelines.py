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
    else:
        raise SystemExit(f'unknown scenario {scenario}')
    print(json.dumps({'times': timed(step, steps, warmup), 'version': version, 'check': check}))


main()
