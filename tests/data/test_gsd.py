"""Ground resolution (GSD) from data to model: each scene's GSD in summary.json (hand-computed from
GeoTIFFs written with a known transform), the training GSD in the checkpoints' meta (a real 2-iteration
training), and in the ONNX export's Deepness metadata (``resolution``; ``seg_thresh`` 0 unless asked).
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

rasterio = pytest.importorskip('rasterio')

from conftest import REPO  # noqa: E402
from vnseg.data.gsd import dataset_gsd, grid_gsd_cm, raster_gsd_cm  # noqa: E402

A, E2 = 6378137.0, (1 / 298.257223563) * (2 - 1 / 298.257223563)   # WGS84
UTM_K0 = 0.9996   # UTM scale factor on the central meridian: ground = grid distance / 0.9996


def _geotiff(path, crs, transform, size=(64, 80), seed=0):
    """An RGB GeoTIFF of ``size`` (rows, cols) with random pixels."""
    rgb = np.random.default_rng(seed).integers(0, 255, (3,) + size, dtype=np.uint8)
    with rasterio.open(path, 'w', driver='GTiff', width=size[1], height=size[0], count=3, dtype='uint8',
                       crs=crs, transform=transform) as dst:
        dst.write(rgb)
    return path


def test_utm_gsd_is_the_grid_step_over_the_scale_factor(tmp_path):
    from affine import Affine
    # 5 cm pixels centred on UTM 48N's central meridian (105 E), about 20.8 N (northern Vietnam)
    t = Affine(0.05, 0, 500000 - 40 * 0.05, 0, -0.05, 2300000 + 32 * 0.05)
    path = _geotiff(tmp_path / 'utm.tif', 'EPSG:32648', t)
    assert raster_gsd_cm(path) == pytest.approx(5 / UTM_K0, abs=2e-4)      # 5.0020 cm
    t2 = Affine(0.10, 0, 500000 - 40 * 0.10, 0, -0.10, 2300000 + 32 * 0.10)
    assert raster_gsd_cm(_geotiff(tmp_path / 'utm10.tif', 'EPSG:32648', t2)) == pytest.approx(10 / UTM_K0, abs=4e-4)


def test_geographic_and_web_mercator_gsd_are_ground_centimetres(tmp_path):
    from affine import Affine
    # geographic: 1e-6 degree pixels centred on the equator; east-west side a * pi/180 * 1e-6 = 11.13195 cm,
    # north-south side a (1 - e2) * pi/180 * 1e-6 = 11.05743 cm (meridian radius at 0 deg): GSD = sqrt of both
    t = Affine(1e-6, 0, 32.0 - 40e-6, 0, -1e-6, 32e-6)
    ew, ns = A * math.pi / 180 * 1e-6 * 100, A * (1 - E2) * math.pi / 180 * 1e-6 * 100
    assert (round(ew, 5), round(ns, 5)) == (11.13195, 11.05743)
    assert grid_gsd_cm(rasterio.crs.CRS.from_epsg(4326), t, 80, 64) == pytest.approx(math.sqrt(ew * ns), rel=1e-5)
    # Web Mercator, 10 cm nominal pixels at 21 N: ground/grid is cos(lat) / sqrt(1 - e2 sin^2) east-west and
    # (1 - e2) cos(lat) / (1 - e2 sin^2)^1.5 north-south
    lat = math.radians(21.0)
    y = A * math.log(math.tan(math.pi / 4 + lat / 2))
    w = 1 - E2 * math.sin(lat) ** 2
    expect = 10 * math.cos(lat) * math.sqrt((1 / math.sqrt(w)) * ((1 - E2) / w ** 1.5))
    assert 9.2 < expect < 9.4
    t = Affine(0.1, 0, 11600000.0, 0, -0.1, y + 32 * 0.1)
    assert grid_gsd_cm(rasterio.crs.CRS.from_epsg(3857), t, 80, 64) == pytest.approx(expect, rel=2e-5)


def test_plain_images_have_no_gsd(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / 'plain.png')
    assert raster_gsd_cm(tmp_path / 'plain.png') is None
    assert grid_gsd_cm(None, None, 8, 8) is None


def test_dataset_gsd_median_and_spread_warning():
    rec = dataset_gsd({'a': 5.0, 'b': 6.0, 'c': 10.0, 'd': None, 'e': 99.0},
                      {'a': 'train', 'b': 'train', 'c': 'train', 'd': 'train', 'e': 'test'})
    assert rec['gsd_cm'] == 6.0 and rec['train_min_cm'] == 5.0 and rec['train_max_cm'] == 10.0
    assert rec['spread'] == 2.0 and 'WARNING' in rec['note'] and '1 train scenes have no known GSD' in rec['note']
    assert rec['scenes_known'] == 4 and rec['scenes_unknown'] == 1
    even = dataset_gsd({'a': 5.0, 'b': 5.5}, {})
    assert even['gsd_cm'] == 5.25 and 'WARNING' not in even['note']
    assert dataset_gsd({'a': None}, {})['gsd_cm'] is None


def _scene(folder, name, size=128, crs=None, transform=None, seed=0):
    """An image + ``_mask.png`` scene: a GeoTIFF when ``crs`` is given, else a plain PNG."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4: size // 2, :] = 1
    mask[3 * size // 4:, size // 2:] = 4
    Image.fromarray(mask).save(folder / f'{name}_mask.png')
    if crs is None:
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f'{name}.png')
    else:
        _geotiff(folder / f'{name}.tif', crs, transform, (size, size), seed)


