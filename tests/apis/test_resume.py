"""Whole-scene inference survives a SIGKILL: ``--resume`` continues from the finished strips and gives the
same bytes as an uninterrupted run; a finished run is never rewritten by ``--resume``.

The model is the tiny demo SegFormer with seeded random weights saved as a checkpoint; every run is a
fresh ``tools/infer_large_image.py`` process on one thread (the same arithmetic in every process).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

rasterio = pytest.importorskip('rasterio')

CFG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
TILE, OVERLAP = 64, 16     # stride 48: a 1500-row image has 31 strips


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _cmd(ckpt, image, out_dir, *extra):
    return [sys.executable, str(REPO / 'tools' / 'infer_large_image.py'), CFG, str(ckpt), str(image),
            '--out-dir', str(out_dir), '--tile', str(TILE), '--overlap', str(OVERLAP), '--batch-size', '4',
            '--device', 'cpu', '--no-progress', '--no-preview', *extra]


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    """A georeferenced 1500 x 200 image with a nodata band, and a random-weight checkpoint."""
    import torch

    import vnseg.mmseg_ext  # noqa: F401  (fixes and registrations before mmseg.apis.init_model)
    from mmseg.apis import init_model
    from rasterio.transform import from_origin
    tmp = tmp_path_factory.mktemp('resume')
    torch.manual_seed(0)
    model = init_model(CFG, None, device='cpu')
    ckpt = tmp / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    rng = np.random.RandomState(1)
    h, w = 1500, 200
    yy, xx = np.mgrid[:h, :w]
    rgb = np.stack([(xx * 1.2) % 255, (yy * 0.7) % 255, rng.randint(0, 255, (h, w))]).astype(np.uint8)
    rgb[:, 400:460, :] = 0                                    # a nodata band (nodata = 0)
    image = tmp / 'strip scene.tif'
    with rasterio.open(image, 'w', driver='GTiff', width=w, height=h, count=3, dtype='uint8', nodata=0,
                       crs='EPSG:32648', transform=from_origin(580000, 1160000, 0.1, 0.1)) as dst:
        dst.write(rgb)
    ref = tmp / 'ref'
    out = subprocess.run(_cmd(ckpt, image, ref), env=_env(), cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return ckpt, image, ref


def _outputs(folder):
    return sorted(p for p in Path(folder).iterdir() if p.is_file())


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_bytes(scene, tmp_path):
    ckpt, image, ref = scene
    stem = 'strip_scene'
    out_dir = tmp_path / 'out'
    parts = out_dir / f'.{stem}.parts'
    proc = subprocess.Popen(_cmd(ckpt, image, out_dir), env=_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if len(list(parts.glob('strip_*.tif'))) >= 4:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.kill()
        err = proc.communicate(timeout=60)[1]
    assert proc.returncode == -signal.SIGKILL, f'process was not killed mid-run: rc={proc.returncode} {err[-2000:]}'
    done = len(list(parts.glob('strip_*.tif')))
    manifest = json.loads((parts / 'manifest.json').read_text())
    assert 4 <= done < manifest['strips'] == 31
    assert not (out_dir / f'{stem}_classes.tif').exists()          # nothing under a final name

    res = subprocess.run(_cmd(ckpt, image, out_dir, '--resume'), env=_env(), cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f'{done} of 31 strips already done' in res.stderr
    assert not parts.exists()
    for name in (f'{stem}_classes.tif', f'{stem}_confidence.tif'):
        assert (out_dir / name).read_bytes() == (ref / name).read_bytes(), name
    with rasterio.open(out_dir / f'{stem}_classes.tif') as a, rasterio.open(ref / f'{stem}_classes.tif') as b:
        pa, pb = a.read(1), b.read(1)
    assert np.array_equal(pa, pb) and np.all(pa[400:460] == 255) and len(np.unique(pa[:400])) > 1
    areas = json.loads((out_dir / f'{stem}_areas.json').read_text())
    assert areas['classes'] == json.loads((ref / f'{stem}_areas.json').read_text())['classes']
    # the resumed run computed only the missing strips (plus their context)
    assert areas['tiles_run'] < json.loads((ref / f'{stem}_areas.json').read_text())['tiles_run']

    # --resume on a finished run rewrites nothing
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in _outputs(out_dir)}
    again = subprocess.run(_cmd(ckpt, image, out_dir, '--resume'), env=_env(), cwd=REPO, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in _outputs(out_dir)} == before


def test_resume_refuses_a_store_of_other_settings(tmp_path):
    from vnseg.apis.strip_store import ResumeMismatch, StripStore
    store = StripStore(tmp_path / '.x.parts', dict(tile=64, overlap=16, strips=3))
    assert store.start(resume=True) == 0
    z = np.zeros((2, 5), np.uint8)
    store.write(0, z, z)
    assert StripStore(tmp_path / '.x.parts', dict(tile=64, overlap=16, strips=3)).start(resume=True) == 1
    with pytest.raises(ResumeMismatch, match='overlap: 16 -> 8'):
        StripStore(tmp_path / '.x.parts', dict(tile=64, overlap=8, strips=3)).start(resume=True)
    # without --resume an old store is discarded
    assert StripStore(tmp_path / '.x.parts', dict(tile=64, overlap=8, strips=3)).start(resume=False) == 0
    assert not list((tmp_path / '.x.parts').glob('strip_*'))
