"""tools/dist_infer.sh with 2 CPU processes (torchrun, gloo) gives the 1-process outputs, byte for byte:
one mosaic cut into row bands, and several mosaics shared out whole."""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

rasterio = pytest.importorskip('rasterio')

CFG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
OPTS = ['--tile', '64', '--overlap', '24', '--batch-size', '4', '--device', 'cpu', '--no-progress', '--no-preview',
        '--min-area', '0']


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               PYTHON=sys.executable)
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    import torch

    import vnseg.mmseg_ext  # noqa: F401  (fixes and registrations before mmseg.apis.init_model)
    from mmseg.apis import init_model
    from rasterio.transform import from_origin
    tmp = tmp_path_factory.mktemp('dist')
    torch.manual_seed(0)
    ckpt = tmp / 'tiny.pth'
    torch.save({'state_dict': init_model(CFG, None, device='cpu').state_dict(), 'meta': {}}, ckpt)
    rng = np.random.RandomState(2)
    images = []
    for name, (h, w) in (('a', (420, 150)), ('b', (130, 170))):
        rgb = rng.randint(1, 255, (3, h, w)).astype(np.uint8)
        rgb[:, 100:130, 20:60] = 0
        path = tmp / f'{name}.tif'
        with rasterio.open(path, 'w', driver='GTiff', width=w, height=h, count=3, dtype='uint8', nodata=0,
                           crs='EPSG:32648', transform=from_origin(580000, 1160000, 0.1, 0.1)) as dst:
            dst.write(rgb)
        images.append(path)
    ref = tmp / 'ref'
    out = subprocess.run([sys.executable, str(REPO / 'tools' / 'infer_large_image.py'), CFG, str(ckpt),
                          *map(str, images), '--out-dir', str(ref), *OPTS],
                         env=_env(), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return ckpt, images, ref


def _dist(ckpt, images, out_dir):
    env = dict(_env(), PORT=str(_free_port()))
    out = subprocess.run(['bash', str(REPO / 'tools' / 'dist_infer.sh'), CFG, str(ckpt), '2', *map(str, images),
                          '--out-dir', str(out_dir), *OPTS], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


@pytest.mark.parametrize('which', ['bands', 'shared_out'])
@pytest.mark.slow
def test_two_processes_equal_one(inputs, tmp_path, which):
    ckpt, images, ref = inputs
    todo = images[:1] if which == 'bands' else images
    _dist(ckpt, todo, tmp_path)
    for img in todo:
        for suffix in ('_classes.tif', '_confidence.tif', '_areas.csv'):
            name = img.stem + suffix
            assert (tmp_path / name).read_bytes() == (ref / name).read_bytes(), name
        with rasterio.open(tmp_path / f'{img.stem}_classes.tif') as ds:
            pred = ds.read(1)
            assert np.all(pred[100:130, 20:60] == 255) and len(np.unique(pred)) > 2
        assert not (tmp_path / f'.{img.stem}.parts').exists()
    assert sorted(p.name for p in tmp_path.glob('*_building.geojson')) == \
        sorted(f'{i.stem}_building.geojson' for i in todo)


def test_bands_cover_the_strips_once():
    from vnseg.apis.distributed import assign_images
    from vnseg.inference.sliding import StripGrid
    g = StripGrid.of(420, 150, 64, 24)
    for n in (1, 2, 3, 7):
        bands = g.bands(n)
        assert bands[0][0] == 0 and bands[-1][1] == len(g)
        assert all(a[1] == b[0] for a, b in zip(bands, bands[1:]))
    assert assign_images(5, 2) == [0, 1, 0, 1, 0] and assign_images(1, 2) is None