def _utm(step):
    from affine import Affine
    return Affine(step, 0, 500000 - 64 * step, 0, -step, 2300000 + 64 * step)


def test_prepare_records_scene_and_training_gsd(tmp_path, capsys):
    from vnseg.commands.prepare import main as prepare
    src = tmp_path / 'src'
    src.mkdir()
    for i, step in enumerate((0.05, 0.06, 0.10)):
        _scene(src, f'geo{i}', crs='EPSG:32648', transform=_utm(step), seed=i)
    _scene(src, 'plain', seed=9)
    out = tmp_path / 'data'
    assert prepare([str(src), '--out-dir', str(out), '--patch-size', '64', '--split-mode', 'patch',
                    '--gsd-cm', '7', '--no-progress', '--no-chart']) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / 'summary.json').read_text())
    scenes = {s['id']: s for s in summary['scenes']}
    assert scenes['geo0']['gsd_cm'] == pytest.approx(5 / UTM_K0, abs=2e-4)
    assert scenes['geo1']['gsd_cm'] == pytest.approx(6 / UTM_K0, abs=2e-4)
    assert scenes['geo2']['gsd_cm'] == pytest.approx(10 / UTM_K0, abs=4e-4)
    assert scenes['geo0']['gsd_source'] == 'georeferencing'
    assert (scenes['plain']['gsd_cm'], scenes['plain']['gsd_source']) == (7.0, '--gsd-cm')
    gsd = summary['gsd']
    # patch split: every scene is a train scene; median of 5.002, 6.0024, 7, 10.004 = (6.0024 + 7) / 2
    assert gsd['gsd_cm'] == pytest.approx((6 / UTM_K0 + 7) / 2, abs=2e-4)
    assert gsd['spread'] == pytest.approx(2.0, abs=1e-3) and 'WARNING: train scenes differ a lot' in gsd['note']
    assert 'ground resolution: training GSD 6.50 cm/px' in printed
    assert summary['params']['gsd_cm'] == 7.0


def test_prepare_without_gsd_and_bad_gsd_option(tmp_path):
    from vnseg.commands.cli import run_tool
    from vnseg.commands.prepare import main as prepare
    src = tmp_path / 'src'
    src.mkdir()
    _scene(src, 'plain')
    out = tmp_path / 'data'
    assert prepare([str(src), '--out-dir', str(out), '--patch-size', '64', '--no-progress', '--no-chart']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['scenes'][0]['gsd_cm'] is None and summary['gsd']['gsd_cm'] is None
    assert 'no train scene has a known ground resolution' in summary['gsd']['note']
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'prepare_dataset.py'), str(src), '--out-dir',
                           str(tmp_path / 'bad'), '--gsd-cm', '-3', '--no-progress'],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == \
        'error: --gsd-cm: must be a number > 0 (cm per pixel), got -3.0', proc.stderr
    assert not (tmp_path / 'bad').exists()
    assert run_tool(prepare, [str(src), '--out-dir', str(tmp_path / 'bad2'), '--gsd-cm', 'nan']) == 1


