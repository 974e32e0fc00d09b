"""GIS layers without a model: Georef decision, strip polygons with cuts and confidence, GeoPackage +
QGIS styles, RFC 7946 GeoJSON, zones, change between two grids of different CRS."""
import csv
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')
shapely = pytest.importorskip('shapely')
pyogrio = pytest.importorskip('pyogrio')
from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402

from sample_maps import zones_file  # noqa: E402
from vnseg.core.classes import CLASS_NAMES, CLASSES, PALETTE, class_names  # noqa: E402
from vnseg.geo.areas import PixelAreas  # noqa: E402
from vnseg.geo.georef import Georef  # noqa: E402

UTM = Affine(0.5, 0, 500000, 0, -0.5, 2000000)


def _write(path, arr, transform=UTM, crs='EPSG:32648', nodata=255):
    kw = dict(driver='GTiff', width=arr.shape[1], height=arr.shape[0], count=1, dtype='uint8', nodata=nodata)
    if crs is not None:
        kw['crs'] = crs
    if transform is not None:
        kw['transform'] = transform
    with rasterio.open(path, 'w', **kw) as d:
        d.write(arr, 1)
    return path


def _blobs(h=90, w=70, seed=0):
    from scipy import ndimage
    rng = np.random.RandomState(seed)
    field = ndimage.gaussian_filter(rng.rand(h, w), 3)
    arr = np.digitize(field, np.quantile(field, [0.3, 0.55, 0.8])).astype(np.uint8)
    arr[rng.rand(h, w) < 0.01] = 4
    arr[:5, :] = 255
    arr[40:60, 20:50] = 1
    arr[48:52, 30:34] = 3
    return arr


def test_class_names_table_and_label_map_know_both_languages():
    from vnseg.data.label_map import LabelMap
    assert class_names('en') == CLASSES and len(CLASS_NAMES['vi']) == len(CLASSES)
    assert class_names('vi')[4] == 'công trình'
    assert class_names('vi', ['tree', 'car']) == ('cây xanh', 'car')
    with pytest.raises(ValueError, match='fr'):
        class_names('fr')
    lm = LabelMap.default()
    for lang in CLASS_NAMES:
        assert [lm.lookup(n) for n in class_names(lang)] == list(range(len(CLASSES)))


def test_georef_one_decision():
    t = Affine(0.5, 0, 1000, 0, -0.5, 2000)
    assert Georef.of(CRS.from_epsg(32648), t, 10, 10).kind == 'crs'
    world = Georef.of(None, t, 10, 10)
    assert world.kind == 'world' and world.pixels_to_output(2) == pytest.approx(1.0)
    assert Georef.of(None, Affine.identity(), 10, 10).kind == 'pixel'
    assert Georef.of(CRS.from_epsg(32648), Affine.identity(), 10, 10).kind == 'pixel'
    pa = PixelAreas(None, t, 10, 10)           # world file: areas are pixel counts ...
    assert pa.unit == 'px' and pa.georef.kind == 'world' and 'world file' in pa.note


