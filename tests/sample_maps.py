"""Class maps, truths, mosaics and zones for the sampling, accuracy and zone tests (written as ``vnseg map`` writes
them)."""
import json
from pathlib import Path

import numpy as np

#: Hanoi, UTM zone 48N; 0.5 m pixels.
CRS = 'EPSG:32648'
ORIGIN = (585000.0, 2325000.0)
PIXEL_M = 0.5


def transform(origin=ORIGIN, pixel=PIXEL_M):
    from affine import Affine
    return Affine(pixel, 0, origin[0], 0, -pixel, origin[1])


def truth_and_map(height=180, width=240, seed=0):
    """A truth (blocks of the 5 classes) and a map of it with confusions; a nodata band on the map's right edge.

    Returns ``(truth, mapped)``, ``uint8 (height, width)``; ``mapped`` is 255 in its last 20 columns.
    """
    rng = np.random.default_rng(seed)
    cells = rng.choice(5, size=(height // 6, width // 6), p=[0.45, 0.15, 0.08, 0.2, 0.12])
    truth = np.kron(cells, np.ones((6, 6), np.uint8)).astype(np.uint8)
    noise = rng.random(truth.shape)
    mapped = truth.copy()
    mapped[(truth == 4) & (noise < 0.35)] = 0
    mapped[(truth == 3) & (noise < 0.25)] = 0
    mapped[(truth == 0) & (noise < 0.1)] = 1
    mapped[:, -20:] = 255
    return truth, mapped


def write_class_map(path, mapped, crs=CRS, tr=None, source_image=None):
    """Write ``mapped`` as vnseg map's class map (COG, colour table, CLASSES and SOURCE_IMAGE tags)."""
    from vnseg.core.classes import CLASSES, PALETTE
    from vnseg.geo.raster_io import ClassMapWriter
    from rasterio.crs import CRS as RioCRS
    tags = {'SOURCE_IMAGE': source_image} if source_image else {}
    w = ClassMapWriter(path, mapped.shape[1], mapped.shape[0], RioCRS.from_user_input(crs) if crs else None,
                       tr if tr is not None else (transform() if crs else None), CLASSES, PALETTE, tags=tags)
    w.write_rows(0, mapped)
    return w.close()


def write_mosaic(path, truth, crs=CRS, tr=None):
    """An RGB GeoTIFF on the class map's grid: each class its palette colour, pixel (0, 0) white."""
    import rasterio
    from vnseg.core.classes import PALETTE
    rgb = np.array(PALETTE, np.uint8)[truth].transpose(2, 0, 1).copy()
    rgb[:, 0, 0] = 255
    with rasterio.open(path, 'w', driver='GTiff', width=truth.shape[1], height=truth.shape[0], count=3,
                       dtype='uint8', crs=crs, transform=tr if tr is not None else transform(),
                       photometric='RGB') as dst:
        dst.write(rgb)
    return Path(path)


def write_zones(path, polygons, names, crs='EPSG:4326', field='ward'):
    """A GeoJSON of ``polygons`` given in the class map's CRS (shapely), written in ``crs``."""
    import shapely
    from pyogrio.raw import write
    from rasterio.warp import transform as warp_transform

    def to_crs(xy):
        x, y = warp_transform(CRS, crs, xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])
    geoms = shapely.transform(np.asarray(polygons, dtype=object), to_crs)
    write(str(path), shapely.to_wkb(geoms), [np.array(names, dtype=object)], [field], driver='GeoJSON',
          geometry_type='Polygon', crs=crs)
    return Path(path)


def zones_file(path, boxes, crs_from='EPSG:32648', crs_to='EPSG:4326'):
    """GeoJSON zones (``{name: (x0, y0, x1, y1)}`` in ``crs_from``) written in ``crs_to``."""
    import shapely
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping
    feats = []
    for name, b in boxes.items():
        g = transform_geom(crs_from, crs_to, mapping(shapely.segmentize(box(*b), 0.5)))
        feats.append(dict(type='Feature', properties=dict(commune=name), geometry=g))
    path.write_text(json.dumps(dict(type='FeatureCollection', features=feats)))
    return path


def pixel_box(row0, col0, row1, col1, tr=None):
    """A shapely box covering pixels ``[row0, row1) x [col0, col1)`` in the map's CRS."""
    import shapely
    tr = tr or transform()
    x0, y0 = tr.c + tr.a * col0, tr.f + tr.e * row0
    x1, y1 = tr.c + tr.a * col1, tr.f + tr.e * row1
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def fill_reference(gpkg, values):
    """Set ``reference_class`` of the GeoPackage's points as a reviewer does in QGIS: ``{sample_id: value}``."""
    import sqlite3
    con = sqlite3.connect(str(gpkg))
    # the GeoPackage's R-tree triggers name GDAL's SQL functions (QGIS edits through GDAL, which has them);
    # an attribute update never runs them, but SQLite wants them to exist
    for name in ('ST_IsEmpty', 'ST_MinX', 'ST_MaxX', 'ST_MinY', 'ST_MaxY'):
        con.create_function(name, 1, lambda geom: None)
    try:
        con.executemany('UPDATE sample_points SET reference_class = ? WHERE sample_id = ?',
                        [(v, int(k)) for k, v in values.items()])
        con.commit()
    finally:
        con.close()


def read_points(gpkg):
    """The point layer as ``{field: numpy array}`` plus ``'_crs'``."""
    from pyogrio.raw import read
    meta, _, geom, values = read(str(gpkg), layer='sample_points')
    out = {name: np.asarray(v) for name, v in zip(meta['fields'], values)}
    out['_crs'] = meta['crs']
    out['_geometry'] = geom
    return out
