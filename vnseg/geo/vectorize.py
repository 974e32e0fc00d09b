"""A class map -> its polygon files: a gap-free coverage of all classes, written as GeoPackage and GeoJSON.

:func:`write_class_polygons` polygonises a class-index raster strip by strip with
:func:`vnseg.geo.coverage.vectorize_coverage` (memory bounded by a few strips): the polygons of all
classes share their borders exactly after simplification, so a GIS user who overlays, dissolves or sums
areas per parcel gets the totals of the raster; with ``regularize_buildings`` the buildings are squared
(:mod:`vnseg.geo.regularize`) and cut into that coverage. Each strip's simplified coverage is checked
(``shapely.coverage_is_valid``) for the map's validity report; :func:`vnseg.geo.coverage.check_coverage`
checks a written file again, band by band (tests and benchmarks: on a large connected region it costs
more than the polygonising).

What is polygonised and how is :class:`~vnseg.geo.coverage.PolygonOptions` (the ``vnseg map`` flags
``--classes``, ``--min-area``, ``--simplify``, ``--regularize-buildings``); where the polygons go is
:class:`PolygonFiles` (``STEM.gpkg``, ``STEM_<class>.geojson``); what came out is
:class:`PolygonOutputs`.

Feature properties: ``class_id``, ``class``, ``area_m2`` and ``area_ha`` (or ``area_px`` without
ground units) -- the exact area of the pixels of the polygon (after ``--min-area``'s specks were
dissolved), not of the drawn outline --, ``geom_area_m2`` (``geom_area_px``) -- the area of the drawn,
simplified (or squared) outline --, ``confidence`` (mean max-class probability of its pixels in %,
when a confidence raster is given), ``cut`` (1 when the polygon is a part of a taller region cut to
bound memory) and, on buildings with ``regularize_buildings``, ``regularized`` (1 squared, 0 kept as
it was: no straight walls, or a squared outline its neighbourhood refused).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .areas import PixelAreas
from .coverage import PolygonOptions
from .strips import LayerSpec

__all__ = ['PolygonOptions', 'PolygonFiles', 'PolygonOutputs', 'write_class_polygons', 'safe_name']


def safe_name(name) -> str:
    """``name`` as a part of a file name: runs of characters other than ``A-Za-z0-9_.-`` become ``_``."""
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', str(name)).strip('_') or 'class'


@dataclass(frozen=True)
class PolygonFiles:
    """Where the polygons of a class map go, and how their layers are named and coloured.

    ``OUT_DIR/STEM.gpkg`` (one layer per class, QGIS styles in ``layer_styles``) and
    ``OUT_DIR/STEM_<class>.geojson`` (RFC 7946 when georeferenced) with a ``.qml`` style beside each.

    Attributes:
        out_dir, stem: the folder and the common start of the file names.
        classes: canonical class names, index = class id (file names use them).
        palette: RGB colour per class.
        lang: language of the layer names and of the ``class`` property
            (:func:`vnseg.core.classes.class_names`).
        gpkg, geojson: which files are written.
    """
    out_dir: Path
    stem: str
    classes: Tuple[str, ...]
    palette: Sequence[Sequence[int]]
    lang: str = 'en'
    gpkg: bool = True
    geojson: bool = True

    def __post_init__(self):
        object.__setattr__(self, 'out_dir', Path(self.out_dir))
        object.__setattr__(self, 'classes', tuple(self.classes))

    @property
    def names(self) -> Tuple[str, ...]:
        """Display names of the classes (layer names, ``class`` property, legends)."""
        from vnseg.core.classes import class_names
        return class_names(self.lang, self.classes)

    @property
    def gpkg_path(self) -> Path:
        return self.out_dir / f'{self.stem}.gpkg'

    def geojson_path(self, class_id: int) -> Path:
        return self.out_dir / f'{self.stem}_{safe_name(self.classes[class_id])}.geojson'

    def paths(self, class_ids: Sequence[int]) -> List[Path]:
        """Every file written for ``class_ids`` (styles aside)."""
        return ([self.geojson_path(c) for c in class_ids] if self.geojson else []) + \
            ([self.gpkg_path] if self.gpkg else [])


def _geojson_decimals(pixel_areas: PixelAreas) -> int:
    """Decimals of GeoJSON coordinates: lon/lat to ~1/1000 of a pixel, else 1/1000 of a pixel."""
    from .layers import lonlat_decimals
    g = pixel_areas.georef
    if g.kind == 'crs':
        return lonlat_decimals(g, pixel_areas.linear_scale() if pixel_areas.unit == 'm2' else 1.0)
    return max(0, math.ceil(-math.log10(min(g.pixel_size) / 1000)))


@dataclass
class PolygonOutputs:
    """What :func:`write_class_polygons` wrote.

    Attributes:
        gpkg: ``STEM.gpkg`` (None without it).
        geojson: ``{class_id: STEM_<class>.geojson}``.
        stats: ``{class_id: {'polygons', 'dropped_small', 'area', 'dropped_area', 'cut', 'pixel_area',
            'geom_area', 'repaired', 'regularized', 'has_confidence'}}`` of the written classes (see
            :func:`vnseg.geo.coverage.vectorize_coverage`).
        validity: the map's validity report (:func:`vnseg.geo.coverage.validity_report`): coverage valid
            (every strip), geometries repaired, per-class area change of the drawn outlines against the
            pixel areas.
    """
    gpkg: Optional[Path]
    geojson: Dict[int, Path]
    stats: Dict[int, dict] = field(default_factory=dict)
    validity: Optional[dict] = None


def write_class_polygons(class_map_path, files: PolygonFiles, pixel_areas: PixelAreas,
                         polygons: PolygonOptions = PolygonOptions(), *, confidence_path=None,
                         data_window: Optional[tuple] = None, strip_rows: int = 2048,
                         max_polygon_rows: Optional[int] = None, sinks: Optional[Dict[int, list]] = None,
                         more_layers: Optional[Callable] = None) -> PolygonOutputs:
    """The inference tool's polygon outputs: ``STEM.gpkg`` (one styled layer per class, grid CRS) and
    ``STEM_<class>.geojson`` (RFC 7946 when georeferenced) with a ``.qml`` beside each, from a gap-free
    coverage of the class map (see module doc).

    Args:
        class_map_path: the class-index raster (uint8, 255 = nodata).
        files: which files, where, with which layer names and colours.
        pixel_areas: ground area per pixel row of the raster (and its georeferencing).
        polygons: the classes (``polygons.classes``, resolved against ``files.classes``), minimum area,
            simplification and building regularisation.
        confidence_path: optional ``uint8`` confidence raster (%) on the same grid.
        data_window: ``(row0, row1, col0, col1)`` outside which the raster is nodata; only this part is read.
        strip_rows: rows polygonised at a time (memory ~ ``strip_rows x width`` x a few bytes).
        max_polygon_rows: regions taller than this are cut at a strip line (memory bound); default
            ``4 * strip_rows``; 0 never cuts.
        sinks: more sinks per class id (anything with ``add(geometry, properties)``, e.g. a
            :class:`vnseg.geo.indicators.BuildingTally`); a class that is not written gets them alone.
        more_layers: called with the :class:`vnseg.geo.layers.GeoPackageWriter` once the polygons are
            written, before ``STEM.gpkg`` is closed: adds more layers and returns their QML styles
            ``{layer name: QML}``.

    Returns:
        :class:`PolygonOutputs`; nothing is left under a final name when it fails.

    Raises:
        ValueError: an unknown class in ``polygons.classes``; ``regularize_buildings`` without a
            building class.
    """
    from .coverage import coverage_layer_fields, validity_report, vectorize_coverage
    from .layers import GeoJSONWriter, GeoPackageWriter
    from .styles import polygon_layer_qml, write_qml
    g = pixel_areas.georef
    class_ids = polygons.class_ids(files.classes)
    building = list(files.classes).index('building') if 'building' in files.classes else -1
    names = files.names
    gp = GeoPackageWriter(files.gpkg_path, g) if files.gpkg else None
    dec = _geojson_decimals(pixel_areas)
    layers, gj_paths, writers = {}, {}, []
    for c in class_ids:
        layer_sinks = []
        if gp is not None:
            fields = coverage_layer_fields(pixel_areas.unit, with_confidence=True,
                                           regularized=polygons.regularize_buildings and c == building)
            layer_sinks.append(gp.layer(names[c], fields))
        if files.geojson:
            gj_paths[c] = files.geojson_path(c)
            writers.append(GeoJSONWriter(gj_paths[c], names[c], g, decimals=dec))
            layer_sinks.append(writers[-1])
        layers[c] = LayerSpec(layer_sinks, c, names[c])
    for c, extra in (sinks or {}).items():
        if c not in layers:
            layers[c] = LayerSpec([], c, names[c])
        layers[c].sinks.extend(extra)
    try:
        res = vectorize_coverage(class_map_path, layers, pixel_areas, polygons, confidence_path=confidence_path,
                                 data_window=data_window, strip_rows=strip_rows, max_polygon_rows=max_polygon_rows,
                                 building_class=building)
        styles = {names[c]: polygon_layer_qml(c, names[c], files.palette[c]) for c in class_ids}
        for w in writers:
            w.close()
        for c in gj_paths:
            write_qml(gj_paths[c].with_suffix('.qml'), styles[names[c]])
        if gp is not None and more_layers is not None:
            styles.update(more_layers(gp))
        gpkg_path = gp.close(styles) if gp is not None else None
    except BaseException:
        for w in writers:
            w.abort()
        if gp is not None:
            gp.abort()
        raise
    stats = {c: dict(res['layers'][c], has_confidence=confidence_path is not None) for c in class_ids}
    validity = validity_report(res, {c: names[c] for c in range(len(names))})
    return PolygonOutputs(gpkg_path, gj_paths, stats, validity)
