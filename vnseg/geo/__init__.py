"""Raster and vector helpers for whole-scene inference (raster IO, areas, polygons, GIS files and reports).

Layer 3: imports only layers 0-2 (the layers: :mod:`vnseg`).

One job per module:

* :mod:`vnseg.geo.raster_io`  -- reading RGB + validity masks by windows, writing the class-map GeoTIFF
  (cloud-optimised), the preview PNG.
* :mod:`vnseg.geo.georef`     -- the one "georeferenced or not" decision (CRS / world file / pixels).
* :mod:`vnseg.geo.areas`      -- ground area of each pixel row and per-class area tables.
* :mod:`vnseg.geo.strips`     -- masks -> polygons strip by strip, memory bounded by a few strips.
* :mod:`vnseg.geo.coverage`   -- a class map -> a gap-free coverage of all classes' polygons, strip by strip.
* :mod:`vnseg.geo.vectorize`  -- that coverage written as styled GeoPackage / GeoJSON layers.
* :mod:`vnseg.geo.regularize` -- square building outlines, cut into that coverage.
* :mod:`vnseg.geo.layers`     -- RFC 7946 GeoJSON and GeoPackage writers.
* :mod:`vnseg.geo.styles`     -- QGIS styles (.qml files, GeoPackage ``layer_styles``).
* :mod:`vnseg.geo.zones`      -- per-zone class areas from any polygon file.
* :mod:`vnseg.geo.indicators` -- urban indicators per map and zone (building coverage, roads, buildings).
* :mod:`vnseg.geo.change`     -- change between two flights' class maps.
* :mod:`vnseg.geo.report`     -- the one-page HTML report.
* :mod:`vnseg.geo.sampling`   -- stratified random sample of a class map (strata, allocation, drawing).
* :mod:`vnseg.geo.review_form` -- the sample's GeoPackage review form for QGIS and its project.
* :mod:`vnseg.geo.review_chips` -- image chips of sample points and their CSV.
* :mod:`vnseg.geo.area_estimation` -- stratified estimators of areas and accuracy with standard errors.
* :mod:`vnseg.geo.accuracy`   -- a reviewed sample -> areas with 95 % intervals, accuracies (files).
* :mod:`vnseg.geo.accuracy_report` -- the accuracy results as HTML (chart, tables) and Markdown.
"""
