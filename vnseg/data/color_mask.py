"""Colour masks (RGB or palette PNGs of other datasets) -> vnseg class-index masks.

A :class:`ColorTable` maps exact RGB colours to class indices; any other colour becomes
``IGNORE_INDEX`` (255) and is counted in the report, so a wrong table shows up as a large unknown
count instead of silently mislabelled pixels.

Built-in tables (:data:`PRESET_TABLES`):

* ``'vnseg'``: vnseg's own ``PALETTE`` (and white = ignore), i.e. the colours of the palette masks
  this package writes.
* ``'dubai'``: the masks of the "Semantic segmentation of aerial imagery" dataset (Dubai, Humans in
  the Loop, public on Kaggle). **The hex colours in that dataset's ``classes.json`` do
  not occur in its mask PNGs**; the table below holds the colours actually present (checked pixel by
  pixel against 5-class index masks of the same tiles): Building #3C1098 -> building, Land #8429F6 -> background,
  Road #6EC1E4 -> road, Vegetation #FEDD3A -> tree, Water #E2A929 -> water, Unlabeled #9B9B9B -> 255.

Custom tables come from a JSON file: ``{"#6EC1E4": "road", "155,155,155": "ignore", ...}`` or
``{"colors": {...}}``; a value is a class index, a vnseg class name or ``"ignore"``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from vnseg.core.classes import IGNORE_COLOR, IGNORE_INDEX, NUM_CLASSES, PALETTE
from vnseg.data.label_map import LabelMap, LabelMapError, read_json_object

RGB = Tuple[int, int, int]

PRESET_TABLES = {
    'vnseg': {**{tuple(c): i for i, c in enumerate(PALETTE)}, IGNORE_COLOR: IGNORE_INDEX},
    'dubai': {
        (0x3C, 0x10, 0x98): 4,    # Building
        (0x84, 0x29, 0xF6): 0,    # Land (unpaved area)
        (0x6E, 0xC1, 0xE4): 1,    # Road
        (0xFE, 0xDD, 0x3A): 3,    # Vegetation
        (0xE2, 0xA9, 0x29): 2,    # Water
        (0x9B, 0x9B, 0x9B): IGNORE_INDEX,  # Unlabeled
    },
}


def parse_color(value) -> RGB:
    """``'#RRGGBB'``, ``'R,G,B'`` or a 3-sequence -> (r, g, b) ints in 0-255."""
    if isinstance(value, str):
        s = value.strip()
        if s.startswith('#') and len(s) == 7:
            return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))
        parts = [p for p in s.replace(' ', '').strip('()[]').split(',') if p]
        value = parts
    try:
        rgb = tuple(int(v) for v in value)
    except (TypeError, ValueError) as e:
        raise LabelMapError(f'invalid colour {value!r}') from e
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise LabelMapError(f'invalid colour {value!r}: need 3 values in 0..255')
    return rgb


class ColorTable:
    """Exact RGB colour -> class index.

    Args:
        colors: mapping colour (``'#RRGGBB'``, ``'R,G,B'`` or a tuple) -> class index, vnseg class
            name or ``'ignore'``.
    """

    def __init__(self, colors: Mapping):
        self.colors = {}
        for color, value in colors.items():
            self.colors[parse_color(color)] = LabelMap._value(color, value)

    @classmethod
    def preset(cls, name: str) -> 'ColorTable':
        """A built-in table (see :data:`PRESET_TABLES`)."""
        if name not in PRESET_TABLES:
            raise LabelMapError(f'unknown colour table {name!r} (built-in: {", ".join(PRESET_TABLES)})')
        return cls(PRESET_TABLES[name])

    @classmethod
    def from_json(cls, path: Union[str, os.PathLike]) -> 'ColorTable':
        """``{colour: class}`` or ``{"colors": {colour: class}}`` JSON file."""
        data = read_json_object(path, 'colour table')
        return cls(data['colors'] if isinstance(data.get('colors'), dict) else data)

    @classmethod
    def from_spec(cls, spec) -> 'ColorTable':
        """None -> ``'vnseg'``; a ColorTable; a dict; a preset name; or a JSON file path."""
        if spec is None:
            return cls.preset('vnseg')
        if isinstance(spec, ColorTable):
            return spec
        if isinstance(spec, Mapping):
            return cls(spec)
        if isinstance(spec, str) and spec in PRESET_TABLES:
            return cls.preset(spec)
        return cls.from_json(spec)

    def __repr__(self):
        return f'ColorTable({self.colors!r})'


@dataclass
class ColorMaskReport:
    """Result notes of a colour conversion (pixel counts)."""

    unknown_pixels: int = 0
    unknown_colors: list = field(default_factory=list)  # [{'color': '#RRGGBB', 'pixels': n}], top 20

    def to_dict(self) -> dict:
        return {'unknown_pixels': self.unknown_pixels, 'unknown_colors': list(self.unknown_colors)}


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def color_to_index(rgb: np.ndarray, table: ColorTable) -> Tuple[np.ndarray, ColorMaskReport]:
    """(H, W, 3) uint8 colour mask -> ((H, W) uint8 class indices, report).

    Colours not in ``table`` become ``IGNORE_INDEX``; the report counts them.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f'colour mask must be (H, W, 3), got {rgb.shape}')
    packed = _pack(rgb[..., :3])
    keys = np.array(sorted((c[0] << 16) | (c[1] << 8) | c[2] for c in table.colors), dtype=np.uint32)
    vals = np.array([table.colors[((k >> 16) & 255, (k >> 8) & 255, k & 255)] for k in keys.tolist()],
                    dtype=np.uint8)
    out = np.full(packed.shape, IGNORE_INDEX, dtype=np.uint8)
    if len(keys):
        j = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
        known = keys[j] == packed
        out[known] = vals[j[known]]
    else:
        known = np.zeros(packed.shape, dtype=bool)
    unknown = packed[~known]
    report = ColorMaskReport(unknown_pixels=int(unknown.size))
    if unknown.size:
        uniq, counts = np.unique(unknown, return_counts=True)
        order = np.argsort(-counts, kind='stable')[:20]
        report.unknown_colors = [{'color': '#%06X' % int(uniq[k]), 'pixels': int(counts[k])} for k in order]
    return out, report


