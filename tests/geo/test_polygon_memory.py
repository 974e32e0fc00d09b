"""Polygon memory stays bounded by a few strips with a connected class spanning the whole raster.

A 16000 x 1200 class map holds one connected road grid (6 px roads every 150 px, with ragged edges
so that its outline has ~1 vertex per boundary pixel) over tree cover: the road network is a single
region that touches every strip boundary. Polygonising it by 256-row strips must not keep the
network's geometry until the end (memory that grows with the height); with cuts every 1024 rows the
peak RSS increase stays under ``CAP_MB``, and areas still add up exactly. (What it measured, and what
keeping the whole network took, are in docs/results.md.)
"""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')
pytest.importorskip('pyogrio')

H, W, STRIP, MAX_ROWS = 16000, 1200, 256, 1024
CAP_MB = 110

CHILD = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import numpy as np, rasterio
    from vnseg.core.classes import CLASSES, PALETTE
    from vnseg.geo.areas import PixelAreas
    from vnseg.geo.vectorize import PolygonFiles, PolygonOptions, write_class_polygons
    from vnseg.testing.memory import peak_rss_mb, reset_peak_rss, rss_mb

    src, out, strip, max_rows = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with rasterio.open(src) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    # warm-up on a small map so that library initialisation is part of the baseline
    with rasterio.open(sys.argv[5]) as ds:
        warm_pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    write_class_polygons(sys.argv[5], PolygonFiles(out / 'warm', 'w', CLASSES, PALETTE), warm_pa,
                         PolygonOptions([1, 3], 0, 0))
    # the imports (torch) peak far above what polygons need: reset the peak (VmHWM), keep the current RSS
    reset_peak_rss()
    base = rss_mb()
    stats = write_class_polygons(src, PolygonFiles(out, 'roads', CLASSES, PALETTE), pa,
                                 PolygonOptions([1], 0, 0), strip_rows=strip, max_polygon_rows=max_rows).stats
    peak = peak_rss_mb()
    print(json.dumps(dict(base_mb=base, peak_mb=peak, delta_mb=peak - base,
                          stats={str(k): v for k, v in stats.items()})))
''')


def _road_grid(path, h, w, seed=0):
    from affine import Affine
    from rasterio.windows import Window
    rng = np.random.RandomState(seed)
    t = Affine(0.1, 0, 500000, 0, -0.1, 2000000)
    count = 0
    with rasterio.open(path, 'w', driver='GTiff', width=w, height=h, count=1, dtype='uint8', nodata=255,
                       crs='EPSG:32648', transform=t, tiled=True, compress='deflate') as d:
        for r0 in range(0, h, 512):
            n = min(512, h - r0)
            rows, cols = np.arange(r0, r0 + n)[:, None], np.arange(w)[None]
            road = ((rows % 150) < 6) | ((cols % 150) < 6)
            near = ((rows % 150) < 9) | ((cols % 150) < 9)
            block = np.where(road | (near & (rng.rand(n, w) < 0.35)), 1, 3).astype(np.uint8)
            count += int((block == 1).sum())
            d.write(block, 1, window=Window(0, r0, w, n))
    return count


@pytest.mark.slow
def test_connected_road_grid_polygons_under_memory_cap(tmp_path, repo_root):
    src = tmp_path / 'roads.tif'
    road_px = _road_grid(src, H, W)
    small = tmp_path / 'small.tif'
    _road_grid(small, 300, 300, seed=1)
    proc = subprocess.run([sys.executable, '-c', CHILD, str(src), str(tmp_path / 'out'), str(STRIP), str(MAX_ROWS),
                           str(small)], capture_output=True, text=True, cwd=str(repo_root), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    st = res['stats']['1']
    print('polygon memory:', {k: round(v, 1) for k, v in res.items() if k != 'stats'}, st)
    assert st['cut'] >= H // MAX_ROWS - 2              # the network was cut along strip boundaries
    assert res['delta_mb'] < CAP_MB, res
    # nothing lost: the written polygons cover exactly the road pixels (0.01 m^2 each, UTM scale ~0.9992^-1)
    assert st['area'] == pytest.approx(road_px * 0.01 * 0.9996 ** -2, rel=2e-4)
    fc = json.loads((tmp_path / 'out' / 'roads_road.geojson').read_text())
    assert len(fc['features']) == st['polygons'] and 'crs' not in fc
