"""Shapes -> class-index mask, with a label-QA report (unknown labels, degenerate shapes, vertices
outside the image, overlaps, class pixels).

Pixel convention (``pixel_origin``): the labelling tools draw the image in Qt, where pixel
``(col, row)`` covers ``[col, col+1) x [row, row+1)``; a pixel is painted when its centre
``(col + 0.5, row + 0.5)`` lies inside the shape (``'corner'``, the default). Polygons traced by
contour tools on pixel centres use ``'center'`` (pixel ``(col, row)`` centred on integer
coordinates). Geometry outside the image is clipped by the rasteriser.

Rasterisation uses ``rasterio.features.rasterize`` (GDAL) for all vector shapes in one call
(burn order = list order), interleaved with the raster ``mask`` shapes.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from vnseg.core.classes import CLASSES, IGNORE_INDEX
from vnseg.data.io import DEFAULT_MAX_PIXELS
from vnseg.data.label_map import LabelMap
from vnseg.data.labelme.geometry import shape_geometry
from vnseg.data.labelme.images import annotation_image_size
from vnseg.data.labelme.schema import (DEFAULT_LINE_WIDTH, DEFAULT_POINT_RADIUS, Annotation, AnnotationError,
                                       PathLike, Shape, UnknownLabelError, load_annotation)

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
