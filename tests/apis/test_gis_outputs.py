"""Whole-scene inference outputs for GIS teams and labellers, with the tiny demo model (random seeded
weights: the predictions mean nothing, the files and numbers around them must be right)."""
import csv
import importlib.util
import json
import re

import numpy as np
import pytest
import torch

from conftest import require_shared_data
from vnseg.commands.cli import EXIT_USER_ERROR
from vnseg.core.classes import CLASSES, class_names

CFG = 'configs/segformer_tiny_demo_vn.py'
rasterio = pytest.importorskip('rasterio')
shapely = pytest.importorskip('shapely')
pyogrio = pytest.importorskip('pyogrio')


@pytest.fixture(scope='module')
def tiny_ckpt(repo_root, tmp_path_factory):
    import vnseg.apis  # noqa: F401
    from mmseg.apis import init_model
    torch.manual_seed(0)
    model = init_model(str(repo_root / CFG), None, device='cpu')
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def _command(name):
    """The module ``vnseg.commands.<name>`` (the code of ``vnseg <name>`` and of its ``tools/`` script)."""
    return importlib.import_module(f'vnseg.commands.{name}')


def _zones(path, boxes):
    """GeoJSON zones in EPSG:4326 from ``{name: (west, south, east, north)}`` lon/lat boxes."""
    feats = [dict(type='Feature', properties=dict(phuong=name),
                  geometry=shapely.geometry.mapping(shapely.geometry.box(*b))) for name, b in boxes.items()]
    path.write_text(json.dumps(dict(type='FeatureCollection', features=feats)))
    return path


def test_vietnamese_names_zones_styles_report_on_a_drone_geotiff(repo_root, tiny_ckpt, tmp_path, one_torch_thread):
    """pix4d drone ortho (EPSG:32750, RGBA with nodata) with --lang vi and zones given in EPSG:4326."""
    from rasterio.warp import transform_bounds
    src = require_shared_data('geotiff', 'pix4d_bali_drone_ortho_0.35m_rgba.tif')
    with rasterio.open(src) as ds:
        w, s, e, n = transform_bounds(ds.crs, 'EPSG:4326', *ds.bounds, densify_pts=21)
    mid = (w + e) / 2
    zf = _zones(tmp_path / 'phuong.geojson', {'tây': (w - 0.01, s - 0.01, mid, n + 0.01),
                                              'toàn bộ': (w - 0.01, s - 0.01, e + 0.01, n + 0.01)})
    out = tmp_path / 'out'
    cli = _command('map')
    rc = cli.main([str(repo_root / CFG), str(tiny_ckpt), str(src), '--out-dir', str(out), '--tile', '128',
                   '--overlap', '0', '--min-area', '0', '--no-progress', '--device', 'cpu', '--lang', 'vi',
                   '--zones', str(zf), '--zone-field', 'phuong'])
    assert rc == 0
    stem = 'pix4d_bali_drone_ortho_0.35m_rgba'
    vi = class_names('vi')
    doc = json.loads((out / f'{stem}_areas.json').read_text(encoding='utf-8'))
    assert [r['class'] for r in doc['classes']] == list(vi) and doc['lang'] == 'vi'
    # layers: Vietnamese layer names, styled; GeoPackage areas = area table within 1 %
    gpkg = out / f'{stem}.gpkg'
    layers = sorted(pyogrio.list_layers(gpkg)[:, 0])
    assert layers == sorted(list(vi[1:]) + ['khu vực', 'layer_styles'])  # + the zones with their indicators
    for r in doc['classes'][1:]:
        meta, _, wkb, vals = pyogrio.raw.read(str(gpkg), layer=r['class'])
        props = dict(zip(meta['fields'], vals))
        assert set(props['class']) <= {r['class']}
        if r['pixels']:
            assert props['area_m2'].sum() == pytest.approx(r['area_m2'], rel=0.01)
    qml = (out / f'{stem}_classes.qml').read_text(encoding='utf-8')
    assert 'type="paletted"' in qml and all(f'label="{v}"' in qml for v in vi)
    # zones: the zone covering everything reproduces the table, the western one holds less
    with open(out / f'{stem}_zones.csv', encoding='utf-8') as f:
        z = list(csv.DictReader(f))
    whole = {r['class']: r for r in z if r['zone'] == 'toàn bộ'}
    west = {r['class']: r for r in z if r['zone'] == 'tây'}
    for r in doc['classes']:
        assert int(whole[r['class']]['pixels']) == r['pixels']
        assert float(whole[r['class']]['area_ha']) == pytest.approx(r['area_ha'], abs=1e-8)
        assert int(west[r['class']]['pixels']) <= r['pixels']
    assert 0.3 < sum(int(r['pixels']) for r in west.values()) / doc['valid_pixels'] < 0.7
    # the report: self-contained, Vietnamese headings and class names, numbers of the table
    html = (out / f'{stem}_report.html').read_text(encoding='utf-8')
    assert html.count('data:image/png;base64,') >= 2
    assert not re.search(r'(src|href)="(http|//|file:)', html)
    assert 'Diện tích theo lớp' in html and all(v in html for v in vi)
    assert 'tiny.pth' in html and 'EPSG:32750' in html
    for r in doc['classes']:
        assert f"{r['area_ha']:,.4f}" in html
    with pytest.raises(SystemExit):
        cli.parse_args([str(repo_root / CFG), str(tiny_ckpt), str(src), '--out-dir', str(out), '--lang', 'fr'])


