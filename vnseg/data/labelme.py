"""labelme / AnyLabeling / X-AnyLabeling JSON -> class-index mask, with a label-QA report.

Schema handled (every variant in ``../shared/data/labelme_json``):

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
  ``description``, ``mask: null``...) are tolerated.

Pixel convention (``pixel_origin``): the labelling tools draw the image in Qt, where pixel
``(col, row)`` covers ``[col, col+1) x [row, row+1)``; a pixel is painted when its centre
``(col + 0.5, row + 0.5)`` lies inside the shape (``'corner'``, the default). Polygons traced by
contour tools on pixel centres use ``'center'`` (pixel ``(col, row)`` centred on integer
coordinates). Geometry outside the image is clipped by the rasteriser.

Rasterisation uses ``rasterio.features.rasterize`` (GDAL) for all vector shapes in one call
(burn order = list order), interleaved with the raster ``mask`` shapes.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import List, Optional, Tuple, Union

import numpy as np
from PIL import Image

from vnseg.classes import CLASSES, IGNORE_INDEX
from vnseg.data.io import (DEFAULT_MAX_PIXELS, DataError, LoadedImage, decode_base64_image,
                           read_image, read_image_size)
from vnseg.data.label_map import LabelMap

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


# ------------------------------------------------------------------------------------------------
# parsing
# ------------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------------
# image resolution
# ------------------------------------------------------------------------------------------------
_WINDOWS_ABS = re.compile(r'^[A-Za-z]:/|^//')


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def resolve_image_path(ann: Annotation, root: Optional[PathLike] = None) -> Path:
    """Resolve ``imagePath`` (relative to the JSON file; backslashes accepted) to a file path.

    An absolute path (POSIX or Windows ``C:\\...``) that does not exist here falls back to the same
    file name next to the JSON. With ``root``, the resolved path (symlinks followed) must stay
    inside ``root``.

    Raises:
        AnnotationError: no ``imagePath``.
        UnsafePathError: the path escapes ``root``.
    """
    if not ann.image_path:
        raise AnnotationError(ann.path, 'no "imagePath" and no "imageData": cannot find the image')
    norm = ann.image_path.replace('\\', '/')
    json_dir = ann.path.parent
    if _WINDOWS_ABS.match(norm) or norm.startswith('/'):
        candidate = Path(norm)
        if _WINDOWS_ABS.match(norm) or not candidate.exists():
            candidate = json_dir / PurePosixPath(norm).name
    else:
        candidate = json_dir / norm
    resolved = candidate.resolve()
    if root is not None:
        root_resolved = Path(root).resolve()
        if not _is_within(resolved, root_resolved):
            raise UnsafePathError(ann.path, f'imagePath {ann.image_path!r} resolves to {resolved}, '
                                            f'outside the source folder {root_resolved}')
    return resolved


def _check_size(ann: Annotation, actual: Tuple[int, int], where: str) -> None:
    declared = ann.declared_size
    if declared is not None and tuple(declared) != tuple(actual):
        raise AnnotationError(ann.path, f'size mismatch: JSON declares imageHeight x imageWidth = '
                                        f'{declared[0]}x{declared[1]} but the {where} is {actual[0]}x{actual[1]}')


def annotation_image_size(ann: Annotation, root: Optional[PathLike] = None,
                          max_pixels: int = DEFAULT_MAX_PIXELS, require_image: bool = True) -> Tuple[int, int]:
    """(H, W) of the annotated image, read from image headers only.

    Uses ``imageData`` when present, else the file at ``imagePath``; checks it against the declared
    size. With ``require_image=False`` a missing image falls back to the declared size.
    """
    if ann.image_data:
        size = decode_base64_image(ann.image_data, path=f'{ann.path} [imageData]',
                                   max_pixels=max_pixels, header_only=True)
        _check_size(ann, size, 'embedded imageData')
        return size
    try:
        image_path = resolve_image_path(ann, root)
        size = read_image_size(image_path, max_pixels)
    except UnsafePathError:
        raise
    except DataError as e:
        if not require_image and ann.declared_size is not None:
            return ann.declared_size
        raise AnnotationError(ann.path, f'image for imagePath {ann.image_path!r}: {e}') from e
    _check_size(ann, size, f'image {image_path.name}')
    return size


def load_annotation_image(ann: Annotation, root: Optional[PathLike] = None,
                          max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode the annotated image as 8-bit RGB (``imageData`` first, else ``imagePath``).

    Raises :class:`AnnotationError` naming the JSON for a missing/unreadable image, an unsafe path,
    or a size that differs from ``imageHeight``/``imageWidth``.
    """
    if ann.image_data:
        image = decode_base64_image(ann.image_data, path=f'{ann.path} [imageData]', max_pixels=max_pixels)
        _check_size(ann, image.shape, 'embedded imageData')
        return image
    image_path = resolve_image_path(ann, root)
    try:
        image = read_image(image_path, max_pixels)
    except DataError as e:
        raise AnnotationError(ann.path, f'image for imagePath {ann.image_path!r}: {e}') from e
    _check_size(ann, image.shape, f'image {image_path.name}')
    return image


