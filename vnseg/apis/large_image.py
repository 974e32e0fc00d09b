"""Whole-scene inference: an orthomosaic of any size -> georeferenced class map, polygons, area table.

    from vnseg.apis import infer_large_image
    res = infer_large_image('configs/x.py', 'work_dirs/x/best.pth', 'mosaic.tif', 'out/',
                            tile=512, overlap=128, batch_size=8, blend='gaussian', tta_flip=False)
    res.class_map, res.polygons['building'], res.areas['classes']

Outputs in ``out_dir`` (``STEM`` = the image's file name without suffix), each written atomically:

* ``STEM_classes.tif`` -- uint8 class indices (255 = no prediction: nodata / transparent input), the
  source's CRS, transform and size, a colour table, class names in the ``CLASSES`` tag; cloud-optimised
  layout (512 x 512 deflate tiles, nearest-neighbour overviews).
* ``STEM_preview.png`` -- colour overlay, longer side <= ``preview_max_size``; transparent where nodata.
* ``STEM.gpkg`` -- one polygon layer per class in ``polygon_classes`` (source CRS), styled for QGIS
  (``layer_styles``), with class id and name, ``area_m2``/``area_ha`` (or ``area_px``), mean
  ``confidence`` (%).
* ``STEM_<class>.geojson`` (+ ``.qml``) -- the same polygons as RFC 7946 GeoJSON (WGS84 lon/lat);
  world-file or pixel coordinates without a CRS (:mod:`vnseg.geo.georef`).
* ``STEM_areas.csv`` / ``STEM_areas.json`` -- pixels, ground area (m^2, ha), share of the valid
  area and mean confidence per class; see :mod:`vnseg.geo.areas` for how areas are measured.
* ``STEM_classes.qml`` (+ ``STEM_confidence.qml``) -- QGIS styles of the rasters.
* ``STEM_zones.csv`` -- class areas per zone (``zones``); ``STEM_report.html`` -- one-page report.
See :mod:`vnseg.apis.gis_outputs`.

Memory is bounded by one strip of tiles (``C x tile x width`` float32 logits on the model's device,
plus the strip's pixels), whatever the image height; the width enters linearly.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch

from vnseg.classes import CLASSES, IGNORE_INDEX, PALETTE
from vnseg.geo.areas import ClassAreaCounter, PixelAreas
from vnseg.geo.raster_io import ClassMapWriter, SourceImage, write_preview
from .sliding import TiledSegmenter, default_overlap

__all__ = ['infer_large_image', 'LargeImageResult', 'load_model']


@dataclass
class LargeImageResult:
    """What :func:`infer_large_image` wrote and measured.

    Attributes:
        class_map: path of the class-index GeoTIFF.
        preview: path of the overlay PNG (None when disabled).
        polygons: ``{class name: GeoJSON path}``.
        areas_csv, areas_json: the area table files.
        areas: the area JSON document (``classes`` rows: pixels, area_m2, area_ha, share_valid_pct).
        polygon_stats: ``{class name: {'polygons', 'dropped_small', 'area'}}``.
        tiles_total, tiles_run: windows in the grid / windows actually run (others were all nodata).
        seconds: wall time of the whole call.
        timings: seconds per phase (``segment`` incl. class-map writing, ``cog``, ``areas``, ``preview``,
            ``polygons``).
        confidence: the confidence raster (None when not written).
        gpkg: ``STEM.gpkg`` with one styled polygon layer per class (None without polygons).
        report: ``STEM_report.html``; zones_csv: ``STEM_zones.csv`` (with ``zones``);
        styles: the QGIS ``.qml`` files written beside the rasters.
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
    gpkg: Optional[Path] = None
    report: Optional[Path] = None
    zones_csv: Optional[Path] = None
    styles: List[Path] = field(default_factory=list)


