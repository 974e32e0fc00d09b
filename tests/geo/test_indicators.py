"""Urban indicators (vnseg.geo.indicators): road skeleton lengths, shares per zone, buildings, tables."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')
shapely = pytest.importorskip('shapely')
pytest.importorskip('skimage')

from shapely.geometry import box  # noqa: E402

from vnseg.geo.areas import ClassAreaCounter, PixelAreas  # noqa: E402
from vnseg.geo.indicators import (INDICATORS, BuildingTally, UrbanClasses, indicator_labels,  # noqa: E402
                                  indicators_from_areas, map_indicators,
                                  measure_road_length, skeleton_step_lengths, write_indicator_tables,
                                  zone_indicators, zone_layer_features, zone_layer_fields)
from vnseg.geo.zones import ZoneAreaCounter, Zones  # noqa: E402

PX = 0.5  # metres per pixel (UTM test grids)


def write_map(path, cm):
    from rasterio.transform import from_origin
    with rasterio.open(path, 'w', driver='GTiff', width=cm.shape[1], height=cm.shape[0], count=1, dtype='uint8',
                       crs='EPSG:32648', transform=from_origin(500000, 1200000, PX, PX)) as ds:
        ds.write(cm, 1)
    with rasterio.open(path) as ds:
        return PixelAreas(ds.crs, ds.transform, ds.width, ds.height)


def test_step_lengths_by_hand():
    line = np.zeros((5, 40), bool)
    line[2, 3:33] = True                                     # 30 pixels in a row: 29 steps
    assert skeleton_step_lengths(line).sum() == pytest.approx(29.0)
    diag = np.eye(25, dtype=bool)                            # 25 pixels on a diagonal: 24 diagonal steps
    assert skeleton_step_lengths(diag).sum() == pytest.approx(24 * math.sqrt(2))
    ell = np.zeros((30, 30), bool)
    ell[5, 5:25] = True
    ell[5:30, 24] = True                                     # 19 + 25 steps, the corner counted once
    assert skeleton_step_lengths(ell).sum() == pytest.approx(19 + 24)
    # an 8-connected staircase: the diagonal step is not counted next to the two straight ones
    stair = np.zeros((4, 4), bool)
    stair[0, 0] = stair[0, 1] = stair[1, 1] = True
    assert skeleton_step_lengths(stair).sum() == pytest.approx(2.0)
    # a step across a strip line is owned by the upper row
    top, bottom = line[:3], line[3:]
    vert = np.zeros((10, 3), bool)
    vert[:, 1] = True
    assert skeleton_step_lengths(vert[:4], below=vert[4]).sum() + skeleton_step_lengths(vert[4:]).sum() == 9
    assert skeleton_step_lengths(top).sum() + skeleton_step_lengths(bottom).sum() == 29


def test_straight_road_of_known_length(tmp_path):
    cm = np.zeros((200, 300), np.uint8)
    cm[100, 20:270] = 1                                      # a 1-pixel road of 250 pixels
    pa = write_map(tmp_path / 'm.tif', cm)
    res = measure_road_length(tmp_path / 'm.tif', pa, strip_rows=64)
    metres_per_px = float(np.sqrt(pa.row_area[100]))
    assert metres_per_px == pytest.approx(PX, rel=2e-3)     # UTM scale factor and ellipsoid
    assert res.total == pytest.approx(249 * metres_per_px, rel=1e-9)
    assert res.unit == 'm'


@pytest.mark.parametrize('strip_rows', [7, 33, 1000])
def test_diagonal_and_l_roads_across_strips(tmp_path, strip_rows):
    cm = np.zeros((120, 120), np.uint8)
    for i in range(100):
        cm[10 + i, 10 + i] = 1                               # diagonal, 1 px: 99 diagonal steps
    pa = write_map(tmp_path / 'd.tif', cm)
    s = float(np.sqrt(pa.row_area.mean()))
    assert measure_road_length(tmp_path / 'd.tif', pa, strip_rows=strip_rows).total == \
        pytest.approx(99 * math.sqrt(2) * s, rel=1e-3)
    cm[:] = 0
    cm[20, 10:80] = 1
    cm[20:110, 79] = 1                                       # an L: 69 + 89 steps; thinning may cut the corner
    pa = write_map(tmp_path / 'l.tif', cm)
    total = measure_road_length(tmp_path / 'l.tif', pa, strip_rows=strip_rows).total
    assert (69 + 89 - (2 - math.sqrt(2)) - 1e-6) * s * 0.999 <= total <= (69 + 89) * s * 1.001


def test_wide_road_network_same_by_strips_and_whole(tmp_path):
    cm = np.zeros((300, 260), np.uint8)
    cm[100:112, :] = 1                                       # a 12-px wide street across the map
    cm[:, 150:160] = 1                                       # and one crossing it
    cm[200:206, 20:150] = 1
    pa = write_map(tmp_path / 'w.tif', cm)
    whole = measure_road_length(tmp_path / 'w.tif', pa, strip_rows=10_000).total
    for strip in (16, 50, 111):
        assert measure_road_length(tmp_path / 'w.tif', pa, strip_rows=strip, halo=40).total == \
            pytest.approx(whole, rel=1e-9)
    # centre lines: about 260 + 300 + 130 pixels (shortened at the ends by thinning, about a half width)
    assert 0.9 * 690 * PX < whole < 1.01 * 690 * PX


def zones_on(pa, polys, names):
    return Zones(list(names), list(polys), shapely.bounds(np.asarray(polys, dtype=object)), Path('zones.gpkg'))


def test_zone_of_known_building_share(tmp_path):
    cm = np.zeros((100, 200), np.uint8)
    cm[:, 100:] = 3                                          # east half: trees
    cm[10:30, 10:50] = 4                                     # 800 px of buildings in the west
    cm[60:70, 20:40] = 4                                     # +200 px
    cm[80:100, 0:100] = 2                                    # 2000 px of water in the west
    cm[:, 95:100] = 1                                        # a 5-px road, 100 rows
    pa = write_map(tmp_path / 'z.tif', cm)
    zones = zones_on(pa, [box(0, 0, 100, 100), box(100, 0, 200, 100)], ['west', 'east'])
    zc = ZoneAreaCounter(zones, pa)
    counter = ClassAreaCounter(pa)
    with rasterio.open(tmp_path / 'z.tif') as ds:
        block = ds.read(1)
    zc.update(0, block)
    counter.update(0, block)
    roads = measure_road_length(tmp_path / 'z.tif', pa, zones=zones, strip_rows=32)
    tally = BuildingTally(pa.georef)
    t = pa.transform
    for b, area in ((box(10, 10, 50, 30), 800.0), (box(20, 60, 40, 70), 200.0)):
        geom = shapely.transform(b, lambda xy: np.column_stack(t * (xy[:, 0], xy[:, 1])))
        tally.add(geom, {'area_m2': area * PX * PX, 'geom_area_m2': area * PX * PX})
    west, east = zone_indicators(zc, roads, tally)
    assert west['zone'] == 'west' and east['zone'] == 'east'
    assert west['building_coverage_pct'] == pytest.approx(100 * 1000 / 10000, abs=1e-3)
    assert west['water_pct'] == pytest.approx(100 * (2000 - 5 * 20) / 10000, abs=1e-3)
    assert west['impervious_pct'] == pytest.approx(100 * (1000 + 500) / 10000, abs=1e-3)
    assert west['tree_cover_pct'] == 0 and east['tree_cover_pct'] == pytest.approx(100.0)
    assert west['building_count'] == 2 and east['building_count'] == 0
    assert west['footprint_median_m2'] == pytest.approx(500 * PX * PX)
    assert west['footprint_total_m2'] == pytest.approx(1000 * PX * PX)
    assert east['footprint_median_m2'] is None
    area_m2 = float(zc.area_m2[0, 0].sum())
    assert west['area_ha'] == pytest.approx(area_m2 / 1e4, abs=1e-6)
    # the road (5 px wide, 100 rows) lies in the west zone; its centre line about 100 px long
    assert roads.per_zone[1] == 0
    assert roads.per_zone[0] == pytest.approx(roads.total)
    assert 90 * PX < west['road_length_km'] * 1000 < 100 * PX * 1.01
    assert west['road_density_km_km2'] == pytest.approx(west['road_length_km'] / (area_m2 / 1e6), rel=1e-3)
    # the zone layer: outlines back in map coordinates, each with its row
    feats = list(zone_layer_features(zones, [west, east], pa.georef))
    assert [p['zone'] for _, p in feats] == ['west', 'east']
    x0, y0, x1, y1 = feats[0][0].bounds
    assert (x0, y1) == pytest.approx(tuple(pa.transform * (0, 0)))
    assert (x1, y0) == pytest.approx(tuple(pa.transform * (100, 100)))
    whole = map_indicators(counter, roads, tally)
    assert whole['building_coverage_pct'] == pytest.approx(100 * 1000 / 20000, abs=1e-3)
    assert whole['building_count'] == 2


def test_labels_and_tables(tmp_path):
    vi = indicator_labels('vi')
    assert vi['building_coverage_pct'] == 'mật độ xây dựng (%)'
    assert indicator_labels('en')['road_density_km_km2'] == 'road density (km/km²)'
    with pytest.raises(ValueError):
        indicator_labels('fr')
    rows = [dict(zone='phường 1', area_ha=1.5, building_coverage_pct=40.0, building_count=3),
            dict(zone='phường 2', area_ha=2.0, building_coverage_pct=10.0, building_count=0)]
    doc = write_indicator_tables(rows, tmp_path / 'z.csv', tmp_path / 'z.json', lang='vi')
    with open(tmp_path / 'z.csv', encoding='utf-8') as f:
        back = list(csv.DictReader(f))
    assert back[0]['zone'] == 'phường 1' and float(back[1]['building_coverage_pct']) == 10.0
    j = json.loads((tmp_path / 'z.json').read_text(encoding='utf-8'))
    assert j == json.loads(json.dumps(doc))
    assert {c['key']: c['label'] for c in j['columns']}['building_coverage_pct'] == 'mật độ xây dựng (%)'
    fields = zone_layer_fields()
    assert fields['zone'] == 'str' and fields['building_count'] == 'int'
    assert set(fields) == {'zone'} | {k for k, *_ in INDICATORS}


def test_classes_a_model_lacks():
    classes = UrbanClasses.from_names(['background', 'building', 'tree'])
    assert (classes.building, classes.tree, classes.road, classes.water) == (1, 2, None, None)
    area = np.zeros(256)
    area[[0, 1, 2]] = [50.0, 30.0, 20.0]
    area[255] = 999.0                                       # nodata does not count
    out = indicators_from_areas(area, 0.0, np.array([10.0, 20.0]), classes)
    assert out['building_coverage_pct'] == 30.0 and out['tree_cover_pct'] == 20.0
    assert out['impervious_pct'] == 30.0                    # buildings only: there are no roads
    assert out['water_pct'] is None and out['road_length_km'] is None and out['road_density_km_km2'] is None
    assert out['area_ha'] == pytest.approx(0.01) and out['footprint_median_m2'] == 15.0