@pytest.mark.parametrize('pixel', [0.5, 1e-5])
def test_world_file_polygons_in_world_units_with_pixel_tolerances(tmp_path, pixel):
    """A world file without CRS: areas in pixels, polygons in world units, and the simplification /
    rounding scaled from pixels to world units (the old code used the pixel value as world units and
    rounded to 1e-3 world units, which destroys 1e-5-unit pixels)."""
    from vnseg.geo.vectorize import PolygonFiles, PolygonOptions, write_class_polygons
    arr = _blobs()
    t = Affine(pixel, 0, 1000, 0, -pixel, 2000)
    src = _write(tmp_path / 'map.tif', arr, transform=t, crs=None)
    with rasterio.open(src) as ds:
        g = Georef.from_dataset(ds)
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    assert g.kind == 'world' and pa.unit == 'px'
    names = list(CLASSES)
    for tol in (0.0, 1.0):
        out = tmp_path / f'tol{tol}'
        res = write_class_polygons(src, PolygonFiles(out, 'map', names, PALETTE), pa,
                                   PolygonOptions([1, 3], min_area=0, simplify=tol))
        gp, gj = res.gpkg, res.geojson
        fc = json.loads(gj[3].read_text())
        assert 'crs' not in fc
        geoms = [shapely.geometry.shape(f['geometry']) for f in fc['features']]
        area_world = sum(gm.area for gm in geoms)
        count = int((arr == 3).sum())
        assert sum(f['properties']['area_px'] for f in fc['features']) == count
        if tol == 0:
            assert area_world == pytest.approx(count * pixel ** 2, rel=1e-6)
            exact = geoms
        else:  # simplified by at most 1 px = `pixel` world units
            assert area_world == pytest.approx(count * pixel ** 2, rel=0.03)
            for a, b in zip(sorted(exact, key=lambda x: x.centroid.x), sorted(geoms, key=lambda x: x.centroid.x)):
                assert a.hausdorff_distance(b) <= 1.0 * pixel * 1.001
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        assert 1000 <= x0 and x1 <= 1000 + 70 * pixel and 2000 - 90 * pixel <= y0 and y1 <= 2000
        # the GeoPackage has no CRS (none is ever assumed)
        assert pyogrio.read_info(gp, layer='tree')['crs'] is None


def _layer(gpkg, name):
    meta, _, wkb, values = pyogrio.raw.read(str(gpkg), layer=name)
    props = {f: v for f, v in zip(meta['fields'], values)}
    return shapely.from_wkb(wkb), props


@pytest.mark.parametrize('strip_rows, max_rows', [(10000, 0), (7, 0), (7, 14), (1, 2)])
def test_strip_polygons_cut_and_confidence(tmp_path, strip_rows, max_rows):
    """Strips merged across boundaries equal the whole raster; with a small max_polygon_rows tall regions
    are cut (cut = 1) but areas and pixel-weighted confidences still add up exactly."""
    from vnseg.geo.vectorize import PolygonFiles, PolygonOptions, write_class_polygons
    arr = _blobs()
    rng = np.random.RandomState(5)
    conf = rng.randint(20, 101, arr.shape).astype(np.uint8)
    conf[arr == 255] = 255
    src = _write(tmp_path / 'map.tif', arr)
    cpath = _write(tmp_path / 'conf.tif', conf)
    pa = PixelAreas(CRS.from_epsg(32648), UTM, 70, 90)
    names = list(CLASSES)
    res = write_class_polygons(src, PolygonFiles(tmp_path / 'o', 'm', names, PALETTE, geojson=False), pa,
                               PolygonOptions(range(5), 0, 0), confidence_path=cpath, strip_rows=strip_rows,
                               max_polygon_rows=max_rows)
    gp, stats = res.gpkg, res.stats
    for c in range(5):
        geoms, p = _layer(gp, names[c])
        sel = arr == c
        assert shapely.area(geoms).sum() == pytest.approx(sel.sum() * 0.25)
        assert (p['cut'] == 1).any() == (stats[c]['cut'] > 0)
        px = np.round(shapely.area(geoms) / 0.25)
        # confidences are rounded to 0.01 %
        assert (px * p['confidence']).sum() == pytest.approx(conf[sel].astype(float).sum(), abs=0.005 * px.sum())
        if max_rows == 0:
            assert stats[c]['cut'] == 0
    if max_rows == 2:
        assert sum(s['cut'] for s in stats.values()) > 20


