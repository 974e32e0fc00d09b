"""What whole-scene inference writes after the class map: tables, styles, layers, zones, report.

Called by :func:`vnseg.apis.infer_large_image` once ``STEM_classes.tif`` (and, when the engine wrote
it, ``STEM_confidence.tif``) exist. Every file is written atomically. Class names are shown in the
chosen language (:data:`vnseg.classes.CLASS_NAMES`); file names keep the canonical English names.

Outputs (``STEM`` = image file name without suffix):

* ``STEM_areas.csv`` / ``.json`` -- per class pixels, m^2, ha, share, mean confidence (%).
* ``STEM_classes.qml`` -- QGIS paletted style of the class map (colours + names; background transparent);
  ``STEM_confidence.qml`` -- red-to-green ramp for the confidence raster.
* ``STEM.gpkg`` -- one polygon layer per class in the image's CRS, QGIS styles in ``layer_styles``.
* ``STEM_<class>.geojson`` (+ ``.qml``) -- RFC 7946 (WGS84 lon/lat) when georeferenced.
* ``STEM_zones.csv`` -- per-zone class areas (ha, %) when zones are given.
* ``STEM_report.html`` -- the one-page report (:mod:`vnseg.geo.report`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from vnseg.classes import IGNORE_INDEX, class_names
from vnseg.geo.areas import ClassAreaCounter, PixelAreas, write_area_tables
from vnseg.geo.styles import confidence_raster_qml, paletted_raster_qml, write_qml

__all__ = ['write_gis_outputs', 'default_polygon_settings']


def default_polygon_settings(pixel_areas: PixelAreas, min_area: Optional[float], simplify: Optional[float]):
    """Defaults of the polygon filters in the units of ``pixel_areas``: 1 m^2 / 16 px minimum area,
    half a pixel of simplification (in metres, or pixels without ground units)."""
    if min_area is None:
        min_area = 1.0 if pixel_areas.unit == 'm2' else 16.0
    if simplify is None:
        simplify = 0.5 * (pixel_areas.linear_scale() * (pixel_areas.planar_pixel_area ** 0.5)
                          if pixel_areas.unit == 'm2' else 1.0)
    return min_area, simplify


def write_gis_outputs(out_dir: Path, stem: str, class_map: Path, confidence: Optional[Path],
                      classes: Sequence[str], palette, counter: ClassAreaCounter, lang: str = 'en',
                      polygon_ids: Sequence[int] = (), min_area: Optional[float] = None,
                      simplify: Optional[float] = None, zones=None, extra: Optional[dict] = None,
                      preview: Optional[Path] = None, report: bool = True, gpkg: bool = True,
                      report_inputs: Optional[dict] = None, file_names: Optional[Sequence[str]] = None,
                      keep_existing: bool = False) -> Dict:
    """Write the post-inference outputs; returns ``{'areas', 'areas_csv', 'areas_json', 'gpkg',
    'polygons' {class id: geojson}, 'polygon_stats', 'styles', 'zones_csv', 'report'}``.

    ``zones``: a loaded :class:`vnseg.geo.zones.Zones` on the class map's grid (validated before
    inference so that a bad zone file fails fast). ``keep_existing`` (a resumed, finished run):
    outputs that exist are kept as they are, only missing ones are written.
    """
    import json

    def keep(*paths) -> bool:
        return keep_existing and all(Path(p).is_file() for p in paths)

    from vnseg.geo.vectorize import write_class_polygons
    pa = counter.pa
    names = list(class_names(lang, classes))
    file_names = list(file_names or classes)
    out: Dict = {}
    csv_path, json_path = out_dir / f'{stem}_areas.csv', out_dir / f'{stem}_areas.json'
    doc_extra = dict(extra or {}, lang=lang, coordinates=pa.georef.coordinate_note)
    if confidence is not None:
        doc_extra['confidence_map'] = Path(confidence).name
    if keep(csv_path, json_path):
        out['areas'] = json.loads(json_path.read_text(encoding='utf-8'))
    else:
        out['areas'] = write_area_tables(counter, names, csv_path, json_path, extra=doc_extra, nodata=IGNORE_INDEX)
    out['areas_csv'], out['areas_json'] = csv_path, json_path
    styles = [out_dir / f'{stem}_classes.qml']
    if not keep(styles[0]):
        background = [i for i, c in enumerate(classes) if c == 'background']  # the orthophoto shows through
        write_qml(styles[0], paletted_raster_qml(range(len(names)), names, palette[:len(names)],
                                                 transparent=background))
    if confidence is not None:
        styles.append(Path(confidence).with_suffix('.qml'))
        if not keep(styles[-1]):
            write_qml(styles[-1], confidence_raster_qml())
    out['styles'] = styles
    out['gpkg'], out['polygons'], out['polygon_stats'] = None, {}, {}
    existing = [out_dir / f'{stem}_{file_names[c]}.geojson' for c in polygon_ids] + \
        ([out_dir / f'{stem}.gpkg'] if gpkg else [])
    if polygon_ids and keep(*existing):
        out['gpkg'] = out_dir / f'{stem}.gpkg' if gpkg else None
        out['polygons'] = {c: out_dir / f'{stem}_{file_names[c]}.geojson' for c in polygon_ids}
    elif polygon_ids:
        min_area, simplify = default_polygon_settings(pa, min_area, simplify)
        gp, gj, stats = write_class_polygons(
            class_map, out_dir, stem, polygon_ids, names, palette, pa, min_area, simplify,
            data_window=counter.data_window or (0, 0, 0, 0), confidence_path=confidence, gpkg=gpkg,
            file_names=file_names)
        out['gpkg'], out['polygons'], out['polygon_stats'] = gp, gj, stats
    out['zones_csv'] = None
    if zones is not None:
        out['zones_csv'] = out_dir / f'{stem}_zones.csv'
        if not keep(out['zones_csv']):
            write_zone_table(class_map, zones, pa, names, out['zones_csv'])
    out['report'] = None
    if report and keep(out_dir / f'{stem}_report.html'):
        out['report'] = out_dir / f'{stem}_report.html'
    elif report:
        from vnseg.geo.report import write_report
        files = [p.name for p in [class_map, confidence, csv_path, json_path, out.get('gpkg'), preview,
                                  out['zones_csv'], *styles, *out['polygons'].values()] if p is not None]
        out['report'] = write_report(out_dir / f'{stem}_report.html', out['areas'], names, palette,
                                     preview_png=preview, inputs=report_inputs, outputs=files, lang=lang)
    return out


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
