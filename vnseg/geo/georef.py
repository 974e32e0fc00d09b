"""The one decision "is this raster georeferenced?", shared by raster IO, areas and polygons.

Three kinds, decided once from the raster's CRS and transform:

=========  =====================================  ======================  ===============================
kind       when                                   areas                   polygon coordinates
=========  =====================================  ======================  ===============================
``crs``    a CRS and a non-identity transform     m^2 on the ground       the CRS (GeoJSON: EPSG:4326)
``world``  a transform but no CRS (world file     pixels (units unknown)  world units of the transform,
           ``.pgw``/``.jgw``/``.tfw``/``.wld``)                           so they overlay the class map
``pixel``  neither (a plain photo), or a CRS      pixels                  pixels (x = column, y = row)
           without a transform
=========  =====================================  ======================  ===============================

Lengths that users give in ground units (simplification tolerance, minimum area) are metres / m^2 for
``crs`` and pixels / pixel counts otherwise; :meth:`Georef.pixels_to_output` converts a length in
pixels to output coordinate units, which is the only conversion the polygon writer needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ['Georef']


@dataclass(frozen=True)
class Georef:
    """Georeferencing of a raster grid and what it allows.

    Attributes:
        kind: ``'crs'``, ``'world'`` or ``'pixel'`` (see the module doc).
        crs: ``rasterio.crs.CRS`` or None (always None unless ``kind == 'crs'``).
        transform: ``affine.Affine`` pixel -> coordinates (identity for ``'pixel'``).
        width, height: grid size in pixels.
    """

    kind: str
    crs: Any
    transform: Any
    width: int
    height: int

    @classmethod
    def of(cls, crs, transform, width: int, height: int) -> 'Georef':
        """Decide the kind from a CRS (or None) and an affine transform (or None)."""
        from affine import Affine
        has_transform = transform is not None and not Affine(*transform[:6]).is_identity
        if has_transform and crs is not None:
            return cls('crs', crs, transform, int(width), int(height))
        if has_transform:
            return cls('world', None, transform, int(width), int(height))
        return cls('pixel', None, Affine.identity(), int(width), int(height))

    @classmethod
    def from_dataset(cls, ds) -> 'Georef':
        """From an open rasterio dataset."""
        return cls.of(ds.crs, ds.transform, ds.width, ds.height)

    @property
    def georeferenced(self) -> bool:
        """True when positions and areas relate to the ground (``kind == 'crs'``)."""
        return self.kind == 'crs'

    @property
    def pixel_size(self) -> tuple:
        """``(x, y)`` size of one pixel in output coordinate units (1, 1 for ``'pixel'``)."""
        t = self.transform
        return (math.hypot(t.a, t.d), math.hypot(t.b, t.e))

    def pixels_to_output(self, length_px: float) -> float:
        """A length in pixels expressed in output coordinate units (geometric mean of both axes)."""
        t = self.transform
        return float(length_px) * math.sqrt(abs(t.a * t.e - t.b * t.d))

    @property
    def coordinate_note(self) -> str:
        """A sentence for tables and reports saying what polygon coordinates mean."""
        if self.kind == 'crs':
            return f'coordinates in {self.crs.to_string()} (GeoJSON: WGS84 longitude/latitude, RFC 7946)'
        if self.kind == 'world':
            return ('georeferenced by a world file without a CRS: polygons are in the world file\'s '
                    'coordinates (assign the CRS in the GIS), areas are pixel counts')
        return 'no georeferencing: polygons are in pixel coordinates (x = column, y = row), areas are pixel counts'
