"""Image input/output for the data pipeline: safe image reading, palette PNG masks.

Every file the pipeline writes is written atomically (:mod:`vnseg.core.atomic`): a crash never leaves a
half-written PNG or JSON behind. Bad files are :class:`vnseg.core.errors.ImageReadError` s naming the file.

Images are read with :func:`read_image`, which checks the pixel count from the file header
*before* decoding (decompression bombs), and normalises the mode to 8-bit RGB with an explicit,
documented policy (see :func:`to_rgb8`).
"""
from __future__ import annotations

import base64
import binascii
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageOps

from vnseg.core.atomic import atomic_write_bytes
from vnseg.core.classes import IGNORE_COLOR, IGNORE_INDEX, PALETTE
from vnseg.core.errors import ImageReadError

PathLike = Union[str, os.PathLike]

#: Default upper bound on the pixels of one image (width x height): 150 megapixels, about 450 MB
#: as 8-bit RGB. Larger files are refused before decoding (decompression-bomb guard); pass a
#: larger ``max_pixels`` for very big orthomosaics.
DEFAULT_MAX_PIXELS = 150_000_000

#: Image file suffixes the pipeline recognises (lower case).
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.bmp')


def _png_bytes(image: Image.Image, compress_level: int = 6) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format='PNG', compress_level=compress_level)
    return buf.getvalue()


def mask_palette(palette: Sequence[Sequence[int]] = PALETTE) -> list:
    """768-entry flat palette: class ``i`` gets ``palette[i]``, ``IGNORE_INDEX`` gets white."""
    flat = [0] * 768
    for i, rgb in enumerate(palette):
        flat[3 * i:3 * i + 3] = [int(c) for c in rgb]
    flat[3 * IGNORE_INDEX:3 * IGNORE_INDEX + 3] = list(IGNORE_COLOR)
    return flat


def encode_mask_png(mask: np.ndarray, palette: Sequence[Sequence[int]] = PALETTE) -> bytes:
    """Encode an (H, W) uint8 class-index mask as a palette ('P' mode) PNG.

    The stored pixel values are the class indices themselves (what mmseg's pillow loader returns),
    the palette only makes viewers show colours.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f'mask must be a 2-D uint8 array, got shape {mask.shape} dtype {mask.dtype}')
    h, w = mask.shape
    pimage = Image.frombytes('P', (w, h), np.ascontiguousarray(mask).tobytes())
    pimage.putpalette(mask_palette(palette))
    return _png_bytes(pimage)


def write_mask_png(path: PathLike, mask: np.ndarray, palette: Sequence[Sequence[int]] = PALETTE) -> Path:
    """Atomically write an (H, W) uint8 class-index mask as a palette PNG."""
    return atomic_write_bytes(path, encode_mask_png(mask, palette))


def write_rgb_png(path: PathLike, image: np.ndarray, compress_level: int = 1) -> Path:
    """Atomically write an (H, W, 3) uint8 RGB array as a PNG.

    ``compress_level`` 1 (zlib's fastest) is the default: on photo-like patches it is several times
    faster than level 6 for slightly larger files; PNG is lossless either way.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'image must be (H, W, 3) uint8, got shape {image.shape} dtype {image.dtype}')
    return atomic_write_bytes(path, _png_bytes(Image.fromarray(image), compress_level))


# ------------------------------------------------------------------------------------------------
# safe image reading
# ------------------------------------------------------------------------------------------------
@dataclass
class LoadedImage:
    """An image normalised to 8-bit RGB.

    Attributes:
        rgb: (H, W, 3) uint8 array.
        valid: (H, W) bool array, False where the source alpha channel was 0 (fully transparent,
            e.g. the no-data collar of an orthomosaic), or None when the source had no alpha.
        source_mode: the PIL mode of the file (e.g. 'RGB', 'L', 'RGBA').
        warnings: human-readable notes about conversions that were applied.
    """

    rgb: np.ndarray
    valid: Optional[np.ndarray] = None
    source_mode: str = 'RGB'
    warnings: list = field(default_factory=list)

    @property
    def shape(self):
        """(H, W) in pixels."""
        return self.rgb.shape[:2]


def _is_16bit(image: Image.Image) -> bool:
    if image.mode in ('I', 'F') or image.mode.startswith('I;16'):
        return True
    for tile in getattr(image, 'tile', None) or []:
        args = tile[3] if isinstance(tile, tuple) and len(tile) > 3 else getattr(tile, 'args', None)
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ';16' in rawmode:
            return True
    return False


def check_image_header(image: Image.Image, path: Optional[PathLike], max_pixels: int) -> None:
    """Raise :class:`ImageReadError` for images over ``max_pixels`` or with 16 bits per sample.

    Only reads header fields (size, mode, tile descriptors), so it is safe on huge files.
    """
    w, h = image.size
    if w <= 0 or h <= 0:
        raise ImageReadError(path, f'image has an empty size {w}x{h}')
    if max_pixels and w * h > max_pixels:
        raise ImageReadError(
            path, f'image is {w}x{h} = {w * h:,} pixels, above the limit of {max_pixels:,} '
            '(decompression-bomb guard; raise max_pixels / --max-pixels for a genuine large scene)')
    if _is_16bit(image):
        raise ImageReadError(
            path, f'16-bit image (mode {image.mode}) is not supported: the 16->8 bit scaling depends on '
            'the sensor; convert it to 8-bit RGB first (e.g. with a per-band stretch)')


