"""Class map -> GeoJSON polygons, one FeatureCollection per class, read strip by strip.

Each strip of rows is polygonised with ``rasterio.features.shapes`` (4-connectivity, pixel-edge
outlines, holes kept). Polygons that touch an inner strip boundary may continue in the next strip;
they are kept aside and merged per class with ``shapely.unary_union`` at the end, so the result is the
same as polygonising the whole raster at once while memory stays bounded by the strip size (plus the
boundary pieces).

Coordinates are in the class map's CRS (a legacy ``crs`` member names it when it is an EPSG code, which
QGIS and GDAL honour), rounded to 1/1000 of a pixel; rasters without georeferencing give pixel
coordinates (x = column, y = row).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from .areas import PixelAreas
from .raster_io import partial_path

__all__ = ['vectorize_class_map']


class _GeoJSONStream:
    """Writes a FeatureCollection feature by feature into a temporary file; ``close`` renames it."""

    def __init__(self, path: Path, name: str, crs):
        self.path = Path(path)
        self._tmp = partial_path(self.path)
        self._f = open(self._tmp, 'w')
        head = {'type': 'FeatureCollection', 'name': name}
        epsg = crs.to_epsg() if crs is not None else None
        if epsg is not None:
            head['crs'] = {'type': 'name', 'properties': {'name': f'urn:ogc:def:crs:EPSG::{epsg}'}}
        elif crs is not None:
            head['crs_wkt'] = crs.to_wkt()
        self._f.write(json.dumps(head)[:-1] + ', "features": [\n')
        self.count = 0

    def add(self, geom_json: str, props: dict):
        if self.count:
            self._f.write(',\n')
        self._f.write('{"type": "Feature", "properties": ' + json.dumps(props) + ', "geometry": '
                      + geom_json + '}')
        self.count += 1

    def close(self):
        self._f.write('\n]}\n')
        self._f.close()
        os.replace(self._tmp, self.path)

    def abort(self):
        self._f.close()
        self._tmp.unlink(missing_ok=True)


def vectorize_class_map(class_map_path, out_paths: Dict[int, Path], class_names: Sequence[str],
                        pixel_areas: PixelAreas, min_area: float = 0.0,
                        simplify_tolerance: float = 0.0, strip_rows: int = 2048,
                        data_window: Optional[tuple] = None) -> Dict[int, dict]:
    """Polygonise selected classes of a class-index raster into GeoJSON files.

    Args:
        class_map_path: single-band uint8 raster (255 = nodata).
        out_paths: ``{class_id: path}`` -- one GeoJSON FeatureCollection per class.
        class_names: names, index = class id (stored in each feature's ``class`` property).
        pixel_areas: ground area per pixel row of this raster (:class:`PixelAreas`).
        min_area: polygons with a smaller area are dropped; m^2 for georeferenced rasters, pixels
            otherwise (``pixel_areas.unit``).
        simplify_tolerance: Douglas-Peucker tolerance in ground units (metres; pixels without
            georeferencing), applied with topology preserved; 0 keeps the exact pixel outlines.
        strip_rows: rows polygonised at a time (memory ~ ``strip_rows x width`` bytes x a few).
        data_window: ``(row0, row1, col0, col1)`` outside which the raster is known to be nodata
            (:attr:`vnseg.geo.areas.ClassAreaCounter.data_window`); only this part is read.

    Returns:
        ``{class_id: {'path', 'polygons', 'dropped_small', 'area'}}`` -- ``area`` is the summed
        pixel-exact area of the written polygons (before simplification) in ``pixel_areas.unit``.

    Feature properties: ``class_id``, ``class``, ``area_m2`` and ``area_ha`` (or ``area_px``):
    the exact area of the pixels the polygon covers (before simplification).
    """
    import rasterio
    import shapely
    from affine import Affine
    from rasterio import features
    from rasterio.windows import Window
    from shapely.affinity import affine_transform
    from shapely.geometry import shape

    pa = pixel_areas
    tol_crs = simplify_tolerance / pa.linear_scale() if simplify_tolerance > 0 else 0.0
    # coordinates rounded to 1/1000 of a pixel: exact enough, ~40 % smaller files than full doubles
    decimals = max(0, math.ceil(-math.log10(min(pa.pixel_size) / 1000)))
    stats = {c: dict(path=str(p), polygons=0, dropped_small=0, area=0.0) for c, p in out_paths.items()}
    pending = {c: [] for c in out_paths}
    with rasterio.open(class_map_path) as ds:
        height, width = ds.height, ds.width
        t = ds.transform
        to_crs = [t.a, t.b, t.d, t.e, t.c, t.f]
        crs = ds.crs if pa.unit == 'm2' else None
        b = ds.bounds  # rounding must not push a vertex out of the image
        lo = np.array([min(b.left, b.right), min(b.bottom, b.top)])
        hi = np.array([max(b.left, b.right), max(b.bottom, b.top)])
        streams = {c: _GeoJSONStream(p, f'{class_names[c] if c < len(class_names) else c}', crs)
                   for c, p in out_paths.items()}

        def emit(cid, poly_px):
            """Write one polygon given in pixel coordinates."""
            area_px = poly_px.area
            if pa.unit == 'm2':
                area = area_px * pa.area_at_row(poly_px.centroid.y)
                props = dict(class_id=cid, area_m2=round(area, 4), area_ha=round(area / 1e4, 8))
            else:
                area = area_px
                props = dict(class_id=cid, area_px=area)
            if area < min_area:
                stats[cid]['dropped_small'] += 1
                return
            props['class'] = class_names[cid] if cid < len(class_names) else f'class_{cid}'
            geom = affine_transform(poly_px, to_crs) if pa.unit == 'm2' or not t.is_identity else poly_px
            if tol_crs > 0:
                geom = geom.simplify(tol_crs, preserve_topology=True)
                if geom.is_empty:
                    stats[cid]['dropped_small'] += 1
                    return
            geom = shapely.transform(geom, lambda xy: np.clip(np.round(xy, decimals), lo, hi))
            streams[cid].add(shapely.to_geojson(geom), props)
            stats[cid]['polygons'] += 1
            stats[cid]['area'] += area

        top, bottom, left, right = data_window or (0, height, 0, width)
        try:
            for r0 in range(top, bottom, strip_rows):
                r1 = min(bottom, r0 + strip_rows)
                block = ds.read(1, window=Window(left, r0, right - left, r1 - r0))
                present = np.bincount(block.ravel(), minlength=256)
                for cid in out_paths:
                    if present[cid] == 0:
                        continue
                    mask = block == cid
                    for geom, _ in features.shapes(mask.view(np.uint8), mask=mask, connectivity=4,
                                                   transform=Affine.translation(left, r0)):
                        poly = shape(geom)
                        y0, y1 = poly.bounds[1], poly.bounds[3]
                        if (r0 > top and y0 <= r0) or (r1 < bottom and y1 >= r1):
                            pending[cid].append(poly)
                        else:
                            emit(cid, poly)
                del block
            for cid, pieces in pending.items():
                if not pieces:
                    continue
                merged = shapely.unary_union(pieces)
                for poly in getattr(merged, 'geoms', [merged]):
                    if poly.geom_type == 'Polygon' and not poly.is_empty:
                        emit(cid, poly)
                pending[cid] = []
        except BaseException:
            for s in streams.values():
                s.abort()
            raise
        for s in streams.values():
            s.close()
    return stats
