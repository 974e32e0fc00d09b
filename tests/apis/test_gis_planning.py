"""vnseg map for planners, end to end: a gap-free class coverage with square buildings and the urban
indicators per zone, on a synthetic georeferenced scene whose class map is known pixel by pixel.

The model is a real ONNX file run by ONNX Runtime, made here: a 1 x 1 convolution and a softmax that
give each pixel the class of the nearest of five colours (:data:`COLOURS`). The scene is painted in
those colours, so the class map -- and every indicator -- is known by hand.
"""
import csv
import json
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')
shapely = pytest.importorskip('shapely')
pyogrio = pytest.importorskip('pyogrio')
onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
pytest.importorskip('skimage')

from affine import Affine  # noqa: E402
from sample_maps import zones_file  # noqa: E402

from vnseg.core.classes import CLASSES, class_names  # noqa: E402
from vnseg.geo.coverage import check_coverage, coverage_supported, gpkg_bands  # noqa: E402

pytestmark = pytest.mark.skipif(not coverage_supported(), reason='GEOS < 3.12 has no coverage functions')

#: The colour of each class in the scene (background, road, water, tree, building).
COLOURS = ((200, 200, 200), (70, 70, 70), (30, 60, 220), (20, 150, 40), (220, 50, 40))
PX = 0.5                        # metres per pixel (UTM 48N)
H, W = 200, 240                 # rows, columns: two zones of 120 columns, west and east
T = Affine(PX, 0, 500000, 0, -PX, 2000000)
TILE = 128


