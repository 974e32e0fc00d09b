"""OpenEarthMapDataset, the rasterio loaders and the OEM -> vnseg label remapping.

Fixtures (``tests/dataset_fixtures.py``) are real GeoTIFFs written with rasterio in OEM's layout
(``<region>/images|labels/<region>_<n>.tif``, split files listing ``<name>.tif``), plus a tiny
VN-layout PNG dataset. Expectations are written out by hand.
"""
import os.path as osp

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')

import vnseg.mmseg_ext  # noqa: E402,F401  (vnseg's fixes and registrations)
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmseg.registry import DATASETS, TRANSFORMS  # noqa: E402

from conftest import REPO  # noqa: E402
from dataset_fixtures import (OEM_H, OEM_W, oem_image, oem_label, write_geotiff, write_oem_fixture,  # noqa: E402
                              write_vn_fixture)
from vnseg.core.classes import CLASSES, PALETTE  # noqa: E402

# OEM id -> vnseg id, written out by hand from OpenEarthMap's classes: 0 unknown -> 255, 1 bareland, 2 rangeland,
# 3 developed space, 7 agriculture -> background (merge) / 255 (safe), 4 road -> 1, 5 tree -> 3,
# 6 water -> 2, 8 building -> 4.
MERGE = {0: 255, 1: 0, 2: 0, 3: 0, 4: 1, 5: 3, 6: 2, 7: 0, 8: 4}
SAFE = {0: 255, 1: 255, 2: 255, 3: 255, 4: 1, 5: 3, 6: 2, 7: 255, 8: 4}


@pytest.fixture(scope='module')
def oem_root(tmp_path_factory):
    init_default_scope('mmseg')
    return write_oem_fixture(tmp_path_factory.mktemp('oem'))


def build_oem(root, **kwargs):
    cfg = dict(type='OpenEarthMapDataset', data_root=root, ann_file='train.txt')
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def expected(label, mapping):
    out = np.empty_like(label)
    for old, new in mapping.items():
        out[label == old] = new
    return out


def test_oem_layout_and_missing_tiles(oem_root):
    ds = build_oem(oem_root)
    assert len(ds) == 2  # napa_7.tif is listed but absent
    assert [osp.relpath(ds[i]['img_path'], oem_root) for i in range(2)] == [
        osp.join('aachen', 'images', 'aachen_1.tif'),
        osp.join('santa_cruz', 'images', 'santa_cruz_3.tif')]
    assert osp.relpath(ds[1]['seg_map_path'], oem_root) == osp.join(
        'santa_cruz', 'labels', 'santa_cruz_3.tif')
    with pytest.raises(FileNotFoundError, match='napa_7'):
        build_oem(oem_root, skip_missing=False)


def test_oem_split_names_without_suffix(oem_root, tmp_path):
    split = tmp_path / 'names.txt'
    split.write_text('aachen_2\n\n')
    ds = build_oem(oem_root, ann_file=str(split))
    assert len(ds) == 1 and ds[0]['img_path'].endswith(osp.join('aachen', 'images', 'aachen_2.tif'))


def test_oem_metainfo_is_vnseg_classes(oem_root):
    ds = build_oem(oem_root)
    assert tuple(ds.metainfo['classes']) == CLASSES
    assert [list(c) for c in ds.metainfo['palette']] == PALETTE
    assert ds.metainfo['label_map'] == MERGE
    assert build_oem(oem_root, label_mode='safe').metainfo['label_map'] == SAFE
    with pytest.raises(ValueError, match='label_mode'):
        build_oem(oem_root, label_mode='drop')


@pytest.mark.parametrize('mode,mapping', [('merge', MERGE), ('safe', SAFE)])
def test_oem_remap_with_rasterio_loaders(oem_root, mode, mapping):
    pipeline = [dict(type='LoadImageFromRasterio'), dict(type='LoadAnnotationsFromRasterio')]
    ds = build_oem(oem_root, label_mode=mode, pipeline=pipeline)
    for i, seed in enumerate((0, 2)):  # aachen_1, santa_cruz_3
        out = ds[i]
        gt = out['gt_seg_map']
        assert gt.dtype == np.uint8 and gt.shape == (OEM_H, OEM_W)
        np.testing.assert_array_equal(gt, expected(oem_label(seed), mapping))
        # every OEM id occurs, so every vnseg class and ignore occur
        assert set(np.unique(gt)) == set(mapping.values())


