"""Quality of the class-map vectors: gap-free coverage, simplification, building regularisation.

    python benchmarks/vector_quality.py [--out-dir work_dirs/vector_quality] [--skip-dubai] [--timing]
        [--model-kampala KAMPALA_classes.tif] [--model-dubai TILE6_classes.tif ...]

Part 1 -- Kampala drone mosaic (``../shared/data/kampala_drone``): the building polygons made from the
reference mask (``kampala_oam_z21_buildings_mask.tif``, the OSM footprints rasterised on the mosaic's
7.5 cm grid) -- raw pixel outlines, coverage-simplified, regularised (vnseg), and the same raw outlines
given to the ``buildingregulariser`` package when it is installed -- against the OSM polygons
(``labels_osm_buildings.geojson``): per OSM building the IoU of the polygon overlapping it most
(mean, 10th percentile), over matched pairs (IoU >= 0.5) the PoLiS distance and the Hausdorff distance
(metres), the median number of vertices per building, and the share of a building's corners within
10 degrees of a right angle, averaged over the buildings (corners between edges of at least 0.5 m,
so that a pixel staircase does not count as right angles). Footprints that touch in OSM are merged
first (the mask cannot tell them apart), and only those inside the mosaic are compared.

Part 2 -- a multi-class class map from the Dubai tiles (``../shared/data/dubai_aerial/masks_5class``):
the 54 masks shelf-packed in file order, repeated until a 4096 x 4096 canvas is full, on an assumed
UTM 40N grid at 0.5 m per pixel. Vectorised by the coverage polygoniser at 0.5 m and 2 m, with and
without building regularisation, and by the per-polygon Douglas-Peucker polygoniser
(``vnseg.geo.strips``, what ``vnseg map`` wrote before the coverage) for contrast: is the written
GeoPackage a valid coverage (``shapely.coverage_is_valid`` over all its polygons), the largest
per-class area change of the geometries against the exact pixel areas, and (``--timing``, on an
idle machine only) the time and peak RSS of each run in its own process.

Part 3 -- a model's class maps (``vnseg map`` of a trained model): ``--model-kampala`` (its
``STEM_classes.tif`` of the Kampala mosaic) vectorised as ``vnseg map`` writes it (all classes but
background, ``--min-area`` 1 m^2) before the coverage (per-polygon Douglas-Peucker at half a pixel) and
now (the coverage at half a pixel and at 0.5 m, with and without square buildings): valid coverage,
vertices per building, the buildings against the OSM footprints as in part 1. ``--model-dubai`` (its
class maps of Dubai test scenes, shelf-packed on the assumed 0.5 m grid of part 2): part 2's runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vnseg.testing.memory import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('VNSEG_SHARED_DATA', REPO.parent / 'shared' / 'data'))
KAMPALA = SHARED / 'kampala_drone'
DUBAI = SHARED / 'dubai_aerial' / 'masks_5class'


class ListSink:
    """Collects (geometry, properties) like a layer writer."""

    def __init__(self):
        self.items = []

    def add(self, geom, props):
        self.items.append((geom, props))


# -- part 1: buildings against OSM ------------------------------------------------------------------

def polis(a, b) -> float:
    """PoLiS distance of two polygons (mean distance of each one's vertices to the other's boundary,
    averaged over both directions)."""
    import shapely
    pa = shapely.points(shapely.get_coordinates(a.exterior)[:-1])
    pb = shapely.points(shapely.get_coordinates(b.exterior)[:-1])
    return 0.5 * (float(np.mean(shapely.distance(pa, b.exterior))) +
                  float(np.mean(shapely.distance(pb, a.exterior))))


def building_metrics(polys, osm, metres_per_unit: float) -> dict:
    """Metrics of predicted building polygons ``polys`` against ``osm`` (same CRS)."""
    import shapely

    from vnseg.geo.regularize import corner_angles
    polys = [p for p in polys if p.geom_type == 'Polygon' and not p.is_empty]
    tree = shapely.STRtree(polys)
    ious, dists, haus = [], [], []
    for o in osm:
        best, best_p = 0.0, None
        for i in tree.query(o, predicate='intersects'):
            p = polys[i]
            inter = p.intersection(o).area
            iou = inter / (p.area + o.area - inter)
            if iou > best:
                best, best_p = iou, p
        ious.append(best)
        if best >= 0.5:
            dists.append(polis(best_p, o) * metres_per_unit)
            haus.append(shapely.hausdorff_distance(best_p.exterior, o.exterior) * metres_per_unit)
    min_edge = 0.5 / metres_per_unit
    shares = []
    for p in polys:
        ang = corner_angles(p, min_edge)
        if len(ang):
            shares.append(float(np.mean(np.abs(ang - 90) <= 10)))
    verts = [shapely.get_num_coordinates(p) - 1 - len(p.interiors) for p in polys]
    return dict(n=len(polys), iou_mean=float(np.mean(ious)), iou_p10=float(np.percentile(ious, 10)),
                polis_m=float(np.mean(dists)) if dists else float('nan'),
                hausdorff_m=float(np.mean(haus)) if haus else float('nan'),
                vertices_median=float(np.median(verts)) if verts else float('nan'),
                right_angles_pct=100.0 * float(np.mean(shares)) if shares else float('nan'))


def read_osm(path, crs):
    import shapely
    from pyogrio.raw import read
    from rasterio.crs import CRS
    from rasterio.warp import transform as warp_transform
    meta, _, wkb, _ = read(str(path))
    geoms = shapely.from_wkb(wkb)
    src = CRS.from_user_input(meta['crs'] or 'EPSG:4326')

    def proj(xy):
        x, y = warp_transform(src, crs, xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])
    out = []
    for g in shapely.make_valid(shapely.transform(geoms, proj)):  # a few OSM rings self-touch
        out.extend(getattr(g, 'geoms', [g]))
    return [g for g in out if g.geom_type == 'Polygon']


def kampala_polygons(mask_path, simplify_m: float, regularize: bool):
    """Building polygons of the reference mask through the coverage polygoniser (output CRS)."""
    import rasterio

    from vnseg.geo.areas import PixelAreas
    from vnseg.geo.coverage import PolygonOptions, vectorize_coverage
    from vnseg.geo.strips import LayerSpec
    with rasterio.open(mask_path) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    sink = ListSink()
    opts = PolygonOptions(min_area=0.0, simplify=simplify_m, regularize_buildings=regularize)
    t = time.perf_counter()
    res = vectorize_coverage(mask_path, {1: LayerSpec([sink], 1, 'building')}, pa, opts, strip_rows=512,
                             building_class=1)
    dt = time.perf_counter() - t
    flags = [p.get('regularized', 0) for _, p in sink.items]
    return [g for g, _ in sink.items], pa, res, dt, flags


def kampala_osm(grid: Path, quiet: bool = False):
    """The OSM footprints inside the mosaic, in its CRS, those that touch merged (the mask cannot tell them
    apart); returns ``(footprints, crs)``."""
    import rasterio
    import shapely
    with rasterio.open(grid) as ds:
        crs = ds.crs
        extent = shapely.box(*ds.bounds)
    # OSM footprints inside the mosaic (the label file covers more tiles than the mosaic)
    osm_all = [g for g in read_osm(KAMPALA / 'labels_osm_buildings.geojson', crs) if extent.contains(g)]
    merged = shapely.union_all(np.asarray(osm_all, dtype=object))
    osm = [g for g in getattr(merged, 'geoms', [merged]) if g.geom_type == 'Polygon']
    if not quiet:
        print(f'Kampala: {len(osm_all)} OSM buildings inside the mosaic, {len(osm)} once those that touch are '
              f'merged; {Path(grid).name} {crs}')
    return osm, crs


def part_kampala(rows_out: list):
    import shapely
    mask = KAMPALA / 'kampala_oam_z21_buildings_mask.tif'
    osm, crs = kampala_osm(mask)
    configs = [('raw pixel outlines', 0.0, False), ('coverage simplified 0.15 m', 0.15, False),
               ('coverage simplified 0.5 m', 0.5, False), ('regularised (0.15 m)', 0.15, True)]
    raw = None
    for name, simp, reg in configs:
        polys, pa, res, dt, flags = kampala_polygons(mask, simp, reg)
        mpu = pa.linear_scale()
        if raw is None:
            raw = polys
        m = building_metrics(polys, osm, mpu)
        m.update(name=name, seconds=dt, regularized=int(sum(flags)) if reg else None,
                 coverage_strips_valid=not res['invalid_strips'])
        rows_out.append(m)
        if reg:
            print(f'{name}: {int(sum(flags))} of {len(flags)} buildings regularised (regularized = 1)')
    try:
        import geopandas as gpd
        from buildingregulariser import regularize_geodataframe
    except ImportError:
        print('buildingregulariser not installed: its row is skipped')
    else:
        gdf = gpd.GeoDataFrame(geometry=list(raw), crs=crs.to_wkt())
        t = time.perf_counter()
        out = regularize_geodataframe(gdf, num_cores=1)
        dt = time.perf_counter() - t
        polys = [g for g in out.geometry if g is not None]
        polys = [p for g in polys for p in getattr(g, 'geoms', [g])]
        m = building_metrics(polys, osm, mpu)
        cov = shapely.coverage_is_valid(np.asarray(polys, dtype=object))
        m.update(name='buildingregulariser 0.2.5 (defaults)', seconds=dt, regularized=None,
                 coverage_strips_valid=bool(cov))
        rows_out.append(m)
    m = building_metrics(osm, osm, mpu)
    m.update(name='OSM itself', seconds=float('nan'), regularized=None, coverage_strips_valid=None)
    rows_out.append(m)


def print_kampala(rows, timing: bool):
    print()
    print(f'{"outlines":40s} {"IoU mean":>8s} {"IoU p10":>8s} {"PoLiS m":>8s} {"Haus. m":>8s} '
          f'{"verts":>6s} {"90+-10%":>8s} {"n":>5s} {"s":>6s}')
    for r in rows:
        print(f'{r["name"]:40s} {r["iou_mean"]:8.4f} {r["iou_p10"]:8.4f} {r["polis_m"]:8.3f} '
              f'{r["hausdorff_m"]:8.3f} {r["vertices_median"]:6.1f} {r["right_angles_pct"]:8.1f} {r["n"]:5d} '
              + (f'{r["seconds"]:6.2f}' if timing else '   n/a'))


# -- part 2: a multi-class map ------------------------------------------------------------------------

def _class_raster(path: Path) -> np.ndarray:
    import rasterio
    with rasterio.open(path) as ds:
        return ds.read(1)


def dubai_mosaic(path: Path, size: int = 4096, pixel_m: float = 0.5, files=None, repeat: bool = True):
    """Shelf-pack class maps (default: the Dubai masks; file order, repeated unless ``repeat`` is False) into a
    ``size`` x ``size`` class map GeoTIFF (255 where nothing was placed)."""
    import rasterio
    from rasterio.transform import from_origin
    files = list(files) if files is not None else sorted(DUBAI.glob('*.png'))
    canvas = np.full((size, size), 255, np.uint8)
    y = x = shelf = 0
    i = 0
    while y < size and (repeat or i < len(files)):
        m = _class_raster(files[i % len(files)])
        i += 1
        h, w = m.shape
        if x >= size:
            x, y, shelf = 0, y + shelf, 0
            if y >= size:
                break
        hh, ww = min(h, size - y), min(w, size - x)
        canvas[y:y + hh, x:x + ww] = m[:hh, :ww]
        x += w
        shelf = max(shelf, h)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, 'w', driver='GTiff', width=size, height=size, count=1, dtype='uint8',
                       crs='EPSG:32640', transform=from_origin(300000, 2800000, pixel_m, pixel_m), nodata=255,
                       tiled=True, compress='deflate') as ds:
        ds.write(canvas, 1)
    return path, i


def per_polygon(class_map: Path, layers: dict, pa, simplify: float, strip_rows: int = 2048,
                min_area: float = 0.0) -> dict:
    """The polygons ``vnseg map`` wrote before the coverage: each class's mask polygonised on its own and
    each polygon simplified on its own (Douglas-Peucker), polygons below ``min_area`` dropped, with the strip
    polygoniser; returns its stats."""
    import rasterio
    from rasterio.windows import Window

    from vnseg.geo.strips import StripPolygonizer
    poly = StripPolygonizer(layers, pa, min_area, simplify, None, 4 * strip_rows)
    with rasterio.open(class_map) as ds:
        for r0 in range(0, ds.height, strip_rows):
            h = min(strip_rows, ds.height - r0)
            block = ds.read(1, window=Window(0, r0, ds.width, h))
            poly.add(r0, h, {c: block == c for c in layers})
    poly.close()
    return poly.stats


def one_run(class_map: Path, mode: str, simplify: float, out_gpkg: Path) -> dict:
    """Vectorise ``class_map`` into ``out_gpkg`` (classes 1-4, as ``vnseg map``'s default) and measure."""
    import rasterio
    import shapely
    from pyogrio import read_info
    from pyogrio.raw import read

    from vnseg.core.classes import CLASSES
    from vnseg.geo.areas import PixelAreas
    from vnseg.geo.coverage import PolygonOptions, coverage_layer_fields, vectorize_coverage
    from vnseg.geo.layers import GeoPackageWriter, layer_fields
    from vnseg.geo.strips import LayerSpec
    with rasterio.open(class_map) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    gp = GeoPackageWriter(out_gpkg, pa.georef)
    reg = mode == 'coverage+regularise'
    fields = coverage_layer_fields('m2', False, regularized=False) if mode != 'per-polygon' else \
        layer_fields('m2', False)
    layers = {}
    for c in range(1, 5):
        f = coverage_layer_fields('m2', False, regularized=True) if (reg and c == 4) else fields
        layers[c] = LayerSpec([gp.layer(CLASSES[c], f)], c, CLASSES[c])
    t = time.perf_counter()
    if mode == 'per-polygon':
        stats = per_polygon(class_map, layers, pa, simplify)
        res = None
    else:
        res = vectorize_coverage(class_map, layers, pa,
                                 PolygonOptions(min_area=0.0, simplify=simplify, regularize_buildings=reg))
    gp.close()
    dt = time.perf_counter() - t
    peak = peak_rss_mb()
    geoms = []
    for c in range(1, 5):
        _, _, wkb, _ = read(str(out_gpkg), layer=CLASSES[c], read_geometry=True, columns=[])
        geoms.extend(shapely.from_wkb(wkb))
    arr = np.asarray(geoms, dtype=object)
    valid = bool(shapely.coverage_is_valid(arr))
    out = dict(mode=mode, simplify=simplify, seconds=dt, peak_rss_mb=peak, polygons=len(geoms), valid=valid,
               buildings=int(read_info(str(out_gpkg), layer=CLASSES[4])['features']),
               vertices=int(shapely.get_num_coordinates(arr).sum()))
    if res is not None:
        ch = {}
        for c in range(5):
            st = res['classes'].get(c)
            if st and st['pixel_area']:
                ch[CLASSES[c]] = 100.0 * (st['geom_area'] - st['pixel_area']) / st['pixel_area']
        out['area_change_pct'] = ch
        out['regularized'] = res['layers'][4]['regularized'] if reg else None
    else:
        ch = {}
        for c in range(1, 5):
            _, _, wkb, _ = read(str(out_gpkg), layer=CLASSES[c], read_geometry=True, columns=[])
            ga = float(shapely.area(shapely.from_wkb(wkb)).sum()) * pa.linear_scale() ** 2
            ch[CLASSES[c]] = 100.0 * (ga - stats[c]['area']) / stats[c]['area'] if stats[c]['area'] else 0.0
        out['area_change_pct'] = ch
    return out


def part_dubai(out_dir: Path, timing: bool, model_maps=None) -> list:
    if model_maps:
        class_map, n = dubai_mosaic(out_dir / 'dubai_model_mosaic.tif', size=3 * 859, files=model_maps, repeat=False)
        print(f'\nDubai model class map: {class_map} (2577 x 2577, {n} class maps of vnseg map placed, 0.5 m/px '
              'assumed)')
    else:
        class_map, n = dubai_mosaic(out_dir / 'dubai_mosaic_4096.tif')
        print(f'\nDubai class map: {class_map} (4096 x 4096, {n} masks placed, 0.5 m/px assumed)')
    rows = []
    for mode in ('per-polygon', 'coverage', 'coverage+regularise'):
        for simplify in (0.5, 2.0):
            gpkg = out_dir / f'{class_map.stem}_{mode.replace("+", "_")}_{simplify}.gpkg'
            cmd = [sys.executable, __file__, '--one', str(class_map), mode, str(simplify), str(gpkg)]
            r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
            if r.returncode:
                print(r.stderr[-3000:])
                raise SystemExit(f'run failed: {mode} {simplify}')
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f'\n{"vectoriser":22s} {"simplify":>8s} {"valid":>6s} {"polygons":>8s} {"vertices":>9s} '
          f'{"max |area change| %":>20s} {"squared":>8s} {"s":>7s} {"peak MB":>8s}')
    for r in rows:
        ch = max(abs(v) for v in r['area_change_pct'].values())
        t = f'{r["seconds"]:7.1f}' if timing else '   n/a '
        mem = f'{r["peak_rss_mb"]:8.0f}' if timing else '     n/a'
        sq = f'{r["regularized"]:>3d}/{r["buildings"]:<4d}' if r.get('regularized') is not None else '       -'
        print(f'{r["mode"]:22s} {r["simplify"]:8.1f} {str(r["valid"]):>6s} {r["polygons"]:8d} {r["vertices"]:9d} '
              f'{ch:20.3f} {sq} {t} {mem}')
    print('\nper-class area change of the geometries against the pixel areas (%):')
    for r in rows:
        print(f'  {r["mode"]:22s} {r["simplify"]:4.1f} m  ' +
              '  '.join(f'{k} {v:+.3f}' for k, v in r['area_change_pct'].items()))
    return rows


