"""Raster masks -> polygons, strip by strip, with memory bounded by a few strips.

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

Written polygons go to *sinks* (:mod:`vnseg.geo.layers` writers) in output coordinates
(:class:`vnseg.geo.georef.Georef`), optionally simplified (Douglas-Peucker, topology preserved) and
rounded to 1/1000 of a pixel, clipped to the raster bounds.

What is polygonised and how is :class:`PolygonOptions` (the ``vnseg map`` flags ``--classes``,
``--min-area``, ``--simplify``); where the polygons go is :class:`PolygonFiles` (``STEM.gpkg``,
``STEM_<class>.geojson``); :func:`write_class_polygons` takes both.

Feature properties: ``class_id``, ``class``, ``area_m2`` and ``area_ha`` (or ``area_px`` without
ground units) -- the exact area of the pixels of the polygon before simplification --,
``confidence`` (mean max-class probability of its pixels in %, when a confidence raster is given)
and ``cut`` (1 when the polygon is a part of a taller region cut to bound memory).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Hashable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .areas import PixelAreas

__all__ = ['PolygonOptions', 'PolygonFiles', 'StripPolygonizer', 'vectorize_class_map', 'write_class_polygons',
           'safe_name']


def safe_name(name) -> str:
    """``name`` as a part of a file name: runs of characters other than ``A-Za-z0-9_.-`` become ``_``."""
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', str(name)).strip('_') or 'class'


@dataclass(frozen=True)
class PolygonOptions:
    """Which classes become polygons and how: the ``vnseg map`` flags of the same names.

    A new polygon option is a field here named like its flag (``--min-area`` -> ``min_area``), the
    flag in :mod:`vnseg.commands.map` (its parser fills the field by name) and its use in
    :func:`vectorize_class_map` or :func:`write_class_polygons`; every caller passes this object on
    whole.

    Attributes:
        classes: class names or ids to polygonise (``--classes``); None: every class but one named
            ``background``.
        min_area: drop smaller polygons (``--min-area``); m^2 when the raster has ground units, else
            pixels. None: 1 m^2, or 16 px.
        simplify: Douglas-Peucker tolerance (``--simplify``) in metres, or pixels without ground
            units; 0 keeps the exact pixel outlines. None: half a pixel.
    """
    classes: Optional[Tuple[Union[str, int], ...]] = None
    min_area: Optional[float] = None
    simplify: Optional[float] = None

    def __post_init__(self):
        if self.classes is not None:
            object.__setattr__(self, 'classes', tuple(self.classes))

    def class_ids(self, classes: Sequence[str]) -> List[int]:
        """The sorted ids of :attr:`classes` among ``classes`` (names, index = id).

        Raises:
            ValueError: an unknown class name or an id out of range.
        """
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


@dataclass(frozen=True)
class PolygonFiles:
    """Where the polygons of a class map go, and how their layers are named and coloured.

    ``OUT_DIR/STEM.gpkg`` (one layer per class, QGIS styles in ``layer_styles``) and
    ``OUT_DIR/STEM_<class>.geojson`` (RFC 7946 when georeferenced) with a ``.qml`` style beside each.

    Attributes:
        out_dir, stem: the folder and the common start of the file names.
        classes: canonical class names, index = class id (file names use them).
        palette: RGB colour per class.
        lang: language of the layer names and of the ``class`` property
            (:func:`vnseg.classes.class_names`).
        gpkg, geojson: which files are written.
    """
    out_dir: Path
    stem: str
    classes: Tuple[str, ...]
    palette: Sequence[Sequence[int]]
    lang: str = 'en'
    gpkg: bool = True
    geojson: bool = True

    def __post_init__(self):
        object.__setattr__(self, 'out_dir', Path(self.out_dir))
        object.__setattr__(self, 'classes', tuple(self.classes))

    @property
    def names(self) -> Tuple[str, ...]:
        """Display names of the classes (layer names, ``class`` property, legends)."""
        from vnseg.classes import class_names
        return class_names(self.lang, self.classes)

    @property
    def gpkg_path(self) -> Path:
        return self.out_dir / f'{self.stem}.gpkg'

    def geojson_path(self, class_id: int) -> Path:
        return self.out_dir / f'{self.stem}_{safe_name(self.classes[class_id])}.geojson'

    def paths(self, class_ids: Sequence[int]) -> List[Path]:
        """Every file written for ``class_ids`` (styles aside)."""
        return ([self.geojson_path(c) for c in class_ids] if self.geojson else []) + \
            ([self.gpkg_path] if self.gpkg else [])


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
    def _emit(self, key, poly_px, npix: float, conf_sum: float, cut: int):
        import shapely
        from shapely.affinity import affine_transform
        spec = self.layers[key]
        st = self.stats[key]
        if self.pa.unit == 'm2':
            area = npix * self.pa.area_at_row(poly_px.centroid.y)
            props = dict(class_id=spec.class_id, **{'class': spec.name}, area_m2=round(area, 6),
                         area_ha=round(area / 1e4, 10))
        else:
            area = npix
            props = dict(class_id=spec.class_id, **{'class': spec.name}, area_px=float(npix))
        if area < self.min_area:
            st['dropped_small'] += 1
            st['dropped_area'] += area
            return
        props['confidence'] = round(conf_sum / npix, 2) if (self.has_confidence and npix) else None
        props['cut'] = int(cut)
        geom = affine_transform(poly_px, self._to_out)
        if self.tol_out > 0:
            geom = geom.simplify(self.tol_out, preserve_topology=True)
            if geom.is_empty:
                st['dropped_small'] += 1
                st['dropped_area'] += area
                return
        geom = shapely.transform(geom, lambda xy: np.clip(np.round(xy, self.decimals), self._lo, self._hi))
        for sink in spec.sinks:
            sink.add(geom, props)
        st['polygons'] += 1
        st['area'] += area

    def close(self):
        """Write what is still carried (the caller must have given every strip)."""
        if self._next_row != self.bottom:
            raise ValueError(f'polygoniser got rows up to {self._next_row}, expected {self.bottom}')
        for key, pieces in self.carry.items():
            for p in pieces:
                self._emit(key, p.geom, p.npix, p.conf_sum, p.cut)
            self.carry[key] = []


def vectorize_class_map(class_map_path, layers: Dict[int, LayerSpec], pixel_areas: PixelAreas,
                        polygons: PolygonOptions = PolygonOptions(min_area=0.0, simplify=0.0), *,
                        confidence_path=None, data_window: Optional[tuple] = None, strip_rows: int = 2048,
                        max_polygon_rows: Optional[int] = None) -> Dict[int, dict]:
    """Polygonise classes of a class-index raster (uint8, 255 = nodata) strip by strip.

    Args:
        layers: ``{class_id: LayerSpec}`` -- where each class's polygons go (``polygons.classes`` is
            not consulted: the layers are the selection).
        pixel_areas: ground area per pixel row of this raster (and its :class:`Georef`).
        polygons: ``min_area`` and ``simplify`` (their defaults: :meth:`PolygonOptions.with_defaults`).
        confidence_path: optional ``uint8`` confidence raster (%) on the same grid.
        data_window: ``(row0, row1, col0, col1)`` outside which the raster is nodata; only this part is read.
        strip_rows: rows polygonised at a time (memory ~ ``strip_rows x width`` x a few bytes).
        max_polygon_rows: see :class:`StripPolygonizer`; default ``4 * strip_rows``; 0 never cuts.

    Returns:
        ``{class_id: {'polygons', 'dropped_small', 'area', 'dropped_area', 'cut'}}`` -- ``area`` is the
        summed exact pixel area of the written polygons, ``dropped_area`` that of the polygons below
        ``min_area``, in ``pixel_areas.unit`` (their sum is the class's area in the table).
    """
    import rasterio
    from rasterio.windows import Window
    top, bottom, left, right = data_window or (0, pixel_areas.height, 0, pixel_areas.width)
    if max_polygon_rows is None:
        max_polygon_rows = 4 * strip_rows
    max_polygon_rows = max_polygon_rows or None
    polygons = polygons.with_defaults(pixel_areas)
    poly = StripPolygonizer(layers, pixel_areas, polygons.min_area, polygons.simplify, (top, bottom, left, right),
                            max_polygon_rows, has_confidence=confidence_path is not None)
    conf_ds = rasterio.open(confidence_path) if confidence_path is not None else None
    try:
        with rasterio.open(class_map_path) as ds:
            if conf_ds is not None and (conf_ds.width, conf_ds.height) != (ds.width, ds.height):
                raise ValueError(f'{confidence_path}: confidence raster size {conf_ds.width}x{conf_ds.height} '
                                 f'differs from the class map {ds.width}x{ds.height}')
            for r0 in range(top, bottom, strip_rows):
                r1 = min(bottom, r0 + strip_rows)
                win = Window(left, r0, right - left, r1 - r0)
                block = ds.read(1, window=win)
                present = np.bincount(block.ravel(), minlength=256)
                masks = {c: block == c for c in layers if present[c]}
                conf = conf_ds.read(1, window=win) if conf_ds is not None else None
                poly.add(r0, r1 - r0, masks, conf)
                del block, masks
        poly.close()
    finally:
        if conf_ds is not None:
            conf_ds.close()
    return poly.stats


def _geojson_decimals(pixel_areas: PixelAreas) -> int:
    """Decimals of GeoJSON coordinates: lon/lat to ~1/1000 of a pixel, else 1/1000 of a pixel."""
    from .layers import lonlat_decimals
    g = pixel_areas.georef
    if g.kind == 'crs':
        return lonlat_decimals(g, pixel_areas.linear_scale() if pixel_areas.unit == 'm2' else 1.0)
    return max(0, math.ceil(-math.log10(min(g.pixel_size) / 1000)))


def write_class_polygons(class_map_path, files: PolygonFiles, pixel_areas: PixelAreas,
                         polygons: PolygonOptions = PolygonOptions(), *, confidence_path=None,
                         data_window: Optional[tuple] = None, strip_rows: int = 2048,
                         max_polygon_rows: Optional[int] = None):
    """The inference tool's polygon outputs: ``STEM.gpkg`` (one styled layer per class, grid CRS) and
    ``STEM_<class>.geojson`` (RFC 7946 when georeferenced) with a ``.qml`` beside each.

    Args:
        class_map_path: the class-index raster (uint8, 255 = nodata).
        files: which files, where, with which layer names and colours.
        pixel_areas: ground area per pixel row of the raster (and its georeferencing).
        polygons: the classes (``polygons.classes``, resolved against ``files.classes``), minimum area
            and simplification.
        confidence_path, data_window, strip_rows, max_polygon_rows: see :func:`vectorize_class_map`.

    Returns:
        ``(gpkg path or None, {class_id: geojson path}, stats)``; nothing is left under a final name
        when it fails.

    Raises:
        ValueError: an unknown class in ``polygons.classes``.
    """
    from .layers import GeoJSONWriter, GeoPackageWriter, layer_fields
    from .styles import polygon_layer_qml, write_qml
    from vnseg.data.io import atomic_output  # noqa: F401  (documented contract: atomic outputs)
    g = pixel_areas.georef
    class_ids = polygons.class_ids(files.classes)
    names = files.names
    gp = GeoPackageWriter(files.gpkg_path, g) if files.gpkg else None
    fields = layer_fields(pixel_areas.unit, with_confidence=True)
    dec = _geojson_decimals(pixel_areas)
    layers, gj_paths, writers = {}, {}, []
    for c in class_ids:
        sinks = []
        if gp is not None:
            sinks.append(gp.layer(names[c], fields))
        if files.geojson:
            gj_paths[c] = files.geojson_path(c)
            writers.append(GeoJSONWriter(gj_paths[c], names[c], g, decimals=dec))
            sinks.append(writers[-1])
        layers[c] = LayerSpec(sinks, c, names[c])
    try:
        stats = vectorize_class_map(class_map_path, layers, pixel_areas, polygons, confidence_path=confidence_path,
                                    data_window=data_window, strip_rows=strip_rows,
                                    max_polygon_rows=max_polygon_rows)
        styles = {names[c]: polygon_layer_qml(c, names[c], files.palette[c]) for c in class_ids}
        for w in writers:
            w.close()
        for c in gj_paths:
            write_qml(gj_paths[c].with_suffix('.qml'), styles[names[c]])
        gpkg_path = gp.close(styles) if gp is not None else None
    except BaseException:
        for w in writers:
            w.abort()
        if gp is not None:
            gp.abort()
        raise
    for c in stats:
        stats[c]['has_confidence'] = confidence_path is not None
    return gpkg_path, gj_paths, stats
