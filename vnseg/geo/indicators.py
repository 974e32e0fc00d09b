"""Urban indicators per map and per zone: building coverage, tree cover, impervious share, roads, buildings.

The numbers planners write in a plan, from the class map and the building polygons:

* ``building_coverage_pct`` (mật độ xây dựng) -- building area / zone area; ``tree_cover_pct``,
  ``water_pct``; ``impervious_pct`` -- building + road area / zone area. Areas are the exact ground
  areas of the pixels (:class:`vnseg.geo.areas.PixelAreas`), the zone area being its predicted
  (non-nodata) area, as in the zone table.
* ``road_length_km`` -- length of the road class's centre lines: the skeleton of the road mask
  (``skimage.morphology.skeletonize``) measured from pixel centre to pixel centre, a step to a
  horizontal or vertical neighbour counting one pixel and a diagonal step sqrt(2) pixels (a diagonal
  step that a horizontal + vertical pair of skeleton pixels already joins is not counted twice), in
  ground metres with the ground size of a pixel at its row (the square root of the row's pixel area).
  No spur pruning: a ragged road edge adds short branches. ``road_density_km_km2`` = km per km^2.
* ``building_count``, ``footprint_median_m2``, ``footprint_total_m2`` -- from the building polygons
  (their drawn area: ``geom_area_m2`` where the coverage polygoniser gave one, else ``area_m2``); a
  building belongs to the zone that contains its representative point.

Bounded memory: the skeleton is computed strip by strip with ``halo`` extra rows above and below
(thinning only looks as far as a road's half width), and each skeleton step is counted once, at its
upper (or left) pixel, so a road crossing a strip line is counted once.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .areas import PixelAreas

__all__ = ['UrbanClasses', 'INDICATORS', 'indicator_labels', 'skeleton_step_lengths', 'RoadLengths',
           'measure_road_length', 'BuildingTally', 'indicators_from_areas', 'map_indicators',
           'zone_indicators', 'write_indicator_tables', 'zone_layer_fields', 'zone_layer_features', 'zone_layer_qml',
           'ZONE_LAYER', 'SceneIndicators']

#: Indicator columns: ``(key, English label, Vietnamese label, unit)``.
INDICATORS = (
    ('area_ha', 'area', 'diện tích', 'ha'),
    ('building_coverage_pct', 'building coverage ratio', 'mật độ xây dựng', '%'),
    ('tree_cover_pct', 'tree cover', 'tỷ lệ cây xanh', '%'),
    ('impervious_pct', 'impervious surface (building + road)', 'tỷ lệ bề mặt không thấm (công trình + đường)', '%'),
    ('water_pct', 'water surface', 'tỷ lệ mặt nước', '%'),
    ('road_length_km', 'road centre-line length', 'chiều dài tim đường', 'km'),
    ('road_density_km_km2', 'road density', 'mật độ đường', 'km/km²'),
    ('building_count', 'buildings', 'số công trình', ''),
    ('footprint_median_m2', 'median building footprint', 'diện tích công trình trung vị', 'm²'),
    ('footprint_total_m2', 'total building footprint', 'tổng diện tích xây dựng', 'm²'),
)


def indicator_labels(lang: str = 'en') -> Dict[str, str]:
    """``{key: label (unit)}`` of :data:`INDICATORS` in ``lang`` (``'en'`` or ``'vi'``).

    Raises:
        ValueError: another language.
    """
    if lang not in ('en', 'vi'):
        raise ValueError(f'unknown language {lang!r}; choose one of en, vi')
    i = 1 if lang == 'en' else 2
    return {row[0]: row[i] + (f' ({row[3]})' if row[3] else '') for row in INDICATORS}


@dataclass
class UrbanClasses:
    """Which class ids the indicators read (vnseg's scheme by default: :mod:`vnseg.core.classes`); None: the
    model has no such class (its indicators are None)."""

    road: Optional[int] = 1
    water: Optional[int] = 2
    tree: Optional[int] = 3
    building: Optional[int] = 4
    nodata: int = 255

    @classmethod
    def from_names(cls, classes: Sequence[str], nodata: int = 255) -> 'UrbanClasses':
        """The ids of the canonical names ``road``, ``water``, ``tree``, ``building`` in ``classes``
        (a model's class names, index = id)."""
        ids = {name: i for i, name in enumerate(classes)}
        return cls(ids.get('road'), ids.get('water'), ids.get('tree'), ids.get('building'), nodata)


# -- roads ------------------------------------------------------------------------------------------

def skeleton_step_lengths(skel: np.ndarray, below: Optional[np.ndarray] = None) -> np.ndarray:
    """Length (pixels) of the skeleton steps owned by each pixel: the steps to its right, lower,
    lower-right and lower-left neighbours (see module doc).

    Args:
        skel: ``bool (h, w)`` skeleton.
        below: ``bool (w,)`` skeleton row under ``skel`` (None: nothing below).

    Returns:
        ``float64 (h, w)``; its sum is the skeleton's length in pixels.
    """
    s = np.asarray(skel, bool)
    h, w = s.shape
    ext = np.zeros((h + 1, w + 2), bool)
    ext[:h, 1:w + 1] = s
    if below is not None:
        ext[h, 1:w + 1] = below
    p = ext[:h, 1:w + 1]
    east = ext[:h, 2:w + 2]
    west = ext[:h, 0:w]
    south = ext[1:h + 1, 1:w + 1]
    se = ext[1:h + 1, 2:w + 2]
    sw = ext[1:h + 1, 0:w]
    out = (p & east).astype(np.float64) + (p & south)
    out += math.sqrt(2.0) * (p & se & ~east & ~south)
    out += math.sqrt(2.0) * (p & sw & ~west & ~south)
    return out


@dataclass
class RoadLengths:
    """Road centre-line length of a map (``total``) and per zone (``per_zone``), in metres (pixels
    without ground units: ``unit``)."""

    total: float
    per_zone: np.ndarray
    unit: str


def measure_road_length(class_map_path, pixel_areas: PixelAreas, zones=None, road_class: int = 1,
                        strip_rows: int = 1024, halo: Optional[int] = None,
                        data_window: Optional[tuple] = None) -> RoadLengths:
    """Skeleton length of the road class of a class-index raster, by strips (see module doc).

    Args:
        class_map_path: uint8 class-index raster on ``pixel_areas``' grid.
        pixel_areas: ground area per pixel row.
        zones: optional :class:`vnseg.geo.zones.Zones` on the same grid (length per zone).
        road_class: class id of roads.
        strip_rows: rows skeletonised at a time (plus ``2 * halo``).
        halo: extra rows above and below each strip; default 30 m of ground (at least 64 rows).
        data_window: ``(row0, row1, col0, col1)``: only this part is read.
    """
    import rasterio
    from rasterio.windows import Window
    from skimage.morphology import skeletonize

    from .zones import zone_masks
    top, bottom, left, right = data_window or (0, pixel_areas.height, 0, pixel_areas.width)
    if pixel_areas.unit == 'm2':
        scale = np.sqrt(pixel_areas.row_area)
    else:
        scale = np.ones(pixel_areas.height)
    if halo is None:
        px_m = float(np.median(scale)) if pixel_areas.unit == 'm2' else 1.0
        halo = max(64, int(math.ceil(30.0 / px_m))) if pixel_areas.unit == 'm2' else 64
    n_zones = len(zones.names) if zones is not None else 0
    per_zone = np.zeros(n_zones)
    total = 0.0
    with rasterio.open(class_map_path) as ds:
        for r0 in range(top, bottom, strip_rows):
            r1 = min(bottom, r0 + strip_rows)
            a0, a1 = max(top, r0 - halo), min(bottom, r1 + 1 + halo)
            win = ds.read(1, window=Window(left, a0, right - left, a1 - a0)) == road_class
            if not win.any():
                continue
            skel = skeletonize(win)
            core = skel[r0 - a0:r1 - a0]
            below = skel[r1 - a0] if r1 < a1 else None
            steps = skeleton_step_lengths(core, below) * scale[r0:r1, None]
            total += float(steps.sum())
            if zones is not None:
                full = np.zeros((r1 - r0, pixel_areas.width))
                full[:, left:right] = steps
                for z, c0, c1, inside in zone_masks(zones, r0, r1 - r0, pixel_areas.width):
                    per_zone[z] += float(full[:, c0:c1][inside].sum())
    return RoadLengths(total, per_zone, 'm' if pixel_areas.unit == 'm2' else 'px')


# -- buildings --------------------------------------------------------------------------------------

class BuildingTally:
    """A polygon sink (``add(geom, props)``, like the layer writers) that keeps, per building, its
    footprint area and representative point -- enough for counts and footprint statistics per zone.

    Args:
        georef: the grid's :class:`vnseg.geo.georef.Georef` (geometries come in its output coordinates).
    """

    def __init__(self, georef):
        self.georef = georef
        self._areas: List[float] = []
        self._xy: List[tuple] = []

    def add(self, geom, props: dict):
        import shapely
        area = props.get('geom_area_m2', props.get('geom_area_px'))
        if area is None:
            area = props.get('area_m2', props.get('area_px', geom.area))
        p = shapely.point_on_surface(geom)
        self._areas.append(float(area))
        self._xy.append((p.x, p.y))

    @property
    def areas(self) -> np.ndarray:
        """Footprint areas (m^2, or pixels without ground units)."""
        return np.asarray(self._areas, np.float64)

    def zone_of_each(self, zones) -> np.ndarray:
        """Index of the zone holding each building's representative point (-1: none; the first zone
        when zones overlap)."""
        import shapely
        out = np.full(len(self._areas), -1, np.int64)
        if not len(out):
            return out
        xy = np.asarray(self._xy)
        inv = ~self.georef.transform
        cols, rows = inv * (xy[:, 0], xy[:, 1])
        for z in range(len(zones.names) - 1, -1, -1):
            inside = shapely.contains_xy(zones.geoms[z], np.asarray(cols), np.asarray(rows))
            out[inside] = z
        return out


# -- indicators -------------------------------------------------------------------------------------

def indicators_from_areas(class_area: Sequence[float], road_length: float, footprints: np.ndarray,
                          classes: UrbanClasses = UrbanClasses(), unit: str = 'm2') -> dict:
    """The indicators of one area (a map or a zone).

    Args:
        class_area: ground area per class value (index = class id; m^2, or pixels with ``unit='px'``).
        road_length: road centre-line length (m, or pixels).
        footprints: building footprint areas inside the area (None: the buildings were not
            polygonised; their count and footprints are None).
        classes: which ids are roads, water, trees, buildings and nodata.
        unit: ``'m2'`` or ``'px'`` (then areas are pixel counts, lengths pixels: ``area_ha`` and the
            km columns are None, shares are still valid).

    Returns:
        ``{key: value}`` for every key of :data:`INDICATORS` (None where undefined, e.g. an empty zone).
    """
    a = np.asarray(class_area, np.float64)
    valid = float(a.sum() - (a[classes.nodata] if classes.nodata < len(a) else 0.0))

    def share(*ids):
        ids = [i for i in ids if i is not None and 0 <= i < len(a)]
        if valid <= 0 or not ids:
            return None
        return round(100.0 * float(sum(a[i] for i in ids)) / valid, 4)
    fp = np.asarray(footprints, np.float64) if footprints is not None else None
    has_road = classes.road is not None
    ground = unit == 'm2'
    out = dict(
        area_ha=round(valid / 1e4, 6) if ground else None,
        building_coverage_pct=share(classes.building),
        tree_cover_pct=share(classes.tree),
        impervious_pct=share(classes.building, classes.road),
        water_pct=share(classes.water),
        road_length_km=round(road_length / 1e3, 6) if (ground and has_road) else None,
        road_density_km_km2=round((road_length / 1e3) / (valid / 1e6), 4) if (ground and has_road and valid > 0)
        else None,
        building_count=int(len(fp)) if fp is not None else None,
        footprint_median_m2=round(float(np.median(fp)), 4) if fp is not None and len(fp) else None,
        footprint_total_m2=round(float(fp.sum()), 4) if fp is not None else None,
    )
    if not ground:
        out['road_length_px'] = round(road_length, 3)
    return out


def map_indicators(counter, roads: RoadLengths, buildings: Optional[BuildingTally],
                   classes: UrbanClasses = UrbanClasses()) -> dict:
    """Indicators of a whole map from its :class:`vnseg.geo.areas.ClassAreaCounter`, road lengths and
    building tally (None: no building polygons were made; counts and footprints are then None)."""
    pa = counter.pa
    area = counter.area_m2 if pa.unit == 'm2' else counter.pixels.astype(np.float64)
    fp = buildings.areas if buildings is not None else None
    return indicators_from_areas(area, roads.total, fp, classes, pa.unit)


def zone_indicators(zone_counter, roads: RoadLengths, buildings: Optional[BuildingTally],
                    classes: UrbanClasses = UrbanClasses(), map_index: int = 0) -> List[dict]:
    """One row per zone: ``zone`` and the indicators, from a :class:`vnseg.geo.zones.ZoneAreaCounter`
    (``map_index``: which of its class maps), road lengths per zone and the building tally."""
    pa = zone_counter.pa
    zones = zone_counter.zones
    which = buildings.zone_of_each(zones) if buildings is not None else None
    rows = []
    for z, name in enumerate(zones.names):
        area = zone_counter.area_m2[map_index, z] if pa.unit == 'm2' else \
            zone_counter.pixels[map_index, z].astype(np.float64)
        road = float(roads.per_zone[z]) if len(roads.per_zone) > z else 0.0
        row = dict(zone=name)
        fp = buildings.areas[which == z] if buildings is not None else None
        row.update(indicators_from_areas(area, road, fp, classes, pa.unit))
        rows.append(row)
    return rows


def write_indicator_tables(rows: List[dict], csv_path, json_path, lang: str = 'en',
                           extra: Optional[dict] = None) -> dict:
    """Write indicator rows (a map's, or one per zone) as CSV (stable English keys as column names)
    and JSON (the rows, plus each column's label and unit in ``lang``; None: no JSON file), atomically.

    Returns the JSON document.
    """
    from vnseg.core.atomic import atomic_output, write_json
    labels = indicator_labels(lang)
    keys = list(rows[0]) if rows else ['zone'] + [k for k, *_ in INDICATORS]
    with atomic_output(csv_path) as tmp:
        with open(tmp, 'w', newline='', encoding='utf-8') as f:
            wr = csv.DictWriter(f, fieldnames=keys)
            wr.writeheader()
            wr.writerows(rows)
    units = {k: u for k, _, _, u in INDICATORS}
    doc = dict(lang=lang, columns=[dict(key=k, label=labels.get(k, k), unit=units.get(k, '')) for k in keys],
               rows=rows)
    doc.update(extra or {})
    if json_path is not None:
        write_json(json_path, doc)
    return doc


def zone_layer_fields() -> Dict[str, str]:
    """Attribute schema of a zone layer carrying the indicators (for
    :meth:`vnseg.geo.layers.GeoPackageWriter.layer`)."""
    f = {'zone': 'str'}
    for k, *_ in INDICATORS:
        f[k] = 'int' if k == 'building_count' else 'float'
    return f



#: Name of the zone layer in ``STEM.gpkg``, per language.
ZONE_LAYER = {'en': 'zones', 'vi': 'khu vực'}
#: The zone layer's colours: building coverage ratio (%) in five classes, light to dark.
COVERAGE_RANGES = ((0, 20, (255, 255, 178)), (20, 40, (254, 204, 92)), (40, 60, (253, 141, 60)),
                   (60, 80, (240, 59, 32)), (80, 100, (189, 0, 38)))


def zone_layer_qml(lang: str = 'en') -> str:
    """QGIS style of the zone layer: zones coloured by building coverage ratio (:data:`COVERAGE_RANGES`),
    labelled with their name and ratio, and every field titled in both languages (``lang``'s first)."""
    from .styles import graduated_polygon_qml
    other = 'vi' if lang == 'en' else 'en'
    first, second = indicator_labels(lang), indicator_labels(other)
    zone_word = {'en': 'zone', 'vi': 'khu vực'}
    aliases = {'zone': f'{zone_word[lang]} / {zone_word[other]}'}
    aliases.update({k: f'{first[k]} / {second[k]}' for k, *_ in INDICATORS})
    ranges = [(lo, hi, rgb, f'{lo}–{hi} %') for lo, hi, rgb in COVERAGE_RANGES]
    label = ('"zone" || \'\\n\' || coalesce(format_number("building_coverage_pct", 1) || \' %\', \'–\')')
    return graduated_polygon_qml('building_coverage_pct', ranges, aliases, label)


def zone_layer_features(zones, rows: List[dict], georef):
    """Yield ``(geometry, properties)`` of a zone layer: each zone's outline in the grid's output
    coordinates (``georef.transform`` applied to the pixel-coordinate outline of
    :class:`vnseg.geo.zones.Zones`) with its row of :func:`zone_indicators` (matched by position)."""
    import shapely
    t = georef.transform

    def to_out(xy):
        x, y = t * (xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])
    for geom, row in zip(zones.geoms, rows):
        yield shapely.transform(geom, to_out), dict(row)


class SceneIndicators:
    """The urban indicators of one class map, gathered while its outputs are written (bounded memory).

    1. :meth:`measure` reads the class map by strips: road centre lines (per zone) and, with zones, the
       class areas per zone (:class:`vnseg.geo.zones.ZoneAreaCounter`, also the zone table's numbers);
    2. :meth:`sinks` are given to the polygoniser (:func:`vnseg.geo.vectorize.write_class_polygons`):
       the building tally counts the building polygons as they are written;
    3. :meth:`add_zone_layer` (its ``more_layers``, with zones) adds the styled zone layer to ``STEM.gpkg``;
    4. :meth:`rows` and :meth:`write_table`: the map's indicators and one row per zone.

    Args:
        class_map: the class-index raster (uint8, 255 = nodata).
        classes: canonical class names, index = class id (:meth:`UrbanClasses.from_names`).
        counter: the class map's :class:`vnseg.geo.areas.ClassAreaCounter` (the map's class areas).
        zones: :class:`vnseg.geo.zones.Zones` on the class map's grid, or None.
        lang: ``'en'`` or ``'vi'``: the zone layer's name and field titles.
    """

    def __init__(self, class_map, classes: Sequence[str], counter, zones=None, lang: str = 'en'):
        self.class_map, self.counter, self.zones, self.lang = class_map, counter, zones, lang
        self.pa = counter.pa
        self.classes = UrbanClasses.from_names(classes, counter.nodata)
        self.roads: Optional[RoadLengths] = None
        self.zone_counter = None
        self.tally: Optional[BuildingTally] = None

    def measure(self, strip_rows: int = 1024):
        """Road centre lines and, with zones, the class areas per zone (reads the class map twice by strips)."""
        import rasterio
        from rasterio.windows import Window

        from .zones import ZoneAreaCounter
        n_zones = len(self.zones.names) if self.zones is not None else 0
        if self.classes.road is None:
            self.roads = RoadLengths(0.0, np.zeros(n_zones), 'm' if self.pa.unit == 'm2' else 'px')
        else:
            self.roads = measure_road_length(self.class_map, self.pa, self.zones, self.classes.road,
                                             strip_rows=strip_rows, data_window=self.counter.data_window)
        if self.zones is None:
            return
        self.zone_counter = ZoneAreaCounter(self.zones, self.pa, nodata=self.classes.nodata)
        with rasterio.open(self.class_map) as ds:
            b = self.zones.bounds
            r_lo = max(0, int(np.floor(b[:, 1].min())))
            r_hi = min(ds.height, int(np.ceil(b[:, 3].max())))
            for r0 in range(r_lo, r_hi, strip_rows):
                h = min(strip_rows, r_hi - r0)
                self.zone_counter.update(r0, ds.read(1, window=Window(0, r0, ds.width, h)))

    def sinks(self) -> Dict[int, list]:
        """``{building class: [the building tally]}`` for the polygoniser ({} without a building class)."""
        if self.classes.building is None:
            return {}
        self.tally = BuildingTally(self.pa.georef)
        return {self.classes.building: [self.tally]}

    def map_row(self) -> dict:
        """The whole map's indicators (:func:`map_indicators`)."""
        return map_indicators(self.counter, self.roads, self.tally, self.classes)

    def zone_rows(self) -> List[dict]:
        """One row per zone (:func:`zone_indicators`); [] without zones."""
        if self.zone_counter is None:
            return []
        return zone_indicators(self.zone_counter, self.roads, self.tally, self.classes)

    @property
    def zone_layer_name(self) -> str:
        return ZONE_LAYER.get(self.lang, ZONE_LAYER['en'])

    def add_zone_layer(self, gp) -> Dict[str, str]:
        """Add the zone layer (zone outlines with their indicators, as multipolygons) to the open
        :class:`vnseg.geo.layers.GeoPackageWriter` ``gp``; returns its style ``{layer name: QML}``."""
        import shapely
        name = self.zone_layer_name
        lay = gp.layer(name, zone_layer_fields(), geometry_type='MultiPolygon')
        for geom, props in zone_layer_features(self.zones, self.zone_rows(), self.pa.georef):
            parts = [p for p in shapely.get_parts(geom) if p.geom_type == 'Polygon' and not p.is_empty]
            lay.add(shapely.MultiPolygon(parts), props)
        return {name: zone_layer_qml(self.lang)}

    def rows(self) -> List[dict]:
        """The table's rows: the map's (``scope`` = ``map``, ``zone`` empty), then one per zone
        (``scope`` = ``zone``)."""
        out = [dict(scope='map', zone='', **self.map_row())]
        out += [dict(scope='zone', **row) for row in self.zone_rows()]
        return out

    def write_table(self, csv_path) -> List[dict]:
        """Write :meth:`rows` as CSV (English keys as column names; labels in :data:`INDICATORS`), atomically;
        returns the rows."""
        rows = self.rows()
        write_indicator_tables(rows, csv_path, None, self.lang)
        return rows
