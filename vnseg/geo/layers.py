"""Polygon layer writers: RFC 7946 GeoJSON and multi-layer GeoPackage, both streamed and atomic.

* :class:`GeoJSONWriter` -- one FeatureCollection per file, written feature by feature. For a
  georeferenced grid (:class:`vnseg.geo.georef.Georef` ``kind == 'crs'``) it follows RFC 7946:
  coordinates are reprojected to WGS84 longitude/latitude (EPSG:4326, GDAL/PROJ via
  ``rasterio.warp.transform``), there is no ``crs`` member, and rings follow the right-hand rule
  (exteriors counter-clockwise, holes clockwise). Without a CRS the coordinates stay world-file or
  pixel coordinates (then the file is plain GeoJSON, not RFC 7946; :attr:`Georef.coordinate_note`).
* :class:`GeoPackageWriter` -- one file, one polygon layer per class (or per change category), in the
  grid's CRS (no reprojection: areas and shapes stay exact), written in batches with pyogrio; the
  file is assembled under a temporary name and renamed when :meth:`GeoPackageWriter.close` succeeds.
  It is a GeoPackage 1.2 file (:data:`GPKG_VERSION`): the GDAL that pyogrio bundles would write 1.4,
  which the GDAL of older QGIS installs (3.6 under QGIS 3.22) opens with a warning per access.

Geometries handed to ``add`` are shapely polygons in the grid's output coordinates
(``georef.transform`` applied).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from vnseg.core.atomic import PendingFile

__all__ = ['GeoJSONWriter', 'GeoPackageWriter', 'to_lonlat', 'lonlat_decimals', 'GPKG_VERSION']

_BATCH = 2000

#: GeoPackage version written (GDAL's ``VERSION`` creation option). 1.2 is what GDAL 3.6 (QGIS 3.22's)
#: writes itself (``PRAGMA user_version`` 10200; it knows 1.0-1.3); on the 1.4 files that pyogrio's newer
#: GDAL writes by default it warns "user_version=10400 (v1.4.0) may only be partially supported".
GPKG_VERSION = '1.2'


def lonlat_decimals(georef, metres_per_unit: float = 1.0) -> int:
    """Decimals of degrees that keep 1/100 of a pixel (at least 7: ~1 cm), for RFC 7946 output."""
    px_m = min(georef.pixel_size) * metres_per_unit
    px_deg = px_m / 111320.0
    return int(min(11, max(7, math.ceil(-math.log10(max(px_deg, 1e-12) / 100)))))


def to_lonlat(geoms, crs, decimals: Optional[int] = None):
    """Shapely geometries in ``crs`` -> EPSG:4326 (x = longitude, y = latitude), right-hand rule.

    ``geoms``: a sequence / array of geometries; returns a numpy object array.
    """
    import shapely
    from rasterio.warp import transform as warp_transform

    def reproject(xy):
        if len(xy) == 0:
            return xy
        lon, lat = warp_transform(crs, 'EPSG:4326', xy[:, 0], xy[:, 1])
        out = np.column_stack([lon, lat])
        return np.round(out, decimals) if decimals is not None else out

    arr = shapely.transform(np.asarray(geoms, dtype=object), reproject)
    return _orient(arr)


def _orient(arr):
    import shapely
    if hasattr(shapely, 'orient_polygons'):  # shapely >= 2.1
        return shapely.orient_polygons(arr, exterior_cw=False)
    from shapely.geometry.polygon import orient

    def one(g):
        if g.geom_type == 'Polygon':
            return orient(g, 1.0)
        if g.geom_type == 'MultiPolygon':
            return shapely.geometry.MultiPolygon([orient(p, 1.0) for p in g.geoms])
        return g
    return np.array([one(g) for g in arr], dtype=object)


class GeoJSONWriter:
    """A FeatureCollection written feature by feature to a temporary file; :meth:`close` renames it.

    Args:
        path: final ``.geojson`` path.
        name: collection name (``name`` member, shown by QGIS/GDAL as the layer name).
        georef: :class:`vnseg.geo.georef.Georef` of the grid the geometries come from.
        decimals: coordinate rounding (degrees for RFC 7946 output, else output units); None keeps all.
    """

    def __init__(self, path, name: str, georef, decimals: Optional[int] = None):
        self.path = Path(path)
        self.georef = georef
        self.decimals = decimals
        self._pending = PendingFile(self.path)
        self._f = open(self._pending.tmp, 'w', encoding='utf-8')
        self._f.write(json.dumps({'type': 'FeatureCollection', 'name': name}, ensure_ascii=False)[:-1]
                      + ', "features": [\n')
        self._geoms: List = []
        self._props: List[dict] = []
        self.count = 0

    @property
    def rfc7946(self) -> bool:
        """True when coordinates are written as WGS84 longitude/latitude."""
        return self.georef.kind == 'crs'

    def add(self, geom, props: dict):
        """Queue one feature (``geom`` in output coordinates)."""
        self._geoms.append(geom)
        self._props.append(props)
        if len(self._geoms) >= _BATCH:
            self._flush()

    def _flush(self):
        import shapely
        if not self._geoms:
            return
        if self.rfc7946:
            geoms = to_lonlat(self._geoms, self.georef.crs, self.decimals)
        else:
            geoms = np.asarray(self._geoms, dtype=object)
            if self.decimals is not None:
                geoms = shapely.transform(geoms, lambda xy: np.round(xy, self.decimals))
        for g, p in zip(shapely.to_geojson(geoms), self._props):
            if self.count:
                self._f.write(',\n')
            self._f.write('{"type": "Feature", "properties": ' + json.dumps(p, ensure_ascii=False)
                          + ', "geometry": ' + g + '}')
            self.count += 1
        self._geoms, self._props = [], []

    def close(self) -> Path:
        self._flush()
        self._f.write('\n]}\n')
        self._f.close()
        return self._pending.commit()

    def abort(self):
        self._f.close()
        self._pending.discard()


class _GpkgLayer:
    """One polygon layer of a :class:`GeoPackageWriter`; ``add`` queues features, written in batches."""

    def __init__(self, owner: 'GeoPackageWriter', name: str, fields: Dict[str, str], geometry_type: str = 'Polygon'):
        self.owner, self.name, self.fields, self.geometry_type = owner, name, dict(fields), geometry_type
        self._geoms: List = []
        self._rows: List[dict] = []
        self.count = 0
        self._created = False

    def add(self, geom, props: dict):
        self._geoms.append(geom)
        self._rows.append(props)
        if len(self._geoms) >= _BATCH:
            self.flush()

    def flush(self, force: bool = False):
        import shapely
        from pyogrio.raw import write
        if not self._geoms and (self._created or not force):
            return
        columns, masks = [], []
        for name, kind in self.fields.items():
            values = [r.get(name) for r in self._rows]
            masks.append(np.array([v is None for v in values], bool))  # None is NULL (floats: NaN -> NULL too)
            if kind == 'str':
                columns.append(np.array(['' if v is None else str(v) for v in values], dtype=object))
            elif kind == 'int':
                columns.append(np.array([0 if v is None else int(v) for v in values], dtype=np.int32))
            else:
                columns.append(np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64))
        wkb = shapely.to_wkb(np.asarray(self._geoms, dtype=object)) if self._geoms else np.array([], dtype=object)
        crs = self.owner.georef.crs.to_wkt() if self.owner.georef.crs is not None else None
        append = self._created or self.owner._exists
        write(str(self.owner.tmp_path), wkb, columns, list(self.fields), field_mask=masks, layer=self.name,
              driver='GPKG', geometry_type=self.geometry_type, crs=crs, append=append, promote_to_multi=False,
              dataset_options=None if append else {'VERSION': GPKG_VERSION})
        self.owner._exists = True
        self._created = True
        self.count += len(self._geoms)
        self._geoms, self._rows = [], []


class GeoPackageWriter:
    """A GeoPackage with several polygon layers, written under a temporary name.

    Args:
        path: final ``.gpkg`` path (replaced atomically by :meth:`close`).
        georef: grid georeferencing; the layers get its CRS (none for world/pixel grids).
    """

    def __init__(self, path, georef):
        self.path = Path(path)
        self.georef = georef
        self._pending = PendingFile(self.path)
        self.tmp_path = self._pending.tmp  # (a .gpkg name: GDAL picks the driver by it)
        self._pending.discard()  # a left-over of this process would be appended to
        self._exists = False
        self.layers: Dict[str, _GpkgLayer] = {}

    def layer(self, name: str, fields: Dict[str, str], geometry_type: str = 'Polygon') -> _GpkgLayer:
        """A new layer ``name`` with ``fields`` ``{name: 'int' | 'float' | 'str'}`` and geometries of
        ``geometry_type`` (``'Polygon'``, or ``'MultiPolygon'`` for shapes of several parts, such as zones)."""
        lay = _GpkgLayer(self, name, fields, geometry_type)
        self.layers[name] = lay
        return lay

    def close(self, styles: Optional[Dict[str, str]] = None) -> Path:
        """Write what is queued (empty layers too), store ``{layer: QML}`` styles, rename onto ``path``."""
        for lay in self.layers.values():
            lay.flush(force=True)
        if styles:
            from .styles import add_geopackage_styles
            add_geopackage_styles(self.tmp_path, styles)
        return self._pending.commit()

    def abort(self):
        self._pending.discard()
        for suffix in ('-journal', '-wal', '-shm'):
            Path(str(self.tmp_path) + suffix).unlink(missing_ok=True)


def layer_fields(area_unit: str, with_confidence: bool = True) -> Dict[str, str]:
    """Attribute schema of a class polygon layer (see :mod:`vnseg.geo.vectorize`)."""
    f = {'class_id': 'int', 'class': 'str'}
    f.update({'area_m2': 'float', 'area_ha': 'float'} if area_unit == 'm2' else {'area_px': 'float'})
    if with_confidence:
        f['confidence'] = 'float'
    f['cut'] = 'int'
    return f


def read_polygon_areas(gpkg_path, layers: Sequence[str], field: str = 'area_m2') -> Dict[str, float]:
    """Sum of ``field`` per layer of a GeoPackage (used by tests and reports)."""
    from pyogrio.raw import read
    out = {}
    for name in layers:
        meta, _, _, values = read(str(gpkg_path), layer=name, columns=[field], read_geometry=False)
        out[name] = float(np.nansum(values[0])) if len(values) and len(values[0]) else 0.0
    return out
