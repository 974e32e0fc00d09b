"""Raster/vector helpers of whole-scene inference: pixel ground areas, strip-wise polygons, writers."""
import math

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')
shapely = pytest.importorskip('shapely')
from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402

from vnseg.geo.areas import ClassAreaCounter, PixelAreas  # noqa: E402

A, F = 6378137.0, 1 / 298.257223563
E2 = F * (2 - F)


def _radii(lat):
    w = 1 - E2 * math.sin(lat) ** 2
    return A / math.sqrt(w), A * (1 - E2) / w ** 1.5  # prime vertical N, meridian M


def test_pixel_area_geographic_crs_is_metres_not_degrees():
    # 1e-5 deg pixels at the equator and at 21 N (Hanoi): N cos(lat) dlon x M dlat
    for lat_deg in (0.0, 21.0):
        t = Affine(1e-5, 0, 105.0, 0, -1e-5, lat_deg + 0.005)
        pa = PixelAreas(CRS.from_epsg(4326), t, 1000, 1000)
        lat = math.radians(lat_deg + 0.005 - 0.5 * 1000 * 1e-5)
        n, m = _radii(lat)
        expected = (n * math.cos(lat) * math.radians(1e-5)) * (m * math.radians(1e-5))
        assert pa.unit == 'm2' and pa.method == 'ellipsoidal'
        assert pa.area_at_row(500) == pytest.approx(expected, rel=1e-4)
    assert 1.14 < expected < 1.16 and pa.area_at_row(0) < pa.area_at_row(999)  # smaller further north


def test_pixel_area_web_mercator_removes_scale_inflation():
    # EPSG:3857 at 21 N: a 0.1 m "pixel" is only N M cos^2(lat) / a^2 ~ 0.87 of 0.01 m^2 on the ground
    lat = math.radians(21.0)
    y = A * math.log(math.tan(math.pi / 4 + lat / 2))
    t = Affine(0.1, 0, 11688546.0, 0, -0.1, y + 50)
    pa = PixelAreas(CRS.from_epsg(3857), t, 1000, 1000)
    n, m = _radii(lat)
    assert pa.area_at_row(500) == pytest.approx(0.01 * n * m * math.cos(lat) ** 2 / A ** 2, rel=1e-4)
    assert pa.linear_scale() == pytest.approx(math.sqrt(pa.area_at_row(500) / 0.01), rel=1e-6)


def test_pixel_area_utm_is_planar_times_scale_factor():
    # 500 km easting = central meridian: UTM scale factor 0.9996 -> area factor 0.9992
    t = Affine(0.5, 0, 499750.0, 0, -0.5, 2300000.0)
    pa = PixelAreas(CRS.from_epsg(32648), t, 1000, 1000)
    assert pa.area_at_row(500) == pytest.approx(0.25 * 0.9996 ** -2, rel=2e-4)


def test_no_crs_means_pixel_units():
    pa = PixelAreas(None, Affine.identity(), 30, 20)
    assert pa.unit == 'px' and pa.row_area is None and pa.area_at_row(3) == 1.0
    c = ClassAreaCounter(pa)
    c.update(0, np.array([[0, 1, 255], [1, 1, 255]], np.uint8))
    assert c.pixels[:2].tolist() == [1, 3] and c.pixels[255] == 2 and c.area_m2.sum() == 0


def test_counter_areas_and_data_window():
    t = Affine(2.0, 0, 500000.0, 0, -2.0, 2000000.0)
    pa = PixelAreas(CRS.from_epsg(32648), t, 10, 8)
    c = ClassAreaCounter(pa)
    block = np.full((8, 10), 255, np.uint8)
    block[2:5, 3:7] = 4
    block[6, 1] = 2
    c.update(0, block[:4])
    c.update(4, block[4:])
    assert c.pixels[4] == 12 and c.pixels[2] == 1 and c.pixels[255] == 80 - 13
    assert c.area_m2[4] == pytest.approx(12 * pa.row_area[3], rel=1e-6)
    assert c.data_window == (2, 7, 1, 7)


def _write_map(path, arr, transform=Affine(0.5, 0, 500000, 0, -0.5, 2000000), crs='EPSG:32648'):
    with rasterio.open(path, 'w', driver='GTiff', width=arr.shape[1], height=arr.shape[0], count=1,
                       dtype='uint8', nodata=255, crs=crs, transform=transform) as d:
        d.write(arr, 1)
    return path


def _blobs(h=90, w=70, seed=0):
    from scipy import ndimage
    rng = np.random.RandomState(seed)
    field = ndimage.gaussian_filter(rng.rand(h, w), 3)
    arr = np.digitize(field, np.quantile(field, [0.3, 0.55, 0.8])).astype(np.uint8)  # 0..3
    arr[rng.rand(h, w) < 0.01] = 4                # scattered single pixels
    arr[:5, :] = 255                              # nodata band
    arr[40:60, 20:50] = 1                         # a block spanning strip boundaries, with a hole
    arr[48:52, 30:34] = 3
    return arr


