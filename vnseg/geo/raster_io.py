"""Raster input/output by windows: source images (JPEG / PNG / GeoTIFF) and the class-map GeoTIFF.

Nothing here ever holds a whole full-resolution raster: the source is read window by window, the class
map is written by block-aligned strips of rows and then rewritten in a cloud-optimised layout (512 x 512
deflate tiles + nearest-neighbour overviews) by GDAL, which also works block by block.
"""
from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from vnseg.core.atomic import atomic_output
from vnseg.core.errors import DataError, ImageReadError
from vnseg.core.geotiff import BlockRows, open_tiled_geotiff

__all__ = ['SourceImage', 'ClassMapWriter', 'write_preview']


@contextlib.contextmanager
def output_write_errors(path):
    """Failures while writing the output ``path`` (full disk, file-size limit, read-only or I/O
    error) as a :class:`DataError` naming ``path``: GDAL's own messages name a hidden work file or a
    block it re-read, and ``OSError`` s from plain writes often name no file at all."""
    try:
        yield
    except DataError:
        raise
    except OSError as exc:
        raise DataError(path, f'could not be written: {exc.strerror or exc}') from exc
    except Exception as exc:
        if not _is_gdal_error(exc):
            raise
        raise DataError(path, 'could not be written (full disk or no write access?): '
                        + ' '.join(str(exc).split())) from exc


def _is_gdal_error(exc) -> bool:
    import rasterio.errors
    from rasterio._err import CPLE_BaseError
    return isinstance(exc, (rasterio.errors.RasterioError, CPLE_BaseError))


def _rasterio():
    import rasterio  # imported lazily: importing vnseg.geo must not need GDAL
    return rasterio


