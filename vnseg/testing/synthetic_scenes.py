"""Synthetic drone-like scenes of rural Vietnam, written as image + AnyLabeling JSON polygons.

The generator feeds the demo (``demo/run_demo.py``: generate -> prepare -> train -> test -> infer),
``demo/generate_scenes.py``, the tests and the benchmarks, which import it as
``vnseg.testing.synthetic_scenes``. A scene
is built from vector objects (shapely), written as AnyLabeling polygons, and the image is then
*rendered from the mask that vnseg's own converter makes of those polygons*, so image and labels
agree pixel for pixel.

Content (sizes in pixels, roughly a 10-20 cm ground sampling distance):

* background (0, not annotated): rice paddies in rotated plots (green with planting rows, flooded
  blue-grey, yellow, bare soil), bunds between plots, dirt tracks, low-frequency illumination.
* water (2): a meandering river of varying width and a few ponds; colour per scene from clear blue
  to muddy brown-green, with ripples and darker banks.
* road (1): a main road across the scene plus branches meeting it (T and X junctions); asphalt or
  concrete with dashed centre lines; roads cross rivers (bridges).
* tree (3): clusters of crowns (union of disks) with per-crown shading and cast shadows.
* building (4): rotated rectangles, mostly along roads, with terracotta / metal / concrete / white
  roofs, a gable ridge (two-tone halves) and cast shadows on the ground.

Cues are learnable (colour and texture per class) but not trivial: flooded paddies resemble water,
concrete roofs resemble roads, shadows darken every class, and sensor noise is added.

Everything is deterministic for a seed: scene ``i`` uses ``default_rng([seed, i])``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import cv2
import numpy as np

from vnseg.core.atomic import atomic_write_text
from vnseg.core.classes import CLASSES
from vnseg.data.io import write_mask_png, write_rgb_png
from vnseg.data.labelme import Shape, rasterize_shapes

PathLike = Union[str, os.PathLike]
BACKGROUND, ROAD, WATER, TREE, BUILDING = range(5)
GENERATOR_VERSION = 'vnseg-synthetic-1'


# ------------------------------------------------------------------------------------------------
# noise and textures
# ------------------------------------------------------------------------------------------------
def smooth_noise(rng: np.random.Generator, shape: Tuple[int, int], cell: float, octaves: int = 3) -> np.ndarray:
    """Fractal value noise in about [-1, 1], (H, W) float32; ``cell`` is the coarsest feature size (px)."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(math.ceil(h / cell)) + 2), max(2, int(math.ceil(w / cell)) + 2)
        grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
        up = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
        oy, ox = rng.integers(0, max(1, up.shape[0] - h)), rng.integers(0, max(1, up.shape[1] - w))
        out += amp * up[oy:oy + h, ox:ox + w]
        total += amp
        amp *= 0.5
        cell = max(2.0, cell / 2.5)
    return out / total


def _rasterize_polys(polys, shape, values=None, dtype=np.uint8) -> np.ndarray:
    """Burn shapely polygons into a new (H, W) array (value 1 or ``values[i]``), pixel-corner convention."""
    from rasterio import features
    from shapely.geometry import mapping
    items = [(mapping(p), 1 if values is None else int(v))
             for p, v in zip(polys, values if values is not None else [1] * len(polys)) if not p.is_empty]
    out = np.zeros(shape, dtype)
    if items:
        features.rasterize(items, out=out)
    return out


# ------------------------------------------------------------------------------------------------
# vector layout
# ------------------------------------------------------------------------------------------------
def _chaikin(points: np.ndarray, iterations: int = 2) -> np.ndarray:
    for _ in range(iterations):
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.concatenate([points[:1], np.stack([q, r], 1).reshape(-1, 2), points[-1:]])
    return points


def _edge_point(rng, h, w, side: int) -> np.ndarray:
    # side 0 top, 1 right, 2 bottom, 3 left; a bit outside the scene so lines cross the border
    t = rng.uniform(0.1, 0.9)
    m = 30.0
    return np.array([[t * w, -m], [w + m, t * h], [t * w, h + m], [-m, t * h]][side])


