"""A gap-free class coverage: the polygons of every class share their borders exactly after simplification.

:class:`CoveragePolygonizer` polygonises a class-index raster strip by strip like
:class:`vnseg.geo.strips.StripPolygonizer` (whose merging of regions across strips, and cutting of
regions taller than ``max_polygon_rows``, it inherits), but all classes at once -- background and
nodata included -- so the polygons of one strip tile the strip exactly:

1. each strip's regions (4-connectivity, ``rasterio.features.shapes``) form a coverage of the strip;
2. that coverage is simplified as a whole (``shapely.coverage_simplify``, GEOS >= 3.12: a
   topology-preserving Visvalingam-Whyatt pass over the shared edges, so two neighbours keep one
   border) with the strip's outer boundary kept fixed (``simplify_boundary=False``): the strip's top
   and bottom edges stay the pixel-grid lines that the neighbouring strips share;
3. the strip's top and bottom edges get a vertex wherever a class changes along the row on either
   side of them, so pieces above and below a strip line have the same vertices there;
4. pieces of one region in successive strips are merged (``unary_union``), exactly, as in the
   strip polygoniser.

The tolerance is the ``--simplify`` tolerance in metres (pixels without ground units), used as the
length whose square is the largest triangle area removed. Vertices are only removed, never moved:
the simplified outlines run through pixel corners.

``min_area`` does not drop polygons (that would open gaps): specks smaller than it are dissolved
into their largest neighbour in the raster before polygonising (``rasterio.features.sieve``, strip by
strip with as many extra rows above and below as a speck can span, so the result does not depend on
where strips begin). With ``regularize`` the buildings are squared and cut into the coverage
(:mod:`vnseg.geo.regularize`); polygons near a building wait until it is done (a few rows), so
memory stays bounded by a few strips.

Properties of each written polygon: those of the strip polygoniser (``area_m2`` / ``area_ha`` stay
the exact pixel area of the region, after the sieve), plus ``geom_area_m2`` (``geom_area_px``
without ground units): the ground area of the simplified (and regularised) geometry, and for
buildings with regularisation on, ``regularized`` (1 / 0). The per-class totals of both are in
the stats, from which :func:`validity_report` makes the map's validity report.

What is polygonised and how is :class:`PolygonOptions` (the ``vnseg map`` flags ``--classes``,
``--min-area``, ``--simplify``, ``--regularize-buildings``); :func:`vnseg.geo.vectorize.write_class_polygons`
writes the coverage's layers to files.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Dict, Hashable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .areas import PixelAreas
from .regularize import Cell, RegularizeOptions, place_buildings
from .strips import LayerSpec, StripPolygonizer

__all__ = ['PolygonOptions', 'CoveragePolygonizer', 'vectorize_coverage', 'coverage_layer_fields',
           'validity_report', 'check_coverage', 'gpkg_bands', 'coverage_supported', 'sieve_strips']

#: Class-map value of pixels without prediction (kept out of every layer, never sieved).
NODATA = 255
#: Minimum GEOS version with the coverage functions (``coverage_simplify``, ``coverage_is_valid``).
MIN_GEOS = (3, 12, 0)


def coverage_supported() -> bool:
    """True when shapely's GEOS has the coverage functions (GEOS >= 3.12)."""
    import shapely
    return tuple(shapely.geos_version) >= MIN_GEOS and hasattr(shapely, 'coverage_simplify')


