"""The gap-free class coverage (vnseg.geo.coverage): validity, exact areas, strips against the whole raster."""
import numpy as np
import pytest
from conftest import ListSink

shapely = pytest.importorskip('shapely')
rasterio = pytest.importorskip('rasterio')

from vnseg.geo.areas import PixelAreas  # noqa: E402
from vnseg.geo.coverage import (PolygonOptions, check_coverage, coverage_layer_fields,  # noqa: E402
                                coverage_supported, validity_report, vectorize_coverage)
from vnseg.geo.strips import LayerSpec  # noqa: E402

PX = 0.1  # metres per pixel of the test rasters (UTM)

pytestmark = pytest.mark.skipif(not coverage_supported(), reason='GEOS < 3.12 has no coverage functions')


def scene(h=240, w=210, seed=0):
    """A class map with smooth regions of four classes, rectangular buildings and one-pixel specks."""
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=(h, w)), 5)
    cm = np.digitize(noise, np.quantile(noise, [0.3, 0.5, 0.7])).astype(np.uint8)
    for _ in range(20):
        y, x = rng.integers(0, h - 20), rng.integers(0, w - 20)
        cm[y:y + rng.integers(5, 20), x:x + rng.integers(5, 20)] = 4
    cm[rng.integers(0, h, 30), rng.integers(0, w, 30)] = 2
    return cm


def write_map(path, cm, nodata=None):
    from rasterio.transform import from_origin
    with rasterio.open(path, 'w', driver='GTiff', width=cm.shape[1], height=cm.shape[0], count=1, dtype='uint8',
                       crs='EPSG:32648', transform=from_origin(500000, 1200000, PX, PX), nodata=nodata) as ds:
        ds.write(cm, 1)
    return path


def run(path, strip_rows, classes=range(5), max_polygon_rows=None, **opts):
    with rasterio.open(path) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    sinks = {c: ListSink() for c in classes}
    layers = {c: LayerSpec([sinks[c]], c, f'c{c}') for c in classes}
    opts = dict(dict(min_area=0.0, simplify=0.0), **opts)
    res = vectorize_coverage(path, layers, pa, PolygonOptions(**opts), strip_rows=strip_rows,
                             max_polygon_rows=max_polygon_rows)
    return res, sinks, pa


def geoms_of(sinks):
    return np.asarray([g for s in sinks.values() for g, _ in s.items], dtype=object)


