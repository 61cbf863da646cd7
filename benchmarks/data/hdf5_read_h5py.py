#!/usr/bin/python3
"""h5py on the file hdf5_read.mjs wrote (run that first): whole-bag read and 1000-row hyperslabs.
Run: /usr/bin/python3 benchmarks/data/hdf5_read_h5py.py [dir] [repeats]"""
import os
import statistics
import sys
import tempfile
import time

import h5py

d = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
path = os.path.join(d, 'bench_bag.h5')
whole, slabs = [], []
for r in range(repeats + 1):
    t0 = time.perf_counter()
    with h5py.File(path, 'r') as f:
        feats = f['features'][...]
        coords = f['coords'][...]
    dt = time.perf_counter() - t0
    rows, dim = feats.shape
    t0 = time.perf_counter()
    with h5py.File(path, 'r') as f:
        ds = f['features']
        for s in range(0, rows, 1000):
            ds[s:s + 1000]
    st = time.perf_counter() - t0
    if r == 0:
        continue
    whole.append((feats.nbytes + coords.nbytes) / 1e6 / dt)
    slabs.append(feats.nbytes / 1e6 / st)
print(f'h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}): {rows}x{dim} bag: whole-bag read median {statistics.median(whole):.0f} MB/s; '
      f'1000-row hyperslabs median {statistics.median(slabs):.0f} MB/s')
