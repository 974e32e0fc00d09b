"""Whole-scene inference: an orthomosaic of any size -> georeferenced class map, polygons, area table.

    from vnseg.apis import infer_large_image
    res = infer_large_image('configs/x.py', 'work_dirs/x/best.pth', 'mosaic.tif', 'out/',
                            tile=512, overlap=128, batch_size=8, blend='gaussian', tta_flip=False)
    res.class_map, res.polygons['building'], res.areas['classes']

Outputs in ``out_dir`` (``STEM`` = the image's file name without suffix), each written atomically:

* ``STEM_classes.tif`` -- uint8 class indices (255 = no prediction: nodata / transparent input), the
  source's CRS, transform and size, a colour table, class names in the ``CLASSES`` tag; cloud-optimised
  layout (512 x 512 deflate tiles, nearest-neighbour overviews).
* ``STEM_confidence.tif`` -- uint8 probability of the predicted class in percent (0-100; 255 = no
  prediction), same grid and layout (COG) as the class map: the softmax of the blended scores.
* ``STEM_preview.png`` -- colour overlay, longer side <= ``preview_max_size``; transparent where nodata.
* ``STEM.gpkg`` -- one polygon layer per class in ``polygon_classes`` (source CRS), styled for QGIS
  (``layer_styles``), with class id and name, ``area_m2``/``area_ha`` (or ``area_px``), mean
  ``confidence`` (%).
* ``STEM_<class>.geojson`` (+ ``.qml``) -- the same polygons as RFC 7946 GeoJSON (WGS84 lon/lat);
  world-file or pixel coordinates without a CRS (:mod:`vnseg.geo.georef`).
* ``STEM_areas.csv`` / ``STEM_areas.json`` -- pixels, ground area (m^2, ha), share of the valid
  area and mean confidence per class; see :mod:`vnseg.geo.areas` for how areas are measured.
* ``STEM_classes.qml`` + ``STEM_confidence.qml`` -- QGIS styles of the rasters.
* ``STEM_zones.csv`` -- class areas per zone (``zones``); ``STEM_report.html`` -- one-page report.
See :mod:`vnseg.apis.gis_outputs`.

The model is a *tile model* (:mod:`vnseg.apis.tile_models`): an mmseg segmentor (PyTorch) or an
exported ONNX file (ONNX Runtime; then neither torch nor OpenMMLab is imported). The sliding-window
loop (:mod:`vnseg.apis.sliding`) is the same numpy code for both.

With ``match_gsd`` the image is read resampled to the ground resolution the model was trained at and
the class map is mapped back onto the image's grid (:mod:`vnseg.apis.gsd_match`).

Memory is bounded by one strip of tiles (``C x tile x width`` float32 scores plus the strip's
pixels), whatever the image height; the width enters linearly. Every finished strip is stored at once
(:mod:`vnseg.apis.strip_store`), so a killed run continues with ``resume=True`` and gives the same
bytes; the same mechanism lets several processes share one mosaic by row bands
(:mod:`vnseg.apis.distributed`).
"""
from __future__ import annotations

import hashlib
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from vnseg.classes import CLASSES, IGNORE_INDEX, PALETTE
from vnseg.geo.areas import ClassAreaCounter, PixelAreas
from vnseg.geo.raster_io import SourceImage, write_preview
from .model_loading import load_model
from .sliding import TiledSegmenter, default_overlap
from .gsd_match import GsdMatch, gsd_tags
from .strip_store import StripStore

__all__ = ['infer_large_image', 'LargeImageResult', 'load_model', 'build_tile_model', 'Scene', 'open_scene',
           'segment_scene', 'postprocess_scene', 'count_classes']