def colour_model(path):
    """An ONNX segmentation model (Deepness contract: RGB in [0, 1] -> class probabilities) that gives
    each pixel the class of the nearest colour of :data:`COLOURS`: logits ``-s |x - c_k|^2`` up to a
    term common to all classes, i.e. ``2 s c_k . x - s |c_k|^2``, as one 1 x 1 convolution."""
    from onnx import TensorProto, helper, numpy_helper
    c = np.asarray(COLOURS, np.float32) / 255.0
    s = 200.0
    w = (2 * s * c).reshape(5, 3, 1, 1).astype(np.float32)
    b = (-s * (c ** 2).sum(axis=1)).astype(np.float32)
    nodes = [helper.make_node('Conv', ['input', 'w', 'b'], ['logits']),
             helper.make_node('Softmax', ['logits'], ['output'], axis=1)]
    graph = helper.make_graph(nodes, 'colours', [helper.make_tensor_value_info('input', TensorProto.FLOAT,
                                                                               ['N', 3, TILE, TILE])],
                              [helper.make_tensor_value_info('output', TensorProto.FLOAT, ['N', 5, TILE, TILE])],
                              [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    for key, value in (('class_names', json.dumps(list(CLASSES))), ('model_type', json.dumps('Segmentor'))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def scene_classes():
    """The class map painted in the scene: a 6-px road across the map (rows 100-105), four 20 x 20 px
    buildings and a 20 x 40 px pond in the west, a 30 x 20 px building and a 60 x 60 px wood in the east."""
    cm = np.zeros((H, W), np.uint8)
    cm[100:106, :] = 1
    cm[20:40, 60:100] = 2
    for r, c in ((130, 10), (130, 40), (160, 10), (160, 40)):
        cm[r:r + 20, c:c + 20] = 4
    cm[20:80, 150:210] = 3
    cm[140:160, 170:200] = 4
    return cm


def write_scene(path, cm):
    rgb = np.asarray(COLOURS, np.uint8)[cm].transpose(2, 0, 1)
    with rasterio.open(path, 'w', driver='GTiff', width=W, height=H, count=3, dtype='uint8', crs='EPSG:32648',
                       transform=T, photometric='RGB') as ds:
        ds.write(rgb)
    return path


@pytest.fixture(scope='module')
def planner_run(tmp_path_factory):
    """``vnseg map`` with zones and square buildings, in English and in Vietnamese."""
    from vnseg.commands.map import main as vnseg_map
    tmp = tmp_path_factory.mktemp('planning')
    model = colour_model(tmp / 'colours.onnx')
    cm = scene_classes()
    image = write_scene(tmp / 'ward.tif', cm)
    x = lambda c: 500000 + PX * c  # noqa: E731
    y = lambda r: 2000000 - PX * r  # noqa: E731
    zones = zones_file(tmp / 'wards.geojson', {'west': (x(0), y(H), x(120), y(0)),
                                                'east': (x(120), y(H), x(W), y(0))})
    outs = {}
    for lang in ('en', 'vi'):
        out = tmp / f'out_{lang}'
        rc = vnseg_map([str(model), str(image), str(out), '--no-progress', '--zones', str(zones), '--zone-field',
                        'commune', '--regularize-buildings', '--classes', *CLASSES, '--lang', lang])
        assert rc == 0
        outs[lang] = out
    return dict(cm=cm, outs=outs, stem='ward')


def ground_areas(cm):
    """Ground area (m^2) of each pixel of the scene's grid (rows differ a little on the UTM grid)."""
    from rasterio.crs import CRS

    from vnseg.geo.areas import PixelAreas
    pa = PixelAreas(CRS.from_epsg(32648), T, W, H)
    return np.broadcast_to(pa.row_area[:, None], cm.shape)


def test_the_class_map_is_the_painted_one(planner_run):
    out, stem = planner_run['outs']['en'], planner_run['stem']
    with rasterio.open(out / f'{stem}_classes.tif') as ds:
        assert np.array_equal(ds.read(1), planner_run['cm'])


@pytest.mark.parametrize('lang', ['en', 'vi'])
def test_geopackage_is_a_gap_free_coverage_with_square_buildings(planner_run, lang):
    cm, out, stem = planner_run['cm'], planner_run['outs'][lang], planner_run['stem']
    names = list(class_names(lang))
    gpkg = out / f'{stem}.gpkg'
    zone_layer = 'zones' if lang == 'en' else 'khu vực'
    assert sorted(pyogrio.list_layers(gpkg)[:, 0]) == sorted(names + [zone_layer, 'layer_styles'])
    # every class layer together: valid coverage, no gap (their union is the map), no overlap
    assert check_coverage(gpkg_bands(gpkg, names, n_bands=4))['valid']
    geoms = []
    for name in names:
        _, _, wkb, _ = pyogrio.raw.read(str(gpkg), layer=name)
        geoms.extend(shapely.from_wkb(wkb))
    arr = np.asarray(geoms, dtype=object)
    assert shapely.coverage_is_valid(arr) and shapely.is_valid(arr).all()
    full = W * H * PX * PX
    assert shapely.area(arr).sum() == pytest.approx(full, rel=1e-9)
    union = shapely.union_all(arr)
    assert union.area == pytest.approx(full, rel=1e-9) and union.geom_type == 'Polygon' and not union.interiors
    # the five buildings: squared (regularized = 1), rectangles with the exact pixel area of the painted ones
    meta, _, wkb, vals = pyogrio.raw.read(str(gpkg), layer=names[4])
    props = dict(zip(meta['fields'], vals))
    buildings = shapely.from_wkb(wkb)
    assert len(buildings) == 5 and list(props['regularized']) == [1] * 5
    ground = ground_areas(cm)
    assert sorted(props['area_m2']) == pytest.approx(sorted(
        [float(ground[r:r + 20, c:c + 20].sum()) for r, c in ((130, 10), (130, 40), (160, 10), (160, 40))]
        + [float(ground[140:160, 170:200].sum())]), rel=1e-6)
    for g in buildings:
        assert shapely.get_num_coordinates(g) == 5                          # four corners
        assert g.area == pytest.approx(g.minimum_rotated_rectangle.area, rel=1e-9)
    # geom_area_m2: the drawn outline's ground area (here the pixel outlines: equal to area_m2)
    assert props['geom_area_m2'] == pytest.approx(props['area_m2'], rel=1e-6)


def _zone_rows(out, stem):
    with open(out / f'{stem}_indicators.csv', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def test_indicators_per_zone_and_map_by_hand(planner_run):
    cm, out, stem = planner_run['cm'], planner_run['outs']['en'], planner_run['stem']
    ground = ground_areas(cm)
    rows = _zone_rows(out, stem)
    assert [(r['scope'], r['zone']) for r in rows] == [('map', ''), ('zone', 'west'), ('zone', 'east')]
    whole, west, east = rows

    def share(cls, cols):
        sel = ground[:, cols]
        return 100 * float(sel[np.isin(cm[:, cols], cls)].sum()) / float(sel.sum())
    w, e, a = slice(0, 120), slice(120, W), slice(0, W)
    # by hand: west 4 x 400 px of buildings, 800 px of water, 720 px of road in 24000 px; east 600 px of
    # building, 3600 px of trees, 720 px of road
    assert share([4], w) == pytest.approx(100 * 1600 / 24000, rel=1e-3)
    for row, cols in ((west, w), (east, e), (whole, a)):
        assert float(row['building_coverage_pct']) == pytest.approx(share([4], cols), abs=1e-4)
        assert float(row['tree_cover_pct']) == pytest.approx(share([3], cols), abs=1e-4)
        assert float(row['water_pct']) == pytest.approx(share([2], cols), abs=1e-4)
        assert float(row['impervious_pct']) == pytest.approx(share([1, 4], cols), abs=1e-4)
        assert float(row['area_ha']) == pytest.approx(float(ground[:, cols].sum()) / 1e4, abs=1e-6)
    assert float(east['tree_cover_pct']) == pytest.approx(15.0, rel=1e-3)
    assert float(west['water_pct']) == pytest.approx(100 * 800 / 24000, rel=1e-3)
    assert float(whole['building_coverage_pct']) == pytest.approx(100 * 2200 / 48000, rel=1e-3)
    # buildings: counted in the zone holding them, footprints = their ground areas
    assert (int(west['building_count']), int(east['building_count']), int(whole['building_count'])) == (4, 1, 5)
    house = float(ground[130:150, 10:30].sum())
    assert float(west['footprint_median_m2']) == pytest.approx(house, rel=1e-3)       # ~100 m^2
    assert float(west['footprint_total_m2']) == pytest.approx(4 * house, rel=1e-3)
    assert float(east['footprint_total_m2']) == pytest.approx(float(ground[140:160, 170:200].sum()), rel=1e-6)
    # the road's centre line: 120 px in each zone, thinning may shorten each end by up to half the width
    for row in (west, east):
        km = float(row['road_length_km'])
        assert (120 - 4) * PX / 1e3 <= km <= 120 * PX / 1e3 * 1.001
        assert float(row['road_density_km_km2']) == pytest.approx(km / (float(row['area_ha']) / 100), rel=1e-3)
    assert float(whole['road_length_km']) == pytest.approx(float(west['road_length_km'])
                                                           + float(east['road_length_km']), rel=1e-9)
    # the area table's JSON carries the same numbers, labelled, and the validity report
    doc = json.loads((out / f'{stem}_areas.json').read_text(encoding='utf-8'))
    assert doc['indicators']['building_count'] == 5
    assert [z['zone'] for z in doc['zone_indicators']] == ['west', 'east']
    assert doc['zone_indicators'][0]['building_coverage_pct'] == pytest.approx(float(west['building_coverage_pct']))
    assert doc['indicator_labels']['building_coverage_pct'] == 'building coverage ratio (%)'
    v = doc['validity']
    assert v['coverage_valid'] is True and v['invalid_repaired'] == 0 and v['strips_checked'] >= 1
    changes = {r['class_id']: r['area_change_pct'] for r in v['classes']}
    assert set(changes) == set(range(5)) and max(abs(c) for c in changes.values()) < 1.0
    # the zone table of class areas is unchanged in form
    with open(out / f'{stem}_zones.csv', encoding='utf-8') as f:
        z = {(r['zone'], r['class']): r for r in csv.DictReader(f)}
    assert int(z[('west', 'building')]['pixels']) == 1600 and int(z[('east', 'tree')]['pixels']) == 3600


@pytest.mark.parametrize('lang', ['en', 'vi'])
def test_zone_layer_holds_the_indicators_styled_for_qgis(planner_run, lang):
    out, stem = planner_run['outs'][lang], planner_run['stem']
    gpkg = out / f'{stem}.gpkg'
    layer = 'zones' if lang == 'en' else 'khu vực'
    info = pyogrio.read_info(gpkg, layer=layer)
    assert info['geometry_type'] == 'MultiPolygon' and info['features'] == 2
    meta, _, wkb, vals = pyogrio.raw.read(str(gpkg), layer=layer)
    props = dict(zip(meta['fields'], vals))
    rows = {r['zone']: r for r in _zone_rows(out, stem) if r['scope'] == 'zone'}
    assert list(props['zone']) == ['west', 'east']
    for i, zone in enumerate(props['zone']):
        for key in ('building_coverage_pct', 'tree_cover_pct', 'road_length_km', 'footprint_median_m2'):
            want = rows[zone][key]
            assert (np.isnan(props[key][i]) if want == '' else props[key][i] == pytest.approx(float(want)))
        assert props['building_count'][i] == int(rows[zone]['building_count'])
    # the zones sit where the zone file put them (60 m x 100 m each)
    west = shapely.from_wkb(wkb[0])
    assert west.area == pytest.approx(120 * H * PX * PX, rel=1e-3)
    # the stored QGIS style: graduated on the building coverage ratio, labelled, titles in both languages
    con = sqlite3.connect(str(gpkg))
    try:
        (qml,), = con.execute('SELECT styleQML FROM layer_styles WHERE f_table_name = ? AND useAsDefault = 1',
                              (layer,)).fetchall()
    finally:
        con.close()
    root = ET.fromstring(qml.split('\n', 1)[1])
    r = root.find('renderer-v2')
    assert r.get('type') == 'graduatedSymbol' and r.get('attr') == 'building_coverage_pct'
    assert [(float(g.get('lower')), float(g.get('upper'))) for g in r.findall('ranges/range')] == [
        (0, 20), (20, 40), (40, 60), (60, 80), (80, 100)]
    aliases = {a.get('field'): a.get('name') for a in root.findall('aliases/alias')}
    en_vi = ('building coverage ratio (%)', 'mật độ xây dựng (%)')
    assert aliases['building_coverage_pct'] == ' / '.join(en_vi if lang == 'en' else en_vi[::-1])
    assert root.get('labelsEnabled') == '1' and 'building_coverage_pct' in root.find('.//text-style').get('fieldName')


@pytest.mark.parametrize('lang', ['en', 'vi'])
def test_report_shows_indicators_per_zone_and_the_validity(planner_run, lang):
    out, stem = planner_run['outs'][lang], planner_run['stem']
    html = (out / f'{stem}_report.html').read_text(encoding='utf-8')
    heading, label, valid = {
        'en': ('Urban indicators', 'building coverage ratio (%)', 'form a valid coverage'),
        'vi': ('Chỉ tiêu đô thị', 'mật độ xây dựng (%)', 'phủ kín bản đồ')}[lang]
    assert heading in html and label in html and valid in html
    rows = _zone_rows(out, stem)
    for row in rows[1:]:
        assert f"<td>{row['zone']}</td>" in html
        assert f"<td>{float(row['building_coverage_pct']):,.1f}</td>" in html
    assert 'ward_indicators.csv' in html
