"""Building regularisation (vnseg.geo.regularize): right angles, IoU with the true shape, holes, the
unregularisable flag, and a coverage that stays valid around squared buildings."""
import math

import numpy as np
import pytest
from conftest import ListSink

shapely = pytest.importorskip('shapely')
rasterio = pytest.importorskip('rasterio')

from shapely import affinity  # noqa: E402
from shapely.geometry import Polygon, box  # noqa: E402

from vnseg.geo.coverage import coverage_supported  # noqa: E402
from vnseg.geo.regularize import RegularizeOptions, corner_angles, main_angle, regularize_polygon  # noqa: E402


def pixel_outline(shape, size=200):
    """The pixel outline (pixel-centre rasterisation, like a class map) of ``shape``."""
    from rasterio.features import rasterize, shapes
    mask = rasterize([(shape, 1)], out_shape=(size, size), fill=0, dtype='uint8')
    polys = [shapely.geometry.shape(g) for g, v in shapes(mask, mask=mask.astype(bool), connectivity=4)]
    return max(polys, key=lambda p: p.area)


def iou(a, b):
    inter = a.intersection(b).area
    return inter / (a.area + b.area - inter)


def l_shape():
    return Polygon([(0, 0), (60, 0), (60, 25), (25, 25), (25, 70), (0, 70)])


@pytest.mark.parametrize('angle', [0.0, 17.0, 33.0, 45.0, 71.0])
def test_rotated_rectangle_recovers_right_angles(angle):
    truth = affinity.rotate(box(0, 0, 70, 38), angle, origin=(0, 0))
    truth = affinity.translate(truth, 100.3 - truth.centroid.x, 100.2 - truth.centroid.y)  # edges off pixel centres
    raw = pixel_outline(truth)
    res = regularize_polygon(raw)
    assert res is not None
    reg, theta = res
    assert len(reg.exterior.coords) == 5
    assert np.all(np.abs(corner_angles(reg) - 90.0) < 0.5)
    assert iou(reg, truth) > 0.97
    assert iou(reg, truth) >= iou(raw, truth) - 0.005  # at least about as close as the staircase
    assert math.degrees(theta) % 90 == pytest.approx(angle % 90, abs=1.5)
    # distance to the truth: within half a pixel everywhere
    assert shapely.hausdorff_distance(reg.exterior, truth.exterior) < 1.0


@pytest.mark.parametrize('angle', [0.0, 25.0, 60.0])
def test_l_shape(angle):
    truth = affinity.translate(affinity.rotate(l_shape(), angle, origin=(0, 0)), 100, 60)
    truth = affinity.translate(truth, 100.3 - truth.centroid.x, 100.2 - truth.centroid.y)
    raw = pixel_outline(truth)
    reg, _ = regularize_polygon(raw)
    assert len(reg.exterior.coords) == 7
    assert np.all(np.abs(corner_angles(reg) - 90.0) < 0.5)
    assert iou(reg, truth) > 0.96


def test_cut_corner_gets_45_degrees_and_can_be_turned_off():
    truth = Polygon([(50.3, 50.2), (150.3, 50.2), (150.3, 120.2), (130.3, 140.2), (50.3, 140.2)])  # one chamfer
    raw = pixel_outline(truth)
    reg, _ = regularize_polygon(raw)
    angles = np.sort(corner_angles(reg))
    assert len(angles) == 5
    assert np.allclose(angles, [90, 90, 90, 135, 135], atol=0.5)
    assert iou(reg, truth) > 0.97
    square, _ = regularize_polygon(raw, RegularizeOptions(diagonals=False))
    assert np.all(np.abs(corner_angles(square) - 90.0) < 0.5)


def test_holes_are_kept():
    truth = box(40.3, 40.2, 160.3, 150.2).difference(box(80.3, 80.2, 120.3, 110.2))
    truth = affinity.rotate(truth, 12, origin='centroid')
    raw = pixel_outline(truth)
    assert len(raw.interiors) == 1
    reg, _ = regularize_polygon(raw)
    assert len(reg.interiors) == 1
    assert np.all(np.abs(corner_angles(reg) - 90.0) < 0.5)
    assert iou(reg, truth) > 0.95


def test_blob_is_not_regularised():
    """An irregular blob (no straight walls) has no acceptable straight-edged version."""
    rng = np.random.default_rng(1)
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    r = 40 * (1 + 0.35 * rng.standard_normal(40).clip(-1.5, 1.5))
    blob = Polygon(np.column_stack([100 + r * np.cos(t), 100 + r * np.sin(t)])).buffer(0)
    raw = pixel_outline(blob)
    assert regularize_polygon(raw) is None
    assert regularize_polygon(Polygon()) is None


def test_main_angle():
    for a in (0, 10, 44, 80):
        r = affinity.rotate(box(0, 0, 80, 30), a, origin=(0, 0))
        assert math.degrees(main_angle(r, 0.0)) == pytest.approx(a % 90, abs=1e-6)


# -- in the coverage -------------------------------------------------------------------------------