# -- part 3: a model's class map of the Kampala mosaic ---------------------------------------------------

#: ``(row name, vectoriser, --simplify in m (None: vnseg map's default, half a pixel), square buildings)``
MODEL_RUNS = (('per-polygon DP, half a pixel (before)', 'per-polygon', None, False),
              ('coverage, half a pixel (default)', 'coverage', None, False),
              ('coverage, 0.5 m', 'coverage', 0.5, False),
              ('coverage, half a pixel + squared', 'coverage', None, True),
              ('coverage, 0.5 m + squared', 'coverage', 0.5, True))


def model_run(class_map: Path, out_dir: Path, mode: str, simplify, regularize: bool) -> dict:
    """Vectorise a model's class map as ``vnseg map`` does (classes 1-4, ``--min-area`` 1 m^2) into a
    GeoPackage; returns its path, the building polygons and the run's facts."""
    import rasterio
    import shapely
    from pyogrio.raw import read

    from vnseg.core.classes import CLASSES, PALETTE
    from vnseg.geo.areas import PixelAreas
    from vnseg.geo.layers import GeoPackageWriter, layer_fields
    from vnseg.geo.strips import LayerSpec
    from vnseg.geo.vectorize import PolygonFiles, PolygonOptions, write_class_polygons
    with rasterio.open(class_map) as ds:
        pa = PixelAreas(ds.crs, ds.transform, ds.width, ds.height)
    opts = PolygonOptions(simplify=simplify, regularize_buildings=regularize).with_defaults(pa)
    stem = f'{Path(class_map).stem}_{mode}_{opts.simplify:.3f}{"_squared" if regularize else ""}'
    gpkg = out_dir / f'{stem}.gpkg'
    t = time.perf_counter()
    if mode == 'per-polygon':
        gp = GeoPackageWriter(gpkg, pa.georef)
        layers = {c: LayerSpec([gp.layer(CLASSES[c], layer_fields(pa.unit, False))], c, CLASSES[c])
                  for c in range(1, 5)}
        per_polygon(class_map, layers, pa, opts.simplify, min_area=opts.min_area)
        gp.close()
        validity = None
    else:
        res = write_class_polygons(class_map, PolygonFiles(out_dir, stem, CLASSES, PALETTE, geojson=False), pa, opts)
        validity = res.validity
    dt = time.perf_counter() - t
    geoms, buildings, flags = [], [], []
    for c in range(1, 5):
        meta, _, wkb, vals = read(str(gpkg), layer=CLASSES[c])
        g = shapely.from_wkb(wkb)
        geoms.extend(g)
        if c == 4:
            buildings = list(g)
            props = dict(zip(meta['fields'], vals))
            flags = list(props.get('regularized', []))
    arr = np.asarray(geoms, dtype=object)
    return dict(gpkg=gpkg, buildings=buildings, seconds=dt, valid=bool(shapely.coverage_is_valid(arr)),
                vertices=int(shapely.get_num_coordinates(arr).sum()), squared=int(sum(flags)) if regularize else None,
                max_area_change=(max(abs(r['area_change_pct']) for r in validity['classes']) if validity else None),
                area_change_pct=({r['class']: r['area_change_pct'] for r in validity['classes']} if validity else None),
                metres_per_unit=pa.linear_scale())


