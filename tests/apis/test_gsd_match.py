"""``vnseg map --match-gsd``: a scene flown at twice the training GSD segments like the same scene at 1x.

Real imagery: a 512 x 384 crop of the Kampala drone mosaic (EPSG:3857, 7.44 cm/px on the ground) and the
same extent averaged down 2x (256 x 192, 14.88 cm/px). The model is the tiny demo SegFormer with seeded
random weights (no download, no training) whose checkpoint says it was trained at the 1x GSD: random
convolutions respond to texture at a scale, so they tell the two resolutions apart as a trained model
would. The tests compare the 2x class map (upsampled 2x) and its class areas with the 1x ones, with and
without --match-gsd (the values they print: docs/results.md).
"""
import json

import numpy as np
import pytest

from conftest import REPO, require_shared_data

rasterio = pytest.importorskip('rasterio')

CFG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
W, H = 512, 384
MAP_OPTS = ['--tile', '128', '--no-progress', '--no-polygons', '--no-report', '--no-preview']


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    """``(1x GeoTIFF, 2x GeoTIFF, checkpoint with meta gsd_cm = the 1x GSD, 1x GSD)``."""
    import torch
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    from vnseg.apis.model_loading import inference_config, load_model
    from vnseg.data.gsd import raster_gsd_cm
    tmp = tmp_path_factory.mktemp('match_gsd')
    with rasterio.open(require_shared_data('kampala_drone', 'kampala_oam_z21_mosaic.tif')) as ds:
        win = Window(1000, 600, W, H)
        full = ds.read([1, 2, 3], window=win)
        half = ds.read([1, 2, 3], window=win, out_shape=(3, H // 2, W // 2), resampling=Resampling.average)
        t, crs = ds.window_transform(win), ds.crs
    prof = dict(driver='GTiff', count=3, dtype='uint8', crs=crs)
    x1, x2 = tmp / 'x1.tif', tmp / 'x2.tif'
    with rasterio.open(x1, 'w', width=W, height=H, transform=t, **prof) as dst:
        dst.write(full)
    with rasterio.open(x2, 'w', width=W // 2, height=H // 2, transform=t * t.scale(2, 2), **prof) as dst:
        dst.write(half)
    gsd = raster_gsd_cm(x1)
    assert gsd == pytest.approx(7.44, abs=0.01) and raster_gsd_cm(x2) == pytest.approx(2 * gsd, rel=1e-4)
    torch.manual_seed(0)
    model = load_model(inference_config(CFG), None, device='cpu', random_weights=True)
    ckpt = tmp / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'gsd_cm': gsd}}, ckpt)
    return x1, x2, ckpt, gsd


def _map(model_args, image, out, *extra):
    from vnseg.commands.map import main
    assert main([*model_args, str(image), str(out), *MAP_OPTS, *extra]) == 0
    with rasterio.open(out / f'{image.stem}_classes.tif') as ds:
        classes, tags, grid = ds.read(1), ds.tags(), (ds.width, ds.height, ds.transform, ds.crs)
    areas = json.loads((out / f'{image.stem}_areas.json').read_text())
    return classes, tags, grid, {r['class']: r['area_m2'] for r in areas['classes']}


def _up2(a):
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


@pytest.fixture(scope='module')
def runs(scenes, tmp_path_factory):
    x1, x2, ckpt, _ = scenes
    tmp = tmp_path_factory.mktemp('match_runs')
    model = [CFG, str(ckpt)]
    return dict(one=_map(model, x1, tmp / 'one', '--match-gsd'),
                matched=_map(model, x2, tmp / 'matched', '--match-gsd'), plain=_map(model, x2, tmp / 'plain'))