def test_oem_remap_same_with_mmseg_load_annotations(oem_root):
    """The remap travels as the dataset's label_map: mmseg's stock loader applies it too."""
    pipeline = [dict(type='LoadImageFromRasterio'), dict(type='LoadAnnotations')]
    out = build_oem(oem_root, label_mode='merge', pipeline=pipeline)[0]
    np.testing.assert_array_equal(out['gt_seg_map'], expected(oem_label(0), MERGE))


def test_rasterio_image_channel_order(oem_root):
    path = osp.join(oem_root, 'aachen', 'images', 'aachen_1.tif')
    rgb = oem_image(0).transpose(1, 2, 0)  # (H, W, RGB)
    out = TRANSFORMS.build(dict(type='LoadImageFromRasterio'))(dict(img_path=path))
    assert out['img'].dtype == np.uint8 and out['img'].shape == (OEM_H, OEM_W, 3)
    assert out['img_shape'] == out['ori_shape'] == (OEM_H, OEM_W)
    np.testing.assert_array_equal(out['img'], rgb[..., ::-1])  # BGR, as cv2 loads PNGs
    out = TRANSFORMS.build(dict(type='LoadImageFromRasterio', channel_order='rgb',
                                to_float32=True))(dict(img_path=path))
    assert out['img'].dtype == np.float32
    np.testing.assert_array_equal(out['img'], rgb)


def test_rasterio_image_extra_band_dropped_and_missing_band(tmp_path):
    path = str(tmp_path / 'rgbn.tif')
    bands = np.stack([np.full((8, 6), v, np.uint8) for v in (1, 2, 3, 200)])
    write_geotiff(path, bands)
    img = TRANSFORMS.build(dict(type='LoadImageFromRasterio'))(dict(img_path=path))['img']
    assert img.shape == (8, 6, 3) and img[0, 0].tolist() == [3, 2, 1]
    with pytest.raises(ValueError, match='band'):
        TRANSFORMS.build(dict(type='LoadImageFromRasterio', bands=(1, 2, 5)))(dict(img_path=path))


def test_label_lut_matches_mmseg_semantics():
    from vnseg.datasets.transforms.load_rasterio_annotations import label_lut
    lut = label_lut(None, reduce_zero_label=True)
    assert lut[[0, 1, 2, 254, 255]].tolist() == [255, 0, 1, 253, 255]
    # simultaneous, not chained: 1 -> 2 and 2 -> 3 must not send 1 to 3
    lut = label_lut({1: 2, 2: 3})
    assert lut[[0, 1, 2, 3]].tolist() == [0, 2, 3, 3]


def test_oem_config_pipeline_end_to_end(oem_root):
    """The dataset base config as written, pointed at the fixture: packed inputs and remapped GT."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'openearthmap.py'))
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.data_root = oem_root
    ds = DATASETS.build(ds_cfg)
    assert len(ds) == 1
    packed = ds[0]
    assert tuple(packed['inputs'].shape) == (3, OEM_H, OEM_W)
    np.testing.assert_array_equal(packed['inputs'][0].numpy(), oem_image(1)[2])  # B first
    gt = packed['data_samples'].gt_sem_seg.data.numpy()[0]
    np.testing.assert_array_equal(gt, expected(oem_label(1), MERGE))
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.data_root = oem_root
    train = DATASETS.build(train_cfg)
    assert len(train) == 2 and train.label_mode == 'merge'
    gt = train[0]['data_samples'].gt_sem_seg.data.numpy()
    assert set(np.unique(gt)) <= {0, 1, 2, 3, 4, 255}


def test_vn_fixture_loads_with_vn_drone_base(tmp_path):
    init_default_scope('mmseg')
    root = write_vn_fixture(tmp_path / 'vn', size=16, per_split=1)
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'vn_drone.py'))
    cfg.val_dataloader.dataset.data_root = root
    ds = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(ds) == 1
    assert tuple(ds[0]['inputs'].shape) == (3, 16, 16)
