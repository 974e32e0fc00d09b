"""Tiled GeoTIFF files written block row by block row (class maps, teacher soft labels).

numpy only at import; rasterio is imported when a file is opened.
"""
from __future__ import annotations

import os
import warnings
from typing import Union

import numpy as np

__all__ = ['open_tiled_geotiff', 'BlockRows']

PathLike = Union[str, os.PathLike]


def open_tiled_geotiff(path: PathLike, width: int, height: int, count: int, crs=None, transform=None,
                       block: int = 512, **profile):
    """A new tiled, deflate-compressed uint8 GeoTIFF at ``path``, open for writing (a rasterio dataset).

    ``width`` x ``height`` pixels, ``count`` bands of ``block`` x ``block`` tiles; ``crs`` and ``transform``
    are written when given (an identity transform is a plain pixel grid: left out), without rasterio's
    not-georeferenced warning; ``profile`` adds creation options (e.g. ``nodata``, ``interleave``).
    """
    import rasterio
    profile = dict(driver='GTiff', width=int(width), height=int(height), count=int(count), dtype='uint8',
                   tiled=True, blockxsize=block, blockysize=block, compress='deflate', BIGTIFF='IF_SAFER',
                   **profile)
    if crs is not None:
        profile['crs'] = crs
    if transform is not None and not transform.is_identity:
        profile['transform'] = transform
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
        return rasterio.open(path, 'w', **profile)


class BlockRows:
    """The rows of a tiled GeoTIFF written top to bottom, handed to GDAL in whole rows of blocks.

    A tiled file is written fastest one row of tiles at a time, so rows given in any number per call are
    buffered until they fill whole blocks (the last, shorter block when the raster is complete).

    Args:
        dst: a rasterio dataset open for writing (:func:`open_tiled_geotiff`).
        block: its tile side in pixels.
        name: the file named in errors.
    """

    def __init__(self, dst, block: int, name: PathLike):
        self.dst, self.block, self.name = dst, int(block), name
        self.height, self.width = int(dst.height), int(dst.width)
        self.next_row = 0      # the next row expected from the caller
        self._written = 0      # rows already in the file
        self._buf: list = []

    def add(self, row0: int, rows: np.ndarray) -> None:
        """Append rows ``[row0, row0 + h)`` of ``rows`` = ``uint8 (bands, h, width)``."""
        if row0 != self.next_row:
            raise ValueError(f'{self.name}: rows must be written in order: expected row {self.next_row}, got {row0}')
        if rows.ndim != 3 or rows.shape[0] != self.dst.count or rows.shape[2] != self.width:
            raise ValueError(f'{self.name}: expected ({self.dst.count}, rows, {self.width}), got {rows.shape}')
        self._buf.append(np.ascontiguousarray(rows, dtype=np.uint8))
        self.next_row += rows.shape[1]
        if self.next_row - self._written >= self.block or self.next_row == self.height:
            self._flush()

    def finish(self, abort) -> None:
        """Write what is buffered and close the dataset; when rows are missing, call ``abort`` (which drops the
        unfinished file) and raise a :class:`ValueError`."""
        if self.next_row != self.height:
            abort()
            raise ValueError(f'{self.name}: only {self.next_row} of {self.height} rows were written')
        self._flush()
        self.dst.close()

    def _flush(self) -> None:
        from rasterio.windows import Window
        if not self._buf:
            return
        data = np.concatenate(self._buf, axis=1) if len(self._buf) > 1 else self._buf[0]
        n = data.shape[1] if self.next_row == self.height else (data.shape[1] // self.block) * self.block
        if n:
            self.dst.write(data[:, :n], window=Window(0, self._written, self.width, n))
            self._written += n
        rest = data[:, n:]
        self._buf = [rest] if rest.shape[1] else []
