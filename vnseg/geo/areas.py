"""Ground area of raster pixels and per-class area tables.

Decision (documented in docs/gis.md): every georeferenced raster gets areas in
square metres on the WGS84 ellipsoid, whatever its CRS --

* the ground area of one pixel is computed for sample rows (at the middle column) by projecting a
  small block of pixel corners to longitude/latitude (GDAL/PROJ via ``rasterio.warp``) and measuring it
  in the local ellipsoidal tangent plane (meridian and prime-vertical radii of curvature), then
  interpolated to every row;
* so geographic CRSs (degrees) get real m^2 instead of "square degrees", and Web Mercator
  (EPSG:3857, common for drone mosaics from OpenAerialMap / XYZ tiles) gets its sec^2(latitude) area
  inflation removed (+3 % at 10 deg N, +16 % at 23 deg N, i.e. across Vietnam);
* for UTM and similar conformal projections this differs from the planar "pixel count x pixel size^2"
  by the projection's scale factor (<= 0.2 %).

The variation of pixel area along a row is ignored (zero for north-up geographic / Mercator rasters,
< 1e-4 across a 10 km UTM image). When a CRS cannot be transformed to WGS84, projected CRSs fall back to
planar areas in the CRS's linear unit converted to metres; rasters without a CRS report pixels only.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

__all__ = ['PixelAreas', 'ClassAreaCounter', 'write_area_tables']

_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)


def _local_area_m2(lon_deg: np.ndarray, lat_deg: np.ndarray) -> float:
    """Area (m^2) of a small polygon given by its vertices in degrees, in the local tangent plane."""
    lat0 = math.radians(float(np.mean(lat_deg)))
    lon0 = float(np.mean(lon_deg))
    s2 = math.sin(lat0) ** 2
    n = _WGS84_A / math.sqrt(1 - _WGS84_E2 * s2)               # prime-vertical radius
    m = _WGS84_A * (1 - _WGS84_E2) / (1 - _WGS84_E2 * s2) ** 1.5  # meridian radius
    dlon = (np.asarray(lon_deg) - lon0 + 180.0) % 360.0 - 180.0
    x = np.radians(dlon) * n * math.cos(lat0)
    y = np.radians(np.asarray(lat_deg) - float(np.mean(lat_deg))) * m
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


class PixelAreas:
    """Ground area of one pixel, row by row.

    Whether there is a ground at all is :class:`vnseg.geo.georef.Georef`'s decision (``georef``
    attribute): only ``kind == 'crs'`` gets m^2; world-file images without a CRS and plain images
    get pixel counts.

    Args:
        crs: ``rasterio.crs.CRS`` or None.
        transform: ``affine.Affine`` pixel -> CRS.
        width, height: raster size in pixels.
        n_samples: rows at which the area is computed exactly (linear interpolation in between).

    Attributes:
        unit: ``'m2'`` or ``'px'`` (no usable georeferencing: areas are pixel counts).
        method: ``'ellipsoidal'`` (see module doc), ``'planar'`` (fallback) or ``'pixels'``.
        row_area: ``float64 (height,)`` m^2 of one pixel in each row; ``None`` when ``unit == 'px'``.
        georef: the :class:`vnseg.geo.georef.Georef` of this grid.
        planar_pixel_area: area of one pixel in CRS units^2 (``|det(transform)|``; 1 for pixels).
        pixel_size: ``(x, y)`` pixel size in CRS units (``(1, 1)`` for pixels).
        note: a sentence for the area table saying how areas were obtained.
    """

    def __init__(self, crs, transform, width: int, height: int, n_samples: int = 65):
        from .georef import Georef
        self.georef = Georef.of(crs, transform, width, height)
        self.width, self.height = width, height
        self.transform = self.georef.transform
        self.crs = self.georef.crs
        self.row_area: Optional[np.ndarray] = None
        if not self.georef.georeferenced:
            self.unit, self.method = 'px', 'pixels'
            self.planar_pixel_area = 1.0
            self.pixel_size = (1.0, 1.0)
            self.note = ('areas are pixel counts: ' + self.georef.coordinate_note
                         if self.georef.kind == 'world' else
                         'image has no georeferencing (CRS + transform): areas are pixel counts and '
                         'polygons are in pixel coordinates (x = column, y = row, y down)')
            return
        transform = self.transform
        self.planar_pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
        self.pixel_size = (math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e))
        self.unit = 'm2'
        try:
            self.row_area = self._ellipsoidal(n_samples)
            self.method = 'ellipsoidal'
            self.note = ('ground areas on the WGS84 ellipsoid (local scale of the CRS at each row); '
                         'not the planar CRS area')
        except Exception as err:  # CRS without a transformation to WGS84
            factor = None
            if crs.is_projected:
                try:
                    factor = float(crs.linear_units_factor[1])
                except Exception:
                    factor = None
            if factor is None:
                self.unit, self.method = 'px', 'pixels'
                self.note = f'CRS {crs} cannot be related to the ground ({err}); areas are pixel counts'
                return
            self.row_area = np.full(height, self.planar_pixel_area * factor ** 2)
            self.method = 'planar'
            self.note = f'planar areas in the CRS ({crs}), no transformation to WGS84 available'

    @classmethod
    def from_georef(cls, georef, n_samples: int = 65) -> 'PixelAreas':
        """Pixel areas of a :class:`vnseg.geo.georef.Georef` grid."""
        return cls(georef.crs, georef.transform, georef.width, georef.height, n_samples)

    def _ellipsoidal(self, n_samples: int) -> np.ndarray:
        from rasterio.warp import transform as warp_transform
        h, w = self.height, self.width
        rows = np.unique(np.linspace(0, h - 1, min(n_samples, h)).round().astype(int))
        half = 8.0  # measure a 16 x 16 pixel block around the sample pixel: better conditioned
        col = w / 2.0
        xs, ys = [], []
        for r in rows:
            cy = r + 0.5
            for dc, dr in ((-half, -half), (half, -half), (half, half), (-half, half)):
                x, y = self.transform * (col + dc, cy + dr)
                xs.append(x)
                ys.append(y)
        lon, lat = warp_transform(self.crs, 'EPSG:4326', xs, ys)
        lon, lat = np.asarray(lon).reshape(-1, 4), np.asarray(lat).reshape(-1, 4)
        if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
            raise ValueError('non-finite coordinates after transformation to EPSG:4326')
        areas = np.array([_local_area_m2(lo, la) for lo, la in zip(lon, lat)]) / (2 * half) ** 2
        if np.any(areas <= 0):
            raise ValueError('degenerate pixel area')
        return np.interp(np.arange(h), rows, areas)

    def area_at_row(self, row: float) -> float:
        """m^2 of one pixel at (fractional) row ``row``; 1.0 when ``unit == 'px'``."""
        if self.row_area is None:
            return 1.0
        return float(np.interp(row, np.arange(self.height), self.row_area))

    def linear_scale(self, row: Optional[float] = None) -> float:
        """Metres per CRS unit (geometric mean of both axes) at ``row`` (default: middle row)."""
        if self.row_area is None:
            return 1.0
        row = self.height / 2 if row is None else row
        return math.sqrt(self.area_at_row(row) / self.planar_pixel_area)


class ClassAreaCounter:
    """Accumulates pixel counts and ground areas per class value (0..255) strip by strip.

    Also records the bounding box of the pixels that have a prediction (``data_window``), so that
    later passes (polygons) can skip empty margins, and, when confidences are given, their sum and
    histogram per class (``confidence_sum``, ``confidence_hist``: ``int64 (256, 101)``, counts of
    pixels per class and confidence 0..100 %).
    """

    def __init__(self, pixel_areas: PixelAreas, nodata: int = 255):
        self.pa = pixel_areas
        self.nodata = nodata
        self.pixels = np.zeros(256, np.int64)
        self.area_m2 = np.zeros(256, np.float64)
        self.confidence_sum = np.zeros(256, np.float64)
        self.confidence_hist = np.zeros((256, 101), np.int64)
        self.has_confidence = False
        self._rows = [None, None]
        self._cols = [None, None]

    def update(self, row0: int, block: np.ndarray, confidence: Optional[np.ndarray] = None):
        """Add rows ``[row0, row0 + h)`` of the class map; ``block`` is ``uint8 (h, width)``.

        ``confidence``: optional ``uint8 (h, width)`` max class probability in % (0..100; other
        values, e.g. 255 = nodata, are not counted).
        """
        hist = np.bincount(block.ravel(), minlength=256)
        self.pixels += hist
        present = [int(c) for c in np.flatnonzero(hist) if c != self.nodata]
        if confidence is not None:
            self.has_confidence = True
            conf = confidence.ravel().astype(np.int64)
            ok = conf <= 100
            code = block.ravel().astype(np.int64)[ok] * 101 + conf[ok]
            self.confidence_hist += np.bincount(code, minlength=256 * 101).reshape(256, 101)
            self.confidence_sum = self.confidence_hist @ np.arange(101, dtype=np.float64)
        if not present:
            return
        if self.pa.row_area is not None:
            rows_area = self.pa.row_area[row0:row0 + block.shape[0]]
            for c in present:
                self.area_m2[c] += rows_area @ np.count_nonzero(block == c, axis=1)
        valid = block != self.nodata
        r = np.flatnonzero(valid.any(axis=1))
        c = np.flatnonzero(valid.any(axis=0))
        self._rows = [row0 + r[0] if self._rows[0] is None else self._rows[0], row0 + r[-1] + 1]
        self._cols = [c[0] if self._cols[0] is None else min(self._cols[0], c[0]),
                      c[-1] + 1 if self._cols[1] is None else max(self._cols[1], c[-1] + 1)]

    def mean_confidence(self, class_id: int) -> Optional[float]:
        """Mean confidence (%) of the pixels of ``class_id``; None without confidences / pixels."""
        n = int(self.confidence_hist[class_id].sum())
        if not self.has_confidence or n == 0:
            return None
        return float(self.confidence_sum[class_id]) / n

    @property
    def data_window(self):
        """``(row0, row1, col0, col1)`` bounding the predicted pixels, or None when there are none."""
        if self._rows[0] is None:
            return None
        return (int(self._rows[0]), int(self._rows[1]), int(self._cols[0]), int(self._cols[1]))


def write_area_tables(counter: ClassAreaCounter, classes: Sequence[str], csv_path, json_path,
                      extra: Optional[dict] = None, nodata: int = 255) -> dict:
    """Write the per-class area table as CSV and JSON (atomically). Returns the JSON document.

    One row per class: ``class_id, class, pixels, share_valid_pct`` (share of the valid = predicted
    area, in %), with georeferencing ``area_m2`` and ``area_ha``, and when the counter saw
    confidences ``mean_confidence_pct`` (mean max-class probability of the class's pixels, %).
    ``classes`` are the names shown (any language of :data:`vnseg.core.classes.CLASS_NAMES`). The JSON adds the
    CRS, pixel size, area method/note, valid and nodata pixel counts.
    """
    from vnseg.core.atomic import atomic_output
    pa = counter.pa
    valid_ids = [i for i in range(256) if i != nodata]
    valid_px = int(counter.pixels[valid_ids].sum())
    valid_area = float(counter.area_m2[valid_ids].sum())
    n = max(len(classes), max([i + 1 for i in valid_ids if counter.pixels[i]] or [0]))
    rows = []
    for i in range(n):
        name = classes[i] if i < len(classes) else f'class_{i}'
        px = int(counter.pixels[i])
        row = dict(class_id=i, **{'class': name}, pixels=px)
        if pa.unit == 'm2':
            row['area_m2'] = round(float(counter.area_m2[i]), 4)
            row['area_ha'] = round(float(counter.area_m2[i]) / 1e4, 8)
            share = counter.area_m2[i] / valid_area if valid_area > 0 else 0.0
        else:
            share = px / valid_px if valid_px else 0.0
        row['share_valid_pct'] = round(100.0 * float(share), 4)
        if counter.has_confidence:
            mc = counter.mean_confidence(i)
            row['mean_confidence_pct'] = None if mc is None else round(mc, 2)
        rows.append(row)
    doc = dict(
        area_unit=pa.unit, area_method=pa.method, note=pa.note,
        crs=pa.crs.to_string() if pa.crs is not None else None,
        pixel_size=list(pa.pixel_size), width=pa.width, height=pa.height,
        valid_pixels=valid_px, nodata_pixels=int(counter.pixels[nodata]),
        valid_area_m2=round(valid_area, 4) if pa.unit == 'm2' else None,
        classes=rows)
    if counter.has_confidence:
        # pixels of valid (predicted) area per confidence value 0..100 %
        doc['confidence_histogram'] = counter.confidence_hist[valid_ids].sum(axis=0).tolist()
    doc.update(extra or {})
    fields = ['class_id', 'class', 'pixels'] + (['area_m2', 'area_ha'] if pa.unit == 'm2' else []) + \
        ['share_valid_pct'] + (['mean_confidence_pct'] if counter.has_confidence else [])
    with atomic_output(csv_path) as tmp:
        with open(tmp, 'w', newline='') as f:
            wr = csv.DictWriter(f, fieldnames=fields)
            wr.writeheader()
            wr.writerows(rows)
    with atomic_output(json_path) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=2))
    return doc