def _wiggly_line(rng, a: np.ndarray, b: np.ndarray, amplitude: float, n: int = 8) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    pts = a + (b - a) * t
    normal = np.array([-(b - a)[1], (b - a)[0]]) / (np.linalg.norm(b - a) + 1e-9)
    offs = rng.normal(0, amplitude, n)
    offs[0] = offs[-1] = 0
    return _chaikin(pts + offs[:, None] * normal)


def _blob(rng, cx, cy, rx, ry, angle, roughness=0.25, n=40):
    from shapely.geometry import Polygon
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.arange(1, 5)
    phases = rng.uniform(0, 2 * np.pi, 4)
    amps = rng.uniform(0, roughness, 4) / k
    r = 1 + (amps[None] * np.sin(k[None] * t[:, None] + phases[None])).sum(1)
    x, y = rx * r * np.cos(t), ry * r * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return Polygon(np.stack([cx + ca * x - sa * y, cy + sa * x + ca * y], 1)).buffer(0)


def _layout(rng, h, w):
    """Vector objects of one scene: dict of lists of shapely geometries (+ per-object attributes)."""
    from shapely.affinity import rotate
    from shapely.geometry import LineString, Point, box
    from shapely.ops import unary_union
    scene = box(0, 0, w, h)
    area_scale = (h * w) / (768.0 * 768.0)
    layout = {'water': [], 'roads': [], 'road_lines': [], 'trees': [], 'crowns': [], 'buildings': []}

    # water: river + ponds
    occupied = []
    if rng.random() < 0.75:
        s = int(rng.integers(0, 4))
        a, b = _edge_point(rng, h, w, s), _edge_point(rng, h, w, (s + 2) % 4)
        center = _wiggly_line(rng, a, b, amplitude=0.12 * min(h, w), n=7)
        line = LineString(center)
        base = rng.uniform(30, 80)
        pieces = []
        dists = np.linspace(0, line.length, 24)
        widths = base * (1 + 0.3 * np.sin(dists / line.length * rng.uniform(3, 9) + rng.uniform(0, 6)))
        for d0, d1, wd in zip(dists[:-1], dists[1:], widths):
            seg = LineString([line.interpolate(d0).coords[0], line.interpolate(d1).coords[0]])
            pieces.append(seg.buffer(wd / 2, cap_style='round'))
        river = unary_union(pieces).simplify(0.8).intersection(scene)
        if not river.is_empty:
            layout['water'].append(river)
            occupied.append(river.buffer(6))
    for _ in range(int(rng.integers(0, 3) + round(rng.random() * area_scale))):
        r = min(rng.uniform(14, 55), 0.4 * min(h, w))
        c = rng.uniform([r, r], [w - r, h - r])
        pond = _blob(rng, c[0], c[1], r * rng.uniform(0.8, 1.4), r * rng.uniform(0.6, 1.0), rng.uniform(0, np.pi))
        if occupied and unary_union(occupied).intersects(pond):
            continue
        layout['water'].append(pond.intersection(scene))
        occupied.append(pond.buffer(5))

    # roads: a main road and 1-2 branches meeting it
    s = int(rng.integers(0, 4))
    main = LineString(_wiggly_line(rng, _edge_point(rng, h, w, s), _edge_point(rng, h, w, (s + 2) % 4),
                                   amplitude=0.04 * min(h, w), n=5))
    lines = [(main, rng.uniform(14, 24))]
    for _ in range(int(rng.integers(1, 3))):
        start = np.array(main.interpolate(rng.uniform(0.2, 0.8), normalized=True).coords[0])
        end = _edge_point(rng, h, w, int(rng.integers(0, 4)))
        if np.linalg.norm(end - start) < 0.3 * min(h, w):
            continue
        if rng.random() < 0.4:  # cross the main road (X junction)
            start = start - (end - start) * rng.uniform(0.3, 0.8)
        branch = LineString(_wiggly_line(rng, start, end, amplitude=0.03 * min(h, w), n=5))
        lines.append((branch, rng.uniform(9, 16)))
    for line, width in lines:
        road = line.buffer(width / 2, cap_style='flat', join_style='round').intersection(scene)
        if not road.is_empty:
            layout['roads'].append(road)
            layout['road_lines'].append((line, width))
    road_union = unary_union(layout['roads']) if layout['roads'] else Point(-1e6, -1e6)
    water_union = unary_union(layout['water']) if layout['water'] else Point(-1e6, -1e6)
    blocked = unary_union([road_union.buffer(4), water_union.buffer(3)])

    # buildings: rectangles along roads (aligned) and a few scattered
    buildings = []
    n_build = int(rng.integers(14, 32) * area_scale + 3)
    for _ in range(n_build * 4):
        if len(buildings) >= n_build:
            break
        bw, bl = rng.uniform(12, 30), rng.uniform(16, 48)
        if rng.random() < 0.8 and layout['road_lines']:
            line, width = layout['road_lines'][int(rng.integers(len(layout['road_lines'])))]
            d = rng.uniform(0, line.length)
            p = np.array(line.interpolate(d).coords[0])
            q = np.array(line.interpolate(min(line.length, d + 1.0)).coords[0])
            tangent = (q - p) / (np.linalg.norm(q - p) + 1e-9)
            normal = np.array([-tangent[1], tangent[0]]) * rng.choice([-1, 1])
            c = p + normal * (width / 2 + rng.uniform(4, 12) + bw / 2)
            angle = math.degrees(math.atan2(tangent[1], tangent[0])) + rng.normal(0, 3)
        else:
            c = rng.uniform([0, 0], [w, h])
            angle = rng.uniform(0, 180)
        rect = rotate(box(c[0] - bl / 2, c[1] - bw / 2, c[0] + bl / 2, c[1] + bw / 2), angle, origin=(c[0], c[1]))
        if not scene.contains(rect) or rect.intersects(blocked):
            continue
        if any(rect.buffer(3).intersects(o) for o, _ in buildings):
            continue
        buildings.append((rect, angle))
    layout['buildings'] = buildings
    build_union = unary_union([b for b, _ in buildings]) if buildings else Point(-1e6, -1e6)

    # tree clusters: unions of crowns, kept off roads, water and buildings
    n_clusters = int(rng.integers(4, 9) * area_scale + 1)
    free = blocked.union(build_union.buffer(4))
    centers = [rng.uniform([0, 0], [w, h]) for _ in range(n_clusters)]
    spreads = [rng.uniform(18, 50) for _ in range(n_clusters)]
    counts = [int(rng.integers(15, 50)) for _ in range(n_clusters)]
    if layout['road_lines'] and rng.random() < 0.6:  # a tree row along a road
        line, width = layout['road_lines'][int(rng.integers(len(layout['road_lines'])))]
        d0 = rng.uniform(0, 0.5) * line.length
        for d in np.arange(d0, min(line.length, d0 + rng.uniform(0.2, 0.5) * line.length), 14.0):
            p = np.array(line.interpolate(d).coords[0])
            q = np.array(line.interpolate(min(line.length, d + 1.0)).coords[0])
            t = (q - p) / (np.linalg.norm(q - p) + 1e-9)
            centers.append(p + np.array([-t[1], t[0]]) * (width / 2 + 12))
            spreads.append(2.0)
            counts.append(1)
    for c, spread, count in zip(centers, spreads, counts):
        crowns = []
        for _ in range(count):
            p = c + rng.normal(0, spread, 2)
            r = rng.uniform(6, 15)
            disk = Point(p).buffer(r, quad_segs=6)
            if disk.intersects(free):
                continue
            crowns.append((p, r, disk))
        if not crowns:
            continue
        cluster = unary_union([d for _, _, d in crowns]).simplify(0.7).intersection(scene)
        if cluster.is_empty:
            continue
        layout['trees'].append(cluster)
        layout['crowns'].extend((p, r) for p, r, _ in crowns)
    return layout