@dataclass
class LargeImageResult:
    """What :func:`infer_large_image` wrote and measured.

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
        timings: seconds per phase (``segment`` incl. strip writing, ``cog``, ``areas``, ``preview``,
            ``polygons``).
        strips_total, strips_run: strips of the grid / strips computed by this call.
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
    strips_total: int = 0
    strips_run: int = 0
    gpkg: Optional[Path] = None
    report: Optional[Path] = None
    zones_csv: Optional[Path] = None
    styles: List[Path] = field(default_factory=list)


def _safe_name(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', str(name)).strip('_') or 'class'


def _is_tile_model(obj) -> bool:
    return hasattr(obj, 'predict') and hasattr(obj, 'num_classes') and not hasattr(obj, 'encode_decode')


def build_tile_model(model_or_config, checkpoint: Optional[str] = None, device: Optional[str] = None,
                     cfg_options: Optional[dict] = None, tile: Optional[int] = None,
                     random_weights: bool = False):
    """The tile model for ``model_or_config``: a tile model as is; an ``.onnx`` path ->
    :class:`~vnseg.apis.tile_models.OnnxTileModel` (torch is not imported); an mmseg segmentor or a
    config -> :class:`~vnseg.apis.tile_models.TorchTileModel` (built by :func:`load_model`: the
    checkpoint is loaded strictly; no checkpoint only with ``random_weights``)."""
    from .tile_models import OnnxTileModel, TorchTileModel
    if _is_tile_model(model_or_config):
        return model_or_config
    if isinstance(model_or_config, (str, Path)) and str(model_or_config).lower().endswith('.onnx'):
        if checkpoint is not None:
            raise ValueError(f'{model_or_config}: an ONNX model carries its weights; got a checkpoint too')
        providers = None
        if device is not None:
            providers = ['CUDAExecutionProvider'] if str(device).startswith('cuda') else ['CPUExecutionProvider']
        return OnnxTileModel(model_or_config, providers=providers)
    tile_model = TorchTileModel(load_model(model_or_config, checkpoint, device, cfg_options,
                                           random_weights=random_weights), tile=tile)
    # what the weights are, for the outputs' tags and the resume check
    tile_model.checkpoint = None if checkpoint is None else str(checkpoint)
    tile_model.random_weights = bool(random_weights)
    tile_model.config = str(model_or_config) if isinstance(model_or_config, (str, Path)) else None
    return tile_model


def _file_identity(path) -> dict:
    st = Path(path).stat()
    return dict(path=str(Path(path).resolve()), bytes=st.st_size, mtime_ns=st.st_mtime_ns)


def _model_identity(tile_model) -> dict:
    """What the strips were computed with, for the resume check: the weight file's identity, else a
    hash of an in-memory model's parameters."""
    if getattr(tile_model, 'checkpoint', None) is not None:
        return dict(config=getattr(tile_model, 'config', None), checkpoint=_file_identity(tile_model.checkpoint))
    if getattr(tile_model, 'path', None) is not None:
        return dict(onnx=_file_identity(tile_model.path))
    torch_model = getattr(tile_model, 'model', None)
    if torch_model is not None and hasattr(torch_model, 'state_dict'):
        h = hashlib.sha1()
        for k, v in torch_model.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return dict(parameters_sha1=h.hexdigest())
    return dict(name=getattr(tile_model, 'name', type(tile_model).__name__))


@dataclass
class ScenePaths:
    """Output paths of one image in ``out_dir`` (``STEM`` = the image's safe file stem)."""
    out_dir: Path
    stem: str

    @classmethod
    def of(cls, out_dir, src) -> 'ScenePaths':
        return cls(Path(out_dir), _safe_name(Path(src).stem))

    def _file(self, suffix: str) -> Path:
        return self.out_dir / f'{self.stem}{suffix}'

    @property
    def class_map(self) -> Path:
        return self._file('_classes.tif')

    @property
    def confidence(self) -> Path:
        return self._file('_confidence.tif')

    @property
    def preview(self) -> Path:
        return self._file('_preview.png')

    @property
    def areas_csv(self) -> Path:
        return self._file('_areas.csv')

    @property
    def areas_json(self) -> Path:
        return self._file('_areas.json')

    @property
    def parts(self) -> Path:
        """Hidden folder of the finished strips while a run is in progress or was interrupted."""
        return self.out_dir / f'.{self.stem}.parts'

    def polygons(self, class_name: str) -> Path:
        return self.out_dir / f'{self.stem}_{_safe_name(class_name)}.geojson'


