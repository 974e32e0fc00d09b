"""Raster and vector helpers for whole-scene inference (tiling windows, raster IO, areas, polygons).

One job per module:

* :mod:`vnseg.geo.windows`    -- sliding-window grid and blending weights.
* :mod:`vnseg.geo.raster_io`  -- reading RGB + validity masks by windows, writing the class-map GeoTIFF
  (cloud-optimised), the preview PNG, atomic file replacement.
* :mod:`vnseg.geo.areas`      -- ground area of each pixel row and per-class area tables.
* :mod:`vnseg.geo.vectorize`  -- class map -> GeoJSON polygons, strip by strip.
"""
