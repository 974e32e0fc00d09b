"""Whole-scene inference on ONNX Runtime: the same outputs as the PyTorch path, in a process where torch,
torchvision, mmengine, mmcv, mmseg and mmpretrain cannot be imported (the light deployment install)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tiny_onnx import export_tiny_onnx, kampala_crop

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')
rasterio = pytest.importorskip('rasterio')

CFG = 'configs/segformer_tiny_demo_vn.py'
TILE, OVERLAP = 128, 32

# Run a script with the OpenMMLab stack and torch made unimportable (as if never installed).
NO_TORCH = textwrap.dedent('''
    import runpy, sys
    BLOCKED = {'torch', 'torchvision', 'mmengine', 'mmcv', 'mmseg', 'mmpretrain'}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in BLOCKED:
                raise ImportError(f'{name} is not installed (light deployment install)')
            return None

    sys.meta_path.insert(0, Blocker())
    script, sys.argv = sys.argv[1], sys.argv[1:]
    try:
        runpy.run_path(script, run_name='__main__')
        code = 0
    except SystemExit as exc:
        code = exc.code
    loaded = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
    print('HEAVY MODULES LOADED:', loaded)
    sys.exit(code)
''')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """The tiny demo SegFormer (seeded random weights) as checkpoint + ONNX, and a real 560 x 400 crop of
    the Kampala mosaic with a transparent corner."""
    tmp = tmp_path_factory.mktemp('onnx')
    crop = kampala_crop(tmp / 'kampala crop.tif')
    ckpt, onnx_path = export_tiny_onnx(tmp, crop, tile=TILE)
    return ckpt, onnx_path, crop


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.crs, ds.transform


def test_onnx_whole_scene_matches_pytorch(exported, repo_root, tmp_path, one_torch_thread):
    from vnseg.apis import OutputOptions, WindowOptions, infer_large_image
    ckpt, onnx_path, crop = exported
    kw = dict(windows=WindowOptions(tile=TILE, overlap=OVERLAP, batch_size=4), progress=False,
              outputs=OutputOptions(preview=False, polygons=False))
    pt = infer_large_image(str(repo_root / CFG), str(ckpt), crop, tmp_path / 'pt', device='cpu', **kw)
    ox = infer_large_image(onnx_path, None, crop, tmp_path / 'onnx', **kw)
    cp, crs, tr = _read(pt.class_map)
    co, crs_o, tr_o = _read(ox.class_map)
    assert crs == crs_o and tr == tr_o
    valid = cp != 255
    assert np.array_equal(valid, co != 255) and not valid[:90, :130].any() and valid.mean() > 0.9
    agreement = (cp == co)[valid].mean()
    assert agreement >= 0.995, agreement
    assert len(np.unique(cp[valid])) > 1
    fp, fo = _read(pt.confidence)[0], _read(ox.confidence)[0]
    assert np.array_equal(fp == 255, ~valid)
    diff = np.abs(fp.astype(int) - fo.astype(int))[valid]
    assert diff.max() <= 2 and (diff == 0).mean() > 0.95
    assert 20 <= fp[valid].min() and fp[valid].max() <= 100
    assert ox.tiles_run == pt.tiles_run and ox.tiles_total == pt.tiles_total
    print(f'ONNX vs PyTorch whole scene: {100 * agreement:.3f} % of pixels agree')


def test_onnx_path_refuses_a_different_tile(exported, tmp_path):
    from vnseg.apis import WindowOptions, infer_large_image
    _, onnx_path, crop = exported
    with pytest.raises(ValueError, match='exported for 128 px tiles'):
        infer_large_image(onnx_path, None, crop, tmp_path / 'o', WindowOptions(tile=256), progress=False)
    assert not (tmp_path / 'o').exists()


def test_onnx_cli_runs_without_torch_or_openmmlab(exported, repo_root, tmp_path):
    from vnseg.apis import OutputOptions, WindowOptions, infer_large_image
    _, onnx_path, crop = exported
    out_dir = tmp_path / 'light'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(repo_root) + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run([sys.executable, '-c', NO_TORCH, str(repo_root / 'tools' / 'infer_large_image.py'),
                           '--onnx', str(onnx_path), str(crop), '--out-dir', str(out_dir), '--overlap', str(OVERLAP),
                           '--no-progress', '--min-area', '0'],
                          capture_output=True, text=True, env=env, cwd=str(repo_root), timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'HEAVY MODULES LOADED: []' in proc.stdout
    stem = 'kampala_crop'
    for suffix in ('_classes.tif', '_confidence.tif', '_preview.png', '_areas.csv', '_building.geojson'):
        assert (out_dir / f'{stem}{suffix}').is_file(), suffix
    # the same as the ONNX path run in this (full) environment
    ref = infer_large_image(onnx_path, None, crop, tmp_path / 'full', WindowOptions(tile=TILE, overlap=OVERLAP),
                            outputs=OutputOptions(preview=False, polygons=False), progress=False)
    assert np.array_equal(_read(out_dir / f'{stem}_classes.tif')[0], _read(ref.class_map)[0])
    assert np.array_equal(_read(out_dir / f'{stem}_confidence.tif')[0], _read(ref.confidence)[0])
    doc = json.loads((out_dir / f'{stem}_areas.json').read_text())
    assert doc['tile'] == TILE and doc['area_unit'] == 'm2'