def _polygons(geom) -> list:
    """Exterior rings of a (multi)polygon geometry as (N, 2) arrays, dropping slivers."""
    from shapely.geometry import MultiPolygon, Polygon
    if isinstance(geom, Polygon):
        parts = [geom]
    elif isinstance(geom, MultiPolygon):
        parts = list(geom.geoms)
    else:  # GeometryCollection from an intersection
        parts = [g for g in getattr(geom, 'geoms', []) if isinstance(g, Polygon)]
    rings = []
    for p in parts:
        if p.area < 4.0:
            continue
        coords = np.round(np.asarray(p.exterior.coords)[:-1], 2)
        if len(coords) >= 3:
            rings.append(coords)
    return rings


def layout_shapes(layout) -> List[dict]:
    """AnyLabeling shape dicts in paint order: water, trees, roads, buildings."""
    shapes = []

    def add(label, geom):
        for ring in _polygons(geom):
            shapes.append({'label': label, 'text': '', 'points': ring.tolist(), 'group_id': None,
                           'shape_type': 'polygon', 'flags': {}})
    for g in layout['water']:
        add(CLASSES[WATER], g)
    for g in layout['trees']:
        add(CLASSES[TREE], g)
    for g in layout['roads']:
        add(CLASSES[ROAD], g)
    for g, _ in layout['buildings']:
        add(CLASSES[BUILDING], g)
    return shapes