def test_2x_scene_with_match_gsd_segments_like_1x(runs, scenes, capsys):
    x1, x2, _, gsd = scenes
    one, matched, plain = runs['one'][0], runs['matched'][0], runs['plain'][0]
    assert one.shape == (H, W) and matched.shape == plain.shape == (H // 2, W // 2)   # each on its own grid
    assert len(np.unique(one)) >= 3          # the model draws several classes: agreement is not trivial
    agree_matched = float((_up2(matched) == one).mean())
    agree_plain = float((_up2(plain) == one).mean())
    print(f'agreement with the 1x class map: --match-gsd {100 * agree_matched:.1f} %, '
          f'without {100 * agree_plain:.1f} %')
    assert agree_matched > 0.90 and agree_matched > agree_plain + 0.2, (agree_matched, agree_plain)


def test_outputs_stay_on_the_image_grid_and_areas_are_kept(runs, scenes):
    x1, x2, _, gsd = scenes
    with rasterio.open(x2) as ds:
        assert runs['matched'][2] == (ds.width, ds.height, ds.transform, ds.crs)
    tags = runs['matched'][1]
    assert tags['MATCH_GSD'] == 'True' and tags['MODEL_GRID'] == f'{W}x{H}'
    assert float(tags['MODEL_GSD_CM']) == pytest.approx(gsd, abs=1e-4)
    assert float(tags['IMAGE_GSD_CM']) == pytest.approx(2 * gsd, rel=1e-4)
    # 1x with --match-gsd is the model grid itself: read as is
    assert runs['one'][1]['MODEL_GRID'] == f'{W}x{H}'
    a1, am, ap = runs['one'][3], runs['matched'][3], runs['plain'][3]
    total = sum(a1.values())
    assert sum(am.values()) == pytest.approx(total, rel=1e-3)     # the same ground, measured on each grid
    err_matched = max(abs(am[c] - a1[c]) for c in a1) / total
    err_plain = max(abs(ap[c] - a1[c]) for c in a1) / total
    assert err_matched < 0.02 and err_plain > 2 * err_matched, (err_matched, err_plain)


def test_onnx_model_uses_its_resolution_metadata(scenes, runs, tmp_path, one_torch_thread):
    from vnseg.commands.export import main as export
    x1, x2, ckpt, gsd = scenes
    onnx_path = tmp_path / 'model.onnx'
    assert export([CFG, str(ckpt), '--out', str(onnx_path), '--tile', '128', '--parity-image', str(x1),
                   '--parity-tiles', '2']) == 0
    classes, tags, _, _ = _map([str(onnx_path)], x2, tmp_path / 'out', '--match-gsd')
    assert float(tags['MODEL_GSD_CM']) == pytest.approx(gsd, abs=1e-4)
    assert float((classes == runs['matched'][0]).mean()) > 0.99     # the same as the PyTorch model


def test_unknown_gsd_is_one_error_line(scenes, tmp_path, capsys):
    import torch
    from PIL import Image

    from vnseg.commands.map import main
    x1, x2, ckpt, _ = scenes
    bare = tmp_path / 'bare.pth'
    state = torch.load(ckpt, weights_only=True)
    torch.save({'state_dict': state['state_dict'], 'meta': {}}, bare)
    assert main([CFG, str(bare), str(x2), str(tmp_path / 'o1'), *MAP_OPTS, '--match-gsd']) == 1
    err, = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith('error:')]
    assert err.startswith(f'error: {bare}: --match-gsd: the model records no training ground resolution'), err
    plain = tmp_path / 'plain.png'
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(plain)
    assert main([CFG, str(ckpt), str(plain), str(tmp_path / 'o2'), *MAP_OPTS, '--match-gsd']) == 1
    err, = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith('error:')]
    assert err == f'error: {plain}: --match-gsd: the image has no known ground resolution (it needs a CRS and ' \
                  'a geotransform, e.g. a GeoTIFF); run without --match-gsd', err
    for out in ('o1', 'o2'):
        assert not (tmp_path / out).exists() or not any((tmp_path / out).iterdir())


def test_resampled_windows_read_the_same_pixels_as_one_read(scenes):
    """Each window is resampled by GDAL from a floating-point source window: overlapping windows of the
    sliding grid see exactly the pixels of one read of the whole model grid (no seams)."""
    from vnseg.apis.gsd_match import ResampledSource
    from vnseg.geo.raster_io import SourceImage
    with SourceImage(scenes[1]) as src:
        grid = ResampledSource(src, W, H)
        assert (grid.width, grid.height, grid.sx, grid.sy) == (W, H, 0.5, 0.5)
        whole, valid = grid.read_rgb(0, 0, H, W), grid.read_valid(0, 0, H, W)
        assert valid.all()
        for y, x, h, w in ((96, 96, 128, 128), (1, 3, 50, 77), (200, 301, 100, 100)):
            np.testing.assert_array_equal(grid.read_rgb(y, x, h, w), whole[:, y:y + h, x:x + w])


@pytest.mark.slow
def test_two_processes_with_match_gsd_equal_one(scenes, runs, tmp_path):
    """tools/dist_infer.sh (torchrun, 2 CPU processes, gloo) cuts the 2x scene's model grid into row bands:
    the same class map, byte for byte, as the single-process --match-gsd run."""
    import os
    import socket
    import subprocess
    import sys
    x1, x2, ckpt, _ = scenes
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               PYTHON=sys.executable, PORT=str(port), PYTHONPATH=str(REPO))
    out = subprocess.run(['bash', str(REPO / 'tools' / 'dist_infer.sh'), CFG, str(ckpt), '2', str(x2),
                          '--out-dir', str(tmp_path), *MAP_OPTS, '--device', 'cpu', '--match-gsd'],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    with rasterio.open(tmp_path / 'x2_classes.tif') as ds:
        np.testing.assert_array_equal(ds.read(1), runs['matched'][0])
        assert ds.tags()['MODEL_GRID'] == f'{W}x{H}'
    assert not (tmp_path / '.x2.parts').exists()
