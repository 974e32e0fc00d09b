"""Peak memory of whole-scene inference stays bounded: a 12000 x 12000 image in well under 3 GB.

Whole-image methods cannot pass: the full logits alone are 5 x 12000^2 float32 = 2.9 GB, plus the
image. To keep the test fast on 2 CPU cores the image is mostly nodata (a sparse GeoTIFF: unwritten
blocks read back as nodata), so only the windows over the valid patch run the model, while every
strip is still read, accumulated, written, counted and polygonised at full width.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')

SIZE = 12000
PATCH = (5000, 6000, 600, 700)  # row, col, height, width of the valid area
TILE, OVERLAP = 256, 64

CHILD = textwrap.dedent('''
    import json, sys, torch
    import vnseg.apis
    from mmseg.apis import init_model
    from vnseg.apis import OutputOptions, WindowOptions, infer_large_image
    from vnseg.testing.memory import peak_rss_mb
    torch.manual_seed(0)
    torch.set_num_threads(2)
    cfg, src, out, tile, overlap = sys.argv[1:6]
    model = init_model(cfg, None, device='cpu')
    res = infer_large_image(model, None, src, out, WindowOptions(tile=int(tile), overlap=int(overlap), batch_size=4),
                            outputs=OutputOptions(preview_size=1024), progress=False)
    print(json.dumps(dict(peak_mb=peak_rss_mb(), tiles_run=res.tiles_run,
                          tiles_total=res.tiles_total, seconds=res.seconds)))
''')


@pytest.mark.slow
def test_12000px_image_peak_memory_under_3gb(tmp_path, repo_root):
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    src = tmp_path / 'big.tif'
    r0, c0, h, w = PATCH
    rng = np.random.RandomState(0)
    with rasterio.open(src, 'w', driver='GTiff', width=SIZE, height=SIZE, count=3, dtype='uint8',
                       nodata=0, crs='EPSG:32648', transform=from_origin(600000, 1200000, 0.1, 0.1),
                       tiled=True, blockxsize=512, blockysize=512, compress='deflate',
                       SPARSE_OK='TRUE') as dst:
        dst.write(rng.randint(1, 255, (3, h, w), np.uint8), window=Window(c0, r0, w, h))
    assert src.stat().st_size < 20e6
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, '-c', CHILD, str(repo_root / 'configs/segformer_tiny_demo_vn.py'),
                           str(src), str(tmp_path / 'out'), str(TILE), str(OVERLAP)],
                          capture_output=True, text=True, env=env,
                          cwd=str(repo_root), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    # windows: 63 x 63 grid (stride 192); the 600 x 700 patch at (5000, 6000) touches 5 x 5 of them
    # (rows 4800 ... 5568, columns 5760 ... 6528)
    assert stats['tiles_total'] == 63 * 63
    assert stats['tiles_run'] == 25
    assert stats['peak_mb'] < 3 * 1024, stats
    out = tmp_path / 'out' / 'big_classes.tif'
    with rasterio.open(out) as ds:
        assert (ds.width, ds.height) == (SIZE, SIZE) and ds.crs.to_epsg() == 32648
        inside = ds.read(1, window=Window(c0, r0, w, h))
        edge = ds.read(1, window=Window(c0 - 50, r0 - 50, w + 100, 50))
        assert inside.max() < 5 and np.all(edge == 255)
    doc = json.loads((tmp_path / 'out' / 'big_areas.json').read_text())
    assert doc['valid_pixels'] == h * w and doc['nodata_pixels'] == SIZE * SIZE - h * w
    print('peak RSS MB:', round(stats['peak_mb']), 'seconds:', round(stats['seconds'], 1))