def test_geopackage_styles_and_rfc7946_geojson(tmp_path):
    from vnseg.geo.vectorize import PolygonFiles, PolygonOptions, write_class_polygons
    arr = _blobs()
    t = Affine(0.1, 0, 11688546.0, 0, -0.1, 2391000.0)     # EPSG:3857 near 21 N
    src = _write(tmp_path / 'map.tif', arr, transform=t, crs='EPSG:3857')
    with rasterio.open(src) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
        west, south, east, north = rasterio.warp.transform_bounds(ds.crs, 'EPSG:4326', *ds.bounds, densify_pts=21)
    names = list(class_names('vi'))
    files = ['background', 'road', 'water', 'tree', 'building']
    res = write_class_polygons(src, PolygonFiles(tmp_path / 'o', 'm', files, PALETTE, lang='vi'), pa,
                               PolygonOptions([1, 2, 3, 4], 0, 0.05))
    gp, gj, stats = res.gpkg, res.geojson, res.stats
    assert sorted(pyogrio.list_layers(gp)[:, 0].tolist()) == sorted(names[1:] + ['layer_styles'])
    import sqlite3
    con = sqlite3.connect(gp)
    rows = con.execute('SELECT f_table_name, f_geometry_column, styleQML, useAsDefault FROM layer_styles').fetchall()
    con.close()
    assert sorted(r[0] for r in rows) == sorted(names[1:])
    for name, geom_col, qml, default in rows:
        assert default == 1 and geom_col == 'geom'
        root = ET.fromstring(qml.split('\n', 1)[1])
        cat = root.find('renderer-v2/categories/category')
        cid = names.index(name)
        assert cat.get('label') == name and cat.get('value') == str(cid)
        colour = root.find(".//Option[@name='color']").get('value')
        assert colour.startswith(','.join(map(str, PALETTE[cid])))
    info = pyogrio.read_info(gp, layer=names[4])
    assert CRS.from_user_input(info['crs']).to_epsg() == 3857 and info['geometry_type'] == 'Polygon'
    assert list(info['fields']) == ['class_id', 'class', 'area_m2', 'area_ha', 'confidence', 'cut', 'geom_area_m2']
    for c in (1, 2, 3, 4):
        assert gj[c].name == f'm_{files[c]}.geojson' and gj[c].with_suffix('.qml').exists()
        fc = json.loads(gj[c].read_text(encoding='utf-8'))
        assert 'crs' not in fc and fc['name'] == names[c]
        assert len(fc['features']) == stats[c]['polygons']
        for f in fc['features']:
            assert f['properties']['class'] == names[c]
            gm = shapely.geometry.shape(f['geometry'])
            assert gm.is_valid
            x0, y0, x1, y1 = gm.bounds
            assert west - 1e-9 <= x0 and x1 <= east + 1e-9 and south - 1e-9 <= y0 and y1 <= north + 1e-9
            ring = f['geometry']['coordinates'][0]
            assert shapely.LinearRing(ring).is_ccw                       # right-hand rule
            for hole in f['geometry']['coordinates'][1:]:
                assert not shapely.LinearRing(hole).is_ccw
    # a layer's GeoPackage areas = the raster's ground areas (polygon props are exact pixel areas)
    for c in (1, 2, 3, 4):
        _, p = _layer(gp, names[c])
        exact = (pa.row_area[:, None] * (arr == c)).sum()
        assert p['area_m2'].sum() == pytest.approx(exact, rel=1e-3)
    qml = ET.fromstring((tmp_path / 'o' / 'm_tree.qml').read_text(encoding='utf-8').split('\n', 1)[1])
    assert qml.find('renderer-v2').get('type') == 'categorizedSymbol'


def test_raster_styles_are_paletted_and_ramped():
    from vnseg.geo.styles import confidence_raster_qml, paletted_raster_qml
    root = ET.fromstring(paletted_raster_qml(range(5), class_names('vi'), PALETTE).split('\n', 1)[1])
    r = root.find('pipe/rasterrenderer')
    assert r.get('type') == 'paletted' and r.get('band') == '1'
    entries = r.findall('colorPalette/paletteEntry')
    assert [e.get('label') for e in entries] == list(class_names('vi'))
    assert entries[4].get('color') == '#dc2828' and entries[4].get('value') == '4'
    conf = ET.fromstring(confidence_raster_qml().split('\n', 1)[1]).find('pipe/rasterrenderer')
    assert conf.get('type') == 'singlebandpseudocolor'
    items = conf.findall('rastershader/colorrampshader/item')
    assert items[0].get('value') == '0' and items[-1].get('value') == '100'


