"""Whole-scene inference on real georeferenced images (../shared/data) and on plain images.

The model is the tiny demo SegFormer with random (seeded) weights: predictions are meaningless, but
georeferencing, nodata handling, polygons, areas and the equality with mmseg's ``slide`` mode are not.
"""
import csv
import importlib.util
import json
import math

import numpy as np
import pytest
import torch

from conftest import require_shared_data
from vnseg.apis import OutputOptions, PolygonOptions, WindowOptions
from vnseg.core.classes import CLASSES, PALETTE

CFG = 'configs/segformer_tiny_demo_vn.py'
rasterio = pytest.importorskip('rasterio')
shapely = pytest.importorskip('shapely')


@pytest.fixture(scope='module')
def tiny_model(repo_root):
    import vnseg.apis  # noqa: F401
    from mmseg.apis import init_model
    torch.manual_seed(0)
    return init_model(str(repo_root / CFG), None, device='cpu')


def _run(model, src, out_dir, *options, **kw):
    from vnseg.apis import infer_large_image
    kw.setdefault('progress', False)
    return infer_large_image(model, None, src, out_dir, *options, **kw)


def _windows_with_valid_pixels(valid, tile, overlap):
    """Independent count of the windows that contain a valid pixel."""
    from vnseg.inference.windows import tile_starts
    h, w = valid.shape
    th, tw = min(tile, h), min(tile, w)
    ys = tile_starts(h, th, min(tile - overlap, th))
    xs = tile_starts(w, tw, min(tile - overlap, tw))
    return sum(bool(valid[y:y + th, x:x + tw].any()) for y in ys for x in xs), len(ys) * len(xs)