@dataclass(frozen=True)
class PolygonOptions:
    """Which classes become polygons and how: the ``vnseg map`` flags of the same names.

    A new polygon option is a field here named like its flag (``--min-area`` -> ``min_area``), the
    flag in :mod:`vnseg.commands.map` (its parser fills the field by name) and its use in
    :func:`vectorize_coverage` or :func:`vnseg.geo.vectorize.write_class_polygons`; every caller
    passes this object on whole.

    Attributes:
        classes: class names or ids whose polygons are written (``--classes``); None: every class but
            one named ``background``. All classes take part in the coverage either way.
        min_area: specks smaller than this are dissolved into their largest neighbour (``--min-area``);
            m^2 when the raster has ground units, else pixels. None: 1 m^2, or 16 px.
        simplify: tolerance of the coverage's simplification (``--simplify``) in metres, or pixels
            without ground units (the side of the largest triangle a removed vertex spans); 0 keeps the
            exact pixel outlines. None: half a pixel.
        regularize_buildings: square the buildings (``--regularize-buildings``; :mod:`vnseg.geo.regularize`).
    """
    classes: Optional[Tuple[Union[str, int], ...]] = None
    min_area: Optional[float] = None
    simplify: Optional[float] = None
    regularize_buildings: bool = False

    def __post_init__(self):
        if self.classes is not None:
            object.__setattr__(self, 'classes', tuple(self.classes))

    def class_ids(self, classes: Sequence[str]) -> List[int]:
        """The sorted ids of :attr:`classes` among ``classes`` (names, index = id).

        Raises:
            ValueError: an unknown class name or an id out of range; :attr:`regularize_buildings`
                without a class named ``building``.
        """
        if self.regularize_buildings and 'building' not in classes:
            raise ValueError(f'--regularize-buildings: the model has no class named building; its classes are '
                             f'{list(classes)}')
        if self.classes is None:
            return [i for i, name in enumerate(classes) if name != 'background']
        ids = []
        for s in self.classes:
            if isinstance(s, int) or (isinstance(s, str) and s.isdigit()):
                i = int(s)
            elif s in classes:
                i = list(classes).index(s)
            else:
                raise ValueError(f'unknown class {s!r}; classes are {list(classes)}')
            if not 0 <= i < len(classes):
                raise ValueError(f'class id {i} out of range 0..{len(classes) - 1}')
            ids.append(i)
        return sorted(set(ids))

    def with_defaults(self, pixel_areas: PixelAreas) -> 'PolygonOptions':
        """These options with the defaults of ``min_area`` and ``simplify`` in the units of
        ``pixel_areas``: 1 m^2 / 16 px, and half a pixel (in metres, or pixels without ground units)."""
        ground = pixel_areas.unit == 'm2'
        min_area = self.min_area if self.min_area is not None else (1.0 if ground else 16.0)
        simplify = self.simplify if self.simplify is not None else 0.5 * (
            pixel_areas.linear_scale() * (pixel_areas.planar_pixel_area ** 0.5) if ground else 1.0)
        return replace(self, min_area=min_area, simplify=simplify)


def coverage_layer_fields(area_unit: str, with_confidence: bool = True, regularized: bool = False) -> Dict[str, str]:
    """Attribute schema of a coverage polygon layer: the strip polygoniser's fields plus
    ``geom_area_m2`` / ``geom_area_px`` (and ``regularized`` for a building layer)."""
    from .layers import layer_fields
    f = layer_fields(area_unit, with_confidence)
    f['geom_area_m2' if area_unit == 'm2' else 'geom_area_px'] = 'float'
    if regularized:
        f['regularized'] = 'int'
    return f


def _change_columns(row: Optional[np.ndarray]) -> np.ndarray:
    """Columns (within the strip) where the class changes along ``row`` (between column i-1 and i)."""
    if row is None:
        return np.zeros(0, np.int64)
    return np.flatnonzero(row[1:] != row[:-1]) + 1


def _junctions(block: np.ndarray) -> np.ndarray:
    """Pixel corners inside ``block`` where three or more classes meet (``(n, 2)`` int: column, row
    of the corner, relative to the block's top-left corner). Such a corner lies in the middle of a
    straight edge of one of the regions (a T-junction), which must get a vertex there too."""
    a, b, c, d = block[:-1, :-1], block[:-1, 1:], block[1:, :-1], block[1:, 1:]
    n = 1 + (b != a).astype(np.int8) + ((c != a) & (c != b)) + ((d != a) & (d != b) & (d != c))
    r, col = np.nonzero(n >= 3)
    return np.column_stack([col + 1, r + 1])