@pytest.mark.parametrize('simplify', [0.0, 0.2, 0.5])
@pytest.mark.parametrize('strip_rows', [1000, 64, 37])
def test_coverage_is_valid_and_gap_free(tmp_path, simplify, strip_rows):
    cm = scene()
    path = write_map(tmp_path / 'map.tif', cm)
    res, sinks, pa = run(path, strip_rows, simplify=simplify)
    arr = geoms_of(sinks)
    assert shapely.coverage_is_valid(arr)
    assert shapely.is_valid(arr).all()
    assert not res['invalid_strips'] and res['strip_checks'] == -(-cm.shape[0] // strip_rows)
    # no gap, no overlap: the polygons add up to the raster and their union is the raster
    full = cm.size * PX * PX
    assert shapely.area(arr).sum() == pytest.approx(full, rel=1e-12)
    union = shapely.union_all(arr)
    assert union.geom_type == 'Polygon' and not union.interiors
    assert union.area == pytest.approx(full, rel=1e-12)
    # every polygon keeps the exact pixel area of its region; the geometry's own area is reported
    # (ground areas: the ellipsoidal area of a pixel is a little more than the planar 0.01 m^2 here)
    ground = float(pa.row_area.mean()) / (PX * PX)
    for c, sink in sinks.items():
        px_area = sum(p['area_m2'] for _, p in sink.items)
        assert px_area == pytest.approx(float(np.count_nonzero(cm == c, axis=1) @ pa.row_area), rel=1e-6)
        geom_area = sum(p['geom_area_m2'] for _, p in sink.items)
        assert geom_area == pytest.approx(ground * sum(g.area for g, _ in sink.items), rel=1e-6)
        # bounded by the tolerance: each removed vertex moves the border by less than it
        perimeter = sum(g.length for g, _ in sink.items)
        assert abs(geom_area - px_area) <= 0.5 * simplify * perimeter * ground + 1e-9
    if simplify == 0:
        for sink in sinks.values():
            for g, p in sink.items:
                assert p['geom_area_m2'] == pytest.approx(p['area_m2'], rel=1e-9)


def test_simplification_removes_vertices(tmp_path):
    path = write_map(tmp_path / 'map.tif', scene())
    _, raw, _ = run(path, 64, simplify=0.0)
    _, simp, _ = run(path, 64, simplify=0.5)
    n_raw = shapely.get_num_coordinates(geoms_of(raw)).sum()
    n_simp = shapely.get_num_coordinates(geoms_of(simp)).sum()
    assert n_simp < 0.6 * n_raw


def _by_region(sinks):
    """{(class, representative point of the pixel region)}: match regions between two runs."""
    return {c: [(g, p['area_m2']) for g, p in s.items] for c, s in sinks.items()}


def test_strips_equal_whole_raster_without_simplification(tmp_path):
    cm = scene(seed=3)
    path = write_map(tmp_path / 'map.tif', cm)
    _, whole, _ = run(path, 10_000, simplify=0.0)
    _, strips, _ = run(path, 23, simplify=0.0, max_polygon_rows=0)  # 0: no region is cut
    # the same regions, and each strip-wise region has exactly the whole-raster geometry
    for c in whole:
        a = sorted(whole[c].items, key=lambda gp: (gp[1]['area_m2'], gp[0].bounds))
        b = sorted(strips[c].items, key=lambda gp: (gp[1]['area_m2'], gp[0].bounds))
        assert len(a) == len(b)
        for (ga, pa_), (gb, pb) in zip(a, b):
            assert pa_['area_m2'] == pytest.approx(pb['area_m2'], rel=1e-12)
            assert ga.symmetric_difference(gb).area < 1e-9


def test_strips_as_close_to_the_pixels_as_the_whole_raster(tmp_path):
    """Simplified strip by strip (strip lines kept fixed), each class departs from its pixels about as
    much as when the whole raster is simplified at once."""
    cm = scene(seed=4)
    path = write_map(tmp_path / 'map.tif', cm)
    _, raw, _ = run(path, 10_000, simplify=0.0)
    _, whole, _ = run(path, 10_000, simplify=0.3)
    _, strips, _ = run(path, 40, simplify=0.3, max_polygon_rows=0)
    n_whole = shapely.get_num_coordinates(geoms_of(whole)).sum()
    n_strips = shapely.get_num_coordinates(geoms_of(strips)).sum()
    assert n_strips < 1.3 * n_whole
    for c in raw:
        pixels = shapely.union_all([g for g, _ in raw[c].items])
        d_whole = pixels.symmetric_difference(shapely.union_all([g for g, _ in whole[c].items])).area
        d_strips = pixels.symmetric_difference(shapely.union_all([g for g, _ in strips[c].items])).area
        assert d_strips <= 1.2 * d_whole + 1e-9
        change_whole = abs(sum(g.area for g, _ in whole[c].items) - pixels.area)
        change_strips = abs(sum(g.area for g, _ in strips[c].items) - pixels.area)
        assert change_strips <= max(1.5 * change_whole, 0.005 * pixels.area)


def test_t_junction_on_a_strip_line(tmp_path):
    """A class spanning the last row of a strip above two classes in the next strip's first row: the
    pieces meet at a vertex that neither side's own outline would have."""
    cm = np.zeros((20, 30), np.uint8)
    cm[10:, 10:20] = 1
    cm[10:, 20:] = 2
    cm[:10, 5:25] = 3
    path = write_map(tmp_path / 'map.tif', cm)
    for strip in (10, 7, 100):
        res, sinks, _ = run(path, strip, simplify=0.0)
        assert shapely.coverage_is_valid(geoms_of(sinks))
        assert len(sinks[3].items) == 1 and len(sinks[0].items) == 2 and len(sinks[1].items) == 1


def test_min_area_dissolves_specks_without_gaps(tmp_path):
    cm = np.zeros((60, 60), np.uint8)
    cm[:, 30:] = 1
    cm[10, 10] = 2          # 1-pixel speck inside class 0
    cm[40:42, 45] = 3       # 2-pixel speck inside class 1
    cm[20:30, 5:15] = 4     # 100 px: kept
    path = write_map(tmp_path / 'map.tif', cm)
    res, sinks, pa = run(path, 16, min_area=5 * PX * PX, simplify=0.0)
    assert not sinks[2].items and not sinks[3].items
    assert res['sieved_pixels'] == 3
    assert len(sinks[4].items) == 1
    arr = geoms_of(sinks)
    assert shapely.coverage_is_valid(arr)
    assert shapely.area(arr).sum() == pytest.approx(cm.size * PX * PX)
    # per class, written area + the sieve's net take = the class's area in the raster (the area table)
    for c in range(5):
        st = res['layers'][c]
        assert st['dropped_small'] == 0
        assert st['area'] + st['dropped_area'] == pytest.approx(
            float(np.count_nonzero(cm == c, axis=1) @ pa.row_area), rel=1e-6)
    assert res['layers'][2]['dropped_area'] > 0 and res['layers'][0]['dropped_area'] < 0
    # class 0: the left half less the building, the speck given back
    assert sum(p['area_m2'] for _, p in sinks[0].items) == pytest.approx(1700 * float(pa.row_area.mean()), rel=1e-6)


def test_nodata_is_left_out_and_confidence_kept(tmp_path):
    cm = np.zeros((30, 40), np.uint8)
    cm[:, 20:] = 1
    cm[:5, :] = 255
    conf = np.full(cm.shape, 80, np.uint8)
    conf[:, 20:] = 60
    path = write_map(tmp_path / 'map.tif', cm, nodata=255)
    cpath = tmp_path / 'conf.tif'
    write_map(cpath, conf)
    with rasterio.open(path) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    sinks = {c: ListSink() for c in (0, 1)}
    layers = {c: LayerSpec([sinks[c]], c, f'c{c}') for c in (0, 1)}
    vectorize_coverage(path, layers, pa, PolygonOptions(min_area=0, simplify=0.2), strip_rows=8, confidence_path=cpath)
    (g0, p0), = sinks[0].items
    (g1, p1), = sinks[1].items
    assert p0['confidence'] == pytest.approx(80.0) and p1['confidence'] == pytest.approx(60.0)
    assert g0.area + g1.area == pytest.approx(25 * 40 * PX * PX)
    assert shapely.coverage_is_valid(np.asarray([g0, g1], dtype=object))


def test_validity_report_and_band_check(tmp_path):
    cm = scene(seed=5)
    path = write_map(tmp_path / 'map.tif', cm)
    res, sinks, _ = run(path, 50, simplify=0.5)
    arr = geoms_of(sinks)
    ys = shapely.bounds(arr)[:, [1, 3]]
    y0, y1 = ys.min(), ys.max()
    edges = np.linspace(y0, y1, 6)
    bands = [[g for g, (lo, hi) in zip(arr, ys) if hi >= a and lo <= b] for a, b in zip(edges[:-1], edges[1:])]
    check = check_coverage(iter(bands))
    assert check == dict(valid=True, bands=5, invalid_bands=[])
    rep = validity_report(res, {c: f'c{c}' for c in range(5)}, check)
    assert rep['coverage_valid'] is True and rep['invalid_repaired'] == 0
    rows = {r['class_id']: r for r in rep['classes']}
    for c in range(5):
        px = sum(p['area_m2'] for _, p in sinks[c].items)
        assert rows[c]['pixel_area'] == pytest.approx(px, abs=1e-4)
        geo = sum(p['geom_area_m2'] for _, p in sinks[c].items)
        assert rows[c]['area_change_pct'] == pytest.approx(100 * (geo - px) / px, abs=1e-3)
    # a broken coverage is reported as such: two overlapping squares
    bad = check_coverage(iter([[shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)]]))
    assert bad['valid'] is False and bad['invalid_bands'] == [0]


