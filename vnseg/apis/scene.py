"""One image being segmented: its windows, its strip store and the class and confidence maps they make.

The segmentation part of whole-scene inference, apart from the post-processing (areas, preview,
polygons, ...: :mod:`vnseg.apis.postprocess`) that reads the finished rasters. A :class:`Scene` ties
an image (:class:`vnseg.geo.raster_io.SourceImage`) to a model (:class:`vnseg.apis.scene_model.SceneModel`)
and its window settings (:class:`vnseg.inference.sliding.WindowOptions`); :func:`segment_scene` runs every
strip that its store (:mod:`vnseg.apis.strip_store`) does not hold yet and writes both maps.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Dict, Optional

from vnseg.core.classes import CLASSES, IGNORE_INDEX, PALETTE
from vnseg.geo.raster_io import SourceImage
from .gsd_match import GsdMatch, gsd_tags
from .scene_model import SceneModel, build_scene_model
from .scene_paths import ScenePaths
from vnseg.inference.sliding import TiledSegmenter, WindowOptions
from .strip_store import MapLegend, OutputGrid, StripStore

__all__ = ['Scene', 'open_scene', 'segment_scene', 'gdal_cache']

#: GDAL block cache of a whole-scene run, MB (GDAL's default is 5 % of RAM, which would otherwise fill
#: up with decoded blocks of a big image).
GDAL_CACHE_MB = 256


@contextmanager
def gdal_cache(megabytes: int = GDAL_CACHE_MB):
    """GDAL's block cache bounded to ``megabytes`` inside the ``with`` block."""
    import rasterio
    with rasterio.Env(GDAL_CACHEMAX=int(megabytes) * 2 ** 20):
        yield


def _legend(tile_model, num_classes: int) -> tuple:
    """``(class names, palette)`` of the model's outputs: its own, else vnseg's; extra classes are
    ``class_<i>`` in grey."""
    classes = list(getattr(tile_model, 'classes', None) or CLASSES)
    palette = [list(map(int, c)) for c in (getattr(tile_model, 'palette', None) or PALETTE)]
    if num_classes > len(classes):
        classes += [f'class_{i}' for i in range(len(classes), num_classes)]
    while len(palette) < len(classes):
        palette.append([128, 128, 128])
    return classes, palette


class Scene:
    """One image being segmented: source, window engine, strip store and output paths.

    ``segment`` runs (a range of) strips into the store, ``assemble`` turns the store into the class
    map and confidence COGs.

    Args:
        model: the model and what its weights are.
        source: the image.
        out_dir: the output folder (:class:`vnseg.apis.scene_paths.ScenePaths`).
        windows: the window settings; ``overlap`` and ``batch_size`` are filled in for the model
            (:attr:`windows` holds the values used).
    """

    def __init__(self, model: SceneModel, source: SourceImage, out_dir, windows: WindowOptions):
        self.model, self.source = model, source
        self.windows = windows = windows.for_model(model.tile_model)
        self.seg = TiledSegmenter.of(model.tile_model, windows, nodata=IGNORE_INDEX)
        # what the windows read: the source, or the source resampled to the model's GSD (--match-gsd)
        self.match = GsdMatch.of(model, source) if windows.match_gsd else None
        self.read_source = self.match.reader(source) if self.match is not None else source
        self.grid = self.seg.grid(self.read_source.height, self.read_source.width)
        self.classes, self.palette = _legend(model.tile_model, self.seg.num_classes)
        self.paths = ScenePaths.of(out_dir, source.path)
        self.tags = dict(SOURCE_IMAGE=source.path.name, TILE=str(windows.tile), OVERLAP=str(windows.overlap),
                         BLEND=windows.blend, TTA_FLIP=str(bool(windows.tta_flip)), CHECKPOINT=model.weights_name,
                         **gsd_tags(self.match))
        self.store = StripStore(self.paths.parts, self._manifest())
        self.tiles_run = 0
        self.strips_run = 0

    def _manifest(self) -> dict:
        """What the stored strips were computed from (the resume check compares it)."""
        source, w = self.source, self.windows
        st = source.path.stat()
        manifest = dict(image=dict(path=str(source.path.resolve()), bytes=st.st_size, mtime_ns=st.st_mtime_ns,
                                   width=source.width, height=source.height),
                        model=self.model.identity, tile=w.tile, overlap=w.overlap, batch_size=w.batch_size,
                        blend=w.blend, tta_flip=bool(w.tta_flip), strips=len(self.grid), classes=self.classes)
        if self.match is not None:
            manifest['gsd'] = self.match.describe()
        return manifest

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
        grid = OutputGrid(self.source.width, self.source.height, self.source.crs, self.source.transform,
                          strips_size=None if read is self.source else (read.width, read.height))
        self.store.assemble(self.grid.ys, grid, self.paths.class_map, self.paths.confidence,
                            MapLegend(self.classes, self.palette, nodata=IGNORE_INDEX, tags=self.tags))
        self.store.remove()


def open_scene(model, source: SourceImage, out_dir, windows: WindowOptions = WindowOptions()) -> Scene:
    """A :class:`Scene` of ``source`` with ``model``: a :class:`~vnseg.apis.scene_model.SceneModel`
    or a tile model (:func:`~vnseg.apis.scene_model.build_scene_model`)."""
    return Scene(build_scene_model(model), source, out_dir, windows)


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
