"""Stratified random sample of points on a class map, for reviewers to label (area estimation).

The design follows the good practice of Olofsson et al. 2014 (Remote Sensing of Environment 148):

* **strata** are the map classes, or with zones (wards, communes) every zone x map class, so that each
  zone gets its own estimate. Nodata pixels and pixels outside every zone are never drawn. A pixel
  inside several overlapping zones belongs to the first of them (file order): strata never overlap.
* **allocation** (:func:`allocate`): each stratum first gets ``min_per_stratum`` points (or all its
  pixels when it has fewer), the rest of ``n`` goes to the strata in proportion to their area (largest
  remainders; a stratum never gets more points than it has pixels).
* **sample size from a target standard error** (:func:`size_for_target_se`): the smallest ``n`` whose
  allocation gives the overall accuracy the expected standard error
  ``SE(O^) = sqrt(sum_h W_h^2 S_h^2 (1 - n_h / N_h) / n_h)``, ``S_h = sqrt(U_h (1 - U_h))`` (Olofsson et
  al. 2014 eq. 5 with a conjectured user's accuracy ``U_h`` of the stratum's map class, e.g. 0.8,
  and the finite population correction, Cochran 1977 chapter 5), found by bisection. Cochran's
  ``n0 = (sum_h W_h S_h / SE)^2`` (the sample size for a given variance under Neyman's allocation,
  Cochran 1977 chapter 5; Olofsson et al. 2014 eq. 13) is the lower bound reported beside it: the
  minimum per stratum costs points over Neyman's allocation, and protects the estimates of rare classes.
* **drawing** with bounded memory, whatever the map's size: one pass counts the pixels of each stratum
  by blocks of rows (and their ground area, :class:`vnseg.geo.areas.PixelAreas`), numpy's
  ``Generator`` seeded by ``seed`` draws ``n_h`` distinct pixel ranks per stratum (the pixels of a
  stratum ranked in row-major order), and a second pass reads only the blocks holding a drawn rank to
  find its row and column. The same map, options and seed give the same points.

The points (pixel centres) go to a GeoPackage review form (:mod:`vnseg.geo.review_form`) and, on
request, to image chips (:mod:`vnseg.geo.review_chips`).
"""
from __future__ import annotations

import json
import math
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from vnseg.core.classes import CLASS_NAMES, CLASSES, IGNORE_INDEX
from vnseg.core.errors import OptionError

__all__ = ['SampleError', 'SampleOptions', 'SampleResult', 'SamplePoints', 'ClassMap', 'open_class_map',
           'StrataTable', 'count_strata', 'allocate', 'size_for_target_se', 'draw_points', 'draw_sample',
           'stratum_label', 'pixel_centres', 'parse_class', 'DEFAULT_EXPECTED_ACCURACY']

#: The user's accuracy conjectured for every class when none is given (``--expected-accuracy``).
DEFAULT_EXPECTED_ACCURACY = 0.8


class SampleError(ValueError):
    """A class map or a sample that cannot be used; the message names the file."""

    user_error = True  # a user's mistake: tools print one line (vnseg.commands.cli)


@dataclass
class SampleOptions:
    """Options of ``vnseg sample`` (named like its flags).

    Attributes:
        n: total sample size (``--n``); None with ``target_se``.
        min_per_stratum: points each stratum gets first (or all its pixels when fewer).
        target_se: wanted standard error of the overall accuracy (0..1); decides ``n`` (``--target-se``).
        expected_accuracy: conjectured user's accuracy per class name for ``target_se`` (``'*'``: every
            other class; default :data:`DEFAULT_EXPECTED_ACCURACY`).
        seed: seed of numpy's random Generator.
        zones: polygon file of zones (any CRS): strata zone x class.
        zone_field: attribute naming each zone.
        lang: ``'en'`` or ``'vi'``: labels of the review form (stored values stay English class names).
        image: the mosaic under the points (QGIS project, chips); default: the class map's
            ``SOURCE_IMAGE`` tag, looked up beside the class map.
        chips: folder for an image chip per point and ``chips.csv`` (None: no chips).
        chip_size: chip side in mosaic pixels.
        project: write a QGIS project ``OUT.qgs`` beside the GeoPackage.
        block_rows: rows of the class map read at a time (memory).
    """

    n: Optional[int] = None
    min_per_stratum: int = 50
    target_se: Optional[float] = None
    expected_accuracy: Dict[str, float] = field(default_factory=dict)
    seed: int = 0
    zones: Optional[str] = None
    zone_field: Optional[str] = None
    lang: str = 'en'
    image: Optional[str] = None
    chips: Optional[str] = None
    chip_size: int = 96
    project: bool = True
    block_rows: int = 512