class SourceImage:
    """An RGB(A) or grey image opened for windowed reading.

    Accepts anything GDAL reads (GeoTIFF, JPEG, PNG, ...), 8-bit only. Band choice: the bands whose
    colour interpretation is red/green/blue (else bands 1-3); one or two bands are treated as grey
    (+ alpha) or, with a colour table, as a paletted image. Validity comes from GDAL's dataset mask,
    which covers alpha bands, nodata values and internal masks.

    Attributes:
        path (Path), width, height (pixels), crs (``rasterio.crs.CRS`` or None), transform
        (``affine.Affine``, pixel -> CRS coordinates of the pixel corner), georef
        (:class:`vnseg.geo.georef.Georef`: CRS, world file or pixels), georeferenced (bool: a CRS
        and a non-identity transform are both present).
    """

    def __init__(self, path):
        rasterio = _rasterio()
        from rasterio.enums import ColorInterp
        self.path = Path(path)
        if not self.path.is_file():
            raise ImageReadError(self.path, 'input image not found')
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
                self.ds = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as err:
            raise ImageReadError(self.path, f'cannot read image: {err}') from err
        ds = self.ds
        self.width, self.height = ds.width, ds.height
        self.crs = ds.crs
        self.transform = ds.transform
        from .georef import Georef
        self.georef = Georef.of(self.crs, self.transform, self.width, self.height)  # the one decision
        self.georeferenced = self.georef.georeferenced
        self._lut = None
        interp = list(ds.colorinterp)
        if ds.count >= 3:
            wanted = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
            if all(c in interp for c in wanted):
                self.indexes = [interp.index(c) + 1 for c in wanted]
            else:
                self.indexes = [1, 2, 3]
        elif ds.count >= 1:
            self.indexes = [1]
            if interp[0] == ColorInterp.palette:
                cmap = ds.colormap(1)
                lut = np.zeros((256, 3), np.uint8)
                for k, rgba in cmap.items():
                    if 0 <= k < 256:
                        lut[k] = rgba[:3]
                self._lut = lut
        else:
            self.close()
            raise ImageReadError(self.path, 'image has no raster bands')
        bad = {ds.dtypes[i - 1] for i in self.indexes} - {'uint8'}
        if bad:
            self.close()
            raise ImageReadError(
                self.path, f'only 8-bit images are supported, found {sorted(bad)} bands; convert first, '
                f'e.g. `gdal_translate -ot Byte -scale {self.path} out.tif`')

    # -- reading -------------------------------------------------------------------------------
    def _window(self, row0, col0, height, width):
        from rasterio.windows import Window
        return Window(col0, row0, width, height)

    def read_valid(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Validity of a window: ``bool`` array ``(height, width)``, False = nodata / transparent."""
        try:
            return self.ds.dataset_mask(window=self._window(row0, col0, height, width)) > 0
        except Exception as err:  # GDAL decode errors of a damaged file
            raise ImageReadError(self.path, f'cannot read the mask at rows {row0}..{row0 + height}: '
                                            f'{err}') from err

    def read_rgb(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """RGB pixels of a window: ``uint8`` array ``(3, height, width)``."""
        try:
            data = self.ds.read(self.indexes, window=self._window(row0, col0, height, width))
        except Exception as err:
            raise ImageReadError(self.path, f'cannot read pixels at rows {row0}..{row0 + height}: '
                                            f'{err}') from err
        return self._to_rgb(data)

    def _to_rgb(self, data):
        if data.shape[0] == 3:
            return data
        if self._lut is not None:
            return np.ascontiguousarray(self._lut[data[0]].transpose(2, 0, 1))
        return np.repeat(data, 3, axis=0)

    def read_overview(self, out_height: int, out_width: int):
        """The whole image downsampled to ``(out_height, out_width)`` (GDAL average resampling).

        Returns ``(rgb uint8 (3, h, w), valid bool (h, w))``. GDAL reads block by block (and uses
        overviews when the file has them), so this is cheap in memory for any image size.
        """
        from rasterio.enums import Resampling
        shape = (len(self.indexes), out_height, out_width)
        try:
            data = self.ds.read(self.indexes, out_shape=shape, resampling=Resampling.average)
            valid = self.ds.dataset_mask(out_shape=(out_height, out_width),
                                         resampling=Resampling.nearest) > 0
        except Exception as err:
            raise ImageReadError(self.path, f'cannot read the image: {err}') from err
        return self._to_rgb(data), valid

    def close(self):
        if getattr(self, 'ds', None) is not None:
            self.ds.close()
            self.ds = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ClassMapWriter:
    """Streams a class-index raster to a GeoTIFF, strip by strip, then lays it out as a COG.

    Rows must be written in order (``write_rows`` calls with increasing, contiguous row ranges).
    They are buffered and written in whole 512-row block strips of a tiled, deflate-compressed work
    file; :meth:`close` rewrites it with GDAL's COG driver (512 x 512 tiles, deflate, nearest
    overviews, colour table, nodata 255) and renames it onto ``path`` atomically.

    Args:
        path: final ``.tif`` path.
        width, height: raster size in pixels.
        crs, transform: georeferencing copied from the source (``crs`` may be None).
        classes: class names (index = value); stored as the ``CLASSES`` tag (JSON).
        palette: RGB per class, written as the colour table; 255 (ignore / nodata) is transparent.
        nodata: the value of pixels without a prediction.
    """

    BLOCK = 512

    def __init__(self, path, width: int, height: int, crs, transform, classes: Sequence[str],
                 palette: Sequence[Sequence[int]], nodata: int = 255, tags: Optional[dict] = None):
        self.path = Path(path)
        self.width, self.height = width, height
        self._work = self.path.with_name(f'.{self.path.stem}.work-{os.getpid()}.tif')
        self._dst = open_tiled_geotiff(self._work, width, height, 1, crs, transform, block=self.BLOCK, nodata=nodata)
        cmap = {i: tuple(int(v) for v in rgb) + (255,) for i, rgb in enumerate(palette)}
        cmap[nodata] = (0, 0, 0, 0)
        self._dst.write_colormap(1, cmap)
        all_tags = {'CLASSES': json.dumps(list(classes)), 'NODATA_MEANING': 'no prediction (nodata input)'}
        all_tags.update(tags or {})
        self._dst.update_tags(**all_tags)
        self._dst.set_band_description(1, 'class index')
        self._rows = BlockRows(self._dst, self.BLOCK, self.path)

    def write_rows(self, row0: int, rows: np.ndarray):
        """Append rows ``[row0, row0 + rows.shape[0])``; ``rows`` is ``uint8 (h, width)``."""
        self._rows.add(row0, rows[None])

    def close(self) -> Path:
        """Finish the file: flush, build the COG, rename onto ``path``. Returns ``path``."""
        self._rows.finish(self.abort)
        try:
            with atomic_output(self.path) as tmp:
                _to_cog(self._work, tmp, self.BLOCK)
        finally:
            self._work.unlink(missing_ok=True)
        return self.path

    def abort(self):
        """Drop the partial output (used on errors)."""
        with contextlib.suppress(Exception):
            self._dst.close()
        self._work.unlink(missing_ok=True)


def _to_cog(src_path: Path, dst_path: Path, block: int):
    """Copy a tiled GeoTIFF into a cloud-optimised GeoTIFF (GDAL COG driver, else GTiff + overviews)."""
    rasterio = _rasterio()
    from rasterio.enums import Resampling
    from rasterio.shutil import copy as rio_copy
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
        if _has_driver('COG'):
            rio_copy(str(src_path), str(dst_path), driver='COG', COMPRESS='DEFLATE', BLOCKSIZE=str(block),
                     OVERVIEW_RESAMPLING='NEAREST', BIGTIFF='IF_SAFER')
            return
        # Older GDAL: overviews inside the work file, then a copy that puts them first.
        with rasterio.open(src_path, 'r+') as ds:
            factors, size = [], max(ds.width, ds.height)
            while size / (2 ** (len(factors) + 1)) >= block / 2:
                factors.append(2 ** (len(factors) + 1))
            if factors:
                ds.build_overviews(factors, Resampling.nearest)
        rio_copy(str(src_path), str(dst_path), driver='GTiff', tiled=True, blockxsize=block,
                 blockysize=block, compress='deflate', copy_src_overviews=True, BIGTIFF='IF_SAFER')


def _has_driver(name: str) -> bool:
    rasterio = _rasterio()
    with rasterio.Env() as env:
        return name in env.drivers()


def write_preview(src: SourceImage, class_map_path, out_path, palette, max_size: int = 2048,
                  opacity: float = 0.5) -> Path:
    """Colour overlay PNG: the image with each class's colour blended in at ``opacity``.

    Classes whose colour is black (background) are not tinted, so the image stays readable.

    The longer side is at most ``max_size`` pixels (the class map is read from its overviews with
    nearest resampling, the image with averaging). Pixels without a prediction are transparent.
    Returns the written path (written atomically).
    """
    rasterio = _rasterio()
    from PIL import Image
    from rasterio.enums import Resampling
    scale = min(1.0, max_size / max(src.width, src.height))
    h, w = max(1, round(src.height * scale)), max(1, round(src.width * scale))
    rgb, _ = src.read_overview(h, w)
    with rasterio.open(class_map_path) as ds:
        cls = ds.read(1, out_shape=(h, w), resampling=Resampling.nearest)
    lut = np.zeros((256, 3), np.float32)
    lut[:len(palette)] = np.asarray(palette, np.float32)
    has_pred = cls != 255
    tint = np.zeros(256, bool)
    tint[:len(palette)] = np.asarray(palette).reshape(len(palette), 3).any(axis=1)
    img = rgb.transpose(1, 2, 0).astype(np.float32)
    over = np.where((has_pred & tint[cls])[..., None], (1 - opacity) * img + opacity * lut[cls], img)
    rgba = np.dstack([np.clip(over + 0.5, 0, 255).astype(np.uint8),
                      np.where(has_pred, 255, 0).astype(np.uint8)])
    with atomic_output(out_path) as tmp:
        Image.fromarray(rgba, 'RGBA').save(tmp, format='PNG', compress_level=1)
    return Path(out_path)
