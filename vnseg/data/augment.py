"""Offline augmentation of training patches, written as extra files.

Each variant combines one geometric transform of the square's symmetry group (flips, 90-degree
rotations, transposes), applied identically to image and mask, with a photometric change applied to
the image only (brightness, contrast, saturation, small hue shift, gamma, Gaussian noise). The
photometric ranges are mild so class colour cues (water blue/brown, trees dark green...) survive.

Randomness comes from ``numpy.random.default_rng([seed, crc32(key)])``: a patch's variants depend
only on the seed and the patch's name, never on processing order.
"""
from __future__ import annotations

import zlib
from typing import List, Tuple

import cv2
import numpy as np

#: The 7 non-identity symmetries of a square, as (name, function on an (H, W[, C]) array).
GEOMETRIC_OPS = {
    'hflip': lambda a: a[:, ::-1],
    'vflip': lambda a: a[::-1, :],
    'rot90': lambda a: np.rot90(a, 1),
    'rot180': lambda a: np.rot90(a, 2),
    'rot270': lambda a: np.rot90(a, 3),
    'transpose': lambda a: np.swapaxes(a, 0, 1),
    'antitranspose': lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
}


def apply_geometric(array: np.ndarray, op: str) -> np.ndarray:
    """Apply a named geometric op to an (H, W) or (H, W, C) array (returns a contiguous copy)."""
    if op not in GEOMETRIC_OPS:
        raise ValueError(f'unknown geometric op {op!r} (known: {", ".join(GEOMETRIC_OPS)})')
    return np.ascontiguousarray(GEOMETRIC_OPS[op](array))


def photometric(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> Tuple[np.ndarray, dict]:
    """Random mild colour change of an (H, W, 3) uint8 RGB image; returns (image, parameters)."""
    s = float(strength)
    params = {
        'brightness': float(rng.uniform(-20, 20) * s),          # added, 0-255 scale
        'contrast': float(1 + rng.uniform(-0.2, 0.2) * s),      # factor around the mean
        'saturation': float(1 + rng.uniform(-0.25, 0.25) * s),  # factor, 0 = gray
        'hue': float(rng.uniform(-6, 6) * s),                   # degrees
        'gamma': float(np.exp(rng.uniform(-0.15, 0.15) * s)),
        'noise_sigma': float(rng.uniform(0, 6) * s),            # 0-255 scale
    }
    img = image.astype(np.float32)
    if params['hue']:
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + params['hue'] * 256.0 / 360.0) % 256.0
        img = cv2.cvtColor(hsv.round().clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL).astype(np.float32)
    gray = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = gray[..., None] + (img - gray[..., None]) * params['saturation']
    img = (img - img.mean()) * params['contrast'] + img.mean() + params['brightness']
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** params['gamma']
    if params['noise_sigma'] > 0:
        img = img + rng.normal(0.0, params['noise_sigma'], img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), params


def rng_for(seed: int, key: str) -> np.random.Generator:
    """Generator that depends only on ``seed`` and the string ``key``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode('utf-8'))])


def augment_variants(image: np.ndarray, mask: np.ndarray, num: int, seed: int, key: str,
                     use_photometric: bool = True) -> List[Tuple[str, np.ndarray, np.ndarray, dict]]:
    """``num`` augmented copies of an (image, mask) patch.

    Args:
        image: (H, W, 3) uint8; mask: (H, W) uint8 (square patches when rotations/transposes occur).
        num: number of variants (0-7), each with a different geometric op.
        seed, key: randomness source (see :func:`rng_for`).

    Returns:
        list of (suffix, image, mask, params); suffix like ``'aug1-rot90'``.
    """
    if not 0 <= num <= len(GEOMETRIC_OPS):
        raise ValueError(f'num must be in 0..{len(GEOMETRIC_OPS)}, got {num}')
    rng = rng_for(seed, key)
    names = list(GEOMETRIC_OPS)
    ops = [names[i] for i in rng.choice(len(names), size=num, replace=False)]
    out = []
    for k, op in enumerate(ops, start=1):
        img = apply_geometric(image, op)
        msk = apply_geometric(mask, op)
        params = {'geometric': op}
        if use_photometric:
            img, p = photometric(img, rng)
            params.update(p)
        out.append((f'aug{k}-{op}', img, msk, params))
    return out