# ------------------------------------------------------------------------------------------------
# class names
# ------------------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return unicodedata.normalize('NFC', str(text)).strip().casefold()


def _class_lookup(classes: Sequence[str]) -> Dict[str, int]:
    """Normalised name -> class id: each class's own name and, for vnseg's classes, its name in every language."""
    english = [_norm(c) for c in CLASS_NAMES['en']]
    lookup = {}
    for i, c in enumerate(classes):
        lookup[_norm(c)] = i
        if _norm(c) in english:
            j = english.index(_norm(c))
            for names in CLASS_NAMES.values():
                lookup.setdefault(_norm(names[j]), i)
    return lookup


def parse_class(value: Optional[str], classes: Sequence[str]) -> Optional[int]:
    """Class id of ``value``: a class name in any language of :data:`vnseg.core.classes.CLASS_NAMES` (case and
    surrounding spaces ignored), or a class id; None for an empty value.

    Raises:
        KeyError: an unknown name or id.
    """
    if value is None or not str(value).strip():
        return None
    key = _norm(value)
    found = _class_lookup(classes).get(key)
    if found is not None:
        return found
    try:
        f = float(key)
    except ValueError:
        raise KeyError(value) from None
    if f == int(f) and 0 <= int(f) < len(classes):
        return int(f)
    raise KeyError(value)


# ------------------------------------------------------------------------------------------------
# the class map, read by blocks of rows
# ------------------------------------------------------------------------------------------------
class ClassMap:
    """A class-index raster read by blocks of rows: a GeoTIFF (:func:`open_class_map`) or an array.

    Args:
        array: ``uint8 (H, W)`` class ids (None for a file opened by :func:`open_class_map`).
        crs, transform: georeferencing (None: a pixel grid).
        classes: class names, index = class id (the ``CLASSES`` tag of vnseg's class maps).
        nodata: the value of pixels without a class.
        path: the file (messages name it).

    Attributes:
        georef: :class:`vnseg.geo.georef.Georef` of the grid.
        tags: the raster's tags (``SOURCE_IMAGE``...).
    """

    def __init__(self, array: Optional[np.ndarray] = None, crs=None, transform=None,
                 classes: Sequence[str] = CLASSES, nodata: int = IGNORE_INDEX, path=None):
        from .georef import Georef
        self._array = array
        self._ds = None
        self._env = None
        self.path = Path(path) if path is not None else Path('<array>')
        self.classes = tuple(classes)
        self.nodata = int(nodata)
        self.tags: dict = {}
        if array is not None:
            self.height, self.width = array.shape
            self.georef = Georef.of(crs, transform, self.width, self.height)

    @property
    def crs(self):
        return self.georef.crs

    @property
    def transform(self):
        return self.georef.transform

    def read(self, row0: int, row1: int) -> np.ndarray:
        """Rows ``[row0, row1)``, ``uint8 (row1 - row0, width)``."""
        if self._array is not None:
            return np.asarray(self._array[row0:row1])
        from rasterio.windows import Window
        return self._ds.read(1, window=Window(0, row0, self.width, row1 - row0))

    def blocks(self, block_rows: int, rows: Optional[Sequence[int]] = None) -> Iterator[Tuple[int, int, np.ndarray]]:
        """``(block index, row0, rows)`` for every block of ``block_rows`` rows (or only blocks ``rows``)."""
        starts = range(0, self.height, block_rows)
        for b in (range(len(starts)) if rows is None else rows):
            r0 = starts[b]
            yield b, r0, self.read(r0, min(r0 + block_rows, self.height))

    def close(self):
        if self._ds is not None:
            self._ds.close()
            self._ds = None
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: GDAL's block cache while a class map is open, MB: each block of rows is read once per pass, so a cache
#: of a few block rows is enough (GDAL's default, 5 % of the RAM, would fill up with the whole map).
GDAL_CACHE_MB = 64


