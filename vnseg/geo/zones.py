"""Per-zone class areas: any polygon vector file (communes, wards, parcels), any CRS, by strips.

A zone file is read with pyogrio (GeoPackage, Shapefile, GeoJSON, ... anything GDAL reads); its
polygons are reprojected onto the class map's CRS (GDAL/PROJ via ``rasterio.warp.transform``) and
rasterised strip by strip, each zone on its own (zones may overlap; a pixel belongs to a zone when
its centre lies inside). Areas use the grid's ground area per row (:class:`PixelAreas`), so they
add up with the whole-map area table.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .areas import PixelAreas

__all__ = ['ZoneError', 'Zones', 'ZoneAreaCounter', 'load_zones', 'zone_masks']


class ZoneError(ValueError):
    """A zone file that cannot be used; the message names the file."""

    user_error = True  # a user's mistake: tools print one line (vnseg.commands.cli)


@dataclass
class Zones:
    """Zone polygons in pixel coordinates of a grid.

    Attributes:
        names: zone name per zone (the ``zone_field`` value as text).
        geoms: shapely (Multi)Polygons in pixel coordinates (x = column, y = row).
        bounds: ``float (n, 4)`` pixel bounds ``(x0, y0, x1, y1)`` per zone.
        path: the zone file.
    """

    names: List[str]
    geoms: list
    bounds: np.ndarray
    path: Path


def load_zones(path, field: str, georef) -> Zones:
    """Read zones from ``path`` (field ``field`` names them) onto the grid of ``georef``.

    Raises:
        ZoneError: missing/unreadable file, unknown field, no polygons, no CRS in the file or the
            grid (zones can only be placed on a georeferenced map; no CRS is ever assumed).
    """
    import shapely
    from pyogrio.raw import read
    from rasterio.crs import CRS
    from rasterio.warp import transform as warp_transform
    path = Path(path)
    if not path.exists():
        raise ZoneError(f'{path}: zone file not found')
    if georef.kind != 'crs':
        raise ZoneError(f'{path}: zones need a georeferenced class map (CRS + transform); the map has '
                        f'{"only a world file" if georef.kind == "world" else "no georeferencing"}')
    try:
        from pyogrio import read_info
        info = read_info(str(path))
        fields = list(info['fields'])
        if field not in fields:
            raise ZoneError(f'{path}: no field {field!r}; fields are {", ".join(fields) or "(none)"}')
        meta, _, wkb, values = read(str(path), columns=[field])
    except ZoneError:
        raise
    except Exception as err:  # pyogrio.errors.DataSourceError and friends
        raise ZoneError(f'{path}: cannot read zones ({str(err).splitlines()[0]})') from err
    if not meta.get('crs'):
        raise ZoneError(f'{path}: the zone file has no CRS; assign one (e.g. ogr2ogr -a_srs EPSG:4326)')
    zcrs = CRS.from_user_input(meta['crs'])
    geoms = shapely.from_wkb(wkb)
    keep = np.array([g is not None and g.geom_type in ('Polygon', 'MultiPolygon') and not g.is_empty
                     for g in geoms], bool)
    if not keep.any():
        raise ZoneError(f'{path}: no polygon features')
    geoms = geoms[keep]
    names = ['' if v is None else str(v) for v in np.asarray(values[0], dtype=object)[keep]]
    inv = ~georef.transform

    def to_pixels(xy):
        x, y = warp_transform(zcrs, georef.crs, xy[:, 0], xy[:, 1])
        cols, rows = inv * (np.asarray(x), np.asarray(y))
        return np.column_stack([cols, rows])

    geoms = shapely.transform(shapely.segmentize(geoms, _seg_len(geoms)), to_pixels)
    geoms = shapely.make_valid(geoms)
    return Zones(names, list(geoms), shapely.bounds(geoms), path)


def _seg_len(geoms) -> float:
    """Densify long edges before reprojection (1/200 of the zones' extent), so they bend correctly."""
    import shapely
    b = shapely.total_bounds(geoms)
    return max(float(max(b[2] - b[0], b[3] - b[1])) / 200.0, 1e-9)


def zone_masks(zones: Zones, row0: int, h: int, w: int):
    """Yield ``(zone index, col0, col1, inside)`` for the zones that reach rows ``[row0, row0 + h)`` of a
    grid ``w`` columns wide: ``inside`` is ``bool (h, col1 - col0)``, True where the pixel centre lies
    in the zone (zones without such a pixel in these rows are skipped)."""
    from affine import Affine
    from rasterio.features import rasterize
    r1 = row0 + h
    b = zones.bounds
    hits = np.flatnonzero((b[:, 1] < r1) & (b[:, 3] > row0) & (b[:, 2] > 0) & (b[:, 0] < w))
    for z in hits:
        c0 = max(0, int(np.floor(b[z, 0])))
        c1 = min(w, int(np.ceil(b[z, 2])))
        if c1 <= c0:
            continue
        inside = rasterize([(zones.geoms[z], 1)], out_shape=(h, c1 - c0),
                           transform=Affine.translation(c0, row0), fill=0, dtype='uint8').astype(bool)
        if inside.any():
            yield int(z), c0, c1, inside


class ZoneAreaCounter:
    """Pixel counts and ground areas per zone and class value, accumulated strip by strip.

    Args:
        zones: :class:`Zones` on this grid.
        pixel_areas: ground area per pixel row.
        n_maps: how many class maps are counted side by side (1; 2 for before/after).
    """

    def __init__(self, zones: Zones, pixel_areas: PixelAreas, n_maps: int = 1, nodata: int = 255):
        self.zones, self.pa, self.nodata = zones, pixel_areas, nodata
        n = len(zones.names)
        self.pixels = np.zeros((n_maps, n, 256), np.int64)
        self.area_m2 = np.zeros((n_maps, n, 256), np.float64)
        self.zone_pixels = np.zeros(n, np.int64)

    def update(self, row0: int, *blocks: np.ndarray):
        """Add rows ``[row0, row0 + h)`` of each class map (``uint8 (h, width)``, same shape)."""
        h, w = blocks[0].shape
        rows_area = self.pa.row_area[row0:row0 + h] if self.pa.row_area is not None else None
        for z, c0, c1, inside in zone_masks(self.zones, row0, h, w):
            self.zone_pixels[z] += int(inside.sum())
            for m, block in enumerate(blocks):
                sub = np.where(inside, block[:, c0:c1], self.nodata)
                self.pixels[m, z] += np.bincount(sub.ravel(), minlength=256)
                if rows_area is not None:
                    for c in np.unique(sub[inside]):
                        self.area_m2[m, z, c] += rows_area @ np.count_nonzero(sub == c, axis=1)

    def rows(self, names: Sequence[str], map_labels: Optional[Sequence[str]] = None) -> list:
        """Table rows: one per zone and class (``zone, class_id, class``, then per map ``pixels``,
        ``area_ha`` (with ground units) and ``share_pct`` = share of the zone's predicted area)."""
        out = []
        n_maps = self.pixels.shape[0]
        labels = list(map_labels or ([''] if n_maps == 1 else [f'map{i}' for i in range(n_maps)]))
        for z, zname in enumerate(self.zones.names):
            for c, cname in enumerate(names):
                row = dict(zone=zname, class_id=c, **{'class': cname})
                for m in range(n_maps):
                    pre = f'{labels[m]}_' if labels[m] else ''
                    valid = [i for i in range(256) if i != self.nodata]
                    px = int(self.pixels[m, z, c])
                    row[f'{pre}pixels'] = px
                    if self.pa.unit == 'm2':
                        tot = float(self.area_m2[m, z, valid].sum())
                        row[f'{pre}area_ha'] = round(float(self.area_m2[m, z, c]) / 1e4, 10)
                        row[f'{pre}share_pct'] = round(100 * float(self.area_m2[m, z, c]) / tot, 4) if tot else 0.0
                    else:
                        tot = int(self.pixels[m, z, valid].sum())
                        row[f'{pre}share_pct'] = round(100 * px / tot, 4) if tot else 0.0
                if n_maps == 2 and self.pa.unit == 'm2':
                    row['change_ha'] = round(row[f'{labels[1]}_area_ha'] - row[f'{labels[0]}_area_ha'], 10)
                out.append(row)
        return out

    def write_csv(self, path, names: Sequence[str], map_labels: Optional[Sequence[str]] = None) -> Path:
        """Write :meth:`rows` as CSV, atomically."""
        from vnseg.core.atomic import atomic_output
        rows = self.rows(names, map_labels)
        with atomic_output(path) as tmp:
            with open(tmp, 'w', newline='', encoding='utf-8') as f:
                wr = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ['zone'])
                wr.writeheader()
                wr.writerows(rows)
        return Path(path)