def to_rgb8(image: Image.Image, path: Optional[PathLike] = None) -> LoadedImage:
    """Normalise a decoded 8-bit PIL image to RGB (policy, documented and tested).

    * ``RGB``: unchanged.
    * grayscale (``L``, ``1``), palette (``P``), ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``: converted to
      RGB, with a warning.
    * with alpha (``RGBA``, ``LA``, ``PA``, ``P`` with transparency): the alpha is dropped, with a
      warning; pixels whose alpha is 0 are reported in ``valid`` so the mask can mark them ignored.
    * 16-bit and float images are rejected earlier by :func:`check_image_header`.
    """
    mode = image.mode
    notes = []
    valid = None
    if mode == 'P' and 'transparency' in image.info:
        image = image.convert('RGBA')
    if image.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La'):
        rgba = np.asarray(image.convert('RGBA'))
        alpha = rgba[..., 3]
        valid = alpha > 0
        n_transparent = int((~valid).sum())
        notes.append(f'{mode} image: alpha channel dropped'
                     + (f', {n_transparent} fully transparent pixels set to ignore ({IGNORE_INDEX})'
                        if n_transparent else ''))
        rgb = np.ascontiguousarray(rgba[..., :3])
        if n_transparent == 0:
            valid = None
    elif image.mode == 'RGB':
        rgb = np.asarray(image)
    else:
        notes.append(f'{mode} image converted to RGB'
                     + (' (grayscale replicated to 3 channels)' if mode in ('L', '1') else ''))
        rgb = np.asarray(image.convert('RGB'))
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if path is not None:
        notes = [f'{path}: {n}' for n in notes]
    return LoadedImage(rgb=rgb, valid=valid, source_mode=mode, warnings=notes)


def _open_checked(source, path, max_pixels) -> Image.Image:
    old = Image.MAX_IMAGE_PIXELS
    try:
        # Image.open only parses the header; PIL's own bomb check is replaced by ours (below),
        # which applies ``max_pixels`` and gives one clear message.
        Image.MAX_IMAGE_PIXELS = None
        image = Image.open(source)
    except Exception as e:
        raise ImageReadError(path, f'cannot read image ({type(e).__name__}: {e})') from e
    finally:
        Image.MAX_IMAGE_PIXELS = old
    check_image_header(image, path, max_pixels)
    return image


def _decode(image: Image.Image, path) -> LoadedImage:
    old = Image.MAX_IMAGE_PIXELS
    try:
        # our own limit was enforced from the header; PIL's default one (89 MP) must not
        # contradict it, so it is lifted for this decode only.
        Image.MAX_IMAGE_PIXELS = None
        image.load()
        # the labelling tools show (and annotate) JPEGs after their EXIF orientation, so do we
        image = ImageOps.exif_transpose(image)
    except Exception as e:
        raise ImageReadError(path, f'cannot decode image ({type(e).__name__}: {e})') from e
    finally:
        Image.MAX_IMAGE_PIXELS = old
    return to_rgb8(image, path)


def _oriented_size(image: Image.Image) -> tuple:
    """(H, W) after the EXIF orientation (5-8 swap width and height)."""
    w, h = image.size
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not hide the image
        orientation = 1
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def read_image(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file as 8-bit RGB, refusing huge or 16-bit files before decoding.

    The EXIF orientation is applied (as labelme and AnyLabeling do when displaying a JPEG), so
    annotation coordinates and ``imageHeight``/``imageWidth`` refer to the returned array.

    Args:
        path: image file.
        max_pixels: refuse images with more than this many pixels (width x height).

    Raises:
        ImageReadError: missing, unreadable, too large, or 16-bit; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, 'image file not found')
    with open(path, 'rb') as f:
        image = _open_checked(f, path, max_pixels)
        return _decode(image, path)


def read_image_size(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple:
    """(H, W) of an image file from its header only (no decoding), after EXIF orientation.
    Same checks as :func:`read_image`."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, 'image file not found')
    with open(path, 'rb') as f:
        return _oriented_size(_open_checked(f, path, max_pixels))


def decode_base64_image(data: str, path: Optional[PathLike] = None,
                        max_pixels: int = DEFAULT_MAX_PIXELS, header_only: bool = False):
    """Decode a base64 image string (labelme ``imageData``).

    Returns a :class:`LoadedImage`, or (H, W) when ``header_only``. ``path`` is only used in messages.
    """
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError, TypeError) as e:
        raise ImageReadError(path, f'imageData is not valid base64 ({e})') from e
    image = _open_checked(io.BytesIO(raw), path, max_pixels)
    if header_only:
        return _oriented_size(image)
    return _decode(image, path)


def read_mask_image(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Read a mask file without colour conversion.

    Returns ``(array, mode, palette)``: (H, W) uint8 stored values for 'L'/'P'/'1' files (palette =
    the flat [r, g, b, ...] list of a 'P' file, else None); (H, W, 3) uint8 for RGB/RGBA/other
    colour files (alpha dropped, palette None).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, 'mask file not found')
    with open(path, 'rb') as f:
        image = _open_checked(f, path, max_pixels)
        mode = image.mode
        try:
            image.load()
        except Exception as e:
            raise ImageReadError(path, f'cannot decode mask ({type(e).__name__}: {e})') from e
        if mode == 'P':
            return np.array(image, dtype=np.uint8), mode, list(image.getpalette() or [])
        if mode == 'L':
            return np.array(image, dtype=np.uint8), mode, None
        if mode == '1':
            return np.array(image, dtype=np.uint8), mode, None
        return np.array(image.convert('RGB'), dtype=np.uint8), mode, None