def open_class_map(path) -> ClassMap:
    """Open a class map written by ``vnseg map`` (single-band uint8 GeoTIFF, 255 = nodata); GDAL's block
    cache is :data:`GDAL_CACHE_MB` until it is closed.

    Raises:
        SampleError: missing or unreadable file, not a single-band uint8 raster.
    """
    import rasterio
    from .georef import Georef
    path = Path(path)
    if not path.is_file():
        raise SampleError(f'{path}: class map not found')
    env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2 ** 20)
    env.__enter__()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except Exception as err:
        env.__exit__(None, None, None)
        raise SampleError(f'{path}: cannot read the class map ({str(err).splitlines()[0]})') from err
    if ds.count != 1 or ds.dtypes[0] != 'uint8':
        ds.close()
        env.__exit__(None, None, None)
        raise SampleError(f'{path}: a class map is a single-band uint8 class-index raster (STEM_classes.tif '
                          f'of vnseg map), found {ds.count} band(s) of {ds.dtypes[0]}')
    tags = ds.tags()
    classes = CLASSES
    if tags.get('CLASSES'):
        try:
            classes = tuple(str(c) for c in json.loads(tags['CLASSES']))
        except (ValueError, TypeError):
            pass
    cm = ClassMap(classes=classes, nodata=IGNORE_INDEX if ds.nodata is None else int(ds.nodata), path=path)
    cm._ds, cm._env = ds, env
    cm.tags = tags
    cm.height, cm.width = ds.height, ds.width
    cm.georef = Georef.from_dataset(ds)
    return cm


# ------------------------------------------------------------------------------------------------
# strata
# ------------------------------------------------------------------------------------------------
def stratum_label(class_name: str, zone: Optional[str] = None) -> str:
    """The ``stratum`` value of a point: the class name, or ``'ZONE / class'`` with zones."""
    return class_name if zone is None else f'{zone} / {class_name}'