def test_zone_areas_any_crs(tmp_path):
    from vnseg.geo.zones import ZoneAreaCounter, ZoneError, load_zones
    arr = np.zeros((40, 60), np.uint8)
    arr[:, 30:] = 3
    arr[10:20, 10:20] = 4
    arr[0, :] = 255
    pa = PixelAreas(CRS.from_epsg(32648), UTM, 60, 40)
    g = pa.georef
    x = lambda c: 500000 + 0.5 * c  # noqa: E731
    y = lambda r: 2000000 - 0.5 * r  # noqa: E731
    zf = zones_file(tmp_path / 'z.geojson', {'west': (x(0), y(40), x(30), y(0)),
                                              'middle': (x(20), y(30), x(40), y(0))})
    zones = load_zones(zf, 'commune', g)
    counter = ZoneAreaCounter(zones, pa)
    counter.update(0, arr[:17])
    counter.update(17, arr[17:])
    rows = {(r['zone'], r['class']): r for r in counter.rows(CLASSES)}

    def expected(r0, r1, c0, c1, c):
        sub = arr[r0:r1, c0:c1] == c
        return float(pa.row_area[r0:r1] @ sub.sum(axis=1)) / 1e4
    for zone, (c0, c1, r1) in {'west': (0, 30, 40), 'middle': (20, 40, 30)}.items():
        for c in (0, 3, 4):
            assert rows[(zone, CLASSES[c])]['area_ha'] == pytest.approx(expected(0, r1, c0, c1, c), abs=1e-10)
    # overlapping zones both count the overlap; shares add up to 100 % per zone
    assert sum(rows[('middle', n)]['share_pct'] for n in CLASSES) == pytest.approx(100)
    with pytest.raises(ZoneError, match='no field .nope.'):
        load_zones(zf, 'nope', g)
    with pytest.raises(ZoneError, match='not found'):
        load_zones(tmp_path / 'missing.gpkg', 'commune', g)
    nocrs = tmp_path / 'nocrs.gpkg'
    pyogrio.raw.write(str(nocrs), shapely.to_wkb(np.array([shapely.box(0, 0, 1, 1)], dtype=object)),
                      [np.array(['a'], dtype=object)], ['commune'], driver='GPKG', geometry_type='Polygon')
    with pytest.raises(ZoneError, match='no CRS'):
        load_zones(nocrs, 'commune', g)
    with pytest.raises(ZoneError, match='georeferenced'):
        load_zones(zf, 'commune', Georef.of(None, None, 60, 40))