# ------------------------------------------------------------------------------------------------
# geometry
# ------------------------------------------------------------------------------------------------
def _ring(points: np.ndarray) -> dict:
    # rasterio reads the coordinates straight from the (N + 1, 2) array
    return {'type': 'Polygon', 'coordinates': [np.concatenate([points, points[:1]])]}


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    cross = float(np.dot(x[:-1], y[1:]) - np.dot(y[:-1], x[1:])) + float(x[-1] * y[0] - y[-1] * x[0])
    return 0.5 * abs(cross)


def _disk(cx: float, cy: float, r: float) -> dict:
    # inscribed polygon (vertices on the circle) whose chords sag at most 0.01 px inside it
    n = max(16, int(math.ceil(math.pi / math.acos(1.0 - 0.01 / r)))) if r > 0.01 else 16
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    return _ring(np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1))


def _band(points: np.ndarray, width: float) -> Optional[dict]:
    from shapely.geometry import LineString, mapping
    geom = LineString(points).buffer(width / 2.0, cap_style='flat', join_style='round')
    return None if geom.is_empty else mapping(geom)


def shape_geometry(shape: Shape, line_width: float = DEFAULT_LINE_WIDTH,
                   point_radius: float = DEFAULT_POINT_RADIUS) -> Tuple[Optional[dict], Optional[str]]:
    """GeoJSON-like geometry of a vector shape in image pixel coordinates.

    Returns ``(geometry, None)``, or ``(None, reason)`` for a degenerate shape that paints nothing.
    ``mask`` shapes are raster and return ``(None, None)``.
    """
    t, p = shape.shape_type, shape.points
    n = len(p)
    if t == 'mask':
        return None, None
    if t in POLYGON_TYPES or t in ORIENTED_BOX_TYPES or (t == 'rectangle' and n == 4):
        if t in ORIENTED_BOX_TYPES and n != 4:
            return None, f'{t} needs 4 corner points, got {n}'
        if n < 3:
            return None, f'{t} with {n} point(s)'
        if _polygon_area(p) <= 0.0:
            return None, f'{t} with zero area'
        return _ring(p), None
    if t == 'rectangle':
        if n != 2:
            return None, f'rectangle needs 2 or 4 points, got {n}'
        (x1, y1), (x2, y2) = p.min(axis=0), p.max(axis=0)
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            return None, 'rectangle with zero width or height'
        return _ring(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])), None
    if t == 'circle':
        if n != 2:
            return None, f'circle needs 2 points (centre, rim), got {n}'
        r = float(np.hypot(*(p[1] - p[0])))
        if r <= 0:
            return None, 'circle with zero radius'
        return _disk(p[0, 0], p[0, 1], r), None
    if t in ('line', 'linestrip'):
        if n < 2:
            return None, f'{t} with {n} point(s)'
        if line_width <= 0:
            return None, f'{t} with line_width {line_width}'
        if np.all(np.abs(np.diff(p, axis=0)).sum(axis=1) == 0):
            return None, f'{t} with zero length'
        return _band(p, line_width), None
    if t == 'point':
        if n < 1:
            return None, 'point without coordinates'
        if point_radius <= 0:
            return None, f'point with point_radius {point_radius}'
        return _disk(p[0, 0], p[0, 1], point_radius), None
    raise AssertionError(t)  # pragma: no cover - parse_annotation rejects other types