@dataclass
class StrataTable:
    """Pixels and areas of the strata of a class map (stratum ``h = zone * K + class``).

    Attributes:
        classes: class names (K).
        zone_names: zone names, or None (strata = map classes).
        pixels: ``int64 (H,)`` pixels per stratum.
        area: ``float64 (H,)`` area per stratum, m^2 (``unit == 'm2'``) or pixels (``unit == 'px'``).
        unit: ``'m2'`` or ``'px'`` (a map without ground units).
        block_rows: rows per block of :attr:`block_pixels`.
        block_pixels: ``int64 (B, H)`` pixels of each stratum in each block (to find drawn ranks).
        point_strata: stratum of each point asked for in :func:`count_strata` (-1: none), or None.
    """

    classes: Tuple[str, ...]
    zone_names: Optional[List[str]]
    pixels: np.ndarray
    area: np.ndarray
    unit: str
    block_rows: int
    block_pixels: np.ndarray
    point_strata: Optional[np.ndarray] = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def class_of(self, h) -> np.ndarray:
        return np.asarray(h) % self.n_classes

    def zone_of(self, h: int) -> Optional[str]:
        return None if self.zone_names is None else self.zone_names[int(h) // self.n_classes]

    def label(self, h: int) -> str:
        return stratum_label(self.classes[int(h) % self.n_classes], self.zone_of(h))

    def labels(self) -> List[str]:
        return [self.label(h) for h in range(len(self.pixels))]


def _zone_index(zones, row0: int, height: int, width: int) -> np.ndarray:
    """``int32 (height, width)``: 1 + the first zone whose polygon holds the pixel centre, 0 outside
    (the zones rasterised as for the zone area tables, :func:`vnseg.geo.zones.zone_masks`)."""
    from .zones import zone_masks
    out = np.zeros((height, width), np.int32)
    for z, c0, c1, inside in zone_masks(zones, row0, height, width):  # in file order: the first zone wins
        sub = out[:, c0:c1]
        sub[(sub == 0) & inside] = z + 1
    return out


def _stratum_codes(cm: ClassMap, block: np.ndarray, row0: int, zones) -> np.ndarray:
    """``int32`` stratum of every pixel of a block, -1 for nodata and pixels outside the zones."""
    K = len(cm.classes)
    valid = block < K
    if not valid.all():
        bad = block[~valid & (block != cm.nodata)]
        if bad.size:
            raise SampleError(f'{cm.path}: pixel value {int(bad[0])} is neither a class id (0..{K - 1}: '
                              f'{", ".join(cm.classes)}) nor nodata ({cm.nodata})')
    code = block.astype(np.int32)
    if zones is not None:
        zi = _zone_index(zones, row0, block.shape[0], block.shape[1])
        valid &= zi > 0
        zi -= 1
        zi *= K
        code += zi
    code[~valid] = -1
    return code


#: Rows of a block histogrammed at a time by :func:`count_strata`.
_COUNT_ROWS = 32


def count_strata(cm: ClassMap, zones=None, block_rows: int = 512,
                 points: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> StrataTable:
    """Count the pixels and ground area of every stratum, block by block (one pass over the map).

    Args:
        cm: the class map.
        zones: :class:`vnseg.geo.zones.Zones` on the map's grid, or None (strata = map classes).
        block_rows: rows read at a time.
        points: optional ``(rows, cols)`` of points whose stratum is wanted (``point_strata``).
    """
    from .areas import PixelAreas
    K = len(cm.classes)
    H = K * (len(zones.names) if zones is not None else 1)
    pa = PixelAreas(cm.crs, cm.transform, cm.width, cm.height)
    n_blocks = math.ceil(cm.height / block_rows)
    block_pixels = np.zeros((n_blocks, H), np.int64)
    area = np.zeros(H, np.float64)
    point_strata = None
    if points is not None:
        p_rows, p_cols = (np.asarray(a, np.int64) for a in points)
        point_strata = np.full(len(p_rows), -1, np.int64)
    for b, r0, block in cm.blocks(block_rows):
        code = _stratum_codes(cm, block, r0, zones)
        h_rows = code.shape[0]
        per_row = np.zeros((h_rows, H), np.int64)
        for s in range(0, h_rows, _COUNT_ROWS):  # histograms of a few rows at a time: small temporaries
            sub = code[s:s + _COUNT_ROWS]
            ok = sub >= 0
            local = (np.arange(sub.shape[0], dtype=np.int64)[:, None] * H + sub)[ok]
            per_row[s:s + sub.shape[0]] = np.bincount(local, minlength=sub.shape[0] * H).reshape(-1, H)
        block_pixels[b] = per_row.sum(axis=0)
        area += (pa.row_area[r0:r0 + h_rows] @ per_row) if pa.row_area is not None else block_pixels[b]
        if points is not None:
            sel = (p_rows >= r0) & (p_rows < r0 + h_rows)
            point_strata[sel] = code[p_rows[sel] - r0, p_cols[sel]]
    return StrataTable(classes=cm.classes, zone_names=list(zones.names) if zones is not None else None,
                       pixels=block_pixels.sum(axis=0), area=area, unit=pa.unit, block_rows=block_rows,
                       block_pixels=block_pixels, point_strata=point_strata)


# ------------------------------------------------------------------------------------------------
# sample size and allocation
# ------------------------------------------------------------------------------------------------
def allocate(pixels: np.ndarray, area: np.ndarray, n: int, min_per_stratum: int) -> np.ndarray:
    """Points per stratum: ``min(min_per_stratum, N_h)`` each, the rest in proportion to area.

    The rest is shared by largest remainders (ties to the first stratum) among strata that still have
    pixels left; a stratum never gets more points than pixels. ``n`` above the map's pixels gives
    every pixel.

    Raises:
        OptionError: ``n`` smaller than the minimums (``--n``).
    """
    pixels = np.asarray(pixels, np.int64)
    weight = np.where(pixels > 0, np.asarray(area, np.float64), 0.0)
    base = np.minimum(pixels, int(min_per_stratum))
    if base.sum() > n:
        raise OptionError('--n', f'{n} points cannot give each of the {int((pixels > 0).sum())} strata its minimum '
                                 f'of {min_per_stratum} points (that takes {int(base.sum())}); raise --n or lower '
                                 '--min-per-stratum')
    alloc = base.copy()
    room = pixels - alloc
    rest = int(n) - int(alloc.sum())
    while rest > 0 and room.sum() > 0:
        w = np.where(room > 0, weight, 0.0)
        if w.sum() <= 0:  # strata with pixels but no area (cannot happen with ground areas): by pixels
            w = (room > 0).astype(np.float64)
        share = rest * w / w.sum()
        add = np.floor(share).astype(np.int64)
        extra = rest - int(add.sum())
        if extra > 0:
            order = np.argsort(-(share - add), kind='stable')
            add[order[:extra]] += 1
        add = np.minimum(add, room)
        alloc += add
        room -= add
        rest -= int(add.sum())
    return alloc


def expected_overall_se(pixels: np.ndarray, area: np.ndarray, alloc: np.ndarray, users_accuracy: np.ndarray) -> float:
    """Standard error of the overall accuracy that ``alloc`` should give if each stratum's user's
    accuracy is ``users_accuracy``: ``sqrt(sum_h W_h^2 S_h^2 (1 - n_h / N_h) / n_h)``."""
    pixels, area, alloc = (np.asarray(a, np.float64) for a in (pixels, area, alloc))
    s2 = np.asarray(users_accuracy, np.float64) * (1 - np.asarray(users_accuracy, np.float64))
    w = area / area.sum()
    use = alloc > 0
    return math.sqrt(float(np.sum(w[use] ** 2 * s2[use] * (1 - alloc[use] / pixels[use]) / alloc[use])))


def size_for_target_se(pixels: np.ndarray, area: np.ndarray, users_accuracy: np.ndarray, target_se: float,
                       min_per_stratum: int) -> Tuple[int, int, float]:
    """Smallest total ``n`` whose :func:`allocate` reaches ``target_se`` for the overall accuracy.

    Args:
        pixels, area: per stratum.
        users_accuracy: conjectured user's accuracy of each stratum's map class.
        target_se: wanted standard error (0..1).
        min_per_stratum: as :func:`allocate`.

    Returns:
        ``(n, n0, se)``: the sample size, Cochran's Neyman-allocation bound ``n0 = ceil((sum W_h S_h /
        target_se)^2)``, and the standard error expected with ``n``.
    """
    pixels = np.asarray(pixels, np.int64)
    area = np.where(pixels > 0, np.asarray(area, np.float64), 0.0)
    s = np.sqrt(np.asarray(users_accuracy, np.float64) * (1 - np.asarray(users_accuracy, np.float64)))
    w = area / area.sum()
    n0 = int(math.ceil((float(w @ s) / target_se) ** 2))
    total = int(pixels.sum())
    lo = int(np.minimum(pixels, min_per_stratum).sum())

    def se(n):
        return expected_overall_se(pixels, area, allocate(pixels, area, n, min_per_stratum), users_accuracy)

    if se(lo) <= target_se:
        return lo, n0, se(lo)
    hi = max(lo + 1, n0)
    while se(hi) > target_se and hi < total:
        hi = min(total, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if se(mid) <= target_se:
            hi = mid
        else:
            lo = mid
    return hi, n0, se(hi)


# ------------------------------------------------------------------------------------------------
# drawing
# ------------------------------------------------------------------------------------------------
def pixel_centres(transform, rows, cols) -> Tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the centres of pixels ``(rows, cols)`` under an affine ``transform``."""
    r = np.asarray(rows, np.float64) + 0.5
    c = np.asarray(cols, np.float64) + 0.5
    return transform.a * c + transform.b * r + transform.c, transform.d * c + transform.e * r + transform.f


@dataclass
class SamplePoints:
    """The drawn points (one entry per point, ``sample_id`` order).

    Attributes:
        sample_id: 1..n, in a random order (a reviewer going through the ids does not go class by class).
        stratum: stratum index (:class:`StrataTable`).
        row, col: the pixel.
        x, y: its centre in the map's coordinates (pixel coordinates on a pixel grid).
    """

    sample_id: np.ndarray
    stratum: np.ndarray
    row: np.ndarray
    col: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.sample_id)


def draw_points(cm: ClassMap, table: StrataTable, alloc: np.ndarray, seed: int, zones=None) -> SamplePoints:
    """Draw ``alloc[h]`` distinct pixels of every stratum ``h`` at random (numpy ``Generator(seed)``).

    Ranks are drawn per stratum (pixels ranked in row-major order), then located in one pass that
    reads only the blocks holding a drawn rank.
    """
    rng = np.random.default_rng(seed)
    ranks = {}
    for h in np.flatnonzero(alloc):
        ranks[int(h)] = np.sort(rng.choice(int(table.pixels[h]), size=int(alloc[h]), replace=False))
    before = np.cumsum(table.block_pixels, axis=0) - table.block_pixels  # ranks before each block
    rows_out, cols_out, strata_out = [], [], []
    wanted = {}
    for h, r in ranks.items():
        blocks = np.searchsorted(np.cumsum(table.block_pixels[:, h]), r, side='right')
        for b in np.unique(blocks):
            wanted.setdefault(int(b), []).append((h, r[blocks == b] - before[b, h]))
    for b, r0, block in cm.blocks(table.block_rows, rows=sorted(wanted)):
        code = _stratum_codes(cm, block, r0, zones).ravel()
        items = wanted[b]
        if len(items) > 8:  # many strata in this block: one sort instead of a scan per stratum
            order = np.argsort(code, kind='stable')
            starts = np.searchsorted(code[order], [h for h, _ in items])
            found = [order[s + k] for s, (_, k) in zip(starts, items)]
        else:
            found = [np.flatnonzero(code == h)[k] for h, k in items]
        for (h, _), flat in zip(items, found):
            rows_out.append(r0 + flat // cm.width)
            cols_out.append(flat % cm.width)
            strata_out.append(np.full(len(flat), h, np.int64))
    if rows_out:
        rows, cols, strata = (np.concatenate(a).astype(np.int64) for a in (rows_out, cols_out, strata_out))
    else:
        rows = cols = strata = np.zeros(0, np.int64)
    order = np.lexsort((cols, rows, strata))
    rows, cols, strata = rows[order], cols[order], strata[order]
    sample_id = np.empty(len(rows), np.int64)
    sample_id[rng.permutation(len(rows))] = np.arange(1, len(rows) + 1)
    by_id = np.argsort(sample_id)
    rows, cols, strata, sample_id = rows[by_id], cols[by_id], strata[by_id], sample_id[by_id]
    x, y = pixel_centres(cm.transform, rows, cols)
    return SamplePoints(sample_id=sample_id, stratum=strata, row=rows, col=cols, x=x, y=y)


# ------------------------------------------------------------------------------------------------
# the whole job
# ------------------------------------------------------------------------------------------------
@dataclass
class SampleResult:
    """What :func:`draw_sample` wrote and decided.

    Attributes:
        gpkg: the GeoPackage review form.
        project: the QGIS project (None: not written).
        image: the mosaic shown under the points (None: not found).
        chips_csv: the chips' CSV (None without chips).
        points: the points.
        table: the strata.
        alloc: points per stratum.
        n0, expected_se: with a target standard error, Cochran's bound and the standard error expected.
        notes: sentences for the user (mosaic not found, ...).
    """

    gpkg: Path
    project: Optional[Path]
    image: Optional[Path]
    chips_csv: Optional[Path]
    points: SamplePoints
    table: StrataTable
    alloc: np.ndarray
    n0: Optional[int] = None
    expected_se: Optional[float] = None
    notes: List[str] = field(default_factory=list)


def _users_accuracy_per_stratum(table: StrataTable, expected: Dict[str, float]) -> np.ndarray:
    per_class = np.full(table.n_classes, float(expected.get('*', DEFAULT_EXPECTED_ACCURACY)))
    for key, value in expected.items():
        if key == '*':
            continue
        try:
            c = parse_class(key, table.classes)
        except KeyError:
            c = None
        if c is None:
            raise OptionError('--expected-accuracy', f'unknown class {key!r}; classes are {", ".join(table.classes)}')
        per_class[c] = float(value)
    if np.any((per_class < 0) | (per_class > 1)):
        raise OptionError('--expected-accuracy', 'a user\'s accuracy is a number from 0 to 1')
    return per_class[table.class_of(np.arange(len(table.pixels)))]


def find_mosaic(cm: ClassMap, image: Optional[str]) -> Optional[Path]:
    """The mosaic under the class map: ``image`` when given (it must exist), else the file named by the
    map's ``SOURCE_IMAGE`` tag beside the map, else None."""
    if image is not None:
        path = Path(image)
        if not path.is_file():
            raise SampleError(f'{path}: mosaic (--image) not found')
        return path
    name = cm.tags.get('SOURCE_IMAGE')
    if name and (cm.path.parent / name).is_file():
        return cm.path.parent / name
    return None


def design_record(cm: ClassMap, table: StrataTable, alloc: np.ndarray, options: SampleOptions,
                  n0: Optional[int], expected_se: Optional[float]) -> dict:
    """The sampling design as stored in the GeoPackage (grid, options, strata), for ``vnseg accuracy``."""
    import datetime
    from vnseg.core.version import __version__
    strata = [dict(stratum=table.label(h), zone=table.zone_of(h), map_class=table.classes[h % table.n_classes],
                   pixels=int(table.pixels[h]), area=float(table.area[h]), n=int(alloc[h]))
              for h in range(len(table.pixels)) if table.pixels[h] > 0]
    return dict(
        class_map=cm.path.name, classes=list(table.classes), crs=cm.crs.to_wkt() if cm.crs is not None else None,
        transform=list(cm.transform)[:6], width=cm.width, height=cm.height, area_unit=table.unit,
        seed=options.seed, n=int(alloc.sum()), min_per_stratum=options.min_per_stratum, target_se=options.target_se,
        cochran_n0=n0, expected_overall_se=expected_se, zones=str(options.zones) if options.zones else None,
        zone_field=options.zone_field, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        vnseg_version=__version__, strata=strata)


def draw_sample(class_map_path, out_gpkg, options: SampleOptions) -> SampleResult:
    """Draw a stratified random sample on a class map and write the review form (and chips).

    Writes ``out_gpkg`` (point layer ``sample_points`` with the QGIS form and style, the design in its
    metadata), ``OUT.qgs`` beside it (``options.project``) and, with ``options.chips``, a PNG per point and
    ``chips.csv``. Every file is written atomically.

    Args:
        class_map_path: ``STEM_classes.tif`` of ``vnseg map``.
        out_gpkg: the GeoPackage to write.
        options: :class:`SampleOptions`.

    Raises:
        SampleError: unusable class map or mosaic; :class:`vnseg.geo.zones.ZoneError`: unusable zone file;
            :class:`vnseg.geo.review_chips.ChipError`: a mosaic that is not the class map's (``--chips``).
        OptionError: impossible sizes (``--n`` below the minimums, ``--target-se`` out of range).
    """
    from . import review_form
    if (options.n is None) == (options.target_se is None):
        raise OptionError('--n', 'give the sample size --n N or a target standard error --target-se, one of them')
    if options.target_se is not None and not 0 < options.target_se < 1:
        raise OptionError('--target-se', f'a standard error of the overall accuracy is between 0 and 1, got '
                                         f'{options.target_se}')
    if options.zones and not options.zone_field:
        raise OptionError('--zone-field', '--zones needs --zone-field (the attribute naming each zone)')
    out_gpkg = Path(out_gpkg)
    with open_class_map(class_map_path) as cm:
        zones = None
        if options.zones:
            from .zones import load_zones
            zones = load_zones(options.zones, options.zone_field, cm.georef)
        mosaic = find_mosaic(cm, options.image)
        if options.chips and mosaic is None:
            raise OptionError('--chips', f'chips are cut from the mosaic, and {cm.path.name} names none beside it '
                                         '(SOURCE_IMAGE tag): pass --image MOSAIC')
        table = count_strata(cm, zones, options.block_rows)
        if table.pixels.sum() == 0:
            where = ' inside the zones' if zones is not None else ''
            raise SampleError(f'{cm.path}: no classified pixel{where} to sample (all nodata)')
        n0 = expected_se = None
        n = options.n
        if options.target_se is not None:
            ua = _users_accuracy_per_stratum(table, options.expected_accuracy)
            n, n0, expected_se = size_for_target_se(table.pixels, table.area, ua, options.target_se,
                                                    options.min_per_stratum)
        alloc = allocate(table.pixels, table.area, n, options.min_per_stratum)
        points = draw_points(cm, table, alloc, options.seed, zones)
        notes = []
        if n > table.pixels.sum():
            notes.append(f'--n {n} is more than the {int(table.pixels.sum())} pixels to sample: every pixel is drawn')
        if options.chips:  # a mosaic that cannot give the chips is refused before anything is written
            from .review_chips import check_mosaic
            check_mosaic(points, cm, mosaic)
        design = design_record(cm, table, alloc, options, n0, expected_se)
        review_form.write_sample_gpkg(out_gpkg, points, table, cm.georef, options.lang, design)
        project = None
        if options.project:
            project = review_form.write_review_project(out_gpkg.with_suffix('.qgs'), out_gpkg, cm, points,
                                                       options.lang, mosaic, table.zone_names is not None)
        if mosaic is None and options.project:
            notes.append('mosaic not found (no --image, and the class map\'s SOURCE_IMAGE tag names no file beside '
                         'it): the QGIS project shows the class map under the points')
        chips_csv = None
        if options.chips:
            from .review_chips import write_chips
            chips_csv = write_chips(points, table, cm, mosaic, options.chips, options.chip_size)
    return SampleResult(gpkg=out_gpkg, project=project, image=mosaic, chips_csv=chips_csv, points=points,
                        table=table, alloc=alloc, n0=n0, expected_se=expected_se, notes=notes)