# -- training -> checkpoint meta -> ONNX metadata and model card ------------------------------------
def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
                VNSEG_NO_PRETRAINED='1')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A 2-iteration training of the tiny demo SegFormer on tiny data whose summary.json says 6.25 cm/px."""
    from tiny_data import dataset_cfg_options, make_tiny_dataset
    tmp = tmp_path_factory.mktemp('gsd_train')
    root = make_tiny_dataset(tmp / 'data')
    (root / 'summary.json').write_text(json.dumps({'gsd': dataset_gsd({'s0': 6.25, 's1': 6.25}, {})}))
    work = tmp / 'work'
    cmd = [sys.executable, str(REPO / 'tools' / 'train.py'), str(REPO / 'configs' / 'segformer_tiny_demo_vn.py'),
           '--work-dir', str(work), '--cfg-options', *dataset_cfg_options(root), 'train_cfg.max_iters=2',
           'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1']
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work / 'iter_2.pth', proc


@pytest.mark.slow
def test_training_records_the_gsd_in_checkpoint_meta(trained):
    from vnseg.apis.model_loading import read_checkpoint
    ckpt, proc = trained
    meta = read_checkpoint(ckpt)['meta']
    assert meta['gsd_cm'] == 6.25 and meta['iter'] == 2
    assert 'training GSD 6.25 cm/px' in proc.stdout + proc.stderr


@pytest.mark.slow
def test_tools_hide_third_party_deprecation_warnings(trained, tmp_path):
    """The training above ran tools/train.py: mmseg's build_loss / avg_non_ignore notices are not shown.
    The same model built in this (test) process still warns; so does the tool with VNSEG_SHOW_WARNINGS=1."""
    _, proc = trained
    for text in ('build_loss', 'avg_non_ignore', 'DeprecationWarning', 'UserWarning'):
        assert text not in proc.stderr, proc.stderr[-3000:]
    from vnseg.apis.model_loading import inference_config, load_model
    with pytest.warns(UserWarning, match='build_loss'):
        load_model(inference_config(str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')), None, device='cpu',
                   random_weights=True)
    cmd = [sys.executable, '-m', 'vnseg', 'params', str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')]
    quiet = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=300)
    shown = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300,
                           env=dict(_env(), VNSEG_SHOW_WARNINGS='1'))
    assert quiet.returncode == 0 and shown.returncode == 0, quiet.stderr[-2000:] + shown.stderr[-2000:]
    assert 'build_loss' in shown.stderr and 'build_loss' not in quiet.stderr


def test_export_writes_the_checkpoint_gsd_for_deepness(trained, tmp_path, capsys, one_torch_thread):
    from tiny_data import make_tiny_dataset

    from vnseg.commands.export import main as export
    from vnseg.inference.tile_models import read_onnx_metadata
    ckpt, _ = trained
    img = sorted((make_tiny_dataset(tmp_path / 'parity') / 'img_dir' / 'test').glob('*.png'))[0]
    cfg = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
    out = tmp_path / 'm.onnx'
    assert export([cfg, str(ckpt), '--out', str(out), '--tile', '64', '--parity-image', str(img)]) == 0
    assert "Deepness: resolution 6.25 cm/px (from checkpoint meta['gsd_cm']), seg_thresh 0 (none)" \
        in capsys.readouterr().out
    meta = read_onnx_metadata(out)
    assert meta['resolution'] == 6.25 and meta['seg_thresh'] == 0.0
    assert meta['vnseg']['ground_resolution_cm'] == 6.25
    card = json.loads((tmp_path / 'm.model_card.json').read_text())
    assert card['ground_resolution_cm'] == 6.25
    assert '- ground resolution: 6.25 cm/px' in (tmp_path / 'm.model_card.md').read_text()
    # --resolution-cm overrides, --threshold asks for a threshold
    out2 = tmp_path / 'm2.onnx'
    assert export([cfg, str(ckpt), '--out', str(out2), '--tile', '64', '--parity-image', str(img),
                   '--resolution-cm', '3.5', '--threshold', '0.3']) == 0
    meta2 = read_onnx_metadata(out2)
    assert meta2['resolution'] == 3.5 and meta2['seg_thresh'] == 0.3


def test_deepness_threshold_rules():
    from vnseg.deploy.onnx_export import deepness_metadata
    assert deepness_metadata(['a', 'b', 'c'], 64)['seg_thresh'] == 0.0
    assert 'resolution' not in deepness_metadata(['a', 'b'], 64)
    assert deepness_metadata(['road'], 64, binary=True)['seg_thresh'] == 0.5
    assert deepness_metadata(['a', 'b'], 64, resolution_cm=7.46, seg_thresh=0.25)['seg_thresh'] == 0.25
    with pytest.raises(ValueError):
        deepness_metadata(['a', 'b'], 64, seg_thresh=1.0)


def test_gsd_hook_reads_the_train_summaries(tmp_path):
    """Wrapped datasets are unwrapped; summaries that agree within 1 % give their median, others none."""
    from mmengine import Config

    from vnseg.engine.hooks import GsdMetaHook
    for name, gsd in (('a', 5.0), ('b', 5.02), ('c', 8.0)):
        root = tmp_path / name
        (root / 'img_dir').mkdir(parents=True)
        (root / 'summary.json').write_text(json.dumps({'gsd': dataset_gsd({'s': gsd}, {})}))

    def cfg(*names):
        ds = [dict(type='VNDroneDataset', data_root=str(tmp_path / n)) for n in names]
        return Config(dict(train_dataloader=dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
            type='ConcatDataset', datasets=ds)))))
    assert GsdMetaHook().resolve(cfg('a')) == 5.0
    assert GsdMetaHook().resolve(cfg('a', 'b')) in (5.0, 5.02)
    hook = GsdMetaHook()
    assert hook.resolve(cfg('a', 'c')) is None and 'disagree' in hook.source
    assert GsdMetaHook(gsd_cm=3.0).resolve(cfg('c')) == 3.0
    assert GsdMetaHook().resolve(Config(dict(train_dataloader=dict(dataset=dict(data_root=str(tmp_path)))))) is None
    with pytest.raises(ValueError):
        GsdMetaHook(gsd_cm=0)
