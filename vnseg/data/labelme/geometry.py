"""Geometry of vector shapes in image pixel coordinates (GeoJSON-like dicts for the rasteriser).

Polygons and 4-point rectangles/oriented boxes are rings; 2-point rectangles are axis-aligned boxes;
circles and points are inscribed polygons whose chords sag at most 0.01 px; lines and linestrips are
bands ``line_width`` pixels wide (shapely buffer, flat caps, round joins).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from vnseg.data.labelme.schema import (DEFAULT_LINE_WIDTH, DEFAULT_POINT_RADIUS, ORIENTED_BOX_TYPES,
                                       POLYGON_TYPES, Shape)

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