def test_layer_fields():
    f = coverage_layer_fields('m2', with_confidence=True, regularized=True)
    assert f['geom_area_m2'] == 'float' and f['regularized'] == 'int' and f['area_m2'] == 'float'
    assert 'geom_area_px' in coverage_layer_fields('px')


def test_written_geopackage_checked_by_bands(tmp_path):
    from vnseg.geo.coverage import gpkg_bands
    from vnseg.geo.layers import GeoPackageWriter
    cm = scene(seed=6)
    path = write_map(tmp_path / 'map.tif', cm)
    with rasterio.open(path) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    gp = GeoPackageWriter(tmp_path / 'out.gpkg', pa.georef)
    names = [f'c{c}' for c in range(5)]
    layers = {c: LayerSpec([gp.layer(names[c], coverage_layer_fields('m2', False))], c, names[c]) for c in range(5)}
    res = vectorize_coverage(path, layers, pa, PolygonOptions(min_area=0, simplify=0.3), strip_rows=40)
    gp.close()
    check = check_coverage(gpkg_bands(tmp_path / 'out.gpkg', names, n_bands=4))
    assert check == dict(valid=True, bands=4, invalid_bands=[])
    assert validity_report(res, check=check)['coverage_valid'] is True
    # the same file with one polygon moved a little is caught
    from pyogrio.raw import read, write
    meta, _, wkb, cols = read(str(tmp_path / 'out.gpkg'), layer='c4')
    geoms = shapely.from_wkb(wkb)
    geoms[0] = shapely.affinity.translate(geoms[0], 0.05, 0.0)
    write(str(tmp_path / 'out.gpkg'), shapely.to_wkb(geoms), cols, meta['fields'], layer='c4', driver='GPKG',
          crs=meta['crs'], geometry_type='Polygon')
    assert check_coverage(gpkg_bands(tmp_path / 'out.gpkg', names, n_bands=4))['valid'] is False