@pytest.mark.parametrize('name, epsg, pixel, tile, skipped', [
    ('pix4d_bali_drone_ortho_0.35m_rgba.tif', 32750, 0.353, 128, 0),   # alpha band = nodata
    ('rasterio_RGB.byte_landsat7_300m.tif', 32618, 300.0, 128, 3),      # nodata = 0, empty corners
])
def test_geotiff_georeferencing_nodata_layout_and_areas(tiny_model, tmp_path, name, epsg, pixel, tile,
                                                         skipped):
    src_path = require_shared_data('geotiff', name)
    res = _run(tiny_model, src_path, tmp_path, WindowOptions(tile=tile, overlap=tile // 4, batch_size=4))
    with rasterio.open(src_path) as src, rasterio.open(res.class_map) as out:
        assert out.crs == src.crs and out.crs.to_epsg() == epsg
        assert out.transform.almost_equals(src.transform, precision=1e-9)
        assert (out.width, out.height) == (src.width, src.height)
        assert abs(out.res[0] - pixel) / pixel < 0.01
        valid = src.dataset_mask() > 0
        pred = out.read(1)
        # nodata
        assert 0.02 < (~valid).mean() < 0.9, 'fixture must contain nodata'
        assert np.array_equal(pred == 255, ~valid)
        assert pred[valid].max() < len(CLASSES)
        assert out.nodata == 255
        # no inference spent on empty windows
        assert (res.tiles_run, res.tiles_total) == _windows_with_valid_pixels(valid, tile, tile // 4)
        assert res.tiles_total - res.tiles_run == skipped
        # colour table, class names, cloud-optimised layout
        cmap = out.colormap(1)
        for i, rgb in enumerate(PALETTE):
            assert cmap[i] == tuple(rgb) + (255,)
        assert cmap[255][3] == 0
        assert json.loads(out.tags()['CLASSES']) == list(CLASSES)
        assert out.profile['tiled'] and out.block_shapes[0] == (512, 512)
        assert out.compression.value.lower() == 'deflate'
        assert out.overviews(1) == [2]
        assert out.tags(ns='IMAGE_STRUCTURE').get('LAYOUT') == 'COG'
    # confidence: same grid and layout, percent where predicted, 255 exactly where nothing was
    with rasterio.open(res.confidence) as conf:
        assert conf.crs == out.crs and conf.transform == out.transform and conf.nodata == 255
        assert conf.tags(ns='IMAGE_STRUCTURE').get('LAYOUT') == 'COG' and conf.tags()['UNIT'] == 'percent'
        c = conf.read(1)
    assert np.array_equal(c == 255, ~valid)
    assert 100 // len(CLASSES) <= c[valid].min() and c[valid].max() <= 100
    # area table: pixels add up; UTM ground area = planar area x scale factor^2 (|k - 1| < 0.1 %)
    doc = json.loads(res.areas_json.read_text())
    assert doc['area_unit'] == 'm2' and doc['area_method'] == 'ellipsoidal'
    assert doc['valid_pixels'] == valid.sum() and doc['nodata_pixels'] == (~valid).sum()
    counts = np.bincount(pred[valid], minlength=len(CLASSES))
    planar = abs(out.transform.a * out.transform.e)
    for row in doc['classes']:
        assert row['pixels'] == counts[row['class_id']]
        if row['pixels']:
            assert row['area_m2'] == pytest.approx(row['pixels'] * planar, rel=2e-3)
            assert row['area_ha'] == pytest.approx(row['area_m2'] / 1e4, abs=1e-8)
    assert sum(r['share_valid_pct'] for r in doc['classes']) == pytest.approx(100, abs=1e-3)
    with open(res.areas_csv) as f:
        rows = list(csv.DictReader(f))
    assert [int(r['pixels']) for r in rows] == counts.tolist()
    # preview: RGBA, transparent exactly where nothing was predicted (full size: image < 2048 px)
    from PIL import Image
    prev = np.asarray(Image.open(res.preview))
    assert prev.shape == (out.height, out.width, 4)
    assert np.array_equal(prev[..., 3] == 0, ~valid)


def _load_cli(repo_root):
    mod = importlib.import_module('vnseg.commands.map')
    return mod


def _polygon_coords(geom):
    for poly in ([geom] if geom.geom_type == 'Polygon' else geom.geoms):
        yield np.asarray(poly.exterior.coords)
        for ring in poly.interiors:
            yield np.asarray(ring.coords)


@pytest.mark.slow
def test_kampala_one_command_class_map_polygons_areas(tiny_model, repo_root, tmp_path, capsys):
    """The newcomer's command on the real Kampala mosaic (EPSG:3857, 7.5 cm, 3072 x 2048)."""
    src_path = require_shared_data('kampala_drone', 'kampala_oam_z21_mosaic.tif')
    ckpt = tmp_path / 'tiny.pth'
    torch.save({'state_dict': tiny_model.state_dict(), 'meta': {}}, ckpt)
    out_dir = tmp_path / 'out'
    cli = _load_cli(repo_root)
    # 128-px windows without overlap: the cheapest pass of the tiny model over all 6.3 Mpx on CPU
    rc = cli.main([str(repo_root / CFG), str(ckpt), str(src_path), '--out-dir', str(out_dir),
                   '--tile', '128', '--overlap', '0', '--batch-size', '8', '--min-area', '0', '--no-progress',
                   '--device', 'cpu'])
    assert rc == 0
    printed = capsys.readouterr().out
    assert 'building' in printed and 'EPSG:3857' in printed
    stem = 'kampala_oam_z21_mosaic'
    with rasterio.open(src_path) as src, rasterio.open(out_dir / f'{stem}_classes.tif') as out:
        assert out.crs == src.crs and out.crs.to_epsg() == 3857
        assert out.transform.almost_equals(src.transform, precision=1e-9)
        assert (out.width, out.height) == (3072, 2048)
        bounds, t = out.bounds, out.transform
        pred = out.read(1)
    planar = abs(t.a * t.e)
    doc = json.loads((out_dir / f'{stem}_areas.json').read_text())
    counts = np.bincount(pred.ravel(), minlength=256)
    assert doc['valid_pixels'] == 3072 * 2048 and counts[255] == 0
    # Web Mercator: ground area = planar area x N M cos^2(lat) / a^2 (WGS84), about -0.67 % here
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    lat = 2 * math.atan(math.exp((bounds.top + bounds.bottom) / 2 / a)) - math.pi / 2  # spherical inverse
    w = 1 - e2 * math.sin(lat) ** 2
    ratio = (a / math.sqrt(w)) * (a * (1 - e2) / w ** 1.5) * math.cos(lat) ** 2 / a ** 2
    assert 0.992 < ratio < 0.994
    for row in doc['classes']:
        assert row['pixels'] == counts[row['class_id']]
        if row['pixels']:
            assert row['area_m2'] == pytest.approx(row['pixels'] * planar * ratio, rel=5e-4)
    # polygons: one styled GeoPackage layer per non-background class (EPSG:3857, exact areas) and the
    # same polygons as RFC 7946 GeoJSON (WGS84 lon/lat inside the image's WGS84 bounds)
    import pyogrio
    from rasterio.warp import transform_bounds
    west, south, east, north = transform_bounds('EPSG:3857', 'EPSG:4326', *bounds, densify_pts=21)
    gpkg = out_dir / f'{stem}.gpkg'
    assert sorted(pyogrio.list_layers(gpkg)[:, 0]) == sorted(list(CLASSES[1:]) + ['layer_styles'])
    table = {r['class']: r for r in doc['classes']}
    written = 0
    for cid, name in enumerate(CLASSES):
        path = out_dir / f'{stem}_{name}.geojson'
        if cid == 0:
            assert not path.exists()
            continue
        assert pyogrio.read_info(gpkg, layer=name)['crs'] == 'EPSG:3857'
        meta, _, wkb, values = pyogrio.raw.read(str(gpkg), layer=name)
        props = dict(zip(meta['fields'], values))
        geoms = shapely.from_wkb(wkb)
        fc = json.loads(path.read_text())
        assert 'crs' not in fc and len(fc['features']) == len(geoms)
        for ft in fc['features']:
            assert ft['properties']['class'] == name and ft['properties']['class_id'] == cid
        if counts[cid] == 0:
            assert not len(geoms)
            continue
        written += len(geoms)
        assert shapely.area(geoms).sum() == pytest.approx(counts[cid] * planar, rel=0.01)  # simplified outlines
        # GeoPackage areas = the area table within 1 % (here exactly: --min-area 0)
        assert props['area_m2'].sum() == pytest.approx(table[name]['area_m2'], rel=0.01)
        pts = np.concatenate([c for g in geoms for c in _polygon_coords(g)])
        eps = 1e-6
        assert pts[:, 0].min() >= bounds.left - eps and pts[:, 0].max() <= bounds.right + eps
        assert pts[:, 1].min() >= bounds.bottom - eps and pts[:, 1].max() <= bounds.top + eps
        assert all(g.is_valid for g in geoms)
        ll = np.concatenate([c for ft in fc['features']
                             for c in _polygon_coords(shapely.geometry.shape(ft['geometry']))])
        assert west - 1e-9 <= ll[:, 0].min() and ll[:, 0].max() <= east + 1e-9
        assert south - 1e-9 <= ll[:, 1].min() and ll[:, 1].max() <= north + 1e-9
    assert written > 0
    assert (out_dir / f'{stem}_preview.png').exists()
    assert (out_dir / f'{stem}_classes.qml').exists() and (out_dir / f'{stem}_report.html').exists()


def test_mean_blend_equals_mmseg_slide(tiny_model, tmp_path):
    """Plain averaging reproduces stock mmseg ``slide`` inference (same model, crop and stride)."""
    from mmengine.config import ConfigDict
    from mmseg.apis import inference_model
    from rasterio.windows import Window
    src_path = require_shared_data('kampala_drone', 'kampala_oam_z21_mosaic.tif')
    crop = tmp_path / 'crop.tif'
    with rasterio.open(src_path) as src:
        win = Window(1100, 700, 560, 400)
        rgb = src.read(window=win)
        prof = dict(src.profile, width=560, height=400, transform=src.window_transform(win))
    with rasterio.open(crop, 'w', **prof) as dst:
        dst.write(rgb)
    res = _run(tiny_model, crop, tmp_path / 'ours', WindowOptions(tile=128, overlap=32, batch_size=4, blend='mean'),
               outputs=OutputOptions(polygons=False, preview=False))
    with rasterio.open(res.class_map) as out:
        ours = out.read(1)
    saved = tiny_model.test_cfg
    tiny_model.test_cfg = ConfigDict(mode='slide', crop_size=(128, 128), stride=(96, 96))
    try:
        bgr = np.ascontiguousarray(rgb.transpose(1, 2, 0)[..., ::-1])
        stock = inference_model(tiny_model, bgr).pred_sem_seg.data[0].numpy()
    finally:
        tiny_model.test_cfg = saved
    assert res.tiles_total == 4 * 6   # starts 0, 96, 192, 272 x 0, 96, ..., 384, 432
    assert stock.shape == ours.shape == (400, 560)
    assert len(np.unique(stock)) > 1
    assert (stock == ours).mean() >= 0.999
    # the smooth window changes the merge, so it must differ somewhere in the overlaps
    res_g = _run(tiny_model, crop, tmp_path / 'gauss', WindowOptions(tile=128, overlap=32, blend='gaussian'),
                 outputs=OutputOptions(polygons=False, preview=False))
    with rasterio.open(res_g.class_map) as out:
        gauss = out.read(1)
    assert 0.5 < (gauss == ours).mean() < 1.0


def test_default_batch_size_is_one_window_for_pytorch_on_cpu(tiny_model, tmp_path):
    """Without ``batch_size``, PyTorch on a CPU runs one window per forward (ONNX Runtime and GPUs 4), and the
    class map is the same as with batches of 4."""
    from vnseg.apis.scene import open_scene
    from vnseg.geo.raster_io import SourceImage
    from vnseg.inference.tile_models import TorchTileModel, default_batch_size
    src = tmp_path / 'scene.png'
    rgb = np.random.RandomState(3).randint(0, 255, (200, 260, 3), np.uint8)
    from PIL import Image
    Image.fromarray(rgb).save(src)
    tile_model = TorchTileModel(tiny_model)
    assert default_batch_size(tile_model) == 1

    class OtherBackend:  # e.g. ONNX Runtime: batches of 4
        num_classes, device = 5, None
    assert default_batch_size(OtherBackend()) == 4
    with SourceImage(src) as source:
        assert open_scene(tile_model, source, tmp_path / 'x', WindowOptions(tile=128, overlap=32)).seg.batch_size == 1
    maps = []
    for name, kw in (('default', {}), ('batch4', dict(batch_size=4))):
        res = _run(tiny_model, src, tmp_path / name, WindowOptions(tile=128, overlap=32, **kw),
                   outputs=OutputOptions(polygons=False, preview=False))
        with rasterio.open(res.class_map) as out:
            maps.append(out.read(1))
    assert (maps[0] == maps[1]).mean() >= 0.999


def test_plain_png_with_alpha_gives_pixel_units(tiny_model, tmp_path):
    from PIL import Image
    rng = np.random.RandomState(3)
    h, w = 200, 300
    rgba = np.dstack([rng.randint(0, 255, (h, w, 3), np.uint8), np.full((h, w), 255, np.uint8)])
    rgba[:, :60, 3] = 0                                  # transparent left band
    png = tmp_path / 'plain photo.png'
    Image.fromarray(rgba, 'RGBA').save(png)
    res = _run(tiny_model, png, tmp_path / 'o', WindowOptions(tile=128, overlap=32, tta_flip=True),
               PolygonOptions(min_area=0, simplify=0))
    assert res.class_map.name == 'plain_photo_classes.tif'
    with rasterio.open(res.class_map) as out:
        assert out.crs is None and out.transform.is_identity
        pred = out.read(1)
    assert np.all(pred[:, :60] == 255) and np.all(pred[:, 60:] < len(CLASSES))
    doc = res.areas
    assert doc['area_unit'] == 'px' and 'area_m2' not in doc['classes'][0]
    assert doc['valid_pixels'] == h * (w - 60) and doc['nodata_pixels'] == h * 60
    for name, path in res.polygons.items():
        fc = json.loads(path.read_text())
        assert 'crs' not in fc
        cid = CLASSES.index(name)
        area = sum(shapely.geometry.shape(f['geometry']).area for f in fc['features'])
        assert area == pytest.approx((pred == cid).sum(), abs=1e-6)  # exact outlines, pixel units
        for f in fc['features']:
            x0, y0, x1, y1 = shapely.geometry.shape(f['geometry']).bounds
            assert 60 <= x0 and x1 <= w and 0 <= y0 and y1 <= h
    assert sorted(res.polygons) == ['building', 'road', 'tree', 'water']  # default: all but background
    sel = _run(tiny_model, png, tmp_path / 'sel', WindowOptions(tile=128), PolygonOptions(classes=['water', 4]),
               OutputOptions(preview=False))
    assert sorted(sel.polygons) == ['building', 'water'] and sel.preview is None
    with pytest.raises(ValueError, match='nope'):
        _run(tiny_model, png, tmp_path / 'bad', WindowOptions(tile=128), PolygonOptions(classes=['water', 'nope']))
    assert not (tmp_path / 'bad').exists()


def test_unreadable_inputs_name_the_file(tiny_model, tmp_path):
    from vnseg.core.errors import ImageReadError
    missing = tmp_path / 'nope.tif'
    with pytest.raises(ImageReadError, match='nope.tif'):
        _run(tiny_model, missing, tmp_path / 'o')
    junk = tmp_path / 'junk.tif'
    junk.write_bytes(b'this is not a tiff')
    with pytest.raises(ImageReadError, match='junk.tif'):
        _run(tiny_model, junk, tmp_path / 'o')
    u16 = tmp_path / 'sixteen.tif'
    with rasterio.open(u16, 'w', driver='GTiff', width=8, height=8, count=3, dtype='uint16') as d:
        d.write(np.zeros((3, 8, 8), np.uint16))
    with pytest.raises(ImageReadError, match='sixteen.tif.*8-bit'):
        _run(tiny_model, u16, tmp_path / 'o')
    assert not (tmp_path / 'o').exists() or not any((tmp_path / 'o').iterdir())