# ------------------------------------------------------------------------------------------------
# rasterisation and QA
# ------------------------------------------------------------------------------------------------
def class_name(index: int) -> str:
    """Name of a class index for reports: vnseg class name, ``'ignore'`` or the number."""
    if index == IGNORE_INDEX:
        return 'ignore'
    return CLASSES[index] if 0 <= index < len(CLASSES) else str(index)


def class_pixel_counts(mask: np.ndarray) -> dict:
    """{class name: pixel count} for the values present in a uint8 mask (ignore as ``'ignore'``)."""
    counts = np.bincount(mask.ravel(), minlength=256)
    return {class_name(i): int(c) for i, c in enumerate(counts) if c}


@dataclass
class AnnotationReport:
    """Label-QA findings for one annotation file (pixel units)."""

    file: str
    image_size: Tuple[int, int]
    num_shapes: int = 0
    shape_types: dict = field(default_factory=dict)
    unknown_labels: list = field(default_factory=list)      # [{shape, label}]
    degenerate_shapes: list = field(default_factory=list)   # [{shape, label, shape_type, reason}]
    out_of_image_vertices: list = field(default_factory=list)  # [{shape, label, count}]
    overlap_pixels: int = 0        # pixels covered by 2+ shapes
    overlaps: list = field(default_factory=list)            # [{shapes, labels, classes}] (first 50)
    class_pixels: dict = field(default_factory=dict)       # {class name: pixels} of the final mask
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            'file': self.file, 'image_size': list(self.image_size), 'num_shapes': self.num_shapes,
            'shape_types': dict(self.shape_types), 'unknown_labels': list(self.unknown_labels),
            'degenerate_shapes': list(self.degenerate_shapes),
            'out_of_image_vertices': list(self.out_of_image_vertices),
            'overlap_pixels': int(self.overlap_pixels), 'overlaps': list(self.overlaps),
            'class_pixels': dict(self.class_pixels), 'warnings': list(self.warnings),
        }


def _transform(pixel_origin: str):
    from rasterio.transform import Affine
    if pixel_origin == 'corner':
        return Affine.identity()
    if pixel_origin == 'center':
        return Affine.translation(-0.5, -0.5)
    raise ValueError(f"pixel_origin must be 'corner' or 'center', got {pixel_origin!r}")


def _paint_mask_patch(out: np.ndarray, shape: Shape, value: int, pixel_origin: str, report=None) -> bool:
    """Paint a raster ``mask`` shape; returns False when it lies entirely outside the image."""
    h, w = out.shape
    if len(shape.points) == 0:
        x0 = y0 = 0
    else:
        offset = 0.0 if pixel_origin == 'corner' else 0.5
        x0, y0 = (int(math.floor(c + offset)) for c in shape.points.min(axis=0))
    patch = shape.mask
    if report is not None and len(shape.points) >= 2:
        bw, bh = np.floor(shape.points.max(axis=0)).astype(int) - np.floor(shape.points.min(axis=0)).astype(int) + 1
        if (bh, bw) != patch.shape:
            report.warnings.append(f'shape {shape.index}: mask patch {patch.shape[1]}x{patch.shape[0]} differs '
                                   f'from its bounding box {bw}x{bh}; the patch size is used')
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(h, y0 + patch.shape[0]), min(w, x0 + patch.shape[1])
    if ye <= ys or xe <= xs:
        return False
    sub = patch[ys - y0:ye - y0, xs - x0:xe - x0]
    out[ys:ye, xs:xe][sub] = value
    return True


