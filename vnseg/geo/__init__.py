"""Raster and vector helpers for whole-scene inference (tiling windows, raster IO, areas, polygons).

One job per module:

* :mod:`vnseg.geo.windows`    -- sliding-window grid and blending weights.
* :mod:`vnseg.geo.raster_io`  -- reading RGB + validity masks by windows, writing the class-map GeoTIFF
  (cloud-optimised), the preview PNG, atomic file replacement.
* :mod:`vnseg.geo.georef`     -- the one "georeferenced or not" decision (CRS / world file / pixels).
* :mod:`vnseg.geo.areas`      -- ground area of each pixel row and per-class area tables.
* :mod:`vnseg.geo.vectorize`  -- masks -> polygons strip by strip, memory bounded by a few strips.
* :mod:`vnseg.geo.layers`     -- RFC 7946 GeoJSON and GeoPackage writers.
* :mod:`vnseg.geo.styles`     -- QGIS styles (.qml files, GeoPackage ``layer_styles``).
* :mod:`vnseg.geo.zones`      -- per-zone class areas from any polygon file.
* :mod:`vnseg.geo.change`     -- change between two flights' class maps.
* :mod:`vnseg.geo.report`     -- the one-page HTML report.
"""