def _node_ring(coords: np.ndarray, hkeys: np.ndarray, vkeys: np.ndarray, k: int) -> np.ndarray:
    """Insert the node points into the axis-parallel segments of ``coords`` that pass through them.

    ``hkeys`` = sorted ``y * k + x`` of the nodes, ``vkeys`` = sorted ``x * k + y`` (integer
    pixel-corner coordinates, non-negative, ``< k``)."""
    c = coords
    x0, y0, x1, y1 = c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1]
    horiz = (y0 == y1) & (np.abs(x1 - x0) > 1)
    vert = (x0 == x1) & (np.abs(y1 - y0) > 1)
    lo_h = np.searchsorted(hkeys, y0 * k + np.minimum(x0, x1), 'right')
    hi_h = np.searchsorted(hkeys, y0 * k + np.maximum(x0, x1), 'left')
    lo_v = np.searchsorted(vkeys, x0 * k + np.minimum(y0, y1), 'right')
    hi_v = np.searchsorted(vkeys, x0 * k + np.maximum(y0, y1), 'left')
    todo = np.flatnonzero((horiz & (hi_h > lo_h)) | (vert & (hi_v > lo_v)))
    if not len(todo):
        return coords
    pieces, last = [], 0
    for i in todo:
        if horiz[i]:
            xs = hkeys[lo_h[i]:hi_h[i]] - y0[i] * k
            pts = np.column_stack([xs, np.full(len(xs), y0[i])])
            rev = x1[i] < x0[i]
        else:
            ys = vkeys[lo_v[i]:hi_v[i]] - x0[i] * k
            pts = np.column_stack([np.full(len(ys), x0[i]), ys])
            rev = y1[i] < y0[i]
        pieces.append(c[last:i + 1])
        pieces.append(pts[::-1] if rev else pts)
        last = i + 1
    pieces.append(c[last:])
    return np.concatenate(pieces).astype(np.float64)


def _node_polygons(arr: np.ndarray, nodes: np.ndarray) -> None:
    """Give every polygon of ``arr`` (pixel-edge outlines, integer coordinates) a vertex at each of
    ``nodes`` (``(n, 2)`` integer corner coordinates) that lies on one of its edges (in place)."""
    import shapely
    from shapely.geometry import Polygon
    if not len(nodes):
        return
    nodes = nodes.astype(np.int64)
    k = int(nodes.max()) + 2
    k = max(k, int(max(np.max(shapely.bounds(arr)), 0)) + 2)
    hkeys = np.unique(nodes[:, 1] * k + nodes[:, 0]).astype(np.float64)
    vkeys = np.unique(nodes[:, 0] * k + nodes[:, 1]).astype(np.float64)
    for i, poly in enumerate(arr):
        shell = np.asarray(poly.exterior.coords)
        new_shell = _node_ring(shell, hkeys, vkeys, k)
        holes = [np.asarray(r.coords) for r in poly.interiors]
        new_holes = [_node_ring(h, hkeys, vkeys, k) for h in holes]
        if new_shell is not shell or any(a is not b for a, b in zip(new_holes, holes)):
            arr[i] = Polygon(new_shell, new_holes)


class _Region:
    """A finished region waiting to be written (pixel coordinates)."""

    __slots__ = ('geom', 'key', 'npix', 'conf_sum', 'cut', 'regularized')

    def __init__(self, geom, key, npix, conf_sum, cut):
        self.geom, self.key, self.npix, self.conf_sum, self.cut = geom, key, npix, conf_sum, cut
        self.regularized = None


class _RawOutlines(StripPolygonizer):
    """The buildings' unsimplified pixel outlines, merged across strips the same way: the regulariser
    fits its lines to the pixel staircase, which the simplified coverage no longer has."""

    def __init__(self, key, pixel_areas: PixelAreas, bounds, max_polygon_rows):
        super().__init__({key: LayerSpec([], key, '')}, pixel_areas, 0.0, 0.0, bounds, max_polygon_rows)
        self.done: list = []

    def _emit(self, key, poly_px, npix, conf_sum, cut):
        self.done.append(poly_px)


