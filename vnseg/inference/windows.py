"""Sliding-window grid and blending weights.

The grid is the one mmseg's ``slide`` inference uses, so that plain averaging reproduces it:
window ``i`` starts at ``i * stride`` and the last window is pulled back so that it ends exactly at
the image border (no window hangs over the edge, none is duplicated).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ['tile_starts', 'blend_weights']


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets (pixels) of the windows that cover ``[0, length)`` along one axis.

    Args:
        length: image size along the axis, in pixels (> 0).
        tile: window size in pixels; when ``tile >= length`` a single window at 0 is returned
            (the caller clips the window to ``length``).
        stride: step between window starts in pixels, ``0 < stride <= tile``.

    Returns:
        Increasing offsets; every window ``[s, s + min(tile, length))`` lies inside the image and
        their union is the whole axis.
    """
    if length <= 0:
        raise ValueError(f'length must be > 0, got {length}')
    if not 0 < stride <= tile:
        raise ValueError(f'need 0 < stride <= tile, got stride={stride}, tile={tile}')
    if tile >= length:
        return [0]
    n = math.ceil((length - tile) / stride) + 1
    return [min(i * stride, length - tile) for i in range(n)]


def blend_weights(height: int, width: int, mode: str = 'gaussian', sigma_scale: float = 0.125,
                  floor: float = 1e-6) -> np.ndarray:
    """Per-pixel weight of one window's logits when overlapping windows are merged.

    Args:
        height, width: window size in pixels.
        mode: ``'gaussian'`` -- a separable Gaussian centred on the window, ``sigma = sigma_scale *
            size`` per axis (1/8 of the size by default, so a pixel on the window edge weighs ~3e-4
            of the centre and a neighbouring window takes over smoothly, without seams);
            ``'mean'`` -- all ones, i.e. a plain average (what mmseg's ``slide`` mode does).
        sigma_scale: Gaussian sigma as a fraction of the window size.
        floor: lower bound of the Gaussian weight (relative to the centre = 1), so that pixels
            covered by a single window corner still get a well-defined, finite average.

    Returns:
        ``float32`` array of shape ``(height, width)``, maximum 1.
    """
    if mode == 'mean':
        return np.ones((height, width), np.float32)
    if mode != 'gaussian':
        raise ValueError(f"blend mode must be 'gaussian' or 'mean', got {mode!r}")

    def axis(n):
        centre = (n - 1) / 2.0
        sigma = max(sigma_scale * n, 1e-6)
        return np.exp(-0.5 * ((np.arange(n) - centre) / sigma) ** 2)

    w = np.outer(axis(height), axis(width))
    w /= w.max()
    return np.maximum(w, floor).astype(np.float32)
