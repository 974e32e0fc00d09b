"""``--match-gsd``: segment an image at the ground resolution its model was trained at.

A model sees objects at the size (in pixels) they had in its training data; a drone flight at twice
the altitude halves them. With ``match_gsd`` whole-scene inference

1. takes the model's GSD (cm/px): the checkpoint's ``meta['gsd_cm']`` (recorded at training,
   :class:`vnseg.engine.hooks.GsdMetaHook`) or the ONNX file's Deepness ``resolution``;
2. takes the image's ground GSD from its georeferencing (:func:`vnseg.data.gsd.grid_gsd_cm`);
3. reads the image resampled onto the *model grid* -- the same extent cut into
   ``round(W * s) x round(H * s)`` pixels, ``s = image GSD / model GSD`` -- window by window
   (:class:`ResampledSource`: GDAL reads each window straight from the file with bilinear
   resampling, the validity mask with nearest; memory stays one strip of windows, as without
   matching);
4. segments the model grid into the strip store, as usual;
5. maps the class and confidence maps back onto the *source grid* (nearest neighbour, by a GDAL
   VRT while the COGs are written: :meth:`vnseg.apis.strip_store.StripStore.assemble`), so every
   output -- class map, polygons, areas (measured on the source grid) -- has the input's grid.

A model or an image without a known GSD is refused with one line naming it (:class:`GsdError`);
so is a scale outside ``[1 / MAX_SCALE, MAX_SCALE]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from vnseg.core.errors import UserError
from vnseg.data.gsd import GSD_META_KEY, grid_gsd_cm, valid_gsd_cm

__all__ = ['GsdError', 'GsdMatch', 'ResampledSource', 'model_gsd_cm', 'MAX_SCALE']

#: Largest resampling factor (either way) ``--match-gsd`` accepts.
MAX_SCALE = 16.0


class GsdError(UserError):
    """The model or the image has no usable ground resolution for ``--match-gsd``."""


def model_gsd_cm(model) -> tuple:
    """``(cm/px or None, where it was read)`` of a model's training GSD (``model``: a
    :class:`vnseg.apis.scene_model.SceneModel`): its ``OnnxTileModel``'s ``resolution`` metadata, its
    checkpoint's ``meta['gsd_cm']``, or a ``gsd_cm`` attribute of its tile model."""
    tile_model = model.tile_model
    given = valid_gsd_cm(getattr(tile_model, 'gsd_cm', None))
    if given is not None:
        return given, 'the model object'
    metadata = getattr(tile_model, 'metadata', None)
    if isinstance(metadata, dict):
        return valid_gsd_cm(metadata.get('resolution')), "the ONNX metadata 'resolution'"
    if model.checkpoint is not None:
        return valid_gsd_cm(model.checkpoint_meta.get(GSD_META_KEY)), f"the checkpoint's meta['{GSD_META_KEY}']"
    return None, None


def _model_subject(model) -> str:
    return str(model.onnx_path or model.checkpoint or getattr(model.tile_model, 'name', None) or 'model')