class Scene:
    """One image being segmented: source, window engine, strip store and output paths.

    The segmentation part of whole-scene inference, separate from the post-processing (areas,
    preview, polygons, ...) that reads the finished rasters: ``segment`` runs (a range of) strips
    into the store, ``assemble`` turns the store into the class map and confidence COGs.
    """

    def __init__(self, tile_model, source: SourceImage, out_dir, tile: int, overlap: int, batch_size: int,
                 blend: str, tta_flip: bool, model_identity: dict, weights_name: str = '', match_gsd: bool = False):
        self.source = source
        self.tile_model = tile_model
        self.seg = TiledSegmenter(tile_model, tile=tile, overlap=overlap, batch_size=batch_size, blend=blend,
                                  tta_flip=tta_flip, nodata=IGNORE_INDEX)
        # what the windows read: the source, or the source resampled to the model's GSD (--match-gsd)
        self.match = GsdMatch.of(tile_model, source) if match_gsd else None
        self.read_source = self.match.reader(source) if self.match is not None else source
        self.grid = self.seg.grid(self.read_source.height, self.read_source.width)
        classes = list(getattr(tile_model, 'classes', None) or CLASSES)
        palette = [list(map(int, c)) for c in (getattr(tile_model, 'palette', None) or PALETTE)]
        if self.seg.num_classes > len(classes):
            classes += [f'class_{i}' for i in range(len(classes), self.seg.num_classes)]
        while len(palette) < len(classes):
            palette.append([128, 128, 128])
        self.classes, self.palette = classes, palette
        self.paths = ScenePaths.of(out_dir, source.path)
        self.tags = dict(SOURCE_IMAGE=source.path.name, TILE=str(tile), OVERLAP=str(overlap), BLEND=blend,
                         TTA_FLIP=str(bool(tta_flip)), CHECKPOINT=weights_name, **gsd_tags(self.match))
        st = source.path.stat()
        manifest = dict(image=dict(path=str(source.path.resolve()), bytes=st.st_size, mtime_ns=st.st_mtime_ns,
                                   width=source.width, height=source.height),
                        model=model_identity, tile=tile, overlap=overlap, batch_size=batch_size, blend=blend,
                        tta_flip=bool(tta_flip), strips=len(self.grid), classes=classes)
        if self.match is not None:
            manifest['gsd'] = self.match.describe()
        self.store = StripStore(self.paths.parts, manifest)
        self.model_identity, self.weights_name = model_identity, weights_name
        self.tiles_run = 0
        self.strips_run = 0

    @property
    def tiles_total(self) -> int:
        return len(self.grid.ys) * len(self.grid.xs)

    def finished(self) -> bool:
        """Both rasters exist under their final names (they are only ever written complete)."""
        return self.paths.class_map.is_file() and self.paths.confidence.is_file()

    def segment(self, first: int = 0, stop: Optional[int] = None, progress: bool = True) -> int:
        """Compute the strips of ``[first, stop)`` that the store does not hold yet; returns how many."""
        stop = len(self.grid) if stop is None else stop
        done = self.store.done(len(self.grid))
        todo = [i for i in range(first, stop) if i not in done]
        ranges = []
        for i in todo:  # contiguous runs of missing strips; each one starts with its context
            if ranges and ranges[-1][1] == i:
                ranges[-1][1] = i + 1
            else:
                ranges.append([i, i + 1])
        for a, b in ranges:
            for strip in self.seg.iter_strips(self.read_source, a, b, progress=progress):
                self.store.write(strip.index, strip.classes, strip.confidence)
                self.strips_run += 1
            self.tiles_run += self.seg.tiles_run
        return len(todo)

    def assemble(self):
        """Class map and confidence COGs from the store (existing ones are kept), then drop the store."""
        read = self.read_source
        self.store.assemble(self.grid.ys, self.source.width, self.source.height, self.source.crs,
                            self.source.transform, self.paths.class_map, self.paths.confidence,
                            self.classes, self.palette, nodata=IGNORE_INDEX, tags=self.tags,
                            grid_size=None if read is self.source else (read.width, read.height))
        self.store.remove()