def part_kampala_model(class_map: Path, out_dir: Path, timing: bool) -> list:
    """Part 3 on Kampala: the runs of :data:`MODEL_RUNS` on a model's class map, buildings against OSM."""
    osm, _ = kampala_osm(class_map, quiet=True)
    print(f'\nKampala, a model\'s class map: {class_map} ({len(osm)} OSM footprints)')
    rows = []
    for name, mode, simplify, reg in MODEL_RUNS:
        r = model_run(class_map, out_dir, mode, simplify, reg)
        m = building_metrics(r['buildings'], osm, r['metres_per_unit'])
        m.update(name=name, seconds=r['seconds'], valid=r['valid'], vertices_total=r['vertices'],
                 squared=r['squared'], max_area_change_pct=r['max_area_change'], area_change_pct=r['area_change_pct'])
        rows.append(m)
    print(f'{"vectoriser":38s} {"valid":>6s} {"vertices":>9s} {"verts/bldg":>10s} {"bldgs":>6s} {"squared":>8s} '
          f'{"IoU mean":>8s} {"IoU p10":>8s} {"PoLiS m":>8s} {"Haus. m":>8s} {"90+-10%":>8s} {"s":>6s}')
    for r in rows:
        sq = f'{r["squared"]:8d}' if r['squared'] is not None else '       -'
        print(f'{r["name"]:38s} {str(r["valid"]):>6s} {r["vertices_total"]:9d} {r["vertices_median"]:10.1f} '
              f'{r["n"]:6d} {sq} {r["iou_mean"]:8.4f} {r["iou_p10"]:8.4f} {r["polis_m"]:8.3f} '
              f'{r["hausdorff_m"]:8.3f} {r["right_angles_pct"]:8.1f} '
              + (f'{r["seconds"]:6.1f}' if timing else '   n/a'))
    print('per-class area change of the drawn outlines against the pixel areas (%):')
    for r in rows:
        if r['area_change_pct']:
            print(f'  {r["name"]:38s} ' + '  '.join(f'{k} {v:+.3f}' for k, v in r['area_change_pct'].items()))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out-dir', default=str(REPO / 'work_dirs' / 'vector_quality'))
    p.add_argument('--skip-kampala', action='store_true')
    p.add_argument('--skip-dubai', action='store_true')
    p.add_argument('--timing', action='store_true', help='print times and peak memory (idle machine only)')
    p.add_argument('--model-kampala', default=None, help="a model's class map of the Kampala mosaic (vnseg map)")
    p.add_argument('--model-dubai', nargs='+', default=None, help="a model's class maps of Dubai test scenes")
    p.add_argument('--one', nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        cm, mode, simplify, gpkg = args.one
        print(json.dumps(one_run(Path(cm), mode, float(simplify), Path(gpkg))))
        return
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.timing:
        load = os.getloadavg()[0]
        print(f'load average (1 min): {load:.2f}' + ('' if load < 0.5 else '  -- machine busy: timings unreliable'))
    result = {}
    if not args.skip_kampala:
        rows = []
        part_kampala(rows)
        print_kampala(rows, args.timing)
        result['kampala'] = rows
    if not args.skip_dubai:
        result['dubai'] = part_dubai(out_dir, args.timing)
    if args.model_kampala:
        result['kampala_model'] = part_kampala_model(Path(args.model_kampala), out_dir, args.timing)
    if args.model_dubai:
        result['dubai_model'] = part_dubai(out_dir, args.timing, [Path(f) for f in args.model_dubai])
    (out_dir / 'vector_quality.json').write_text(json.dumps(result, indent=2, default=float))
    print(f'\nwritten: {out_dir / "vector_quality.json"}')


if __name__ == '__main__':
    main()
