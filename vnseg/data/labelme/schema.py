"""The labelme-style JSON schema: its errors, parsed :class:`Shape` / :class:`Annotation`, parsing and loading.

Schema handled (every variant that labelme, AnyLabeling and X-AnyLabeling write):

* top level: ``shapes`` (required list), ``imagePath`` (relative, absolute or Windows-style with
  backslashes), ``imageData`` (base64 image or null), ``imageHeight``/``imageWidth`` (optional);
  ``version``, ``flags``, ``text`` and any other key are accepted and not trusted.
* shapes, painted in list order (a later shape overwrites an earlier one):

  ============================  =====================================================================
  ``polygon`` (or missing)      the polygon of ``points``
  ``rectangle``                 2 points: the axis-aligned box between two corners; 4 points
                                (X-AnyLabeling): the polygon of the 4 corners
  ``rotation`` and other        4 corners of an oriented box (``rotation`` is X-AnyLabeling's name;
  oriented-box names            ``rotated_rectangle``, ``rotated_box``, ``oriented_box``, ``obb``,
                                ``quadrilateral`` are accepted too)
  ``circle``                    centre = point 0, radius = distance to point 1
  ``line``, ``linestrip``       a band ``line_width`` pixels wide around the segments (labelme: 10)
  ``point``                     a disk of radius ``point_radius`` pixels (labelme: 5)
  ``mask``                      a base64 PNG of the shape's bounding-box patch, placed at point 0
  ============================  =====================================================================

  Extra shape keys (``score``, ``difficult``, ``attributes``, ``kie_linking``, ``visible``,
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
from PIL import Image

from vnseg.core.errors import DataError
from vnseg.data.io import DEFAULT_MAX_PIXELS


PathLike = Union[str, os.PathLike]

#: labelme's defaults for painting lines and points into masks (pixels).
DEFAULT_LINE_WIDTH = 10.0
DEFAULT_POINT_RADIUS = 5.0

POLYGON_TYPES = ('polygon',)
ORIENTED_BOX_TYPES = ('rotation', 'rotated_rectangle', 'rotated_box', 'rotatedrect', 'oriented_box',
                      'obb', 'quadrilateral')
SUPPORTED_SHAPE_TYPES = ('polygon', 'rectangle', 'circle', 'line', 'linestrip', 'point',
                         'mask') + ORIENTED_BOX_TYPES


class AnnotationError(DataError):
    """A malformed or unusable annotation file (the message names the file)."""


class UnknownLabelError(AnnotationError):
    """Labels that the label map does not know (the message names file, shapes and labels)."""

    def __init__(self, path, unknown: List[Tuple[int, str]]):
        self.unknown = list(unknown)
        by_label = {}
        for i, label in self.unknown:
            by_label.setdefault(label, []).append(i)
        parts = []
        for label, idx in list(by_label.items())[:20]:
            shown = ', '.join(str(i) for i in idx[:10]) + (', ...' if len(idx) > 10 else '')
            parts.append(f'label {label!r} (shape{"s" if len(idx) > 1 else ""} {shown})')
        more = f' (+{len(by_label) - 20} more labels)' if len(by_label) > 20 else ''
        super().__init__(path, f'unknown label(s) not in the label map: {"; ".join(parts)}{more}')


class NotAnAnnotationError(AnnotationError):
    """Valid JSON that is not a labelme-style annotation (no ``shapes`` key), e.g. a class list."""


class UnsafePathError(AnnotationError):
    """An ``imagePath`` that resolves outside the allowed source folder."""



@dataclass
class Shape:
    """One annotation shape.

    Attributes:
        index: position in the file's ``shapes`` list (0-based).
        label: the label string as written.
        shape_type: normalised type (lower case; ``polygon`` when missing).
        points: (N, 2) float64 array of (x, y) in image pixels.
        mask: for ``mask`` shapes, the (h, w) bool patch; otherwise None.
        group_id: the file's ``group_id`` (not used for semantic masks).
    """

    index: int
    label: str
    shape_type: str
    points: np.ndarray
    mask: Optional[np.ndarray] = None
    group_id: object = None


@dataclass
class Annotation:
    """A parsed annotation file. Sizes are in pixels; ``image_height``/``image_width`` are the
    values declared in the JSON (None when absent)."""

    path: Path
    shapes: List[Shape]
    image_path: Optional[str]
    image_data: Optional[str]
    image_height: Optional[int]
    image_width: Optional[int]
    version: Optional[str] = None
    flags: dict = field(default_factory=dict)

    @property
    def declared_size(self) -> Optional[Tuple[int, int]]:
        """(H, W) declared in the JSON, or None."""
        if self.image_height is None or self.image_width is None:
            return None
        return self.image_height, self.image_width


def _parse_points(path, i, raw) -> np.ndarray:
    if raw is None:
        return np.zeros((0, 2), np.float64)
    if not isinstance(raw, list):
        raise AnnotationError(path, f'shape {i}: "points" must be a list, got {type(raw).__name__}')
    try:
        pts = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise AnnotationError(path, f'shape {i}: "points" is not a list of [x, y] numbers ({e})') from e
    if pts.size == 0:
        return np.zeros((0, 2), np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise AnnotationError(path, f'shape {i}: "points" must be [[x, y], ...], got shape {pts.shape}')
    if not np.isfinite(pts).all():
        raise AnnotationError(path, f'shape {i}: "points" holds a non-finite coordinate')
    return pts


def _decode_mask_patch(path, i, data) -> np.ndarray:
    try:
        raw = base64.b64decode(data, validate=False)
        with Image.open(io.BytesIO(raw)) as im:
            if im.size[0] * im.size[1] > DEFAULT_MAX_PIXELS:
                raise AnnotationError(path, f'shape {i}: mask patch too large {im.size}')
            arr = np.asarray(im.convert('L'))
    except AnnotationError:
        raise
    except (binascii.Error, ValueError, OSError) as e:
        raise AnnotationError(path, f'shape {i}: "mask" is not a base64 image ({e})') from e
    return arr > 0


def _as_int(path, key, value) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise AnnotationError(path, f'"{key}" must be a positive integer, got {value!r}')
    return int(value)


def parse_annotation(data, path: Optional[PathLike] = None) -> Annotation:
    """Validate a decoded labelme-style JSON object and return an :class:`Annotation`."""
    path = Path(path) if path is not None else Path('<memory>')
    if not isinstance(data, dict):
        raise AnnotationError(path, f'top level must be a JSON object, got {type(data).__name__}')
    if 'shapes' not in data:
        raise NotAnAnnotationError(path, 'no "shapes" key: not a labelme/AnyLabeling annotation')
    raw_shapes = data['shapes'] if data['shapes'] is not None else []
    if not isinstance(raw_shapes, list):
        raise AnnotationError(path, '"shapes" must be a list')
    shapes = []
    for i, s in enumerate(raw_shapes):
        if not isinstance(s, dict):
            raise AnnotationError(path, f'shape {i} must be a JSON object')
        if 'label' not in s or s['label'] is None:
            raise AnnotationError(path, f'shape {i} has no "label"')
        shape_type = str(s.get('shape_type') or 'polygon').strip().lower()
        if shape_type not in SUPPORTED_SHAPE_TYPES:
            raise AnnotationError(path, f'shape {i} (label {s["label"]!r}): unsupported shape_type '
                                        f'{shape_type!r} (supported: {", ".join(SUPPORTED_SHAPE_TYPES)})')
        points = _parse_points(path, i, s.get('points'))
        mask = None
        if shape_type == 'mask':
            if not s.get('mask'):
                raise AnnotationError(path, f'shape {i} (label {s["label"]!r}): mask shape without "mask" data')
            mask = _decode_mask_patch(path, i, s['mask'])
        shapes.append(Shape(index=i, label=str(s['label']), shape_type=shape_type, points=points,
                            mask=mask, group_id=s.get('group_id')))
    image_data = data.get('imageData') or None
    if image_data is not None and not isinstance(image_data, str):
        raise AnnotationError(path, '"imageData" must be a base64 string or null')
    image_path = data.get('imagePath') or None
    if image_path is not None and not isinstance(image_path, str):
        raise AnnotationError(path, '"imagePath" must be a string')
    flags = data.get('flags') if isinstance(data.get('flags'), dict) else {}
    return Annotation(path=path, shapes=shapes, image_path=image_path, image_data=image_data,
                      image_height=_as_int(path, 'imageHeight', data.get('imageHeight')),
                      image_width=_as_int(path, 'imageWidth', data.get('imageWidth')),
                      version=None if data.get('version') is None else str(data.get('version')),
                      flags=flags)


def load_annotation(path: PathLike) -> Annotation:
    """Read and validate one JSON annotation file.

    Raises:
        AnnotationError: unreadable file, malformed JSON (with line/column) or invalid schema.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode('utf-8-sig')
    except FileNotFoundError as e:
        raise AnnotationError(path, 'annotation file not found') from e
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(path, f'cannot read annotation file ({e})') from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, f'malformed JSON at line {e.lineno} column {e.colno}: {e.msg}') from e
    return parse_annotation(data, path)
