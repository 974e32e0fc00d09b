"""Boolean masks -> polygons, strip by strip, with memory bounded by a few strips.

:class:`StripPolygonizer` receives horizontal strips of boolean masks (one per output layer: a class,
or a change category) in row order. Each strip's connected regions (4-connectivity, labelled with
``scipy.ndimage.label``) become polygons with pixel-edge outlines and holes
(``rasterio.features.shapes``); their pixel count and confidence sum come from the same labels.

Regions that touch the strip's lower boundary may continue in the next strip: they are *carried*
and merged (``shapely.unary_union``) with the next strip's regions that touch that boundary. A
carried polygon is written as soon as it no longer reaches the current strip's lower boundary, so
the result equals polygonising the whole raster at once -- except for regions taller than
``max_polygon_rows`` (a connected road grid or tree canopy spanning the mosaic): these are cut
along a strip boundary, the finished upper part is written with ``cut = 1`` and only the part in the
current strip is carried on. Memory therefore stays bounded by ``max_polygon_rows`` rows of
geometry whatever the image height, instead of growing with the largest connected network.

Written polygons go to *sinks* (:mod:`vnseg.geo.layers` writers, or anything with
``add(geometry, properties)``) in output coordinates (:class:`vnseg.geo.georef.Georef`), each polygon
on its own optionally simplified (Douglas-Peucker, topology preserved) and rounded to 1/1000 of a
pixel, clipped to the raster bounds; polygons below ``min_area`` are dropped. Masks that may overlap
(change categories: :mod:`vnseg.geo.change`) are polygonised so; a class map, whose classes tile the
map, goes through :mod:`vnseg.geo.coverage`, which builds on the merging here.

Feature properties: ``class_id``, ``class``, ``area_m2`` and ``area_ha`` (or ``area_px`` without
ground units) -- the exact area of the pixels of the polygon before simplification --,
``confidence`` (mean max-class probability of its pixels in %, when a confidence raster is given)
and ``cut`` (1 when the polygon is a part of a taller region cut to bound memory).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional

import numpy as np

from .areas import PixelAreas

__all__ = ['LayerSpec', 'StripPolygonizer']


@dataclass
class _Piece:
    """A polygon in pixel coordinates with its pixel count, confidence sum and first row."""

    geom: object
    npix: float
    conf_sum: float
    top: float
    cut: int = 0


@dataclass
class LayerSpec:
    """One output layer: the sinks its polygons go to and the properties they carry."""

    sinks: list
    class_id: int
    name: str


def _regroup(pieces: List[_Piece], top: Optional[float], cut: int) -> List[_Piece]:
    """Union of ``pieces`` as separate polygons, each with the pixel count and confidence sum of the
    pieces it contains (``top``: first row of each, None = the pieces' own minimum)."""
    import shapely
    merged = shapely.unary_union([p.geom for p in pieces])
    out = []
    for poly in getattr(merged, 'geoms', [merged]):
        sel = [p for p in pieces if poly.covers(shapely.point_on_surface(p.geom))]
        out.append(_Piece(poly, sum(p.npix for p in sel), sum(p.conf_sum for p in sel),
                          min(p.top for p in sel) if top is None else top, cut))
    return out


class StripPolygonizer:
    """Polygonise strips of boolean masks into layers, merging across strips (see module doc).

    Args:
        layers: ``{key: LayerSpec}`` -- masks given to :meth:`add` use the same keys.
        pixel_areas: ground area per pixel row (also carries the :class:`Georef` decision).
        min_area: drop smaller polygons; m^2 when ``pixel_areas.unit == 'm2'``, else pixels.
        simplify: Douglas-Peucker tolerance, metres (``'m2'``) or pixels; 0 = exact outlines.
        bounds: ``(top, bottom, left, right)`` pixel rows/columns covered by the strips.
        max_polygon_rows: regions taller than this are cut at a strip boundary (memory bound);
            None never cuts.
    """

    def __init__(self, layers: Dict[Hashable, LayerSpec], pixel_areas: PixelAreas, min_area: float = 0.0,
                 simplify: float = 0.0, bounds: Optional[tuple] = None,
                 max_polygon_rows: Optional[int] = None, has_confidence: bool = False):
        self.layers = layers
        self.has_confidence = has_confidence
        self.pa = pixel_areas
        self.georef = pixel_areas.georef
        g = self.georef
        self.min_area = float(min_area)
        if simplify > 0:
            tol_px = simplify if self.pa.unit != 'm2' else \
                simplify / (self.pa.linear_scale() * math.sqrt(self.pa.planar_pixel_area))
            self.tol_out = g.pixels_to_output(tol_px)
        else:
            self.tol_out = 0.0
        self.top, self.bottom, self.left, self.right = bounds or (0, g.height, 0, g.width)
        self.max_rows = max_polygon_rows
        t = g.transform
        self._to_out = [t.a, t.b, t.d, t.e, t.c, t.f]
        # output coordinates rounded to 1/1000 of a pixel, and kept inside the raster
        self.decimals = max(0, math.ceil(-math.log10(min(g.pixel_size) / 1000)))
        corners = np.array([t * (0, 0), t * (g.width, 0), t * (0, g.height), t * (g.width, g.height)])
        self._lo, self._hi = corners.min(axis=0), corners.max(axis=0)
        self.carry: Dict[Hashable, List[_Piece]] = {k: [] for k in layers}
        self.stats = {k: dict(polygons=0, dropped_small=0, area=0.0, dropped_area=0.0, cut=0) for k in layers}
        self.peak_carried_vertices = 0
        self._next_row = self.top

    # -- strips --------------------------------------------------------------------------------
    def add(self, row0: int, h: int, masks: Dict[Hashable, np.ndarray], confidence: Optional[np.ndarray] = None):
        """Add rows ``[row0, row0 + h)``: ``masks[key]`` is ``bool (h, right - left)`` (a key may be
        missing when the layer has no pixel in the strip);
        ``confidence`` optional ``uint8 (h, right - left)`` in % (values > 100 count as 0)."""
        from affine import Affine
        from rasterio import features
        from scipy import ndimage
        from shapely.geometry import shape
        if row0 != self._next_row:
            raise ValueError(f'strips must come in order: expected row {self._next_row}, got {row0}')
        r1 = row0 + h
        self._next_row = r1
        conf = None
        if confidence is not None:
            conf = np.where(confidence <= 100, confidence, 0).astype(np.float64)
        offset = Affine.translation(self.left, row0)
        for key in self.layers:
            mask = masks.get(key)
            pieces = []
            if mask is not None and mask.any():
                labels, n = ndimage.label(mask)
                flat = labels.ravel()
                npix = np.bincount(flat, minlength=n + 1)
                csum = np.bincount(flat, weights=conf.ravel(), minlength=n + 1) if conf is not None else None
                for geom, value in features.shapes(labels, mask=mask, connectivity=4, transform=offset):
                    i = int(value)
                    poly = shape(geom)
                    pieces.append(_Piece(poly, float(npix[i]), float(csum[i]) if csum is not None else 0.0,
                                         poly.bounds[1]))
                del labels, flat
            self._merge(key, pieces, row0, r1)
        self.peak_carried_vertices = max(self.peak_carried_vertices, self.carried_vertices())

    def carried_vertices(self) -> int:
        """Vertices of the polygons carried to the next strip (the polygoniser's memory)."""
        import shapely
        return int(sum(shapely.get_num_coordinates(p.geom) for ps in self.carry.values() for p in ps))

    def _merge(self, key, pieces: List[_Piece], r0: int, r1: int):
        import shapely
        last = r1 >= self.bottom
        touches_top = [p for p in pieces if r0 > self.top and p.geom.bounds[1] <= r0]
        rest = [p for p in pieces if not (r0 > self.top and p.geom.bounds[1] <= r0)]
        carried = self.carry[key]
        new_carry: List[_Piece] = []
        if carried or touches_top:
            group_in = carried + touches_top
            merged = shapely.unary_union([p.geom for p in group_in])
            comps = list(getattr(merged, 'geoms', [merged]))
            tree = shapely.STRtree(comps)
            pts = shapely.point_on_surface([p.geom for p in group_in])
            src, dst = tree.query(pts, predicate='within')
            members: Dict[int, List[int]] = {}
            for s, d in zip(src.tolist(), dst.tolist()):
                members.setdefault(d, []).append(s)
            for d, idx in members.items():
                self._finish_or_carry(key, comps[d], [group_in[i] for i in idx], carried, r0, r1, last,
                                      new_carry)
        for p in rest:
            if not last and p.geom.bounds[3] >= r1:
                new_carry.append(p)
            else:
                self._emit(key, p.geom, p.npix, p.conf_sum, p.cut)
        self.carry[key] = new_carry

    def _finish_or_carry(self, key, comp, parts, carried, r0, r1, last, new_carry):
        npix = sum(p.npix for p in parts)
        csum = sum(p.conf_sum for p in parts)
        top = min(p.top for p in parts)
        cut = max(p.cut for p in parts)
        if last or comp.bounds[3] < r1:
            self._emit(key, comp, npix, csum, cut)
            return
        if self.max_rows is not None and r1 - top > self.max_rows:
            old = [p for p in parts if any(p is c for c in carried)]
            new = [p for p in parts if not any(p is c for c in carried)]
            if old and new:
                # rows above r0 are final: write them, carry only this strip's part
                for piece in _regroup(old, top=None, cut=1):
                    self._emit(key, piece.geom, piece.npix, piece.conf_sum, 1)
                new_carry.extend(_regroup(new, top=r0, cut=1))
                self.stats[key]['cut'] += 1
                return
        new_carry.append(_Piece(comp, npix, csum, top, cut))

    # -- writing -------------------------------------------------------------------------------
    def _props(self, spec: LayerSpec, npix: float, area: float, conf_sum: float, conf_npix: float, cut: int) -> dict:
        """The attribute row of one polygon (its class, area in the map's unit, mean confidence, cut flag)."""
        if self.pa.unit == 'm2':
            props = dict(class_id=spec.class_id, **{'class': spec.name}, area_m2=round(area, 6),
                         area_ha=round(area / 1e4, 10))
        else:
            props = dict(class_id=spec.class_id, **{'class': spec.name}, area_px=float(npix))
        props['confidence'] = round(conf_sum / conf_npix, 2) if (self.has_confidence and conf_npix) else None
        props['cut'] = int(cut)
        return props

    def _rounded(self, geom):
        """``geom`` (output coordinates) rounded to the writers' decimals and kept inside the map's bounds."""
        import shapely
        return shapely.transform(geom, lambda xy: np.clip(np.round(xy, self.decimals), self._lo, self._hi))

    def _send(self, key, geom, props: dict, area: float):
        """Hand one polygon to every sink of its layer and count it."""
        for sink in self.layers[key].sinks:
            sink.add(geom, props)
        st = self.stats[key]
        st['polygons'] += 1
        st['area'] += area

    def _emit(self, key, poly_px, npix: float, conf_sum: float, cut: int):
        from shapely.affinity import affine_transform
        spec = self.layers[key]
        st = self.stats[key]
        area = npix * self.pa.area_at_row(poly_px.centroid.y) if self.pa.unit == 'm2' else npix
        if area < self.min_area:
            st['dropped_small'] += 1
            st['dropped_area'] += area
            return
        props = self._props(spec, npix, area, conf_sum, npix, cut)
        geom = affine_transform(poly_px, self._to_out)
        if self.tol_out > 0:
            geom = geom.simplify(self.tol_out, preserve_topology=True)
            if geom.is_empty:
                st['dropped_small'] += 1
                st['dropped_area'] += area
                return
        self._send(key, self._rounded(geom), props, area)

    def close(self):
        """Write what is still carried (the caller must have given every strip)."""
        if self._next_row != self.bottom:
            raise ValueError(f'polygoniser got rows up to {self._next_row}, expected {self.bottom}')
        for key, pieces in self.carry.items():
            for p in pieces:
                self._emit(key, p.geom, p.npix, p.conf_sum, p.cut)
            self.carry[key] = []