def _burn(out: np.ndarray, items, transform, merge_alg=None) -> None:
    if not items:
        return
    from rasterio import features
    kwargs = {} if merge_alg is None else {'merge_alg': merge_alg}
    features.rasterize(items, out=out, transform=transform, **kwargs)


def rasterize_shapes(shapes, values, size: Tuple[int, int], *, line_width: float = DEFAULT_LINE_WIDTH,
                     point_radius: float = DEFAULT_POINT_RADIUS, pixel_origin: str = 'corner',
                     fill: int = 0, report: Optional[AnnotationReport] = None,
                     coverage: bool = False):
    """Paint shapes into a new (H, W) uint8 mask in list order (later shapes win).

    Args:
        shapes: :class:`Shape` objects.
        values: class index per shape (same length).
        size: (H, W) in pixels.
        report: when given, degenerate shapes and mask-patch notes are appended to it.
        coverage: also return an (H, W) uint16 array counting the shapes covering each pixel.

    Returns:
        mask, or (mask, coverage) when ``coverage``.
    """
    from rasterio.enums import MergeAlg
    h, w = size
    out = np.full((h, w), fill, dtype=np.uint8)
    cover = np.zeros((h, w), dtype=np.uint16) if coverage else None
    transform = _transform(pixel_origin)
    pending, pending_cov = [], []
    for shape, value in zip(shapes, values):
        if shape.shape_type == 'mask':
            _burn(out, pending, transform)
            if cover is not None:
                _burn(cover, pending_cov, transform, MergeAlg.add)
            pending, pending_cov = [], []
            inside = _paint_mask_patch(out, shape, value, pixel_origin, report)
            if cover is not None and inside:
                tmp = np.zeros((h, w), np.uint8)
                _paint_mask_patch(tmp, shape, 1, pixel_origin)
                cover += tmp
            if not inside and report is not None:
                report.degenerate_shapes.append({'shape': shape.index, 'label': shape.label,
                                                 'shape_type': 'mask', 'reason': 'mask patch outside the image'})
            continue
        geom, reason = shape_geometry(shape, line_width, point_radius)
        if geom is None:
            if report is not None:
                report.degenerate_shapes.append({'shape': shape.index, 'label': shape.label,
                                                 'shape_type': shape.shape_type, 'reason': reason})
            continue
        pending.append((geom, int(value)))
        if cover is not None:
            pending_cov.append((geom, 1))
    _burn(out, pending, transform)
    if cover is not None:
        _burn(cover, pending_cov, transform, MergeAlg.add)
        return out, cover
    return out


def _overlapping_pairs(shapes, values, line_width, point_radius, limit=50) -> list:
    """Pairs of shapes whose areas intersect (shapely STRtree), first ``limit`` in file order."""
    from shapely import STRtree, make_valid
    from shapely.geometry import box, shape as to_shape
    geoms, owners = [], []
    for s, v in zip(shapes, values):
        if s.shape_type == 'mask':
            if len(s.points) == 0:
                continue
            x0, y0 = s.points.min(axis=0)
            g = box(x0, y0, x0 + s.mask.shape[1], y0 + s.mask.shape[0])
        else:
            gj, _ = shape_geometry(s, line_width, point_radius)
            if gj is None:
                continue
            g = to_shape(gj)
            if not g.is_valid:
                g = make_valid(g)
        geoms.append(g)
        owners.append((s, v))
    if len(geoms) < 2:
        return []
    tree = STRtree(geoms)
    left, right = tree.query(geoms, predicate='intersects')
    pairs = sorted({(int(a), int(b)) for a, b in zip(left, right) if a < b})
    found = []
    for a, b in pairs:
        inter = geoms[a].intersection(geoms[b])
        if inter.area <= 0:
            continue
        (sa, va), (sb, vb) = owners[a], owners[b]
        found.append({'shapes': [sa.index, sb.index], 'labels': [sa.label, sb.label],
                      'classes': [class_name(va), class_name(vb)], 'area_px': round(float(inter.area), 2)})
        if len(found) >= limit:
            break
    return found


