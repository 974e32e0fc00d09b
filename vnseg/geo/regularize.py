"""Building regularisation: straight edges at right angles (and 45 degrees), cut into a class coverage.

One building (:func:`regularize_polygon`), in the coordinates it comes in (vnseg works in pixel
coordinates, where pixels are square):

1. its main direction is the length-weighted circular mean of its edge directions modulo 90 degrees
   (edges of the outline after a Douglas-Peucker pass of ``tolerance``), unless a neighbour's is given
   (:func:`aligned_angle`: buildings within ``align_distance`` whose directions differ by less than
   ``align_angle`` take the same one, so rows of houses line up);
2. in that frame every ring (holes too) is simplified with ``tolerance``; each edge is classed as
   horizontal, vertical or -- where the footprint needs it and ``diagonals`` is on -- one of the two
   45-degree directions; runs of edges of one class become one straight line through their
   length-weighted mean offset, and consecutive lines are intersected into the new corners;
3. the result must be a valid polygon close to the outline (the outline moves by at most
   ``max_mean_shift`` on average, intersection over union >= ``min_iou``, and no corner lies farther
   than ``max_shift`` outside the outline's bounding box); otherwise, when the
   outline is rectangle-like, shapely's minimum rotated rectangle (``oriented_envelope``) is tried
   under the same tests; otherwise the building is not regularised (None).

In a coverage (:func:`place_buildings`, used by :mod:`vnseg.geo.coverage`), the regularised outline
``R`` of a building replaces its old outline ``A``:

* ``R`` never takes ground from another building or from nodata (it is cut by them) nor leaves the
  map's bounds; it takes ground from the other classes, which are cut by ``R``;
* ground that ``A`` gives up (``A - R``, in connected parts) goes to the neighbour of another class
  that shares the longest border with that part (the road in front, the yard behind); a part that
  touches no polygon of another class stays with the building. A neighbour that ``R`` splits keeps
  its largest part; the cut-off parts are handed out the same way;
* a building whose ``R`` would empty a neighbour or take more than half of one keeps its outline
  (``regularized = 0``), and so does one that cannot be regularised (no straight walls: see
  :func:`straightness`; or no acceptable result);
* the polygons around a change share the new vertices exactly (``shapely.snap`` onto the vertices
  of their neighbours along ``R``'s border), so the coverage stays valid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

__all__ = ['RegularizeOptions', 'regularize_polygon', 'main_angle', 'aligned_angle', 'place_buildings',
           'corner_angles']

#: Precision grid of the overlays that cut a squared building into its neighbours (pixels): pixel
#: corners and the rounded corners of squared outlines lie on it, and snap-rounding to it keeps
#: floating-point overlays from leaving hair-thin slivers that would break the coverage.
GRID = 1e-6
#: How far a neighbour's vertex may lie off an edge and still be put on it (pixels): well above the
#: grid's rounding, far below anything drawn.
SNAP = 1e-4


@dataclass
class RegularizeOptions:
    """How buildings are regularised (lengths in the units of the geometries given: pixels in vnseg).

    Attributes:
        tolerance: Douglas-Peucker tolerance applied before the edges are classed; also the scale of
            what counts as a wiggle of the outline (default 1.5 pixels).
        diagonals: allow 45-degree edges where the footprint has them.
        min_iou: the regularised outline must overlap the original at least this much (IoU).
        max_mean_shift: and it may move the outline by at most this much on average (the area
            between both outlines over the outline's length): scale-free where IoU is not, since a
            pixel staircase of a small building has a low IoU with its true rectangle.
        min_straight: share of the outline that must already run along the allowed directions
            (:func:`straightness`); blobs below it are left as they are.
        max_shift: no corner farther than this outside the original's bounding box.
        align_angle: degrees; neighbours whose directions differ by less than this are aligned.
        align_distance: how far a neighbour may be to be aligned with.
        max_size: buildings whose bounding box is larger (either side) are not regularised.
    """

    tolerance: float = 1.5
    diagonals: bool = True
    min_iou: float = 0.6
    max_mean_shift: float = 0.6
    min_straight: float = 0.6
    max_shift: float = 4.0
    align_angle: float = 0.0
    align_distance: float = 40.0
    max_size: float = 4000.0


def _simplified_edges(poly, tolerance: float):
    """Edge vectors and lengths of the exterior of ``poly`` after Douglas-Peucker."""
    ring = np.asarray(poly.exterior.simplify(tolerance, preserve_topology=False).coords)
    if len(ring) < 4:
        ring = np.asarray(poly.exterior.coords)
    d = np.diff(ring, axis=0)
    return d, np.hypot(d[:, 0], d[:, 1])


def main_angle(poly, tolerance: float = 1.5) -> float:
    """Main direction of ``poly``'s edges in radians, in ``[0, pi/2)``: the length-weighted circular
    mean of the edge directions modulo 90 degrees."""
    d, w = _simplified_edges(poly, tolerance)
    a = 4.0 * np.arctan2(d[:, 1], d[:, 0])
    theta = math.atan2(float(w @ np.sin(a)), float(w @ np.cos(a))) / 4.0
    theta %= math.pi / 2
    return 0.0 if math.pi / 2 - theta < 1e-9 else theta


def straightness(poly, theta: float, tolerance: float, diagonals: bool) -> float:
    """Share of ``poly``'s outline (after Douglas-Peucker) running within 12 degrees of the directions
    a regularised outline may have (``theta`` + multiples of 90 degrees, or of 45 with diagonals)."""
    d, w = _simplified_edges(poly, tolerance)
    step = math.pi / 4 if diagonals else math.pi / 2
    off = (np.arctan2(d[:, 1], d[:, 0]) - theta) % step
    off = np.minimum(off, step - off)
    return float(w[off <= math.radians(12.0)].sum() / max(float(w.sum()), 1e-12))


def _angle_gap(a: float, b: float) -> float:
    """Difference of two directions modulo 90 degrees, in radians (0 .. pi/4)."""
    q = math.pi / 2
    d = abs(a - b) % q
    return min(d, q - d)


def aligned_angle(theta: float, neighbours: Sequence[float], max_gap_deg: float) -> float:
    """``theta`` replaced by the nearest of ``neighbours``' directions when it is within ``max_gap_deg``."""
    best, gap = theta, math.radians(max_gap_deg)
    for t in neighbours:
        g = _angle_gap(theta, t)
        if g < gap:
            best, gap = t, g
    return best


def _line_classes(d: np.ndarray, diagonals: bool) -> np.ndarray:
    """0 = horizontal, 1 = vertical, 2 = diagonal x = y, 3 = diagonal x = -y (per edge vector)."""
    ang = np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 180.0
    if not diagonals:
        return np.where((ang < 45) | (ang >= 135), 0, 1)
    cls = np.full(len(d), 0)
    cls[(ang >= 67.5) & (ang < 112.5)] = 1
    cls[(ang >= 22.5) & (ang < 67.5)] = 2
    cls[(ang >= 112.5) & (ang < 157.5)] = 3
    return cls


# normal vectors (a, b) of the four line directions: a*x + b*y = c
_NORMALS = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, -1.0], [1.0, 1.0]])