def test_bad_zone_file_fails_before_inference(repo_root, tiny_ckpt, tmp_path, capsys):
    src = require_shared_data('geotiff', 'webodm_drone_ortho_0.5m_rgba.tif')
    zf = _zones(tmp_path / 'z.geojson', {'a': (0, 0, 1, 1)})
    cli = _command('map')
    rc = cli.main([str(repo_root / CFG), str(tiny_ckpt), str(src), '--out-dir', str(tmp_path / 'o'), '--no-progress',
                   '--zones', str(zf), '--zone-field', 'commune'])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith('error: ')]
    assert rc == EXIT_USER_ERROR and len(err) == 1 and 'z.geojson' in err[0] and "no field 'commune'" in err[0]
    assert not (tmp_path / 'o').exists()


def test_world_file_image_areas_and_polygons_agree(repo_root, tiny_ckpt, tmp_path):
    """An RGB PNG georeferenced by a world file (.pgw) without CRS: raster IO, areas and polygons
    take the one decision -- the class map keeps the world transform, areas are pixel counts, and
    polygons are in world units with pixel tolerances scaled to them."""
    from PIL import Image

    from vnseg.apis import PolygonOptions, WindowOptions, infer_large_image
    rng = np.random.RandomState(1)
    png = tmp_path / 'scan.png'
    Image.fromarray(rng.randint(0, 255, (120, 160, 3), np.uint8)).save(png)
    px = 0.05
    (tmp_path / 'scan.pgw').write_text(f'{px}\n0\n0\n{-px}\n{1000 + px / 2}\n{5000 - px / 2}\n')
    res = infer_large_image(str(repo_root / CFG), str(tiny_ckpt), png, tmp_path / 'o',
                            WindowOptions(tile=128, overlap=32), PolygonOptions(min_area=0, simplify=1.0),
                            progress=False, device='cpu')
    with rasterio.open(res.class_map) as ds:
        assert ds.crs is None and ds.transform.a == pytest.approx(px) and ds.transform.c == pytest.approx(1000)
        pred = ds.read(1)
    assert res.areas['area_unit'] == 'px' and 'world file' in res.areas['coordinates']
    for name, path in res.polygons.items():
        cid = CLASSES.index(name)
        fc = json.loads(path.read_text())
        assert 'crs' not in fc
        assert sum(f['properties']['area_px'] for f in fc['features']) == (pred == cid).sum()
        geoms = [shapely.geometry.shape(f['geometry']) for f in fc['features']]
        if not geoms:
            continue
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        assert 1000 - 1e-9 <= x0 and x1 <= 1000 + 160 * px + 1e-9
        assert 5000 - 120 * px - 1e-9 <= y0 and y1 <= 5000 + 1e-9
        # 1 px tolerance = 0.05 world units (not 1 world unit = 20 px): the simplified outline of a
        # large class keeps its area within a few %
        if (pred == cid).sum() > 2000:
            assert sum(g.area for g in geoms) == pytest.approx((pred == cid).sum() * px * px, rel=0.05)
    assert pyogrio.read_info(res.gpkg, layer='building')['crs'] is None