def rasterize_annotation(ann: Annotation, label_map: Optional[LabelMap] = None,
                         size: Optional[Tuple[int, int]] = None, *, on_unknown: str = 'error',
                         line_width: float = DEFAULT_LINE_WIDTH, point_radius: float = DEFAULT_POINT_RADIUS,
                         pixel_origin: str = 'corner', qa: bool = True):
    """Class-index mask of an annotation, plus its QA report.

    Args:
        ann: parsed annotation.
        label_map: label -> class index (default :meth:`LabelMap.default`).
        size: (H, W) of the canvas; defaults to the declared ``imageHeight``/``imageWidth``.
        on_unknown: ``'error'`` raises :class:`UnknownLabelError` listing every unknown label;
            ``'ignore'`` paints them as 255 and lists them in the report.
        line_width, point_radius: painting sizes for lines/linestrips and points (pixels).
        pixel_origin: ``'corner'`` (labelling tools) or ``'center'`` (see module docstring).
        qa: compute the overlap part of the report (one extra rasterisation + shapely pairs).

    Returns:
        (mask, report): (H, W) uint8 array of class indices (0 where nothing is drawn),
        :class:`AnnotationReport`.
    """
    label_map = label_map or LabelMap.default()
    if on_unknown not in ('error', 'ignore'):
        raise ValueError(f"on_unknown must be 'error' or 'ignore', got {on_unknown!r}")
    if size is None:
        size = ann.declared_size
        if size is None:
            raise AnnotationError(ann.path, 'no imageHeight/imageWidth and no image size given')
    h, w = int(size[0]), int(size[1])
    report = AnnotationReport(file=str(ann.path), image_size=(h, w), num_shapes=len(ann.shapes),
                              shape_types=dict(Counter(s.shape_type for s in ann.shapes)))
    values, unknown = [], []
    for s in ann.shapes:
        v = label_map.lookup(s.label)
        if v is None:
            unknown.append((s.index, s.label))
            v = IGNORE_INDEX
        values.append(v)
    report.unknown_labels = [{'shape': i, 'label': label} for i, label in unknown]
    if unknown and on_unknown == 'error':
        raise UnknownLabelError(ann.path, unknown)
    lo, hi = (0.0, 0.0) if pixel_origin == 'corner' else (-0.5, -0.5)
    for s in ann.shapes:
        if len(s.points) == 0:
            continue
        x, y = s.points[:, 0], s.points[:, 1]
        outside = int(((x < lo) | (y < lo) | (x > w + hi) | (y > h + hi)).sum())
        if outside:
            report.out_of_image_vertices.append({'shape': s.index, 'label': s.label, 'count': outside})
    result = rasterize_shapes(ann.shapes, values, (h, w), line_width=line_width, point_radius=point_radius,
                              pixel_origin=pixel_origin, report=report, coverage=qa)
    if qa:
        mask, cover = result
        report.overlap_pixels = int((cover > 1).sum())
        if report.overlap_pixels:
            report.overlaps = _overlapping_pairs(ann.shapes, values, line_width, point_radius)
    else:
        mask = result
    report.class_pixels = class_pixel_counts(mask)
    return mask, report


def json_to_mask(json_path: PathLike, label_map: Optional[LabelMap] = None, *,
                 root: Optional[PathLike] = None, require_image: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS, **kwargs):
    """Read a JSON file and return ``(mask, report)``; the canvas size comes from the image.

    Args:
        json_path: annotation file.
        label_map: see :func:`rasterize_annotation`.
        root: folder that ``imagePath`` must stay inside (None: no restriction).
        require_image: when False and the image is missing, use the declared size.
        **kwargs: passed to :func:`rasterize_annotation` (``on_unknown``, ``line_width``,
            ``point_radius``, ``pixel_origin``, ``qa``).
    """
    ann = load_annotation(json_path)
    size = annotation_image_size(ann, root=root, max_pixels=max_pixels, require_image=require_image)
    return rasterize_annotation(ann, label_map, size, **kwargs)