def _kept_indices(raw: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Indices in ``raw`` of the vertices of its simplification ``kept`` (a subsequence of ``raw``)."""
    idx, j = [], 0
    for p in kept[:-1]:
        while j < len(raw) - 1 and not (raw[j, 0] == p[0] and raw[j, 1] == p[1]):
            j += 1
        idx.append(j)
    return np.asarray(idx + [len(raw) - 1])


def _regularize_ring(coords: np.ndarray, tolerance: float, diagonals: bool, min_edge: float) -> Optional[np.ndarray]:
    """Straight-line version of a closed ring (already in the building's frame); None when degenerate.

    Each run of simplified edges of one direction class becomes the line of that direction through
    the mean of the *original* vertices along the run: a pixel staircase has its outer and inner
    corners on both sides of the true edge, so their mean lies on it (the simplified vertices alone
    would be the outer corners, half a pixel off)."""
    from shapely import LinearRing
    raw = np.asarray(coords, np.float64)
    ring = np.asarray(LinearRing(raw).simplify(tolerance, preserve_topology=False).coords)
    if len(ring) < 4:
        return None
    kept = _kept_indices(raw, ring)
    p0, p1 = ring[:-1], ring[1:]
    d = p1 - p0
    length = np.hypot(d[:, 0], d[:, 1])
    cls = _line_classes(d, diagonals)
    if diagonals:
        # a short diagonal between two perpendicular runs is a wiggle of the corner, not a cut corner
        short = (cls >= 2) & (length < min_edge)
        cls = np.where(short, np.where(np.abs(d[:, 0]) >= np.abs(d[:, 1]), 0, 1), cls)
    n = len(cls)
    # rotate so that the ring starts at a change of class (runs do not wrap around)
    change = np.flatnonzero(cls != np.roll(cls, 1))
    if len(change) < 3:
        return None
    s = int(change[0])
    order = np.r_[s:n, 0:s]
    cls, length = cls[order], length[order]
    seg_start, seg_end = kept[:-1][order], kept[1:][order]
    starts = np.flatnonzero(cls != np.roll(cls, 1))
    nraw = len(raw) - 1
    lines = []
    for i, j in zip(starts, np.r_[starts[1:], n]):
        k = int(cls[i])
        nrm = _NORMALS[k]
        a, b = int(seg_start[i]), int(seg_end[j - 1])
        span = np.arange(a, b + 1) if b >= a else np.r_[a:nraw, 0:b + 1]
        pts = raw[span % nraw]
        if len(pts) > 2:
            pts = pts[1:-1]  # the run's end vertices are corners shared with the next runs
        c = float(np.mean(pts @ nrm))
        lines.append((k, nrm, c, float(length[i:j].sum())))
    # a run shorter than min_edge between two runs of one class is a step: fold it away
    changed = True
    while changed and len(lines) >= 4:
        changed = False
        for i in range(len(lines)):
            prev, cur, nxt = lines[i - 1], lines[i], lines[(i + 1) % len(lines)]
            if cur[3] < min_edge and prev[0] == nxt[0] and prev is not nxt:
                w = prev[3] + nxt[3]
                merged = (prev[0], prev[1], (prev[2] * prev[3] + nxt[2] * nxt[3]) / w, w)
                drop = {(i - 1) % len(lines), i, (i + 1) % len(lines)}
                keep = [x for m, x in enumerate(lines) if m not in drop]
                pos = min((i - 1) % len(lines), (i + 1) % len(lines))
                keep.insert(min(pos, len(keep)), merged)
                lines = keep
                changed = True
                break
    lines = _drop_small_chamfers(lines, 2.0 * tolerance)
    if len(lines) < 3:
        return None
    pts = []
    for (ka, na, ca, _), (kb, nb, cb, _) in zip(lines, lines[1:] + lines[:1]):
        if ka == kb:
            return None
        m = np.array([na, nb])
        if abs(np.linalg.det(m)) < 1e-9:
            return None
        pts.append(np.linalg.solve(m, [ca, cb]))
    pts.append(pts[0])
    return np.asarray(pts)


def _meet(la, lb):
    m = np.array([la[1], lb[1]])
    if abs(np.linalg.det(m)) < 1e-9:
        return None
    return np.linalg.solve(m, [la[2], lb[2]])


def _drop_small_chamfers(lines: list, max_cut: float) -> list:
    """Remove diagonal lines between two perpendicular ones when the corner they cut off reaches less
    than ``max_cut`` into the building: a rounded pixel corner, not a built chamfer."""
    changed = True
    while changed and len(lines) > 4:
        changed = False
        for i, cur in enumerate(lines):
            prev, nxt = lines[i - 1], lines[(i + 1) % len(lines)]
            if cur[0] < 2 or prev[0] >= 2 or nxt[0] >= 2 or prev[0] == nxt[0]:
                continue
            p = _meet(prev, nxt)
            if p is None or abs(float(p @ cur[1]) - cur[2]) / math.sqrt(2.0) >= max_cut:
                continue
            lines = [x for m, x in enumerate(lines) if m != i]
            changed = True
            break
    return lines


def _rotate(coords: np.ndarray, theta: float, origin) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    xy = coords - origin
    return np.column_stack([c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]]) + origin


def _iou(a, b) -> float:
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _acceptable(cand, poly, opts: RegularizeOptions) -> bool:
    import shapely
    if cand is None or cand.is_empty or not cand.is_valid or cand.geom_type != 'Polygon':
        return False
    x0, y0, x1, y1 = poly.bounds
    cx0, cy0, cx1, cy1 = cand.bounds
    m = opts.max_shift
    if cx0 < x0 - m or cy0 < y0 - m or cx1 > x1 + m or cy1 > y1 + m:
        return False
    if shapely.get_num_coordinates(cand) < 5 or _iou(cand, poly) < opts.min_iou:
        return False
    # how far the outline moved, on average along it: the area between old and new over the length
    return cand.symmetric_difference(poly).area <= opts.max_mean_shift * poly.exterior.length


def regularize_polygon(poly, opts: Optional[RegularizeOptions] = None, theta: Optional[float] = None):
    """Regularised version of one building outline, or None when it cannot be regularised.

    Args:
        poly: a shapely Polygon (holes allowed).
        opts: :class:`RegularizeOptions` (default: pixel-scale defaults).
        theta: main direction to use (radians); default :func:`main_angle` of ``poly``.

    Returns:
        ``(polygon, theta)`` -- the new outline and the direction it was built on -- or None.
    """
    import shapely
    opts = opts or RegularizeOptions()
    if poly is None or poly.is_empty or poly.geom_type != 'Polygon':
        return None
    x0, y0, x1, y1 = poly.bounds
    if max(x1 - x0, y1 - y0) > opts.max_size or poly.area <= 0:
        return None
    if theta is None:
        # two estimates of the main direction: the edges' mean one, and the minimum rotated
        # rectangle's (better on 45-degree staircases); the one that fits the outline better wins
        thetas = [main_angle(poly, opts.tolerance)]
        env_theta = main_angle(shapely.oriented_envelope(poly), 0.0)
        if _angle_gap(env_theta, thetas[0]) > math.radians(0.2):
            thetas.append(env_theta)
    else:
        thetas = [theta]
    best = None
    for t in thetas:
        res = _regularize_at(poly, opts, t)
        if res is not None and (best is None or _iou(res[0], poly) > _iou(best[0], poly)):
            best = res
    return best


def _regularize_at(poly, opts: RegularizeOptions, theta: float):
    """:func:`regularize_polygon` at a given main direction."""
    import shapely
    from shapely.geometry import Polygon
    if straightness(poly, theta, opts.tolerance, opts.diagonals) < opts.min_straight:
        return None  # no walls to straighten: a tree crown or a blob, not a building outline
    origin = np.asarray(poly.centroid.coords[0])
    min_edge = 2.0 * opts.tolerance
    shell = _regularize_ring(_rotate(np.asarray(poly.exterior.coords), -theta, origin), opts.tolerance,
                             opts.diagonals, min_edge)
    cand = None
    if shell is not None:
        holes = []
        for ring in poly.interiors:
            h = _regularize_ring(_rotate(np.asarray(ring.coords), -theta, origin), opts.tolerance,
                                 opts.diagonals, min_edge)
            if h is not None and Polygon(h).area > min_edge ** 2:
                holes.append(_rotate(h, theta, origin))
        cand = Polygon(_rotate(shell, theta, origin), holes)
        if not cand.is_valid:
            fixed = shapely.make_valid(cand)
            cand = fixed if fixed.geom_type == 'Polygon' else None
        if cand is not None and len(poly.interiors) and not len(cand.interiors):
            cand = None  # a courtyard that vanished: better the outline than a filled yard
    if not _acceptable(cand, poly, opts):
        cand = None
        if not len(poly.interiors):
            env = shapely.oriented_envelope(poly)
            if _acceptable(env, poly, opts):
                cand = env
                theta = main_angle(env, 0.0)
    if cand is None:
        return None
    # rotating there and back leaves 3.999999999999999 where the pixel grid had 4: round that off
    cand = shapely.set_precision(cand, GRID)
    if not cand.is_valid:
        return None
    return shapely.normalize(cand), theta


def _angles(c: np.ndarray) -> np.ndarray:
    a = np.roll(c, 1, axis=0) - c
    b = np.roll(c, -1, axis=0) - c
    cosang = (a * b).sum(1) / np.maximum(np.hypot(*a.T) * np.hypot(*b.T), 1e-12)
    return np.degrees(np.arccos(np.clip(cosang, -1, 1)))


def corner_angles(poly, min_edge: float = 0.0) -> np.ndarray:
    """Interior angles (degrees) at the corners of ``poly``'s rings. Vertices on a straight line
    (within 1 degree: the nodes a neighbour's border leaves on an edge) are not corners; with
    ``min_edge``, a vertex closer than that to the previous corner is skipped too (pixel steps)."""
    out = []
    rings = [poly.exterior, *poly.interiors] if poly.geom_type == 'Polygon' else []
    for ring in rings:
        c = np.asarray(ring.coords)[:-1]
        while len(c) > 3:
            straight = _angles(c) >= 179.0
            if not straight.any():
                break
            c = c[~straight]
        if min_edge > 0 and len(c) > 3:
            keep = [c[0]]
            for p in c[1:]:
                if np.hypot(*(p - keep[-1])) >= min_edge:
                    keep.append(p)
            c = np.asarray(keep)
        if len(c) < 3:
            continue
        out.extend(_angles(c).tolist())
    return np.asarray(out)


# -- in a coverage -----------------------------------------------------------------------------------

class Cell:
    """One polygon of a coverage being edited: ``geom`` (mutable), whether it is a building, a no-go
    area (``'nodata'``) or ground another class may give and take (``'ground'``), and for a building
    to regularise optionally ``ref``, its unsimplified outline (the lines are fitted to it)."""

    __slots__ = ('geom', 'kind', 'ref')

    def __init__(self, geom, kind: str, ref=None):
        self.geom, self.kind, self.ref = geom, kind, ref


def _parts(geom) -> list:
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == 'Polygon':
        return [geom]
    return [g for g in getattr(geom, 'geoms', []) if g.geom_type == 'Polygon' and not g.is_empty]


def _shared_border(a, b) -> float:
    return a.boundary.intersection(b.boundary).length


def place_buildings(buildings: List[Cell], cells: List[Cell], opts: RegularizeOptions,
                    bounds_box, thetas: Optional[list] = None) -> List[int]:
    """Regularise ``buildings`` inside the coverage ``cells`` (edited in place; see module doc).

    Args:
        buildings: the building cells to regularise (their ``geom`` is replaced when it works).
        cells: every other cell they may touch: buildings (``kind == 'building'``), nodata
            (``'nodata'``) and other classes (``'ground'``).
        opts: :class:`RegularizeOptions`.
        bounds_box: polygon of the map's extent; nothing may leave it.
        thetas: ``[(x, y, theta)]`` of buildings regularised before (for alignment); extended here.

    Returns:
        ``1`` (regularised) or ``0`` per building.
    """
    import shapely
    thetas = thetas if thetas is not None else []
    flags, touched = [], {}
    all_cells = list(cells) + list(buildings)
    tree = shapely.STRtree([c.geom for c in all_cells])

    def near(env) -> List[Cell]:
        # cells whose outline at the start of the batch meets ``env``, and every cell changed since
        found = {id(all_cells[i]): all_cells[i] for i in tree.query(env)}
        found.update(touched)
        return list(found.values())

    for b in buildings:
        flag, changed = _place_one(b, near, opts, bounds_box, thetas)
        flags.append(flag)
        touched.update((id(c), c) for c in changed)
    if touched:
        # the overlays leave a vertex wherever the old outline crossed the new one (two per pixel step):
        # drop the collinear ones on both sides of every changed border at once (the border between
        # the changed cells and the rest is kept as it is)
        group = list(touched.values())
        arr = np.empty(len(group), dtype=object)
        arr[:] = [c.geom for c in group]
        cleaned = shapely.coverage_simplify(arr, 0.02, simplify_boundary=False)
        total = float(shapely.area(arr).sum())
        if all(g.geom_type == 'Polygon' and g.is_valid for g in cleaned) and \
                bool(shapely.coverage_is_valid(cleaned)) and \
                abs(float(shapely.area(cleaned).sum()) - total) <= 1e-9 * total:
            for c, g in zip(group, cleaned):
                c.geom = g
    return flags


def _place_one(b: Cell, near, opts: RegularizeOptions, bounds_box, thetas: list) -> tuple:
    """Regularise one building in the coverage; ``near(envelope)`` gives the cells that may meet it.
    Returns ``(flag, changed cells)``."""
    import shapely
    from shapely.geometry import MultiPoint
    a = b.geom
    src = b.ref if b.ref is not None else a  # the unsimplified outline when there is one
    theta = main_angle(src, opts.tolerance) if src.geom_type == 'Polygon' else None
    if theta is None:
        return 0, []
    c = a.centroid
    res = None
    if opts.align_angle > 0:
        reach = opts.align_distance + math.sqrt(a.area)
        close = [t for (x, y, t) in thetas if math.hypot(x - c.x, y - c.y) <= reach]
        if close:
            res = regularize_polygon(src, opts, aligned_angle(theta, close, opts.align_angle))
    if res is None:
        res = regularize_polygon(src, opts, theta)
    if res is None:
        return 0, []
    r, theta = res
    r = shapely.intersection(r, bounds_box, grid_size=GRID)
    env = shapely.union_all([r.envelope, a.envelope]).envelope.buffer(1e-6)  # A's old neighbours too
    others = [x for x in near(env) if x is not b and x.geom is not None and not x.geom.is_empty
              and x.geom.intersects(env)]
    blockers = [x.geom for x in others if x.kind != 'ground']
    if blockers:
        r = shapely.difference(r, shapely.union_all(blockers, grid_size=GRID), grid_size=GRID)
    r_parts = _parts(r)
    if len(r_parts) != 1 or r_parts[0].area < 0.9 * res[0].area:
        return 0, []
    r = r_parts[0]
    ground = [x for x in others if x.kind == 'ground' and x.geom.intersects(r)]
    new_geoms = {}
    loose = list(_parts(shapely.difference(a, r, grid_size=GRID)))
    for g in ground:
        cut = shapely.difference(g.geom, r, grid_size=GRID)
        parts = sorted(_parts(cut), key=lambda p: p.area, reverse=True)
        if not parts or g.geom.area - cut.area > 0.5 * g.geom.area:
            return 0, []
        new_geoms[id(g)] = parts[0]
        loose.extend(parts[1:])
    # hand out the loose parts: to the other-class neighbour sharing the longest border
    candidates = [x for x in others if x.kind == 'ground']
    gifts: dict = {}
    for part in loose:
        if part.area <= 0:
            continue
        best, best_len = None, 0.0
        for x in candidates:
            geom = new_geoms.get(id(x), x.geom)
            if not geom.intersects(part):
                continue
            ln = _shared_border(geom, part)
            if ln > best_len:
                best, best_len = x, ln
        gifts.setdefault(id(best) if best is not None else None, []).append(part)
    if None in gifts:
        r = shapely.union_all([r] + gifts.pop(None), grid_size=GRID)
    for x in candidates:
        if id(x) in gifts:
            new_geoms[id(x)] = shapely.union_all([new_geoms.get(id(x), x.geom)] + gifts[id(x)], grid_size=GRID)
    merged = {k: _parts(g) for k, g in new_geoms.items()}
    if any(len(p) != 1 for p in merged.values()) or len(_parts(r)) != 1:
        return 0, []
    # commit, then give every polygon along the changed border the vertices of its neighbours there
    saved = [(x, x.geom) for x in [b] + others]
    b.geom = _parts(r)[0]
    for x in candidates:
        if id(x) in merged:
            x.geom = merged[id(x)][0]
    area = shapely.union_all([a, b.geom])
    grown = area.buffer(1e-6)
    touched = [b] + [x for x in others if x.geom.intersects(grown)]
    border = shapely.union_all([a.boundary, b.geom.boundary])
    x0, y0, x1, y1 = grown.bounds
    pts = []
    for x in touched:
        xy = shapely.get_coordinates(x.geom)
        pts.append(xy[(xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)])
    pts = np.unique(np.concatenate(pts), axis=0)
    pts = pts[shapely.dwithin(shapely.points(pts), border, SNAP)]
    snap_to = MultiPoint(pts)
    for x in touched:
        snapped = shapely.snap(x.geom, snap_to, SNAP)
        if snapped.is_valid and snapped.geom_type == 'Polygon':
            x.geom = snapped
    # the neighbourhood must still be a gap-free, valid coverage; otherwise undo this building
    if not _locally_valid([x.geom for x in touched], grown.envelope.buffer(2.0)):
        for x, g in saved:
            x.geom = g
        return 0, []
    thetas.append((c.x, c.y, theta))
    return 1, touched


def _locally_valid(geoms: list, window) -> bool:
    """Whether ``geoms`` clipped to ``window`` are a valid coverage without overlaps (gaps cannot
    open: every change hands the ground it takes or frees to a polygon)."""
    import shapely
    clipped = [g.intersection(window) for g in geoms]
    parts = np.asarray([p for g in clipped for p in _parts(g)], dtype=object)
    if not len(parts) or not bool(shapely.coverage_is_valid(parts)):
        return False
    union = shapely.union_all(parts)
    return abs(float(shapely.area(parts).sum()) - union.area) <= 1e-3  # px^2: no overlap