def infer_large_image(model_or_config, checkpoint: Optional[str], src: Union[str, Path],
                      out_dir: Union[str, Path], tile: int = 512, overlap: Optional[int] = None,
                      batch_size: Optional[int] = None, blend: str = 'gaussian', tta_flip: bool = False,
                      device: Optional[str] = None, polygon_classes: Optional[Sequence] = None,
                      min_polygon_area: Optional[float] = None,
                      simplify_tolerance: Optional[float] = None, write_polygons: bool = True,
                      preview: bool = True, preview_max_size: int = 2048, progress: bool = True,
                      cfg_options: Optional[dict] = None, gdal_cache_mb: int = 256,
                      resume: bool = False, lang: str = 'en', zones=None, zone_field: Optional[str] = None,
                      gpkg: bool = True, report: bool = True,
                      random_weights: bool = False, match_gsd: bool = False) -> LargeImageResult:
    """Segment a whole image of any size by streamed tiles and write georeferenced results.

    Args:
        model_or_config: mmseg segmentor, config path / ``Config``, an exported ``.onnx`` file, or a
            tile model (:mod:`vnseg.apis.tile_models`).
        checkpoint: weights file (``.pth``), loaded strictly (:func:`load_model`); None for an
            already loaded model, an ONNX model, or with ``random_weights=True``.
        src: JPEG / PNG / GeoTIFF (anything GDAL reads), 8-bit RGB, RGBA, grey or paletted.
        out_dir: output folder (created).
        tile: window side in pixels (an ONNX model's fixed input size wins; a different value is an
            error).
        overlap: pixels shared by neighbouring windows (default ``tile // 4``).
        batch_size: windows per forward pass (default: 1 for PyTorch on a CPU, where batching gains no
            speed and costs memory, else 4; :func:`vnseg.apis.tile_models.default_batch_size`).
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
        resume: continue an interrupted run of the same image, model and settings in ``out_dir``
            (its finished strips are kept; outputs that exist are not rewritten). Without it, the
            strips of an interrupted run are discarded and everything is computed anew.
        lang: ``'en'`` or ``'vi'``: class names in layers, tables, styles and the report.
        zones, zone_field: a polygon vector file (any CRS) and the attribute naming each zone: adds
            ``STEM_zones.csv`` with class areas per zone (the file is checked before inference starts).
        gpkg: write ``STEM.gpkg`` (styled layers) with the polygons.
        report: write ``STEM_report.html``.
        random_weights: run an untrained model built from the config, on purpose (smoke tests).
        match_gsd: read the image resampled to the model's training GSD (checkpoint ``meta['gsd_cm']``
            or ONNX ``resolution``) and map the result back onto the image's grid; areas are measured
            on the image's grid (:mod:`vnseg.apis.gsd_match`).

    Returns:
        :class:`LargeImageResult` (paths, area table, tile counts, time).

    Raises:
        vnseg.geo.raster_io.ImageReadError: the image is missing, unreadable or not 8-bit (the
            message names the file).
        vnseg.apis.strip_store.ResumeMismatch: ``resume`` with a stored run of other settings.
        vnseg.geo.zones.ZoneError: an unusable zone file (named in the message).
        vnseg.apis.gsd_match.GsdError: ``match_gsd`` with a model or an image without a known GSD.
        ValueError: an unknown class or language.
        vnseg.apis.model_loading.CheckpointError (and its subclasses), ConfigError,
            MissingWeightsError: see :func:`load_model`.
    """
    import rasterio

    from vnseg.classes import class_names
    class_names(lang)  # an unknown language fails before any work
    with rasterio.Env(GDAL_CACHEMAX=int(gdal_cache_mb) * 2 ** 20):
        t0 = time.perf_counter()
        overlap = default_overlap(tile) if overlap is None else int(overlap)
        with SourceImage(src) as source:
            if zones is not None:  # a bad zone file fails before hours of inference
                zones = _load_zones(zones, zone_field, source)
            scene = open_scene(model_or_config, checkpoint, source, out_dir, tile, overlap, batch_size, blend,
                               tta_flip, device, cfg_options, random_weights=random_weights, match_gsd=match_gsd)
            polygon_ids = _class_ids(polygon_classes, scene.classes) if write_polygons else []
            # outputs of a run whose rasters were finished are its own: a resume keeps them
            keep = resume and scene.finished()
            timings = segment_scene(scene, resume=resume, progress=progress)
            result = postprocess_scene(scene, polygon_ids, min_polygon_area, simplify_tolerance, preview,
                                       preview_max_size, keep_existing=keep, timings=timings, lang=lang,
                                       zones=zones, zone_field=zone_field, gpkg=gpkg, report=report)
        result.seconds = time.perf_counter() - t0
        return result