class CoveragePolygonizer(StripPolygonizer):
    """Polygonise strips of a class map into a gap-free coverage (see module doc).

    Args:
        layers: ``{class_id: LayerSpec}``: the classes written (others are part of the coverage only).
        pixel_areas: ground area per pixel row (and the grid's :class:`Georef`).
        polygons: ``simplify`` (metres, or pixels without ground units; None: 0 here, see
            :meth:`PolygonOptions.with_defaults`) and ``regularize_buildings``; ``classes`` and
            ``min_area`` are the caller's (the layers, the sieve).
        bounds: ``(top, bottom, left, right)`` pixel rows/columns covered by the strips.
        max_polygon_rows: regions taller than this are cut at a strip line (memory bound); None never.
        has_confidence: confidences are given with the strips.
        regularize: :class:`RegularizeOptions` in pixels (default: the defaults) when
            ``polygons.regularize_buildings``.
        building_class: class value of buildings (squared, and kept apart from the ground they take).
        nodata: class value of pixels without prediction (never given to a squared building).
    """

    def __init__(self, layers: Dict[Hashable, LayerSpec], pixel_areas: PixelAreas, polygons: PolygonOptions,
                 bounds: Optional[tuple] = None, max_polygon_rows: Optional[int] = None,
                 has_confidence: bool = False, regularize: Optional[RegularizeOptions] = None,
                 building_class: int = 4, nodata: int = 255):
        super().__init__(layers, pixel_areas, 0.0, 0.0, bounds, max_polygon_rows, has_confidence)
        if not coverage_supported():
            import shapely
            raise RuntimeError(f'the class coverage needs GEOS >= 3.12 (shapely has {shapely.geos_version})')
        self.building_class, self.nodata = building_class, nodata
        self.tol_px = 0.0
        if polygons.simplify:
            self.tol_px = polygons.simplify / self._metres_per_pixel()
        self.carry = defaultdict(list, self.carry)
        self.stats = defaultdict(_new_stats, {k: _new_stats() for k in layers})
        self.regularize = (regularize or RegularizeOptions()) if polygons.regularize_buildings else None
        self.margin = 0.0
        self._raw = None
        if self.regularize is not None:
            self.margin = math.ceil(self.regularize.max_shift + 2.0)
            self._raw = _RawOutlines(building_class, pixel_areas,
                                     (self.top, self.bottom, self.left, self.right), max_polygon_rows)
        self.pending: List[_Region] = []
        self.thetas: list = []
        self.strip_checks = 0
        self.invalid_strips: List[int] = []
        self.repaired = 0
        from shapely.geometry import box
        self._bounds_box = box(self.left, self.top, self.right, self.bottom)

    def _metres_per_pixel(self) -> float:
        if self.pa.unit != 'm2':
            return 1.0
        return self.pa.linear_scale() * math.sqrt(self.pa.planar_pixel_area)

    # -- strips --------------------------------------------------------------------------------
    def add_block(self, row0: int, block: np.ndarray, above: Optional[np.ndarray] = None,
                  below: Optional[np.ndarray] = None, confidence: Optional[np.ndarray] = None):
        """Add rows ``[row0, row0 + h)`` of the class map.

        Args:
            block: ``uint8 (h, right - left)`` class values (nodata included).
            above: the previous strip's last row as it was given (None for the first strip).
            below: the next strip's first row as it will be given (None for the last strip).
            confidence: optional ``uint8 (h, right - left)`` confidence in %.
        """
        import shapely
        from affine import Affine
        from rasterio import features
        from shapely.geometry import shape
        if row0 != self._next_row:
            raise ValueError(f'strips must come in order: expected row {self._next_row}, got {row0}')
        h = block.shape[0]
        r1 = row0 + h
        self._next_row = r1
        offset = Affine.translation(self.left, row0)
        if confidence is not None:
            conf = np.where(confidence <= 100, confidence, 0).astype(np.float64)
            labels, classes = _region_labels(block)
            npix = np.bincount(labels.ravel(), minlength=len(classes))
            csum = np.bincount(labels.ravel(), weights=conf.ravel(), minlength=len(classes))
            shapes = features.shapes(labels, connectivity=4, transform=offset)
            geoms, keys, counts, sums = [], [], [], []
            for g, v in shapes:
                i = int(v)
                geoms.append(shape(g))
                keys.append(int(classes[i]))
                counts.append(float(npix[i]))
                sums.append(float(csum[i]))
            del labels
        else:
            geoms, keys = [], []
            for g, v in features.shapes(block, connectivity=4, transform=offset):
                geoms.append(shape(g))
                keys.append(int(v))
            counts = [None] * len(geoms)
            sums = [0.0] * len(geoms)
        arr = np.empty(len(geoms), dtype=object)
        arr[:] = geoms
        if counts and counts[0] is None:
            counts = shapely.area(arr).tolist()  # pixel-edge polygon: its area is its pixel count
        # every vertex where three classes meet, and every change of class along the rows on both
        # sides of the strip's top and bottom edges, becomes a vertex of all polygons through it
        cols = np.arange(block.shape[1] + 1)
        nodes = [_junctions(block) + (self.left, row0)]
        for y, rows in ((row0, (above, block[0])), (r1, (block[-1], below))):
            xs = np.union1d(_change_columns(rows[0]), _change_columns(rows[1]))
            nodes.append(np.column_stack([cols[xs] + self.left, np.full(len(xs), y)]))
        _node_polygons(arr, np.concatenate(nodes))
        if self.tol_px > 0 and len(arr) > 1:
            arr = shapely.coverage_simplify(arr, self.tol_px, simplify_boundary=False)
        self.strip_checks += 1
        if not bool(shapely.coverage_is_valid(arr)):
            self.invalid_strips.append(row0)
        if self._raw is not None:
            self._raw.add(row0, h, {self.building_class: block == self.building_class})
        by_key: Dict[int, list] = defaultdict(list)
        from .strips import _Piece
        for g, k, n, s in zip(arr, keys, counts, sums):
            by_key[k].append(_Piece(g, n, s, g.bounds[1]))
        for key in set(by_key) | {k for k, v in self.carry.items() if v}:
            self._merge(key, by_key.get(key, []), row0, r1)
        self._settle(r1, last=False)
        self.peak_carried_vertices = max(self.peak_carried_vertices, self.carried_vertices())

    def carried_vertices(self) -> int:
        """Vertices held between strips: carried regions and finished ones waiting to be written."""
        import shapely
        waiting = sum(int(shapely.get_num_coordinates(r.geom)) for r in self.pending)
        return super().carried_vertices() + waiting

    def add(self, row0, h, masks, confidence=None):
        """Not available: boolean masks of separate layers do not make a coverage."""
        raise TypeError('CoveragePolygonizer takes class blocks: use add_block()')

    # -- finished regions: regularise, then write when nothing can change them any more ----------
    def _emit(self, key, poly_px, npix: float, conf_sum: float, cut: int):
        self.pending.append(_Region(poly_px, key, npix, conf_sum, cut))

    def _settle(self, r1: float, last: bool):
        if self.regularize is None:
            for reg in self.pending:
                self._write(reg)
            self.pending = []
            return
        bc, m = self.building_class, self.margin
        ready = [reg for reg in self.pending if reg.key == bc and reg.regularized is None
                 and (last or reg.geom.bounds[3] + m < r1)]
        if ready:
            todo = [reg for reg in ready if not reg.cut]
            for reg in ready:
                if reg.cut:
                    reg.regularized = 0
            if todo:
                self._regularize(todo)
        # what an unfinished building could still reach
        blocking = [reg.geom.bounds for reg in self.pending if reg.key == bc and reg.regularized is None]
        blocking += [p.geom.bounds for p in self.carry.get(bc, [])]
        blocking = np.asarray(blocking, np.float64).reshape(-1, 4)
        keep = []
        for reg in self.pending:
            x0, y0, x1, y1 = reg.geom.bounds
            free = last or (y1 + m < r1 and (reg.key != bc or reg.regularized is not None))
            if free and len(blocking) and not last:
                hit = ((blocking[:, 0] - m <= x1) & (blocking[:, 2] + m >= x0) &
                       (blocking[:, 1] - m <= y1) & (blocking[:, 3] + m >= y0))
                free = not hit.any()
            if free:
                self._write(reg)
            else:
                keep.append(reg)
        self.pending = keep
        if self._raw is not None and not last:
            # outlines of buildings that were cut (not regularised) are not needed any more
            self._raw.done = [g for g in self._raw.done if g.bounds[3] + 2 * m >= r1]

    def _regularize(self, todo: List[_Region]):
        bc, nodata = self.building_class, self.nodata
        cells, owners = [], []
        for reg in self.pending:
            if reg in todo:
                continue
            kind = 'building' if reg.key == bc else 'nodata' if reg.key == nodata else 'ground'
            cells.append(Cell(reg.geom, kind))
            owners.append(reg)
        for key, pieces in self.carry.items():
            kind = 'building' if key == bc else 'nodata' if key == nodata else 'ground'
            for p in pieces:
                cells.append(Cell(p.geom, kind))
                owners.append(p)
        bcells = [Cell(reg.geom, 'building', self._raw_outline(reg.geom)) for reg in todo]
        flags = place_buildings(bcells, cells, self.regularize, self._bounds_box, self.thetas)
        for reg, c, f in zip(todo, bcells, flags):
            reg.geom, reg.regularized = c.geom, int(f)
        for owner, c in zip(owners, cells):
            owner.geom = c.geom
        # directions of buildings far above cannot be aligned with any more
        low = min(reg.geom.bounds[1] for reg in todo) - self.regularize.align_distance - self.regularize.max_size
        self.thetas = [t for t in self.thetas if t[1] >= low]

    def _raw_outline(self, geom):
        """The unsimplified outline of the building whose simplified outline is ``geom`` (or None)."""
        best, best_area = None, 0.0
        for i, raw in enumerate(self._raw.done):
            if raw.intersects(geom):
                a = raw.intersection(geom).area
                if a > best_area:
                    best, best_area = i, a
        return self._raw.done.pop(best) if best is not None else None

    def _write(self, reg: _Region):
        import shapely
        from shapely.affinity import affine_transform
        st = self.stats[reg.key]
        poly = reg.geom
        geom_area_px = poly.area
        row = poly.centroid.y
        st['pixel_area'] += reg.npix * self.pa.area_at_row(row)
        st['geom_area'] += geom_area_px * self.pa.area_at_row(row)
        spec = self.layers.get(reg.key)
        if spec is None:
            return
        if not poly.is_valid:
            self.repaired += 1
            st['repaired'] += 1
            poly = shapely.make_valid(poly)
        parts = [poly] if poly.geom_type == 'Polygon' else \
            [g for g in getattr(poly, 'geoms', []) if g.geom_type == 'Polygon' and g.area > 0]
        total = sum(p.area for p in parts) or 1.0
        for part in parts:
            share = part.area / total
            npix = reg.npix * share
            area = npix * self.pa.area_at_row(row)
            garea = part.area * self.pa.area_at_row(row)
            props = self._props(spec, npix, area, reg.conf_sum, reg.npix, reg.cut)
            props['geom_area_m2' if self.pa.unit == 'm2' else 'geom_area_px'] = round(garea, 6)
            if self.regularize is not None and reg.key == self.building_class:
                props['regularized'] = int(reg.regularized or 0)
                st['regularized'] += int(reg.regularized or 0)
            self._send(reg.key, self._rounded(affine_transform(part, self._to_out)), props, area)

    def close(self):
        """Merge and write what is still carried or waiting (every strip must have been given)."""
        super().close()
        if self._raw is not None:
            self._raw.close()
        self._settle(self.bottom, last=True)

    def layer_stats(self) -> Dict[Hashable, dict]:
        """Stats of the written layers (see :func:`vectorize_coverage`)."""
        return {k: dict(self.stats[k]) for k in self.layers}