@pytest.mark.parametrize('strip_rows', [1, 7, 32])
def test_strip_polygons_equal_whole_raster_polygons(tmp_path, strip_rows):
    import pyogrio

    from vnseg.core.classes import PALETTE
    from vnseg.geo.vectorize import PolygonFiles, PolygonOptions, write_class_polygons
    arr = _blobs()
    src = _write_map(tmp_path / 'map.tif', arr)
    with rasterio.open(src) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    names = ('background', 'road', 'water', 'tree', 'building')

    def polys(rows, sub):
        res = write_class_polygons(src, PolygonFiles(tmp_path / sub, 'm', names, PALETTE, geojson=False), pa,
                                   PolygonOptions(range(5), 0, 0), strip_rows=rows, max_polygon_rows=0)
        gp, stats = res.gpkg, res.stats
        out = {}
        for c in range(5):
            _, _, wkb, _ = pyogrio.raw.read(str(gp), layer=names[c])
            geoms = shapely.from_wkb(wkb)
            out[c] = sorted((round(g.area, 6), len(g.interiors)) for g in geoms)
            assert stats[c]['polygons'] == len(geoms)
        return out

    whole, strips = polys(10000, 'whole'), polys(strip_rows, f'strips{strip_rows}')
    assert strips == whole
    for c in range(5):  # every pixel of each class is in exactly one polygon (0.25 m^2 per pixel)
        assert sum(a for a, _ in whole[c]) == pytest.approx((arr == c).sum() * 0.25)
    assert any(h for a, h in whole[1])  # the hole in the block survived the merge
    assert len(whole[4]) > 10


def test_min_area_and_simplification(tmp_path):
    import pyogrio

    from vnseg.core.classes import PALETTE
    from vnseg.geo.vectorize import PolygonFiles, PolygonOptions, write_class_polygons
    arr = _blobs(seed=1)
    src = _write_map(tmp_path / 'map.tif', arr)
    with rasterio.open(src) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
        bounds = ds.bounds
    names = ('background', 'road', 'water', 'tree', 'building')

    def run(cls, sub, min_area=0.0, tol=0.0):
        res = write_class_polygons(src, PolygonFiles(tmp_path / sub, 'm', names, PALETTE), pa,
                                   PolygonOptions([cls], min_area, tol))
        gp, st = res.gpkg, res.stats
        meta, _, wkb, vals = pyogrio.raw.read(str(gp), layer=names[cls])
        assert pyogrio.read_info(gp, layer=names[cls])['crs'] == 'EPSG:32648'
        return st, shapely.from_wkb(wkb), dict(zip(meta['fields'], vals))
    st, _, props = run(4, 'b', min_area=0.3)  # single pixels (0.25 m^2 x 0.9992^-2) go
    # (merged into their largest neighbour, so the coverage keeps no hole: the net area taken is reported)
    assert st[4]['dropped_small'] == 0 and st[4]['dropped_area'] > 10 * 0.25
    assert all(props['area_m2'] >= 0.3)
    exact, exact_geoms, _ = run(3, 't0')
    n_exact = sum(len(g.exterior.coords) for g in exact_geoms)
    _, geoms, _ = run(3, 't1', tol=0.5)
    # (shared borders simplified once for both neighbours, Visvalingam-Whyatt, vertices where three
    # classes meet kept: fewer vertices go than with Douglas-Peucker on each polygon alone)
    assert sum(len(g.exterior.coords) for g in geoms) < 0.75 * n_exact
    assert sum(g.area for g in geoms) == pytest.approx(exact[3]['area'] * 0.9996 ** 2, rel=0.03)
    assert all(g.is_valid for g in geoms)
    for g in geoms:
        x0, y0, x1, y1 = g.bounds
        assert bounds.left <= x0 and x1 <= bounds.right and bounds.bottom <= y0 and y1 <= bounds.top


def test_class_map_writer_order_completeness_and_atomicity(tmp_path):
    from vnseg.core.atomic import atomic_output
    from vnseg.core.classes import CLASSES, PALETTE
    from vnseg.geo.raster_io import ClassMapWriter
    t = Affine(0.5, 0, 500000, 0, -0.5, 2000000)
    out = tmp_path / 'c.tif'
    w = ClassMapWriter(out, 700, 1300, CRS.from_epsg(32648), t, CLASSES, PALETTE)
    rows = (np.arange(1300)[:, None] + np.arange(700)[None]) % 5
    for r in range(0, 1300, 300):  # strips not aligned with the 512-row blocks
        w.write_rows(r, rows[r:r + 300].astype(np.uint8))
    with pytest.raises(ValueError, match='in order'):
        w.write_rows(0, rows[:10].astype(np.uint8))
    w.close()
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1), rows)
        assert ds.overviews(1) == [2, 4] and ds.block_shapes[0] == (512, 512)  # 1300 -> 650 -> 325
    assert sorted(p.name for p in tmp_path.iterdir()) == ['c.tif']
    # an unfinished writer leaves the previous file untouched and no temporaries
    w = ClassMapWriter(out, 700, 1300, CRS.from_epsg(32648), t, CLASSES, PALETTE)
    w.write_rows(0, np.zeros((600, 700), np.uint8))
    with pytest.raises(ValueError, match='600 of 1300'):
        w.close()
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1, window=((0, 5), (0, 5))), rows[:5, :5])
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / 'x.json') as tmp:
            tmp.write_text('half')
            raise RuntimeError('boom')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['c.tif']