def _load_zones(zones, zone_field, source: SourceImage):
    """Zones (a path, or already loaded :class:`vnseg.geo.zones.Zones`) on ``source``'s grid."""
    from vnseg.geo.zones import Zones, load_zones
    if isinstance(zones, Zones):
        return zones
    if not zone_field:
        raise ValueError(f'{zones}: --zone-field is required with --zones')
    return load_zones(zones, zone_field, source.georef)


def open_scene(model_or_config, checkpoint, source: SourceImage, out_dir, tile: int, overlap: int,
               batch_size: Optional[int] = None, blend: str = 'gaussian', tta_flip: bool = False, device=None,
               cfg_options=None, random_weights: bool = False, match_gsd: bool = False) -> Scene:
    """A :class:`Scene` for ``source`` with the tile model of ``model_or_config`` (see
    :func:`build_tile_model`)."""
    tile_model = build_tile_model(model_or_config, checkpoint, device, cfg_options, tile=tile,
                                  random_weights=random_weights)
    fixed = getattr(tile_model, 'tile', None)
    if fixed is not None and getattr(tile_model, 'path', None) is not None and fixed != tile:
        raise ValueError(f'{tile_model.path}: the model was exported for {fixed} px tiles, got --tile {tile}')
    if batch_size is None:
        from .tile_models import default_batch_size
        batch_size = default_batch_size(tile_model)
    weights = getattr(tile_model, 'checkpoint', None) or getattr(tile_model, 'path', None)
    return Scene(tile_model, source, out_dir, tile, overlap, batch_size, blend, tta_flip,
                 _model_identity(tile_model),
                 Path(weights).name if weights else
                 ('random weights' if random_weights or getattr(tile_model, 'random_weights', False) else ''),
                 match_gsd=match_gsd)


def segment_scene(scene: Scene, resume: bool = False, progress: bool = True) -> Dict[str, float]:
    """Run every missing strip of ``scene`` and write its class map and confidence map.

    With ``resume`` and both rasters already in place nothing is computed or rewritten. Returns
    seconds per phase (``segment``, ``cog``).
    """
    timings = {'segment': 0.0, 'cog': 0.0}
    if resume and scene.finished():
        scene.store.remove()  # left over when a run was killed right after writing both rasters
        return timings
    scene.paths.out_dir.mkdir(parents=True, exist_ok=True)
    kept = scene.store.start(resume=resume)
    if kept:
        print(f'resuming {scene.source.path.name}: {kept} of {len(scene.grid)} strips already done',
              file=sys.stderr)
    t = time.perf_counter()
    scene.segment(progress=progress)
    timings['segment'] = time.perf_counter() - t
    t = time.perf_counter()
    scene.assemble()
    timings['cog'] = time.perf_counter() - t
    return timings


# -- post-processing: everything below reads the finished rasters -------------------------------------
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