def town(h=260, w=240, seed=0):
    """Background and trees, a road grid, rotated rectangular and L-shaped buildings, and one blob."""
    from rasterio.features import rasterize
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    cm = np.zeros((h, w), np.uint8)
    noise = ndimage.gaussian_filter(rng.normal(size=(h, w)), 6)
    cm[noise > np.quantile(noise, 0.75)] = 3
    cm[60:70, :] = 1
    cm[:, 120:128] = 1
    cm[180:200, 10:60] = 2
    shapes_ = []
    for k, (cx, cy, ang) in enumerate([(40, 30, 10), (90, 35, 25), (170, 30, 0), (200, 100, 40), (60, 110, 5),
                                       (170, 150, 15), (60, 230, 30), (200, 225, 0)]):
        s = box(-14, -9, 14, 9) if k % 3 else affinity.scale(l_shape(), 0.4, 0.4, origin=(0, 0))
        s = affinity.rotate(s, ang, origin='centroid')
        shapes_.append(affinity.translate(s, cx - s.centroid.x, cy - s.centroid.y))
    t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    r = 14 * (1 + 0.4 * np.random.default_rng(5).standard_normal(30).clip(-1.5, 1.5))
    blob = Polygon(np.column_stack([100 + r * np.cos(t), 160 + r * np.sin(t)])).buffer(0)
    mask = rasterize([(s, 1) for s in shapes_ + [blob]], out_shape=(h, w), fill=0, dtype='uint8')
    cm[mask == 1] = 4
    return cm, shapes_, blob


@pytest.mark.skipif(not coverage_supported(), reason='GEOS < 3.12 has no coverage functions')
@pytest.mark.parametrize('strip_rows', [1000, 50])
def test_regularised_buildings_keep_the_coverage_valid(tmp_path, strip_rows):
    from rasterio.transform import from_origin

    from vnseg.geo.areas import PixelAreas
    from vnseg.geo.coverage import PolygonOptions, vectorize_coverage
    from vnseg.geo.strips import LayerSpec
    cm, truths, blob = town()
    path = tmp_path / 'town.tif'
    with rasterio.open(path, 'w', driver='GTiff', width=cm.shape[1], height=cm.shape[0], count=1, dtype='uint8',
                       crs='EPSG:32648', transform=from_origin(500000, 1200000, 0.1, 0.1)) as ds:
        ds.write(cm, 1)
    with rasterio.open(path) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    sinks = {c: ListSink() for c in range(5)}
    layers = {c: LayerSpec([sinks[c]], c, f'c{c}') for c in range(5)}
    # (the sieve of specks, as with vnseg map's minimum area, leaves no one-pixel gap between a
    # building and a tree that the squared building would swallow: such a building stays unsquared)
    res = vectorize_coverage(path, layers, pa, PolygonOptions(simplify=0.2, min_area=0.2, regularize_buildings=True),
                             strip_rows=strip_rows)
    arr = np.asarray([g for s in sinks.values() for g, _ in s.items], dtype=object)
    assert shapely.coverage_is_valid(arr)
    assert shapely.is_valid(arr).all()
    assert shapely.area(arr).sum() == pytest.approx(cm.size * 0.01, rel=1e-9)  # no gap, no overlap
    assert shapely.union_all(arr).area == pytest.approx(cm.size * 0.01, rel=1e-9)
    assert res['repaired'] == 0
    # to pixel coordinates, where the truth is
    inv = ~pa.transform
    buildings = [(shapely.transform(g, lambda xy: np.column_stack(inv * (xy[:, 0], xy[:, 1]))), p)
                 for g, p in sinks[4].items]
    assert len(buildings) == len(truths) + 1
    for truth in truths:
        (g, p), = [(g, p) for g, p in buildings if g.intersects(truth.centroid)]
        assert p['regularized'] == 1
        assert iou(g, truth) > 0.93
        assert np.all(np.abs(corner_angles(g, min_edge=1.5) - 90.0) < 1.0)
        assert p['area_m2'] == pytest.approx(np.count_nonzero(
            rasterio.features.rasterize([(truth, 1)], out_shape=cm.shape, dtype='uint8')) * 0.01, rel=0.02)
    (g, p), = [(g, p) for g, p in buildings if g.intersects(blob.centroid)]
    assert p['regularized'] == 0
    assert res['layers'][4]['regularized'] == len(truths)


@pytest.mark.skipif(not coverage_supported(), reason='GEOS < 3.12 has no coverage functions')
def test_memory_stays_bounded_on_a_taller_map(tmp_path):
    """What the polygoniser holds between strips (carried regions, finished ones waiting for a building
    nearby) does not grow with the height of the map."""
    from rasterio.transform import from_origin

    from vnseg.geo.areas import PixelAreas
    from vnseg.geo.coverage import PolygonOptions, vectorize_coverage
    from vnseg.geo.strips import LayerSpec
    peaks = []
    for reps in (2, 8):
        cm = np.vstack([town(seed=s)[0] for s in range(reps)])
        path = tmp_path / f'tall{reps}.tif'
        with rasterio.open(path, 'w', driver='GTiff', width=cm.shape[1], height=cm.shape[0], count=1,
                           dtype='uint8', crs='EPSG:32648', transform=from_origin(500000, 1200000, 0.1, 0.1)) as ds:
            ds.write(cm, 1)
        with rasterio.open(path) as ds:
            pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
        sinks = {c: ListSink() for c in range(5)}
        layers = {c: LayerSpec([sinks[c]], c, f'c{c}') for c in range(5)}
        opts = PolygonOptions(simplify=0.2, min_area=0.2, regularize_buildings=True)
        res = vectorize_coverage(path, layers, pa, opts, strip_rows=64, max_polygon_rows=256)
        assert shapely.coverage_is_valid(np.asarray([g for s in sinks.values() for g, _ in s.items], dtype=object))
        assert res['layers'][4]['regularized'] >= 6 * reps
        peaks.append(res['peak_carried_vertices'])
    assert 0 < peaks[1] < 1.5 * peaks[0]