def test_prelabel_round_trip_and_review_queue(repo_root, tiny_ckpt, tmp_path):
    """Pre-labels of a whole drone image and of a mosaic cut into patches convert back (json_to_mask)
    to the predicted class map on >= 99 % of the predicted pixels."""
    small = require_shared_data('geotiff', 'webodm_drone_ortho_0.5m_rgba.tif')      # 212 x 212: whole
    big = require_shared_data('geotiff', 'pix4d_bali_drone_ortho_0.35m_rgba.tif')   # 686 x 758: patches
    out = tmp_path / 'prelabels'
    tool = _command('prelabel')
    rc = tool.main([str(repo_root / CFG), str(tiny_ckpt), str(small), str(big), '--out-dir', str(out),
                    '--patch-size', '400', '--tile', '128', '--no-progress', '--device', 'cpu'])
    assert rc == 0
    jsons = sorted(p.name for p in out.glob('*.json'))
    big_stem = 'pix4d_bali_drone_ortho_0.35m_rgba'
    assert jsons == sorted(['webodm_drone_ortho_0.5m_rgba.json'] +
                           [f'{big_stem}_r{r}_c{c}.json' for r in (0, 400) for c in (0, 400)])
    doc = json.loads((out / 'webodm_drone_ortho_0.5m_rgba.json').read_text())
    assert doc['imageData'] is None and not doc['imagePath'].startswith('/')
    assert (out / doc['imagePath']).resolve() == small.resolve()
    assert {s['label'] for s in doc['shapes']} <= set(CLASSES)
    assert all(0 <= s['score'] <= 1 and s['description'].startswith('confidence') for s in doc['shapes'])
    patch = json.loads((out / f'{big_stem}_r400_c400.json').read_text())
    assert patch['imagePath'] == f'{big_stem}_r400_c400.png'
    assert (patch['imageHeight'], patch['imageWidth']) == (358, 286)
    # review queue: every JSON once, most uncertain first
    with open(out / 'review_queue.csv') as f:
        queue = list(csv.DictReader(f))
    assert sorted(r['json'] for r in queue) == jsons
    conf = [float(r['mean_confidence_pct']) for r in queue]
    assert conf == sorted(conf) and [int(r['rank']) for r in queue] == list(range(1, len(queue) + 1))
    # round trip through the existing labelme reader
    masks = tmp_path / 'masks'
    j2m = _command('masks')
    whole = out / 'webodm_drone_ortho_0.5m_rgba.json'
    # the whole image lies outside the output folder: allow its folder as the image root
    assert j2m.main([str(whole), '-o', str(masks), '--root', str(small.parent), '--no-progress']) == 0
    assert j2m.main([str(p) for p in sorted(out.glob(f'{big_stem}_*.json'))] + ['-o', str(masks / 'p'),
                                                                             '--no-progress']) == 0
    agree = total = 0
    from PIL import Image
    for name in jsons:
        d = json.loads((out / name).read_text())
        stem = name[:-5]
        src_stem = stem if stem.startswith('webodm') else big_stem
        win = d['vnseg']['window']
        with rasterio.open(out / 'predictions' / f'{src_stem}_classes.tif') as ds:
            pred = ds.read(1, window=((win['row'], win['row'] + win['height']),
                                      (win['col'], win['col'] + win['width'])))
        mask = np.asarray(Image.open(masks / ('' if stem.startswith('webodm') else 'p') / f'{stem}.png'))
        valid = pred != 255
        agree += int((mask[valid] == pred[valid]).sum())
        total += int(valid.sum())
    ratio = agree / total
    print(f'pre-label round trip: {ratio * 100:.3f} % of {total} predicted pixels')
    assert ratio >= 0.99