def postprocess_scene(scene: Scene, polygon_ids: Sequence[int], min_polygon_area=None, simplify_tolerance=None,
                      preview: bool = True, preview_max_size: int = 2048, keep_existing: bool = False,
                      timings: Optional[dict] = None, lang: str = 'en', zones=None,
                      zone_field: Optional[str] = None, gpkg: bool = True, report: bool = True) -> LargeImageResult:
    """Area tables, styles, preview, layers, zones and report from the finished class map and confidence
    map (:func:`vnseg.apis.gis_outputs.write_gis_outputs`).

    ``keep_existing`` (resume): outputs that already exist are neither recomputed nor rewritten.
    """
    from .gis_outputs import write_gis_outputs
    source, paths, classes = scene.source, scene.paths, scene.classes
    timings = dict(timings or {})
    t = time.perf_counter()
    pixel_areas = PixelAreas(source.crs, source.transform, source.width, source.height)
    confidence = paths.confidence if paths.confidence.is_file() else None
    counter = count_classes(paths.class_map, pixel_areas, confidence=confidence)
    timings['count'] = time.perf_counter() - t
    t = time.perf_counter()
    preview_path = None
    if preview:
        preview_path = paths.preview
        if not (keep_existing and preview_path.is_file()):
            write_preview(source, paths.class_map, preview_path, scene.palette, max_size=preview_max_size)
    timings['preview'] = time.perf_counter() - t
    if zones is not None:
        zones = _load_zones(zones, zone_field, source)
    extra = dict(image=str(source.path), class_map=paths.class_map.name, tile=scene.seg.tile,
                 overlap=scene.seg.overlap, blend=scene.seg.blend, tta_flip=bool(scene.seg.tta_flip),
                 tiles_total=scene.tiles_total, tiles_run=scene.tiles_run)
    if scene.match is not None:
        extra['match_gsd'] = scene.match.describe()
    ident = scene.model_identity
    model = ident.get('config') or (Path(ident['onnx']['path']).name if isinstance(ident.get('onnx'), dict)
                                    else ident.get('name') or 'model given in memory')
    inputs = {'image': str(source.path), 'size (px)': f'{source.width} x {source.height}',
              'CRS': source.crs.to_string() if source.georef.kind == 'crs' else source.georef.kind,
              'pixel size': ' x '.join(f'{v:.4g}' for v in source.georef.pixel_size),
              'model': str(model), 'weights': scene.weights_name or '(weights given in memory)',
              'windows': f'{scene.seg.tile} px, overlap {scene.seg.overlap}, blend {scene.seg.blend}, '
                         f'flip TTA {bool(scene.seg.tta_flip)}',
              'windows run': f'{scene.tiles_run} of {scene.tiles_total}'}
    if scene.match is not None:
        m = scene.match
        inputs['ground resolution'] = (f'image {m.image_cm:.2f} cm/px, model {m.model_cm:.2f} cm/px: segmented on a '
                                       f'{m.width} x {m.height} grid, mapped back to the image grid')
    if zones is not None:
        inputs['zones'] = f'{zones.path} ({len(zones.names)} zones)'
    t = time.perf_counter()
    outs = write_gis_outputs(paths.out_dir, paths.stem, paths.class_map, confidence, classes, scene.palette,
                             counter, lang=lang, polygon_ids=polygon_ids, min_area=min_polygon_area,
                             simplify=simplify_tolerance, zones=zones, extra=extra, preview=preview_path,
                             report=report, gpkg=gpkg, report_inputs=inputs,
                             file_names=[_safe_name(c) for c in classes], keep_existing=keep_existing)
    timings['areas+polygons+report'] = time.perf_counter() - t
    polygons = {classes[c]: p for c, p in outs['polygons'].items()}
    polygon_stats = {classes[c]: st for c, st in outs['polygon_stats'].items()}
    return LargeImageResult(
        class_map=paths.class_map, preview=preview_path, polygons=polygons, areas_csv=outs['areas_csv'],
        areas_json=outs['areas_json'], areas=outs['areas'], polygon_stats=polygon_stats,
        tiles_total=scene.tiles_total, tiles_run=scene.tiles_run, timings=timings,
        confidence=confidence, strips_total=len(scene.grid), strips_run=scene.strips_run,
        gpkg=outs['gpkg'], report=outs['report'], zones_csv=outs['zones_csv'], styles=outs['styles'])


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