# ------------------------------------------------------------------------------------------------
# rendering
# ------------------------------------------------------------------------------------------------
def _render_background(rng, h, w) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    cw, ch = rng.uniform(70, 150), rng.uniform(45, 100)
    cu, cv_ = np.floor(u / cw), np.floor(v / ch)
    cell = ((cu * 73856093) .astype(np.int64) ^ (cv_ * 19349663).astype(np.int64)) % 1009
    palettes = np.array([
        [100, 140, 70],   # rice, green
        [122, 152, 80],   # rice, light green
        [150, 155, 95],   # ripening rice, yellow-green
        [100, 120, 112],  # flooded paddy, blue-grey
        [160, 140, 108],  # bare soil
        [172, 165, 125],  # dry grass / stubble
    ], np.float32)
    weights = np.array([0.28, 0.2, 0.14, 0.12, 0.14, 0.12])
    lut_type = rng.choice(len(palettes), size=1009, p=weights)
    lut_tone = rng.normal(0, 6, (1009, 3)).astype(np.float32)
    img = palettes[lut_type[cell]] + lut_tone[cell]
    # planting rows inside green plots, bunds on plot borders
    rows = 0.5 + 0.5 * np.sin(v * 2 * np.pi / rng.uniform(4, 7))
    green = np.isin(lut_type[cell], [0, 1, 2])
    img -= (green * rows * 12)[..., None]
    fu, fv = (u / cw) % 1.0, (v / ch) % 1.0
    bund = (np.minimum(fu, 1 - fu) * cw < 1.6) | (np.minimum(fv, 1 - fv) * ch < 1.6)
    img[bund] = img[bund] * 0.55 + np.array([175, 165, 120], np.float32) * 0.45
    img += smooth_noise(rng, (h, w), 40)[..., None] * 14
    img += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    # a few dirt tracks (background, not road)
    track = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 3))):
        s = int(rng.integers(0, 4))
        pts = _wiggly_line(rng, _edge_point(rng, h, w, s), _edge_point(rng, h, w, (s + 1) % 4), 0.05 * min(h, w), 5)
        cv2.polylines(track, [np.round(pts).astype(np.int32)], False, 1, thickness=int(rng.integers(3, 6)))
    img[track > 0] = img[track > 0] * 0.3 + np.array([170, 145, 105], np.float32) * 0.7
    return img


def _render_water(rng, h, w) -> np.ndarray:
    base = np.array([[60, 95, 130], [85, 110, 95], [115, 105, 80], [50, 85, 95]], np.float32)[rng.integers(0, 4)]
    base = base + rng.normal(0, 6, 3).astype(np.float32)
    img = np.broadcast_to(base, (h, w, 3)).astype(np.float32).copy()
    img += smooth_noise(rng, (h, w), 60, 2)[..., None] * 10
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    phase = (xx * math.cos(a) + yy * math.sin(a)) / rng.uniform(2.0, 3.5)
    ripple = np.sin(phase + smooth_noise(rng, (h, w), 20, 2) * 4)
    img += ripple[..., None] * 3.5 + np.array([4, 5, 6], np.float32) * (ripple[..., None] > 0.9)
    return img


def _render_road(rng, h, w, layout) -> np.ndarray:
    if rng.random() < 0.65:
        base = np.array([95, 95, 100], np.float32) + rng.normal(0, 6)   # asphalt
    else:
        base = np.array([175, 172, 165], np.float32) + rng.normal(0, 6)  # concrete
    img = np.broadcast_to(base, (h, w, 3)).astype(np.float32).copy()
    img += smooth_noise(rng, (h, w), 25, 3)[..., None] * 8 + rng.normal(0, 5, (h, w, 1)).astype(np.float32)
    marks = np.zeros((h, w), np.uint8)
    for line, width in layout['road_lines']:
        if width < 13:
            continue
        d = 0.0
        while d < line.length:
            a = np.array(line.interpolate(d).coords[0])
            b = np.array(line.interpolate(min(d + 8, line.length)).coords[0])
            cv2.line(marks, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 1, 1)
            d += 20
    color = np.array([235, 230, 210], np.float32) if rng.random() < 0.7 else np.array([225, 190, 60], np.float32)
    img[marks > 0] = img[marks > 0] * 0.25 + color * 0.75
    return img