def _new_stats() -> dict:
    return dict(polygons=0, dropped_small=0, area=0.0, dropped_area=0.0, cut=0, pixel_area=0.0,
                geom_area=0.0, repaired=0, regularized=0)


def _region_labels(block: np.ndarray):
    """One label per 4-connected region of equal values; returns ``(labels int32, class of each label)``."""
    from scipy import ndimage
    labels = np.zeros(block.shape, np.int32)
    classes = [0]
    for c in np.unique(block):
        lab, n = ndimage.label(block == c)
        sel = lab > 0
        labels[sel] = lab[sel] + (len(classes) - 1)
        classes.extend([int(c)] * n)
        del lab, sel
    return labels, np.asarray(classes)


def sieve_strips(read_rows, top: int, bottom: int, strip_rows: int, min_pixels: int, nodata: int = 255,
                 max_halo: int = 4096) -> Iterator[tuple]:
    """Yield ``(row0, block)`` strips of a class map with specks below ``min_pixels`` dissolved.

    Args:
        read_rows: ``f(r0, r1) -> uint8 (r1 - r0, width)`` reading rows of the class map.
        top, bottom: rows covered.
        strip_rows: rows per strip.
        min_pixels: speck size; 0 or 1 yields the strips unchanged.
        nodata: value never sieved (and never used as a neighbour).
        max_halo: most extra rows read above and below a strip (a 4-connected speck of ``n`` pixels
            spans at most ``n`` rows, so specks smaller than this are dissolved exactly as in a
            whole-raster sieve).
    """
    from rasterio.features import sieve
    halo = min(max(int(min_pixels), 0), max_halo) if min_pixels > 1 else 0
    for r0 in range(top, bottom, strip_rows):
        r1 = min(bottom, r0 + strip_rows)
        if not halo:
            yield r0, read_rows(r0, r1)
            continue
        a0, a1 = max(top, r0 - halo), min(bottom, r1 + halo)
        win = read_rows(a0, a1)
        valid = win != nodata
        out = sieve(win, size=int(min_pixels), connectivity=4, mask=valid)
        out = np.where(valid, out, win).astype(win.dtype)
        yield r0, out[r0 - a0:r1 - a0]