@dataclass
class GsdMatch:
    """How one image is resampled for its model.

    Attributes:
        model_cm, image_cm: the model's and the image's GSD (cm/px).
        width, height: the model grid in pixels (the image's extent at ``model_cm``).
    """
    model_cm: float
    image_cm: float
    width: int
    height: int

    @classmethod
    def of(cls, model, source) -> 'GsdMatch':
        """The match of ``source`` (a :class:`vnseg.geo.raster_io.SourceImage`) to ``model`` (a
        :class:`vnseg.apis.scene_model.SceneModel`); :class:`GsdError` when either GSD is unknown or the
        scale is out of range."""
        model_cm, where = model_gsd_cm(model)
        if model_cm is None:
            raise GsdError(_model_subject(model),
                           f'--match-gsd: the model records no training ground resolution ({where or "none"}'
                           ' has none); train on data prepared from georeferenced scenes or with --gsd-cm, or '
                           'export with --resolution-cm')
        image_cm = grid_gsd_cm(source.crs, source.transform, source.width, source.height)
        if image_cm is None:
            raise GsdError(source.path, '--match-gsd: the image has no known ground resolution (it needs a '
                                        'CRS and a geotransform, e.g. a GeoTIFF); run without --match-gsd')
        scale = image_cm / model_cm
        if not 1 / MAX_SCALE <= scale <= MAX_SCALE:
            raise GsdError(source.path, f'--match-gsd: the image GSD ({image_cm:.3g} cm/px) is {scale:.3g} times '
                                        f"the model's ({model_cm:.3g} cm/px); at most x{MAX_SCALE:g} either way")
        return cls(model_cm=float(model_cm), image_cm=float(image_cm),
                   width=max(1, int(round(source.width * scale))), height=max(1, int(round(source.height * scale))))

    def resamples(self, source) -> bool:
        """Whether the model grid differs from the source grid."""
        return (self.width, self.height) != (source.width, source.height)

    def reader(self, source):
        """What the windows are read from: a :class:`ResampledSource`, or ``source`` itself when the
        grids are the same."""
        return ResampledSource(source, self.width, self.height) if self.resamples(source) else source

    def describe(self) -> dict:
        return dict(model_cm=round(self.model_cm, 6), image_cm=round(self.image_cm, 6),
                    model_grid=[self.width, self.height])


class ResampledSource:
    """A :class:`vnseg.geo.raster_io.SourceImage` read on another grid over the same extent.

    Windows of the ``width x height`` model grid are read from the file by GDAL (a floating-point
    source window and an output shape): RGB with bilinear resampling, validity (dataset mask) with
    nearest. Offers what the window engine reads (``width``, ``height``, ``read_rgb``,
    ``read_valid``) plus ``path``, ``crs`` and ``transform`` (the model grid's).
    """

    def __init__(self, source, width: int, height: int):
        from affine import Affine
        self.source = source
        self.path: Path = source.path
        self.width, self.height = int(width), int(height)
        self.sx, self.sy = source.width / self.width, source.height / self.height
        self.crs = source.crs
        self.transform = source.transform * Affine.scale(self.sx, self.sy)

    def _window(self, row0, col0, height, width):
        from rasterio.windows import Window
        return Window(col0 * self.sx, row0 * self.sy, width * self.sx, height * self.sy)

    def read_rgb(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """RGB of a model-grid window: ``uint8 (3, height, width)`` (bilinear)."""
        from rasterio.enums import Resampling

        from vnseg.core.errors import ImageReadError
        src = self.source
        try:
            data = src.ds.read(src.indexes, window=self._window(row0, col0, height, width),
                               out_shape=(len(src.indexes), height, width), resampling=Resampling.bilinear)
        except Exception as err:  # GDAL decode errors of a damaged file
            raise ImageReadError(self.path, f'cannot read pixels near rows {int(row0 * self.sy)}..'
                                            f'{int((row0 + height) * self.sy)}: {err}') from err
        return src._to_rgb(data)

    def read_valid(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Validity of a model-grid window: ``bool (height, width)`` (nearest)."""
        from rasterio.enums import Resampling

        from vnseg.core.errors import ImageReadError
        try:
            mask = self.source.ds.dataset_mask(window=self._window(row0, col0, height, width),
                                               out_shape=(height, width), resampling=Resampling.nearest)
        except Exception as err:
            raise ImageReadError(self.path, f'cannot read the mask near rows {int(row0 * self.sy)}..'
                                            f'{int((row0 + height) * self.sy)}: {err}') from err
        return mask > 0


def gsd_tags(match: Optional[GsdMatch]) -> dict:
    """GeoTIFF tags of the outputs describing the match (empty without one)."""
    if match is None:
        return {}
    return dict(MATCH_GSD='True', MODEL_GSD_CM=f'{match.model_cm:.4f}', IMAGE_GSD_CM=f'{match.image_cm:.4f}',
                MODEL_GRID=f'{match.width}x{match.height}')