def _render_trees(rng, h, w, crowns) -> np.ndarray:
    base = np.array([38, 78, 36], np.float32) + rng.normal(0, 4, 3).astype(np.float32)
    img = np.broadcast_to(base * 0.8, (h, w, 3)).astype(np.float32).copy()
    light = np.zeros((h, w), np.float32)
    for (x, y), r in crowns:
        x0, x1 = int(max(0, x - r - 1)), int(min(w, x + r + 2))
        y0, y1 = int(max(0, y - r - 1)), int(min(h, y + r + 2))
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        d = np.hypot(xx + 0.5 - x + 0.3 * r, yy + 0.5 - y + 0.3 * r) / r  # lit from the top-left
        inside = np.hypot(xx + 0.5 - x, yy + 0.5 - y) <= r
        val = np.clip(1.0 - d, 0, 1) * inside
        light[y0:y1, x0:x1] = np.maximum(light[y0:y1, x0:x1], val)
    img += (light * 45)[..., None] * np.array([0.7, 1.0, 0.6], np.float32)
    img += smooth_noise(rng, (h, w), 6, 2)[..., None] * 14
    img *= (1 + rng.normal(0, 0.06, (h, w, 1))).astype(np.float32)
    return img


ROOF_COLORS = np.array([
    [178, 82, 52],    # terracotta
    [196, 110, 70],   # light terracotta
    [70, 110, 160],   # blue metal
    [150, 150, 150],  # concrete / grey metal (close to concrete roads)
    [222, 220, 210],  # white / light
    [110, 75, 70],    # dark tiles
], np.float32)


