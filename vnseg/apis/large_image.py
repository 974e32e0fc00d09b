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
* ``STEM_<class>.geojson`` -- polygons of each class in ``polygon_classes``, in the source CRS
  (pixel coordinates without georeferencing), with ``area_m2``/``area_ha`` (or ``area_px``).
* ``STEM_areas.csv`` / ``STEM_areas.json`` -- pixels, ground area (m^2, ha) and share of the valid
  area per class; see :mod:`vnseg.geo.areas` for how areas are measured in each kind of CRS.

Memory is bounded by one strip of tiles (``C x tile x width`` float32 logits on the model's device,
plus the strip's pixels), whatever the image height; the width enters linearly.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import torch

from vnseg.classes import CLASSES, IGNORE_INDEX, PALETTE
from vnseg.geo.areas import ClassAreaCounter, PixelAreas, write_area_tables
from vnseg.geo.raster_io import ClassMapWriter, SourceImage, write_preview
from vnseg.geo.vectorize import vectorize_class_map
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
                      cfg_options: Optional[dict] = None, gdal_cache_mb: int = 256) -> LargeImageResult:
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

    Returns:
        :class:`LargeImageResult` (paths, area table, tile counts, time).

    Raises:
        vnseg.geo.raster_io.ImageReadError: the image is missing, unreadable or not 8-bit (the
            message names the file).
    """
    import rasterio
    with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2 ** 20):
        return _infer(model_or_config, checkpoint, src, out_dir, tile, overlap, batch_size, blend,
                      tta_flip, device, polygon_classes, min_polygon_area, simplify_tolerance,
                      write_polygons, preview, preview_max_size, progress, cfg_options)


def _infer(model_or_config, checkpoint, src, out_dir, tile, overlap, batch_size, blend, tta_flip, device,
           polygon_classes, min_polygon_area, simplify_tolerance, write_polygons, preview,
           preview_max_size, progress, cfg_options) -> LargeImageResult:
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    overlap = default_overlap(tile) if overlap is None else int(overlap)
    with SourceImage(src) as source:
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
        extra = dict(image=str(Path(src)), class_map=class_map.name, tile=tile, overlap=overlap,
                     blend=blend, tta_flip=bool(tta_flip), tiles_total=seg.tiles_total,
                     tiles_run=seg.tiles_run)
        areas_csv, areas_json = out_dir / f'{stem}_areas.csv', out_dir / f'{stem}_areas.json'
        areas = write_area_tables(counter, classes, areas_csv, areas_json, extra=extra, nodata=IGNORE_INDEX)
        timings['areas'] = time.perf_counter() - t
        t = time.perf_counter()
        preview_path = None
        if preview:
            preview_path = write_preview(source, class_map, out_dir / f'{stem}_preview.png', palette,
                                         max_size=preview_max_size)
        timings['preview'] = time.perf_counter() - t
    t = time.perf_counter()
    polygons, polygon_stats = {}, {}
    if write_polygons:
        paths = {c: out_dir / f'{stem}_{_safe_name(classes[c])}.geojson' for c in polygon_ids}
        if min_polygon_area is None:
            min_polygon_area = 1.0 if pixel_areas.unit == 'm2' else 16.0
        if simplify_tolerance is None:
            simplify_tolerance = 0.5 * (pixel_areas.linear_scale() * (pixel_areas.planar_pixel_area ** 0.5)
                                        if pixel_areas.unit == 'm2' else 1.0)
        stats = vectorize_class_map(class_map, paths, classes, pixel_areas, min_area=min_polygon_area,
                                    simplify_tolerance=simplify_tolerance,
                                    data_window=counter.data_window or (0, 0, 0, 0))
        for c, st in stats.items():
            polygons[classes[c]] = paths[c]
            polygon_stats[classes[c]] = {k: v for k, v in st.items() if k != 'path'}
    timings['polygons'] = time.perf_counter() - t
    return LargeImageResult(
        class_map=class_map, preview=preview_path, polygons=polygons, areas_csv=areas_csv,
        areas_json=areas_json, areas=areas, polygon_stats=polygon_stats,
        tiles_total=seg.tiles_total, tiles_run=seg.tiles_run, seconds=time.perf_counter() - t0,
        timings=timings)


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