@dataclass
class IndexMaskReport:
    """Notes of an index-mask import: values outside the classes that were set to ignore."""

    invalid_pixels: int = 0
    invalid_values: dict = field(default_factory=dict)  # {value: pixels}

    def to_dict(self) -> dict:
        return {'invalid_pixels': self.invalid_pixels,
                'invalid_values': {str(k): v for k, v in self.invalid_values.items()}}


def sanitize_index_mask(mask: np.ndarray, num_classes: int = NUM_CLASSES) -> Tuple[np.ndarray, IndexMaskReport]:
    """Keep values ``0..num_classes-1`` and 255 of an (H, W) uint8 mask; others -> 255 (counted)."""
    mask = np.asarray(mask, dtype=np.uint8)
    counts = np.bincount(mask.ravel(), minlength=256)
    bad = [v for v in range(num_classes, 255) if counts[v]]
    report = IndexMaskReport(invalid_pixels=int(sum(counts[v] for v in bad)),
                             invalid_values={int(v): int(counts[v]) for v in bad})
    if not bad:
        return mask, report
    out = mask.copy()
    out[(out >= num_classes) & (out != IGNORE_INDEX)] = IGNORE_INDEX
    return out, report


def mask_from_array(array: np.ndarray, mode: str, mask_format: str = 'auto',
                    table: Optional[ColorTable] = None, palette: Optional[Sequence[int]] = None):
    """Turn a mask read by :func:`vnseg.data.io.read_mask_image` into class indices.

    Args:
        array: (H, W) stored values of an 'L'/'P'/'1' file, or (H, W, 3) RGB.
        mode: the file's PIL mode.
        mask_format: ``'index'``: stored values are class indices (others -> 255, counted);
            ``'color'``: colours through ``table`` (a palette file is expanded with its palette);
            ``'auto'``: RGB/RGBA -> colour; 'L'/'1' -> index; 'P' -> colour when a ``table`` is
            given, else index (vnseg's and labelme's palette masks store class indices).
        table: colour table (``'color'`` without a table uses the ``'vnseg'`` preset).
        palette: flat [r, g, b, ...] palette of a 'P' file.

    Returns:
        (mask, report dict): for colour masks ``unknown_pixels`` and ``unknown_colors``, for index
        masks ``invalid_pixels`` and ``invalid_values``.
    """
    if mask_format not in ('auto', 'index', 'color'):
        raise ValueError(f"mask_format must be 'auto', 'index' or 'color', got {mask_format!r}")
    if mask_format == 'auto':
        if array.ndim == 3:
            mask_format = 'color'
        elif mode == 'P' and table is not None:
            mask_format = 'color'
        else:
            mask_format = 'index'
    if mask_format == 'index':
        if array.ndim == 3:
            raise ValueError('an RGB mask cannot be read as class indices; use mask_format="color"')
        out, rep = sanitize_index_mask(array)
        return out, rep.to_dict()
    if array.ndim == 2:
        if mode != 'P' or not palette:
            raise ValueError(f'a {mode} mask without palette cannot be read as colours; use mask_format="index"')
        pal = np.zeros((256, 3), np.uint8)
        flat = np.asarray(palette[:768], dtype=np.uint8)
        n = len(flat) // 3
        pal[:n] = flat[:n * 3].reshape(-1, 3)
        array = pal[array]
    out, rep = color_to_index(array, table or ColorTable.preset('vnseg'))
    return out, rep.to_dict()