def test_change_between_grids_of_different_crs_is_exact_to_the_pixel(tmp_path, repo_root):
    """BEFORE on a 1 m UTM grid, AFTER on a ~0.25 m EPSG:4326 grid. Known change: 60 x 50 px become
    buildings, 100 x 30 px of trees are lost. Areas must equal those pixels' ground areas exactly."""
    import importlib.util

    from rasterio import features
    from rasterio.warp import transform_bounds, transform_geom
    from shapely.geometry import box, mapping
    tb = Affine(1.0, 0, 580000, 0, -1.0, 2330000)
    H, W = 200, 300
    before = np.zeros((H, W), np.uint8)
    before[20:80, 30:130] = 3
    before[150:160, 0:20] = 2
    _write(tmp_path / 'before.tif', before, transform=tb)
    west, south, east, north = transform_bounds('EPSG:32648', 'EPSG:4326', 580000 - 20, 2330000 - 220,
                                                580000 + 320, 2330000 + 20)
    res = 0.25 / 111320
    ta = Affine(res, 0, west, 0, -res, north)
    wa, ha = int((east - west) / res) + 1, int((north - south) / res) + 1

    def utm_box(r0, r1, c0, c1):
        x0, y1 = tb * (c0, r0)
        x1, y0 = tb * (c1, r1)
        return transform_geom('EPSG:32648', 'EPSG:4326', mapping(shapely.segmentize(box(x0, y0, x1, y1), 1.0)))
    after = features.rasterize([(utm_box(0, H, 0, W), 0), (utm_box(50, 80, 30, 130), 3),
                                (utm_box(100, 150, 200, 260), 4), (utm_box(150, 160, 0, 20), 2)],
                               out_shape=(ha, wa), transform=ta, fill=255, dtype='uint8')
    _write(tmp_path / 'after.tif', after, transform=ta, crs='EPSG:4326')
    zf = zones_file(tmp_path / 'zones.geojson', {'east': (580150, 2330000 - 200, 580300, 2330000)})
    cli = importlib.import_module('vnseg.commands.compare')
    out = tmp_path / 'out'
    assert cli.main([str(tmp_path / 'before.tif'), str(tmp_path / 'after.tif'), '--out-dir', str(out),
                     '--strip-rows', '64', '--zones', str(zf), '--zone-field', 'commune', '--min-area', '0']) == 0
    pa = PixelAreas(CRS.from_epsg(32648), tb, W, H)
    new_b = pa.row_area[100:150].sum() * 60 / 1e4
    lost_t = pa.row_area[20:50].sum() * 100 / 1e4
    s = json.loads((out / 'change_summary.json').read_text())
    cats = {c['name']: c for c in s['categories']}
    assert s['after_reprojected'] and s['compared_pixels'] == H * W
    assert cats['new_buildings']['pixels'] == 3000 and cats['trees_lost']['pixels'] == 3000
    assert cats['new_buildings']['area_ha'] == pytest.approx(new_b, rel=1e-9)
    assert cats['trees_lost']['area_ha'] == pytest.approx(lost_t, rel=1e-9)
    assert cats['water_gained']['pixels'] == cats['water_lost']['pixels'] == 0
    with open(out / 'change_transitions.csv') as f:
        rows = list(csv.reader(f))
    assert rows[0][1:6] == list(CLASSES)
    assert float(rows[1 + 0][1 + 4]) == pytest.approx(new_b, abs=1e-8)      # background -> building (ha)
    assert float(rows[1 + 3][1 + 0]) == pytest.approx(lost_t, abs=1e-8)     # tree -> background
    assert float(rows[1 + 2][1 + 2]) == pytest.approx(pa.row_area[150:160].sum() * 20 / 1e4, abs=1e-8)
    with rasterio.open(out / 'change_change.tif') as ds:
        ch = ds.read(1)
        assert ds.crs.to_epsg() == 32648 and ds.transform == tb
        assert ds.tags(ns='IMAGE_STRUCTURE').get('LAYOUT') == 'COG'
    assert (ch == 1).sum() == 3000 and (ch == 2).sum() == 3000 and (ch == 0).sum() == H * W - 6000
    for name, expect in (('new buildings', new_b), ('trees lost', lost_t)):
        meta, _, wkb, vals = pyogrio.raw.read(str(out / 'change_changes.gpkg'), layer=name)
        assert len(wkb) == 1
        assert vals[list(meta['fields']).index('area_ha')].sum() == pytest.approx(expect, rel=1e-3)
    with open(out / 'change_zones.csv') as f:
        z = {r['class']: r for r in csv.DictReader(f)}
    assert float(z['building']['after_area_ha']) == pytest.approx(new_b, abs=1e-10)
    assert float(z['building']['before_area_ha']) == 0 and float(z['building']['change_ha']) == pytest.approx(new_b)
    from PIL import Image
    assert Image.open(out / 'change_summary.png').size[0] >= 800
    # a map without CRS on another grid cannot be compared: one clear error, nothing written
    _write(tmp_path / 'plain.tif', before[:100], transform=None, crs=None)
    bad = tmp_path / 'bad'
    assert cli.main([str(tmp_path / 'before.tif'), str(tmp_path / 'plain.tif'), '--out-dir', str(bad)]) == 1
    assert not bad.exists() or not any(bad.iterdir())