def _render_buildings(rng, h, w, buildings) -> Tuple[np.ndarray, np.ndarray]:
    """Roof image (H, W, 3) and the building instance map (H, W) int32 (0 = none)."""
    from shapely.geometry import mapping
    from rasterio import features
    inst = np.zeros((h, w), np.int32)
    if buildings:
        features.rasterize([(mapping(g), i + 1) for i, (g, _) in enumerate(buildings)], out=inst)
    colors = ROOF_COLORS[rng.choice(len(ROOF_COLORS), size=len(buildings) + 1,
                                    p=[0.3, 0.15, 0.15, 0.2, 0.1, 0.1])]
    colors = colors + rng.normal(0, 8, colors.shape).astype(np.float32)
    img = colors[inst].astype(np.float32)
    # gable: the half of each roof on one side of its long axis is darker
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    side = np.zeros((h, w), np.float32)
    for i, (g, angle) in enumerate(buildings, start=1):
        c = g.centroid
        a = math.radians(angle)
        sel = inst == i
        n = -(xx[sel] + 0.5 - c.x) * math.sin(a) + (yy[sel] + 0.5 - c.y) * math.cos(a)
        side[sel] = np.where(n > 0, 0.78, 1.0)
    img *= side[..., None]
    # darker roof edges
    edge = cv2.morphologyEx((inst > 0).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    img[(edge > 0) & (inst > 0)] *= 0.75
    img += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return img, inst


def render_scene(rng: np.random.Generator, mask: np.ndarray, layout) -> np.ndarray:
    """(H, W, 3) uint8 image for a class mask and its layout."""
    from shapely.affinity import translate
    h, w = mask.shape
    img = _render_background(rng, h, w)
    layers = {
        WATER: _render_water(rng, h, w),
        TREE: _render_trees(rng, h, w, layout['crowns']),
        ROAD: _render_road(rng, h, w, layout),
    }
    roofs, _ = _render_buildings(rng, h, w, layout['buildings'])
    layers[BUILDING] = roofs
    for cls, layer in layers.items():
        sel = mask == cls
        img[sel] = layer[sel]
    # water banks slightly darker
    water = (mask == WATER).astype(np.uint8)
    bank = water - cv2.erode(water, np.ones((5, 5), np.uint8))
    img[bank > 0] *= 0.85
    # cast shadows towards the bottom-right
    sun = rng.uniform(0.3, 1.2)
    shadow_polys = [translate(g, 5 * sun + 2, 5 * sun + 2) for g, _ in layout['buildings']]
    shadows = _rasterize_polys(shadow_polys, (h, w)) if shadow_polys else np.zeros((h, w), np.uint8)
    tree_mask = (mask == TREE).astype(np.uint8)
    shift = int(round(3 * sun + 1))
    tree_shadow = np.zeros_like(tree_mask)
    tree_shadow[shift:, shift:] = tree_mask[:-shift, :-shift]
    shade = ((shadows > 0) & (mask != BUILDING)) | ((tree_shadow > 0) & (mask != TREE))
    img[shade] *= 0.55
    # illumination, sensor noise, slight blur
    img *= (1 + 0.08 * smooth_noise(rng, (h, w), max(h, w) / 3, 2))[..., None]
    img += rng.normal(0, 3.0, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(np.clip(img, 0, 255), (0, 0), 0.6)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _size(size) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def generate_scene(size: Union[int, Tuple[int, int]] = 768, seed: int = 0, index: int = 0):
    """One scene in memory.

    Args:
        size: side (px) or (H, W).
        seed, index: the scene uses ``numpy.random.default_rng([seed, index])``.

    Returns:
        (image (H, W, 3) uint8 RGB, shapes (AnyLabeling shape dicts, paint order), mask (H, W) uint8)
    """
    h, w = _size(size)
    if h < 64 or w < 64:
        raise ValueError(f'scene size must be at least 64x64 pixels, got {h}x{w}')
    rng = np.random.default_rng([int(seed), int(index)])
    layout = _layout(rng, h, w)
    shapes = layout_shapes(layout)
    parsed = [Shape(index=i, label=s['label'], shape_type='polygon', points=np.asarray(s['points'], np.float64))
              for i, s in enumerate(shapes)]
    mask = rasterize_shapes(parsed, [CLASSES.index(s['label']) for s in shapes], (h, w))
    image = render_scene(rng, mask, layout)
    return image, shapes, mask


def anylabeling_json(shapes: Sequence[dict], image_name: str, height: int, width: int) -> dict:
    """AnyLabeling document for the shapes (``imageData`` null, ``imagePath`` = image file name)."""
    return {'version': GENERATOR_VERSION, 'flags': {}, 'shapes': list(shapes), 'imagePath': image_name,
            'imageData': None, 'imageHeight': int(height), 'imageWidth': int(width), 'text': ''}


def generate_scenes(out_dir: PathLike, num_scenes: int = 8, size: Union[int, Tuple[int, int]] = 768,
                    seed: int = 0, prefix: str = 'scene', write_masks: bool = False,
                    progress: bool = False) -> List[Path]:
    """Write ``num_scenes`` synthetic scenes to ``out_dir``.

    Files per scene ``i``: ``{prefix}_{i:03d}.png`` (RGB) and ``{prefix}_{i:03d}.json`` (AnyLabeling
    polygons, ``imagePath`` relative), plus ``{prefix}_{i:03d}_mask.png`` (palette class mask) with
    ``write_masks``. Writes are atomic; re-running with the same arguments rewrites identical files.

    Args:
        out_dir: destination folder (created).
        num_scenes: number of scenes.
        size: scene side in pixels, or (H, W).
        seed: base seed.
        prefix: file name prefix.
        write_masks: also write the ground-truth masks.
        progress: show a tqdm bar.

    Returns:
        The JSON paths, in scene order.
    """
    from tqdm import tqdm
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    h, w = _size(size)
    paths = []
    for i in tqdm(range(int(num_scenes)), desc='generate scenes', unit='scene', disable=not progress):
        image, shapes, mask = generate_scene((h, w), seed, i)
        stem = f'{prefix}_{i:03d}'
        write_rgb_png(out_dir / f'{stem}.png', image)
        if write_masks:
            write_mask_png(out_dir / f'{stem}_mask.png', mask)
        doc = anylabeling_json(shapes, f'{stem}.png', h, w)
        paths.append(atomic_write_text(out_dir / f'{stem}.json', json.dumps(doc, indent=1) + '\n'))
    return paths