def vectorize_coverage(class_map_path, layers: Dict[int, LayerSpec], pixel_areas: PixelAreas,
                       polygons: PolygonOptions = PolygonOptions(min_area=0.0, simplify=0.0), *,
                       strip_rows: int = 2048, data_window: Optional[tuple] = None, confidence_path=None,
                       max_polygon_rows: Optional[int] = None, regularize: Optional[RegularizeOptions] = None,
                       building_class: int = 4) -> dict:
    """Polygonise a class-index raster (uint8, 255 = no prediction) into a coverage.

    Args:
        layers: ``{class_id: LayerSpec}`` -- where each written class's polygons go (``polygons.classes``
            is not consulted: the layers are the selection).
        pixel_areas: ground area per pixel row of this raster.
        polygons: ``min_area`` (the sieve), ``simplify`` and ``regularize_buildings`` (None values: the
            defaults of :meth:`PolygonOptions.with_defaults`).
        strip_rows: rows polygonised at a time.
        data_window: ``(row0, row1, col0, col1)`` outside which the raster is nodata.
        confidence_path: optional ``uint8`` confidence raster (%) on the same grid.
        max_polygon_rows: see :class:`StripPolygonizer`; default ``4 * strip_rows``; 0 never cuts.
        regularize: :class:`RegularizeOptions` (lengths in pixels); default: its defaults.
        building_class: class value of buildings.

    Returns:
        ``{'layers': {class_id: stats}, 'classes': {class value: stats}, 'strip_checks',
        'invalid_strips', 'repaired', 'sieved_pixels', 'peak_carried_vertices'}`` -- per class
        ``pixel_area`` (exact area of its pixels after the sieve) and ``geom_area`` (area of the
        written geometries) in ``pixel_areas.unit``; ``layers`` has the strip polygoniser's keys, with
        ``dropped_small`` 0 (nothing is dropped) and ``dropped_area`` the net area the sieve took from the
        class (negative when it gained specks of others), so ``area + dropped_area`` is still the class's
        area in the area table.
    """
    import rasterio
    from rasterio.windows import Window
    top, bottom, left, right = data_window or (0, pixel_areas.height, 0, pixel_areas.width)
    if max_polygon_rows is None:
        max_polygon_rows = 4 * strip_rows
    max_polygon_rows = max_polygon_rows or None
    polygons = polygons.with_defaults(pixel_areas)
    poly = CoveragePolygonizer(layers, pixel_areas, polygons, (top, bottom, left, right), max_polygon_rows,
                               has_confidence=confidence_path is not None, regularize=regularize,
                               building_class=building_class, nodata=NODATA)
    px_area = pixel_areas.area_at_row(pixel_areas.height / 2) if pixel_areas.unit == 'm2' else 1.0
    min_pixels = int(math.ceil(polygons.min_area / px_area)) if polygons.min_area > 0 else 0
    sieved = 0
    sieved_area: Dict[int, float] = defaultdict(float)
    conf_ds = rasterio.open(confidence_path) if confidence_path is not None else None
    try:
        with rasterio.open(class_map_path) as ds:
            if (ds.width, ds.height) != (pixel_areas.width, pixel_areas.height):
                raise ValueError(f'{class_map_path}: class map size {ds.width}x{ds.height} differs from the grid '
                                 f'of its pixel areas {pixel_areas.width}x{pixel_areas.height}')
            if conf_ds is not None and (conf_ds.width, conf_ds.height) != (ds.width, ds.height):
                raise ValueError(f'{confidence_path}: confidence raster size {conf_ds.width}x{conf_ds.height} '
                                 f'differs from the class map {ds.width}x{ds.height}')

            def read_rows(r0, r1):
                return ds.read(1, window=Window(left, r0, right - left, r1 - r0))

            strips = sieve_strips(read_rows, top, bottom, strip_rows, min_pixels, NODATA)
            prev_last, cur = None, next(strips, None)
            while cur is not None:
                nxt = next(strips, None)
                r0, block = cur
                if min_pixels > 1:
                    before = read_rows(r0, r0 + block.shape[0])
                    changed = block != before
                    sieved += int(np.count_nonzero(changed))
                    if changed.any():
                        rows_area = _rows_area(pixel_areas, r0, block.shape[0])
                        for c in np.unique(np.concatenate([before[changed], block[changed]])):
                            lost = np.count_nonzero(before == c, axis=1) - np.count_nonzero(block == c, axis=1)
                            sieved_area[int(c)] += float(rows_area @ lost)
                conf = None
                if conf_ds is not None:
                    conf = conf_ds.read(1, window=Window(left, r0, right - left, block.shape[0]))
                poly.add_block(r0, block, prev_last, nxt[1][0] if nxt is not None else None, conf)
                prev_last = block[-1].copy()
                cur = nxt
        poly.close()
    finally:
        if conf_ds is not None:
            conf_ds.close()
    for c, area in sieved_area.items():
        poly.stats[c]['dropped_area'] = area  # net area the sieve took from (or, < 0, gave to) the class
    return dict(layers=poly.layer_stats(), classes={k: dict(v) for k, v in poly.stats.items()},
                strip_checks=poly.strip_checks, invalid_strips=list(poly.invalid_strips),
                repaired=poly.repaired, sieved_pixels=sieved, peak_carried_vertices=poly.peak_carried_vertices,
                unit=pixel_areas.unit)