def _inference_config(config, cfg_options=None):
    """A copy of ``config`` (path or ``Config``) ready to build an inference model: overrides merged,
    pretrained-weight references dropped (the checkpoint, or random weights, define the model: no
    downloads), and a ``test_pipeline`` taken from the test dataloader when the config has none."""
    import copy

    from mmengine import Config

    from vnseg.pretrained import disable_pretrained
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    disable_pretrained(cfg.model)
    if cfg.get('test_pipeline') is None and cfg.get('test_dataloader') is not None:
        cfg.test_pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    return cfg


def load_model(model_or_config, checkpoint: Optional[str] = None, device: Optional[str] = None,
               cfg_options: Optional[dict] = None):
    """A segmentor in eval mode on ``device``.

    ``model_or_config`` is an already built mmseg segmentor (``checkpoint``, if given, is loaded into
    it) or a config path / ``mmengine.Config`` built with :func:`vnseg.apis.meta.init_model` (class
    names and palette from the checkpoint, else the config's dataset; pretrained-weight downloads
    dropped; ``cfg_options`` merged). ``device`` defaults to the
    model's device, else ``cuda:0`` when available, else ``cpu``. SyncBN is reverted to BN on CPU.
    """
    from mmengine.model import revert_sync_batchnorm
    from .meta import init_model
    if isinstance(model_or_config, torch.nn.Module):
        model = model_or_config
        if checkpoint is not None:
            from mmengine.runner import load_checkpoint
            load_checkpoint(model, str(checkpoint), map_location='cpu')
        if device is not None:
            model.to(device)
    else:
        if isinstance(model_or_config, Path):
            model_or_config = str(model_or_config)
        if isinstance(model_or_config, str) and not Path(model_or_config).is_file():
            raise FileNotFoundError(f'config not found: {model_or_config}')
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        device = device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
        model = init_model(_inference_config(model_or_config, cfg_options),
                           None if checkpoint is None else str(checkpoint), device=device)
    if next(model.parameters()).device.type == 'cpu':
        model = revert_sync_batchnorm(model)
    model.eval()
    return model


def _safe_name(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', str(name)).strip('_') or 'class'


def infer_large_image(model_or_config, checkpoint: Optional[str], src: Union[str, Path],
                      out_dir: Union[str, Path], tile: int = 512, overlap: Optional[int] = None,
                      batch_size: int = 4, blend: str = 'gaussian', tta_flip: bool = False,
                      device: Optional[str] = None, polygon_classes: Optional[Sequence] = None,
                      min_polygon_area: Optional[float] = None,
                      simplify_tolerance: Optional[float] = None, write_polygons: bool = True,
                      preview: bool = True, preview_max_size: int = 2048, progress: bool = True,
                      cfg_options: Optional[dict] = None, gdal_cache_mb: int = 256, lang: str = 'en',
                      zones=None, zone_field: Optional[str] = None, gpkg: bool = True,
                      report: bool = True) -> LargeImageResult:
    """Segment a whole image of any size by streamed tiles and write georeferenced results.

    Args:
        model_or_config: mmseg segmentor, or config path / ``Config``.
        checkpoint: weights file (``.pth``) or None (random weights / already loaded model).
        src: JPEG / PNG / GeoTIFF (anything GDAL reads), 8-bit RGB, RGBA, grey or paletted.
        out_dir: output folder (created).
        tile: window side in pixels.
        overlap: pixels shared by neighbouring windows (default ``tile // 4``).
        batch_size: windows per forward pass.
        blend: ``'gaussian'`` (smooth weights, seamless) or ``'mean'`` (plain average, = mmseg
            ``slide`` with ``crop_size=(tile, tile)``, ``stride=tile - overlap``).
        tta_flip: add horizontally flipped windows (2x compute).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; default: see :func:`load_model`.
        polygon_classes: class names or ids to polygonise (default: every class but ``background``).
        min_polygon_area: drop smaller polygons; m^2 when georeferenced (default 1 m^2), pixels
            otherwise (default 16 px).
        simplify_tolerance: polygon simplification in ground units (m; px without georeferencing),
            default half a pixel; 0 keeps exact pixel outlines.
        write_polygons, preview: produce the GeoJSON files / the overlay PNG.
        preview_max_size: longer side of the preview in pixels.
        progress: tqdm progress bar.
        cfg_options: config overrides when building from a config.
        gdal_cache_mb: GDAL block cache for this call (GDAL's default is 5 % of RAM, which would
            otherwise fill up with decoded blocks of a big image).
        lang: ``'en'`` or ``'vi'``: class names in layers, tables, styles and the report.
        zones, zone_field: a polygon vector file (any CRS) and the field naming each zone: adds
            ``STEM_zones.csv`` with class areas per zone (checked before inference starts).
        gpkg: write ``STEM.gpkg`` (styled layers) with the polygons.
        report: write ``STEM_report.html``.

    Returns:
        :class:`LargeImageResult` (paths, area table, tile counts, time).

    Raises:
        vnseg.geo.raster_io.ImageReadError: the image is missing, unreadable or not 8-bit (the
            message names the file).
        vnseg.geo.zones.ZoneError: an unusable zone file (named in the message).
        ValueError: an unknown class or language.
    """
    import rasterio
    with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2 ** 20):
        return _infer(model_or_config, checkpoint, src, out_dir, tile, overlap, batch_size, blend,
                      tta_flip, device, polygon_classes, min_polygon_area, simplify_tolerance,
                      write_polygons, preview, preview_max_size, progress, cfg_options, lang, zones,
                      zone_field, gpkg, report)


