"""Cutting scenes into square training patches.

Windows are ``patch_size`` pixels square, ``stride`` pixels apart (default: ``stride =
patch_size``, no overlap). The scene border is handled by ``edge``:

* ``'shift'`` (default): one more window is placed flush with the right/bottom border, so every
  pixel is covered; that last window overlaps its neighbour.
* ``'pad'``: the scene is padded to a whole number of strides (image 0, mask ``IGNORE_INDEX``).
* ``'drop'``: the incomplete border strip is left out.

A scene smaller than one patch is an error (:class:`SceneTooSmallError`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from vnseg.core.classes import IGNORE_INDEX
from vnseg.core.errors import DataError

EDGE_MODES = ('shift', 'pad', 'drop')


class SceneTooSmallError(DataError):
    """A scene smaller than one patch."""


@dataclass(frozen=True)
class Window:
    """A patch window: top-left (``y``, ``x``) and ``size`` in scene pixels."""

    y: int
    x: int
    size: int


def _starts(length: int, patch: int, stride: int, edge: str) -> List[int]:
    if edge == 'pad':
        n = max(1, -(-(length - patch) // stride) + 1)
        return [i * stride for i in range(n)]
    starts = list(range(0, length - patch + 1, stride))
    if edge == 'shift' and starts[-1] + patch < length:
        starts.append(length - patch)
    return starts


def patch_windows(height: int, width: int, patch_size: int, stride: Optional[int] = None,
                  edge: str = 'shift', path=None) -> List[Window]:
    """Windows covering an (height x width) scene, row-major order.

    Raises:
        SceneTooSmallError: the scene is smaller than ``patch_size`` in either direction.
    """
    stride = stride or patch_size
    if patch_size <= 0 or stride <= 0:
        raise ValueError(f'patch_size and stride must be positive, got {patch_size}, {stride}')
    if edge not in EDGE_MODES:
        raise ValueError(f'edge must be one of {EDGE_MODES}, got {edge!r}')
    if height < patch_size or width < patch_size:
        raise SceneTooSmallError(path, f'scene is {height}x{width} pixels, smaller than one '
                                       f'{patch_size}x{patch_size} patch')
    return [Window(y, x, patch_size) for y in _starts(height, patch_size, stride, edge)
            for x in _starts(width, patch_size, stride, edge)]


def crop(array: np.ndarray, window: Window, fill) -> np.ndarray:
    """The window's pixels of an (H, W[, C]) array; parts beyond the border get ``fill``."""
    h, w = array.shape[:2]
    y, x, s = window.y, window.x, window.size
    if y + s <= h and x + s <= w:
        return np.ascontiguousarray(array[y:y + s, x:x + s])
    out = np.full((s, s) + array.shape[2:], fill, dtype=array.dtype)
    out[:max(0, min(s, h - y)), :max(0, min(s, w - x))] = array[y:y + s, x:x + s]
    return out


def crop_pair(image: np.ndarray, mask: np.ndarray, window: Window) -> Tuple[np.ndarray, np.ndarray]:
    """(image patch, mask patch); padding is 0 in the image and ``IGNORE_INDEX`` in the mask."""
    return crop(image, window, 0), crop(mask, window, IGNORE_INDEX)


def background_share(mask_patch: np.ndarray) -> float:
    """Fraction of pixels that are background (0) or ignored (255)."""
    m = mask_patch
    return float(np.count_nonzero((m == 0) | (m == IGNORE_INDEX))) / m.size


def keep_patch(mask_patch: np.ndarray, background_threshold: Optional[float] = 1.0) -> bool:
    """False when the patch's background share (background + ignore) is >= ``background_threshold``.

    The default 1.0 drops only patches with no foreground pixel; None keeps everything.
    """
    if background_threshold is None:
        return True
    return background_share(mask_patch) < background_threshold
