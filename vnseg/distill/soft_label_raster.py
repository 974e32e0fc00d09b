"""One scene's cached soft labels on disk: ``C`` uint8 bands of class probabilities in a tiled GeoTIFF.

A teacher's class probabilities ``p`` (``float (C, H, W)``, each pixel summing to 1) are stored as
``q = round(255 p)`` (8 bits per class: an error of at most 1/510 per class), band ``c + 1`` =
class ``c``, pixel-interleaved in 256 x 256 deflate tiles, so that any window reads all classes of
its pixels in one go. A pixel without a prediction (nodata / transparent input) is 0 in every band:
a real prediction always sums to about 255, so ``q.sum(0) == 0`` marks it.

:class:`SoftLabelWriter` takes rows top to bottom (any number at a time), buffers them up to whole
block rows and writes each block row once: memory is ``C x (256 + rows given) x W`` bytes, whatever
the height. The file is written under a hidden temporary name and renamed onto its final name when
complete (:func:`vnseg.core.atomic.atomic_output` semantics), so a reader never sees half a scene.
GDAL writes the same bytes for the same rows, so a recomputed scene is byte-identical.
"""
from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from vnseg.core.atomic import PendingFile
from vnseg.core.errors import DataError
from vnseg.core.geotiff import BlockRows, open_tiled_geotiff

__all__ = ['BLOCK', 'quantise', 'dequantise', 'SoftLabelWriter', 'read_soft_labels', 'soft_label_shape']

#: Tile side (pixels) of the soft-label GeoTIFFs.
BLOCK = 256


def quantise(probs: np.ndarray) -> np.ndarray:
    """``uint8 (C, ...)`` = ``round(255 * probs)`` of probabilities in [0, 1] (clipped)."""
    return np.floor(np.clip(probs, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def dequantise(q: np.ndarray) -> np.ndarray:
    """``float32`` probabilities ``q / 255`` of stored values (0 where nothing was predicted)."""
    return q.astype(np.float32) * np.float32(1.0 / 255.0)


class SoftLabelWriter:
    """Write a ``num_classes x height x width`` uint8 soft-label GeoTIFF row block by row block.

    Args:
        path: final ``.tif`` path (the parent folder is created).
        num_classes: C, the number of bands.
        width, height: raster size in pixels (the image's).
        crs, transform: georeferencing copied from the image (None: pixel grid only).
        tags: text metadata of the dataset (e.g. the teacher and the image it was computed from).
    """

    def __init__(self, path, num_classes: int, width: int, height: int, crs=None, transform=None,
                 tags: Optional[dict] = None):
        self.path = Path(path)
        self._pending = PendingFile(self.path)
        self.tmp = self._pending.tmp
        self.num_classes, self.width, self.height = int(num_classes), int(width), int(height)
        self._dst = open_tiled_geotiff(self.tmp, self.width, self.height, self.num_classes, crs, transform,
                                       block=BLOCK, interleave='pixel')
        self._dst.update_tags(**{k: v if isinstance(v, str) else json.dumps(v) for k, v in (tags or {}).items()})
        for c in range(self.num_classes):
            self._dst.set_band_description(c + 1, f'probability of class {c} x 255')
        self._rows = BlockRows(self._dst, BLOCK, self.path)

    def write_rows(self, row0: int, q: np.ndarray) -> None:
        """Append rows ``[row0, row0 + q.shape[1])`` of ``q`` = ``uint8 (C, rows, width)``."""
        self._rows.add(row0, q)

    def close(self) -> Path:
        """Finish the file and rename it onto ``path``; returns ``path``."""
        self._rows.finish(self.abort)
        return self._pending.commit()

    def abort(self) -> None:
        """Drop the unfinished file."""
        with contextlib.suppress(Exception):
            self._dst.close()
        self._pending.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            self.abort()


def soft_label_shape(path) -> tuple:
    """``(C, H, W)`` of a soft-label file (reads the header only)."""
    import rasterio
    with _opened(path, rasterio) as src:
        return src.count, src.height, src.width


@contextlib.contextmanager
def _opened(path, rasterio):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise DataError(path, f'cannot read the cached soft labels: {err}') from err
    with src:
        yield src


def read_soft_labels(path, window=None) -> np.ndarray:
    """``uint8 (C, h, w)``: the stored values of ``path`` (all of it, or ``window`` =
    ``(row0, col0, h, w)`` in pixels). See :func:`dequantise` for the probabilities."""
    import rasterio
    from rasterio.windows import Window
    with _opened(path, rasterio) as src:
        win = None if window is None else Window(window[1], window[0], window[3], window[2])
        try:
            return src.read(window=win)
        except Exception as err:  # GDAL decode errors of a damaged file
            raise DataError(path, f'cannot read the cached soft labels: {err}') from err
