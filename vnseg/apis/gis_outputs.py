"""What whole-scene inference writes after the class map: tables, styles, layers, zones, report.

Called by :func:`vnseg.apis.infer_large_image` once ``STEM_classes.tif`` (and, when the engine wrote
it, ``STEM_confidence.tif``) exist. Every file is written atomically. Class names are shown in the
chosen language (:data:`vnseg.core.classes.CLASS_NAMES`); file names keep the canonical English names.

Outputs (``STEM`` = image file name without suffix):

* ``STEM_areas.csv`` / ``.json`` -- per class pixels, m^2, ha, share, mean confidence (%).
* ``STEM_classes.qml`` -- QGIS paletted style of the class map (colours + names; background transparent);
  ``STEM_confidence.qml`` -- red-to-green ramp for the confidence raster.
* ``STEM.gpkg`` -- one polygon layer per class in the image's CRS, QGIS styles in ``layer_styles``.
* ``STEM_<class>.geojson`` (+ ``.qml``) -- RFC 7946 (WGS84 lon/lat) when georeferenced.
* ``STEM_zones.csv`` -- per-zone class areas (ha, %) when zones are given.
* ``STEM_indicators.csv`` -- urban indicators (:mod:`vnseg.geo.indicators`) of the map and of each zone; with
  zones, ``STEM.gpkg`` also holds a styled zone layer of them. The area JSON carries them too, and the
  polygons' validity report (coverage valid, geometries repaired, area change of simplification per class).
* ``STEM_report.html`` -- the one-page report (:mod:`vnseg.geo.report`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from vnseg.core.classes import IGNORE_INDEX, class_names
from vnseg.geo.areas import ClassAreaCounter, PixelAreas, write_area_tables
from vnseg.geo.styles import confidence_raster_qml, paletted_raster_qml, write_qml
from vnseg.geo.vectorize import PolygonFiles, PolygonOptions
from .scene_paths import ScenePaths

__all__ = ['OutputOptions', 'write_gis_outputs', 'write_zone_table']


@dataclass(frozen=True)
class OutputOptions:
    """What whole-scene inference writes besides the class and confidence maps: the ``vnseg map``
    flags of the same names (``--no-polygons`` -> ``polygons=False``, ``--preview-size`` ->
    ``preview_size``...).

    A new output option is a field here named like its flag, the flag in
    :mod:`vnseg.commands.map` (its parser fills the field by name) and its use in
    :func:`write_gis_outputs` (or :func:`vnseg.apis.postprocess.postprocess_scene`); every caller
    passes this object on whole.

    Attributes:
        polygons: write the class polygons (``STEM.gpkg`` and ``STEM_<class>.geojson``).
        gpkg: write ``STEM.gpkg`` (styled layers) beside the GeoJSON files.
        preview: write the overlay ``STEM_preview.png``.
        preview_size: longer side of the preview in pixels.
        report: write ``STEM_report.html``.
        lang: ``'en'`` or ``'vi'``: class names in layers, tables, styles and the report.
        zones: a polygon vector file (any CRS) of zones, or zones already loaded on the image's grid
            (:class:`vnseg.geo.zones.Zones`): adds ``STEM_zones.csv`` with class areas per zone.
        zone_field: the attribute naming each zone (with a zone file).
        indicators: write the urban indicators of the map and of each zone (``STEM_indicators.csv``, the
            area JSON, the report and, with zones, the zone layer of ``STEM.gpkg``).
        sample: draw a stratified random sample of this many points on the class map for review
            (``STEM_sample.gpkg`` and ``.qgs``; strata zone x class with zones;
            :mod:`vnseg.apis.map_sample`); None: no sample.
    """
    polygons: bool = True
    gpkg: bool = True
    preview: bool = True
    preview_size: int = 2048
    report: bool = True
    lang: str = 'en'
    zones: object = None
    zone_field: Optional[str] = None
    sample: Optional[int] = None
    indicators: bool = True

    def with_zones_on(self, georef) -> 'OutputOptions':
        """These options with :attr:`zones` loaded on the grid of ``georef`` (as they are when
        already loaded, or when there are none).

        Raises:
            ValueError: a zone file without ``zone_field``; vnseg.geo.zones.ZoneError: an unusable
                zone file (named in the message).
        """
        from vnseg.geo.zones import Zones, load_zones
        if self.zones is None or isinstance(self.zones, Zones):
            return self
        if not self.zone_field:
            raise ValueError(f'{self.zones}: --zone-field is required with --zones')
        return replace(self, zones=load_zones(self.zones, self.zone_field, georef))


def write_gis_outputs(paths: ScenePaths, classes: Sequence[str], palette, counter: ClassAreaCounter,
                      polygons: PolygonOptions = PolygonOptions(), outputs: OutputOptions = OutputOptions(), *,
                      extra: Optional[dict] = None, report_inputs: Optional[dict] = None,
                      keep_existing: bool = False) -> Dict:
    """Write the post-inference outputs of the class map ``paths.class_map`` (and
    ``paths.confidence`` when it exists).

    Args:
        paths: the scene's output files.
        classes: canonical class names, index = class id; palette: RGB per class.
        counter: the class map's per-class pixel counts and areas (:func:`vnseg.apis.postprocess.count_classes`).
        polygons: which classes become polygons, and how.
        outputs: which outputs; ``outputs.zones`` must be loaded on the class map's grid
            (:meth:`OutputOptions.with_zones_on`, done before inference so that a bad zone file fails fast).
            ``outputs.preview``: ``paths.preview`` was written (it goes into the report).
        extra: more entries of the area JSON document.
        report_inputs: the report's table of inputs (``{label: text}``).
        keep_existing: (a resumed, finished run) outputs that exist are kept as they are, only
            missing ones are written.

    Returns:
        ``{'areas', 'areas_csv', 'areas_json', 'gpkg', 'polygons' {class id: geojson},
        'polygon_stats', 'validity', 'styles', 'zones_csv', 'indicators_csv', 'report'}``.
    """
    def keep(*files) -> bool:
        return keep_existing and all(Path(p).is_file() for p in files)

    confidence = paths.confidence if paths.confidence.is_file() else None
    names = list(class_names(outputs.lang, classes))
    out: Dict = dict(areas_csv=paths.areas_csv, areas_json=paths.areas_json)
    out['styles'] = _write_raster_styles(paths, classes, names, palette, confidence is not None, keep)
    files = PolygonFiles(paths.out_dir, paths.stem, classes, palette, lang=outputs.lang, gpkg=outputs.gpkg)
    indicators = None  # the indicators count the building polygons: both are made anew, or both kept
    if outputs.indicators and not keep(paths.indicators_csv, paths.areas_json):
        from vnseg.geo.indicators import SceneIndicators
        indicators = SceneIndicators(paths.class_map, classes, counter, outputs.zones, outputs.lang)
        indicators.measure()
    out.update(_write_polygons(paths, files, counter, polygons if outputs.polygons else None, confidence,
                               keep if indicators is None else (lambda *files: False), indicators))
    out['zones_csv'] = None
    if outputs.zones is not None:
        out['zones_csv'] = paths.zones_csv
        if not keep(paths.zones_csv):
            if indicators is not None:
                indicators.zone_counter.write_csv(paths.zones_csv, names)
            else:
                write_zone_table(paths.class_map, outputs.zones, counter.pa, names, paths.zones_csv)
    out['indicators_csv'] = paths.indicators_csv if outputs.indicators else None
    if keep(paths.areas_csv, paths.areas_json) and indicators is None:
        out['areas'] = json.loads(paths.areas_json.read_text(encoding='utf-8'))
    else:
        doc_extra = dict(extra or {}, lang=outputs.lang, coordinates=counter.pa.georef.coordinate_note)
        if confidence is not None:
            doc_extra['confidence_map'] = confidence.name
        if out['validity'] is not None:
            doc_extra['validity'] = out['validity']
        if indicators is not None:
            doc_extra.update(_indicator_entries(indicators.write_table(paths.indicators_csv), outputs.lang))
        out['areas'] = write_area_tables(counter, names, paths.areas_csv, paths.areas_json, extra=doc_extra,
                                         nodata=IGNORE_INDEX)
    out['report'] = None
    if outputs.report and keep(paths.report):
        out['report'] = paths.report
    elif outputs.report:
        from vnseg.geo.report import write_report
        preview = paths.preview if outputs.preview else None
        written = [paths.class_map, confidence, paths.areas_csv, paths.areas_json, out['gpkg'], preview,
                   out['zones_csv'], out['indicators_csv'], *out['styles'], *out['polygons'].values()]
        out['report'] = write_report(paths.report, out['areas'], names, palette, preview_png=preview,
                                     inputs=report_inputs, outputs=[p.name for p in written if p is not None],
                                     lang=outputs.lang)
    return out


def _write_raster_styles(paths: ScenePaths, classes, names, palette, confidence: bool, keep) -> list:
    """QGIS styles of the class map (background transparent: the orthophoto shows through) and of the
    confidence map; returns their paths."""
    styles = [paths.class_style]
    if not keep(paths.class_style):
        background = [i for i, c in enumerate(classes) if c == 'background']
        write_qml(paths.class_style, paletted_raster_qml(range(len(names)), names, palette[:len(names)],
                                                         transparent=background))
    if confidence:
        styles.append(paths.confidence_style)
        if not keep(paths.confidence_style):
            write_qml(paths.confidence_style, confidence_raster_qml())
    return styles


def _indicator_entries(rows, lang: str) -> dict:
    """The area JSON's indicator entries from :meth:`vnseg.geo.indicators.SceneIndicators.rows`: the map's
    (``indicators``), the zones' (``zone_indicators``) and each key's label in ``lang`` (``indicator_labels``)."""
    from vnseg.geo.indicators import indicator_labels
    strip = ('scope', 'zone')
    return dict(indicators={k: v for k, v in rows[0].items() if k not in strip},
                zone_indicators=[{k: v for k, v in r.items() if k != 'scope'} for r in rows[1:]],
                indicator_labels=indicator_labels(lang))


def _write_polygons(paths: ScenePaths, files: PolygonFiles, counter: ClassAreaCounter,
                    polygons: Optional[PolygonOptions], confidence: Optional[Path], keep, indicators=None) -> dict:
    """``{'gpkg', 'polygons', 'polygon_stats', 'validity'}`` of the class polygons (none when ``polygons``
    is None); a finished run's files are kept (without stats and validity report). ``indicators``
    (:class:`vnseg.geo.indicators.SceneIndicators`): its building tally counts the buildings as they are
    written, and with zones its zone layer goes into ``STEM.gpkg``."""
    from vnseg.geo.vectorize import write_class_polygons
    ids = polygons.class_ids(files.classes) if polygons is not None else []
    if not ids:
        return dict(gpkg=None, polygons={}, polygon_stats={}, validity=None)
    if keep(*files.paths(ids)):
        return dict(gpkg=files.gpkg_path if files.gpkg else None,
                    polygons={c: files.geojson_path(c) for c in ids}, polygon_stats={}, validity=None)
    sinks = indicators.sinks() if indicators is not None else None
    more = indicators.add_zone_layer if indicators is not None and indicators.zones is not None else None
    res = write_class_polygons(paths.class_map, files, counter.pa, polygons, confidence_path=confidence,
                               data_window=counter.data_window or (0, 0, 0, 0), sinks=sinks, more_layers=more)
    return dict(gpkg=res.gpkg, polygons=res.geojson, polygon_stats=res.stats, validity=res.validity)


def write_zone_table(class_map: Path, zones, pixel_areas: PixelAreas, names: Sequence[str], csv_path: Path,
                     strip_rows: int = 1024) -> Path:
    """Per-zone class areas of a class map on ``pixel_areas``' grid, read by strips, as CSV."""
    import rasterio
    from rasterio.windows import Window

    from vnseg.geo.zones import ZoneAreaCounter
    counter = ZoneAreaCounter(zones, pixel_areas)
    with rasterio.open(class_map) as ds:
        b = zones.bounds
        r_lo = max(0, int(np.floor(b[:, 1].min())))
        r_hi = min(ds.height, int(np.ceil(b[:, 3].max())))
        for r0 in range(r_lo, r_hi, strip_rows):
            h = min(strip_rows, r_hi - r0)
            counter.update(r0, ds.read(1, window=Window(0, r0, ds.width, h)))
    return counter.write_csv(csv_path, names)
