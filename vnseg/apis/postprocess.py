"""After a scene's class map is written: areas, preview, layers, zones and report, and what they came to.

Everything here reads the finished rasters of a :class:`vnseg.apis.scene.Scene` (``STEM_classes.tif``
and ``STEM_confidence.tif``): :func:`count_classes` counts pixels and areas by row blocks,
:func:`postprocess_scene` writes the preview and hands the rest to
:func:`vnseg.apis.gis_outputs.write_gis_outputs`, and returns the :class:`LargeImageResult` of the
whole run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from vnseg.core.classes import IGNORE_INDEX
from vnseg.geo.areas import ClassAreaCounter, PixelAreas
from vnseg.geo.raster_io import write_preview
from vnseg.geo.vectorize import PolygonOptions
from .gis_outputs import OutputOptions, write_gis_outputs
from .map_sample import MapSample
from .scene import Scene

__all__ = ['LargeImageResult', 'count_classes', 'postprocess_scene']


@dataclass
class LargeImageResult:
    """What :func:`vnseg.apis.infer_large_image` wrote and measured.

    Attributes:
        class_map: path of the class-index GeoTIFF.
        confidence: path of the confidence GeoTIFF (uint8 %, 255 = nodata; same grid).
        preview: path of the overlay PNG (None when disabled).
        polygons: ``{class name: GeoJSON path}``.
        areas_csv, areas_json: the area table files.
        areas: the area JSON document (``classes`` rows: pixels, area_m2, area_ha, share_valid_pct).
        polygon_stats: ``{class name: {'polygons', 'dropped_small', 'area'}}``.
        tiles_total, tiles_run: windows in the grid / windows run by this call (others were all
            nodata, or finished by an earlier run that this one resumed; context windows included).
        seconds: wall time of the whole call.
        timings: seconds per phase (``segment`` incl. strip writing, ``cog``, ``count``, ``preview``,
            ``areas+polygons+report``).
        strips_total, strips_run: strips of the grid / strips computed by this call.
        gpkg: ``STEM.gpkg`` with one styled polygon layer per class (None without polygons).
        report: ``STEM_report.html``; zones_csv: ``STEM_zones.csv`` (with ``zones``);
        indicators_csv: ``STEM_indicators.csv`` (urban indicators of the map and the zones);
        validity: the polygons' validity report (None when the polygons were kept or not made);
        styles: the QGIS ``.qml`` files written beside the rasters.
        sample: the review sample (``outputs.sample``: ``STEM_sample.gpkg`` and its QGIS project), or None.
    """
    class_map: Path
    preview: Optional[Path]
    polygons: Dict[str, Path]
    areas_csv: Path
    areas_json: Path
    areas: dict
    polygon_stats: Dict[str, dict] = field(default_factory=dict)
    tiles_total: int = 0
    tiles_run: int = 0
    seconds: float = 0.0
    timings: Dict[str, float] = field(default_factory=dict)
    confidence: Optional[Path] = None
    strips_total: int = 0
    strips_run: int = 0
    gpkg: Optional[Path] = None
    report: Optional[Path] = None
    zones_csv: Optional[Path] = None
    styles: List[Path] = field(default_factory=list)
    indicators_csv: Optional[Path] = None
    validity: Optional[dict] = None
    sample: Optional[MapSample] = None


def count_classes(class_map, pixel_areas: PixelAreas, nodata: int = IGNORE_INDEX,
                  block_rows: int = 512, confidence=None) -> ClassAreaCounter:
    """Per-class pixel counts, ground areas (and, with the ``confidence`` raster, confidence sums and
    histograms) of a class-map raster, read by row blocks."""
    import rasterio
    from rasterio.windows import Window
    counter = ClassAreaCounter(pixel_areas, nodata=nodata)
    conf_ds = rasterio.open(confidence) if confidence is not None else None
    try:
        with rasterio.open(class_map) as ds:
            for row0 in range(0, ds.height, block_rows):
                win = Window(0, row0, ds.width, min(block_rows, ds.height - row0))
                counter.update(row0, ds.read(1, window=win),
                               conf_ds.read(1, window=win) if conf_ds is not None else None)
    finally:
        if conf_ds is not None:
            conf_ds.close()
    return counter


def postprocess_scene(scene: Scene, polygons: PolygonOptions = PolygonOptions(),
                      outputs: OutputOptions = OutputOptions(), *, keep_existing: bool = False,
                      timings: Optional[dict] = None) -> LargeImageResult:
    """Area tables, styles, preview, layers, zones and report from the finished class map and confidence
    map (:func:`vnseg.apis.gis_outputs.write_gis_outputs`), then the review sample (``outputs.sample``,
    :func:`vnseg.apis.map_sample.draw_map_sample`).

    Args:
        scene: a scene whose class map (and confidence map) are written.
        polygons, outputs: what is written, and how.
        keep_existing: (resume) outputs that already exist are neither recomputed nor rewritten.
        timings: seconds of the phases so far (``segment``, ``cog``); this call's are added.
    """
    source, paths, classes = scene.source, scene.paths, scene.classes
    timings = dict(timings or {})
    t = time.perf_counter()
    pixel_areas = PixelAreas(source.crs, source.transform, source.width, source.height)
    confidence = paths.confidence if paths.confidence.is_file() else None
    counter = count_classes(paths.class_map, pixel_areas, confidence=confidence)
    timings['count'] = time.perf_counter() - t
    t = time.perf_counter()
    if outputs.preview and not (keep_existing and paths.preview.is_file()):
        write_preview(source, paths.class_map, paths.preview, scene.palette, max_size=outputs.preview_size)
    timings['preview'] = time.perf_counter() - t
    outputs = outputs.with_zones_on(source.georef)
    t = time.perf_counter()
    outs = write_gis_outputs(paths, classes, scene.palette, counter, polygons, outputs, extra=_area_extra(scene),
                             report_inputs=_report_inputs(scene, outputs), keep_existing=keep_existing)
    timings['areas+polygons+report'] = time.perf_counter() - t
    sample = None
    if outputs.sample:
        from .map_sample import draw_map_sample
        t = time.perf_counter()
        sample = draw_map_sample(paths.class_map, paths.sample, source.path, outputs.sample, outputs, keep_existing)
        timings['sample'] = time.perf_counter() - t
    return LargeImageResult(
        class_map=paths.class_map, preview=paths.preview if outputs.preview else None,
        polygons={classes[c]: p for c, p in outs['polygons'].items()}, areas_csv=outs['areas_csv'],
        areas_json=outs['areas_json'], areas=outs['areas'],
        polygon_stats={classes[c]: st for c, st in outs['polygon_stats'].items()},
        tiles_total=scene.tiles_total, tiles_run=scene.tiles_run, timings=timings,
        confidence=confidence, strips_total=len(scene.grid), strips_run=scene.strips_run,
        gpkg=outs['gpkg'], report=outs['report'], zones_csv=outs['zones_csv'], styles=outs['styles'],
        indicators_csv=outs['indicators_csv'], validity=outs['validity'],
        sample=sample)


def _area_extra(scene: Scene) -> dict:
    """The run's settings, recorded in the area JSON document."""
    w = scene.windows
    extra = dict(image=str(scene.source.path), class_map=scene.paths.class_map.name, tile=w.tile,
                 overlap=w.overlap, blend=w.blend, tta_flip=bool(w.tta_flip), tiles_total=scene.tiles_total,
                 tiles_run=scene.tiles_run)
    if scene.match is not None:
        extra['match_gsd'] = scene.match.describe()
    return extra


def _report_inputs(scene: Scene, outputs: OutputOptions) -> dict:
    """The report's table of inputs: image, grid, model, weights, windows (and GSD matching, zones)."""
    source, w = scene.source, scene.windows
    inputs = {'image': str(source.path), 'size (px)': f'{source.width} x {source.height}',
              'CRS': source.crs.to_string() if source.georef.kind == 'crs' else source.georef.kind,
              'pixel size': ' x '.join(f'{v:.4g}' for v in source.georef.pixel_size),
              'model': str(scene.model.label), 'weights': scene.model.weights_name or '(weights given in memory)',
              'windows': f'{w.tile} px, overlap {w.overlap}, blend {w.blend}, flip TTA {bool(w.tta_flip)}',
              'windows run': f'{scene.tiles_run} of {scene.tiles_total}'}
    if scene.match is not None:
        m = scene.match
        inputs['ground resolution'] = (f'image {m.image_cm:.2f} cm/px, model {m.model_cm:.2f} cm/px: segmented on a '
                                       f'{m.width} x {m.height} grid, mapped back to the image grid')
    if outputs.zones is not None:
        inputs['zones'] = f'{outputs.zones.path} ({len(outputs.zones.names)} zones)'
    return inputs
