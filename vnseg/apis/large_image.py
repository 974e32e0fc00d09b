"""Whole-scene inference: an orthomosaic of any size -> georeferenced class map, polygons, area table.

    from vnseg.apis import OutputOptions, PolygonOptions, WindowOptions, infer_large_image
    res = infer_large_image('configs/x.py', 'work_dirs/x/best.pth', 'mosaic.tif', 'out/',
                            windows=WindowOptions(tile=512, overlap=128, batch_size=8),
                            polygons=PolygonOptions(classes=['building', 'water'], min_area=2),
                            outputs=OutputOptions(lang='vi'))
    res.class_map, res.polygons['building'], res.areas['classes']

The options are three small objects whose fields are the ``vnseg map`` flags of the same names:
:class:`~vnseg.inference.sliding.WindowOptions` (``--tile``, ``--overlap``, ``--batch-size``, ``--blend``,
``--tta-flip``, ``--match-gsd``), :class:`~vnseg.geo.vectorize.PolygonOptions` (``--classes``,
``--min-area``, ``--simplify``) and :class:`~vnseg.apis.gis_outputs.OutputOptions` (``--no-polygons``,
``--no-gpkg``, ``--no-preview``, ``--preview-size``, ``--no-report``, ``--lang``, ``--zones``,
``--zone-field``, ``--sample``); each is built once and handed down whole.

Outputs in ``out_dir`` (``STEM`` = the image's file name without suffix), each written atomically:

* ``STEM_classes.tif`` -- uint8 class indices (255 = no prediction: nodata / transparent input), the
  source's CRS, transform and size, a colour table, class names in the ``CLASSES`` tag; cloud-optimised
  layout (512 x 512 deflate tiles, nearest-neighbour overviews).
* ``STEM_confidence.tif`` -- uint8 probability of the predicted class in percent (0-100; 255 = no
  prediction), same grid and layout (COG) as the class map: the softmax of the blended scores.
* ``STEM_preview.png`` -- colour overlay, longer side <= ``preview_size``; transparent where nodata.
* ``STEM.gpkg`` -- one polygon layer per class in ``classes`` (source CRS), styled for QGIS
  (``layer_styles``), with class id and name, ``area_m2``/``area_ha`` (or ``area_px``), mean
  ``confidence`` (%).
* ``STEM_<class>.geojson`` (+ ``.qml``) -- the same polygons as RFC 7946 GeoJSON (WGS84 lon/lat);
  world-file or pixel coordinates without a CRS (:mod:`vnseg.geo.georef`).
* ``STEM_areas.csv`` / ``STEM_areas.json`` -- pixels, ground area (m^2, ha), share of the valid
  area and mean confidence per class; see :mod:`vnseg.geo.areas` for how areas are measured.
* ``STEM_classes.qml`` + ``STEM_confidence.qml`` -- QGIS styles of the rasters.
* ``STEM_zones.csv`` -- class areas per zone (``zones``); ``STEM_report.html`` -- one-page report.
* ``STEM_sample.gpkg`` + ``STEM_sample.qgs`` -- with ``sample``, a stratified random sample of points to
  review in QGIS (:mod:`vnseg.apis.map_sample`; then ``vnseg accuracy``).
See :mod:`vnseg.apis.gis_outputs`.

The model is a *tile model* (:mod:`vnseg.inference.tile_models`): an mmseg segmentor (PyTorch) or an
exported ONNX file (ONNX Runtime; then neither torch nor OpenMMLab is imported), held with what its
weights are (:mod:`vnseg.apis.scene_model`). The sliding-window loop (:mod:`vnseg.inference.sliding`) is
the same numpy code for both. The jobs of a run live in their own modules: the image and its strips
(:mod:`vnseg.apis.scene`), the output file names (:mod:`vnseg.apis.scene_paths`), and what is made
from the finished class map (:mod:`vnseg.apis.postprocess`, :mod:`vnseg.apis.gis_outputs`).

With ``match_gsd`` the image is read resampled to the ground resolution the model was trained at and
the class map is mapped back onto the image's grid (:mod:`vnseg.apis.gsd_match`).

Memory is bounded by one strip of tiles (``C x tile x width`` float32 scores plus the strip's
pixels), whatever the image height; the width enters linearly. Every finished strip is stored at once
(:mod:`vnseg.apis.strip_store`), so a killed run continues with ``resume=True`` and gives the same
bytes; the same mechanism lets several processes share one mosaic by row bands
(:mod:`vnseg.apis.distributed`).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Union

from vnseg.geo.raster_io import SourceImage
from vnseg.geo.vectorize import PolygonOptions
from .gis_outputs import OutputOptions
from .map_sample import check_sample_target
from .postprocess import LargeImageResult, postprocess_scene
from .scene import Scene, gdal_cache, segment_scene
from .scene_model import build_scene_model
from vnseg.inference.sliding import WindowOptions

__all__ = ['infer_large_image', 'LargeImageResult', 'WindowOptions', 'PolygonOptions', 'OutputOptions']


def infer_large_image(model_or_config, checkpoint: Optional[str], src: Union[str, Path], out_dir: Union[str, Path],
                      windows: WindowOptions = WindowOptions(), polygons: PolygonOptions = PolygonOptions(),
                      outputs: OutputOptions = OutputOptions(), *, device: Optional[str] = None,
                      resume: bool = False, progress: bool = True) -> LargeImageResult:
    """Segment a whole image of any size by streamed tiles and write georeferenced results.

    Args:
        model_or_config: mmseg segmentor, config path / ``Config``, an exported ``.onnx`` file, a
            tile model (:mod:`vnseg.inference.tile_models`) or a :class:`~vnseg.apis.scene_model.SceneModel`
            (:func:`~vnseg.apis.scene_model.build_scene_model` builds one with config overrides or
            random weights; build it once for many images).
        checkpoint: weights file (``.pth``), loaded strictly (:func:`vnseg.apis.load_model`); None for an
            already built model or an ONNX model.
        src: JPEG / PNG / GeoTIFF (anything GDAL reads), 8-bit RGB, RGBA, grey or paletted.
        out_dir: output folder (created).
        windows: window side, overlap, batch size, blending, flip TTA, GSD matching
            (:class:`~vnseg.inference.sliding.WindowOptions`); an ONNX model's fixed input size must equal
            ``windows.tile``. With ``match_gsd`` the image is read resampled to the model's training
            GSD (checkpoint ``meta['gsd_cm']`` or ONNX ``resolution``) and the result mapped back onto
            the image's grid, where areas are measured (:mod:`vnseg.apis.gsd_match`).
        polygons: classes to polygonise, minimum area, simplification
            (:class:`~vnseg.geo.vectorize.PolygonOptions`; an unknown class fails before any work).
        outputs: which outputs, class-name language, zones
            (:class:`~vnseg.apis.gis_outputs.OutputOptions`; a zone file is checked before inference starts).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; default: see :func:`vnseg.apis.load_model`.
        resume: continue an interrupted run of the same image, model and settings in ``out_dir``
            (its finished strips are kept; outputs that exist are not rewritten). Without it, the
            strips of an interrupted run are discarded and everything is computed anew.
        progress: tqdm progress bar.

    Returns:
        :class:`LargeImageResult` (paths, area table, tile counts, time).

    Raises:
        vnseg.core.errors.ImageReadError: the image is missing, unreadable or not 8-bit (the
            message names the file).
        vnseg.apis.strip_store.ResumeMismatch: ``resume`` with a stored run of other settings.
        vnseg.geo.zones.ZoneError: an unusable zone file (named in the message).
        vnseg.apis.gsd_match.GsdError: ``match_gsd`` with a model or an image without a known GSD.
        ValueError: an unknown class or language.
        vnseg.apis.model_loading.CheckpointError (and its subclasses), ConfigError,
            MissingWeightsError: see :func:`vnseg.apis.load_model`.
    """
    from vnseg.core.classes import class_names
    class_names(outputs.lang)  # an unknown language fails before any work
    with gdal_cache():
        t0 = time.perf_counter()
        with SourceImage(src) as source:
            outputs = outputs.with_zones_on(source.georef)  # a bad zone file fails before hours of inference
            scene = Scene(build_scene_model(model_or_config, checkpoint, device, tile=windows.tile), source, out_dir,
                          windows)
            if outputs.polygons:
                polygons.class_ids(scene.classes)  # an unknown class fails before any work
            # outputs of a run whose rasters were finished are its own: a resume keeps them
            keep = resume and scene.finished()
            if outputs.sample:  # a sample holding a reviewer's labels is refused before any work
                check_sample_target(scene.paths.sample, keep)
            timings = segment_scene(scene, resume=resume, progress=progress)
            result = postprocess_scene(scene, polygons, outputs, keep_existing=keep, timings=timings)
        result.seconds = time.perf_counter() - t0
        return result