def _rows_area(pixel_areas: PixelAreas, r0: int, h: int) -> np.ndarray:
    """Ground area of one pixel in each of rows ``[r0, r0 + h)`` (1 without ground units)."""
    if pixel_areas.row_area is None:
        return np.ones(h)
    return pixel_areas.row_area[r0:r0 + h]


def validity_report(result: dict, names: Optional[dict] = None, check: Optional[dict] = None) -> dict:
    """The map's validity report from :func:`vectorize_coverage`'s result.

    Args:
        result: :func:`vectorize_coverage`'s return value.
        names: ``{class value: display name}`` (default: the class values).
        check: optional :func:`check_coverage` result on the written file.

    Returns:
        ``{'coverage_valid', 'strips_checked', 'invalid_strips', 'invalid_repaired', 'sieved_pixels',
        'classes': [{'class_id', 'class', 'pixel_area', 'geom_area', 'area_change_pct'}], 'unit'}`` --
        ``coverage_valid`` is True only when every strip was valid (and, when given, the written file).
    """
    names = names or {}
    rows = []
    for k, st in sorted(result['classes'].items(), key=lambda kv: kv[0]):
        if k == NODATA:
            continue
        pa, ga = st['pixel_area'], st['geom_area']
        rows.append(dict(class_id=k, **{'class': names.get(k, str(k))}, pixel_area=round(pa, 4),
                         geom_area=round(ga, 4),
                         area_change_pct=round(100.0 * (ga - pa) / pa, 4) if pa else 0.0,
                         polygons=st['polygons'], regularized=st['regularized']))
    valid = not result['invalid_strips'] and result['strip_checks'] > 0
    if check is not None:
        valid = valid and check['valid']
    return dict(coverage_valid=bool(valid), strips_checked=result['strip_checks'],
                invalid_strips=result['invalid_strips'], invalid_repaired=result['repaired'],
                sieved_pixels=result['sieved_pixels'], unit=result['unit'], classes=rows,
                file_check=check)