def _infer(model_or_config, checkpoint, src, out_dir, tile, overlap, batch_size, blend, tta_flip, device,
           polygon_classes, min_polygon_area, simplify_tolerance, write_polygons, preview,
           preview_max_size, progress, cfg_options, lang='en', zones=None, zone_field=None, gpkg=True,
           report=True) -> LargeImageResult:
    from vnseg.classes import class_names
    from vnseg.geo.georef import Georef
    from .gis_outputs import write_gis_outputs
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    overlap = default_overlap(tile) if overlap is None else int(overlap)
    class_names(lang)  # validates the language before any work
    with SourceImage(src) as source:
        zone_set = None
        if zones is not None:
            from vnseg.geo.zones import load_zones
            if not zone_field:
                raise ValueError(f'{zones}: --zone-field is required with --zones')
            zone_set = load_zones(zones, zone_field, Georef.of(source.crs, source.transform, source.width,
                                                              source.height))
        model = load_model(model_or_config, checkpoint, device, cfg_options)
        meta = getattr(model, 'dataset_meta', None) or {}
        classes = list(meta.get('classes') or CLASSES)
        palette = [list(map(int, c)) for c in (meta.get('palette') or PALETTE)]
        seg = TiledSegmenter(model, tile=tile, overlap=overlap, batch_size=batch_size, blend=blend,
                             tta_flip=tta_flip, nodata=IGNORE_INDEX)
        if seg.num_classes > len(classes):
            classes += [f'class_{i}' for i in range(len(classes), seg.num_classes)]
        while len(palette) < len(classes):
            palette.append([128, 128, 128])
        polygon_ids = _class_ids(polygon_classes, classes) if write_polygons else []
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = _safe_name(Path(src).stem)
        pixel_areas = PixelAreas(source.crs, source.transform, source.width, source.height)
        counter = ClassAreaCounter(pixel_areas, nodata=IGNORE_INDEX)
        class_map = out_dir / f'{stem}_classes.tif'
        writer = ClassMapWriter(
            class_map, source.width, source.height, source.crs, source.transform, classes, palette,
            nodata=IGNORE_INDEX,
            tags=dict(SOURCE_IMAGE=Path(src).name, TILE=str(tile), OVERLAP=str(overlap), BLEND=blend,
                      TTA_FLIP=str(bool(tta_flip)), CHECKPOINT=Path(checkpoint).name if checkpoint else ''))
        timings = {}
        t = time.perf_counter()
        try:
            for row0, rows in seg.iter_rows(source, progress=progress):
                writer.write_rows(row0, rows)
                counter.update(row0, rows)
        except BaseException:
            writer.abort()
            raise
        timings['segment'] = time.perf_counter() - t
        t = time.perf_counter()
        writer.close()
        timings['cog'] = time.perf_counter() - t
        t = time.perf_counter()
        preview_path = None
        if preview:
            preview_path = write_preview(source, class_map, out_dir / f'{stem}_preview.png', palette,
                                         max_size=preview_max_size)
        timings['preview'] = time.perf_counter() - t
    t = time.perf_counter()
    extra = dict(image=str(Path(src)), class_map=class_map.name, tile=tile, overlap=overlap,
                 blend=blend, tta_flip=bool(tta_flip), tiles_total=seg.tiles_total,
                 tiles_run=seg.tiles_run)
    confidence_map = None  # set by the engine's confidence raster (issue 12) once it is written here
    inputs = {'image': str(Path(src)), 'size (px)': f'{pixel_areas.width} x {pixel_areas.height}',
              'CRS': pixel_areas.crs.to_string() if pixel_areas.crs is not None else pixel_areas.georef.kind,
              'pixel size': ' x '.join(f'{v:.4g}' for v in pixel_areas.georef.pixel_size),
              'model config': str(model_or_config) if isinstance(model_or_config, (str, Path))
              else type(model_or_config).__name__,
              'checkpoint': str(checkpoint) if checkpoint else '(weights given in memory)',
              'tiles': f'{tile} px, overlap {overlap}, blend {blend}, flip TTA {bool(tta_flip)}',
              'windows run': f'{seg.tiles_run} of {seg.tiles_total}'}
    if zone_set is not None:
        inputs['zones'] = f'{zones} (field {zone_field}, {len(zone_set.names)} zones)'
    outs = write_gis_outputs(out_dir, stem, class_map, confidence_map, classes, palette, counter, lang=lang,
                             polygon_ids=polygon_ids, min_area=min_polygon_area, simplify=simplify_tolerance,
                             zones=zone_set, extra=extra, preview=preview_path, report=report, gpkg=gpkg,
                             report_inputs=inputs, file_names=[_safe_name(c) for c in classes])
    timings['areas+polygons+report'] = time.perf_counter() - t
    polygons = {classes[c]: p for c, p in outs['polygons'].items()}
    polygon_stats = {classes[c]: {k: v for k, v in st.items() if k != 'path'}
                     for c, st in outs['polygon_stats'].items()}
    areas_csv, areas_json, areas = outs['areas_csv'], outs['areas_json'], outs['areas']
    return LargeImageResult(
        class_map=class_map, preview=preview_path, polygons=polygons, areas_csv=areas_csv,
        areas_json=areas_json, areas=areas, polygon_stats=polygon_stats,
        tiles_total=seg.tiles_total, tiles_run=seg.tiles_run, seconds=time.perf_counter() - t0,
        timings=timings, confidence=confidence_map, gpkg=outs['gpkg'], report=outs['report'],
        zones_csv=outs['zones_csv'], styles=outs['styles'])


def _class_ids(selection, classes) -> list:
    """Class ids from names / ids; None = every class except one named ``background``."""
    if selection is None:
        return [i for i, name in enumerate(classes) if name != 'background']
    ids = []
    for s in selection:
        if isinstance(s, int) or (isinstance(s, str) and s.isdigit()):
            i = int(s)
        elif s in classes:
            i = classes.index(s)
        else:
            raise ValueError(f'unknown class {s!r}; classes are {classes}')
        if not 0 <= i < len(classes):
            raise ValueError(f'class id {i} out of range 0..{len(classes) - 1}')
        ids.append(i)
    return sorted(set(ids))