def check_coverage(geoms_by_band: Iterator[list]) -> dict:
    """Check a written coverage band by band (``shapely.coverage_is_valid`` on each band's polygons).

    Args:
        geoms_by_band: yields, per band of rows, the polygons that intersect it (whole geometries);
            every pair of neighbours meets in some band, so the coverage is valid when all bands are.

    Returns:
        ``{'valid', 'bands', 'invalid_bands'}``.
    """
    import shapely
    bands, bad = 0, []
    for i, geoms in enumerate(geoms_by_band):
        bands += 1
        arr = np.asarray(geoms, dtype=object)
        if len(arr) > 1 and not bool(shapely.coverage_is_valid(arr)):
            bad.append(i)
    return dict(valid=not bad, bands=bands, invalid_bands=bad)


def gpkg_bands(path, layers, n_bands: int = 16) -> Iterator[list]:
    """Yield, for ``n_bands`` horizontal bands of a GeoPackage's extent, the polygons of ``layers``
    whose bounding box meets the band (read with a bbox filter: memory is one band's polygons) --
    the input of :func:`check_coverage` for a written file."""
    import shapely
    from pyogrio import read_info
    from pyogrio.raw import read
    ext = [read_info(str(path), layer=name)['total_bounds'] for name in layers]
    ext = np.array([e for e in ext if e is not None and len(e) == 4], np.float64).reshape(-1, 4)
    ext = ext[np.all(np.isfinite(ext), axis=1)]  # an empty layer has no extent
    if not len(ext):
        return
    x0, y0, x1, y1 = ext[:, 0].min(), ext[:, 1].min(), ext[:, 2].max(), ext[:, 3].max()
    edges = np.linspace(y0, y1, n_bands + 1)
    for a, b in zip(edges[:-1], edges[1:]):
        geoms = []
        for name in layers:
            _, _, wkb, _ = read(str(path), layer=name, bbox=(x0, a, x1, b), columns=[])
            geoms.extend(g for g in shapely.from_wkb(wkb) if g is not None)
        yield geoms
