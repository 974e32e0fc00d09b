"""Ground sample distance (GSD): how many centimetres of ground one image pixel covers.

One number per image, in **cm per pixel**, measured on the ground (WGS84 ellipsoid), not in CRS units:

* the pixel at the image centre is projected to longitude/latitude (PROJ, via ``rasterio.warp``) and
  its two sides are measured in the local tangent plane (meridian and prime-vertical radii of
  curvature); the GSD is the geometric mean of the two sides (``sqrt`` of the pixel's ground area;
  for square pixels, the side);
* so a geographic CRS (degrees) is converted to metres *at the scene centre* (a drone scene spans a
  few km: the GSD changes by < 0.1 % across it), and Web Mercator (EPSG:3857, OpenAerialMap / XYZ
  mosaics) gets its ``1 / cos(latitude)`` scale removed (a nominal 10 cm/px mosaic at 21 deg N has a
  9.34 cm ground GSD). UTM and similar projections differ from their CRS units by <= 0.1 %;
* a projected CRS that PROJ cannot relate to WGS84 falls back to its pixel size in the CRS's linear
  unit converted to metres; an image without a CRS (plain PNG/JPEG, world files without a CRS) has
  no known GSD: :func:`raster_gsd_cm` returns None, and tools then ask for it (``--gsd-cm``).

Deepness (QGIS) reads a model's ``resolution`` metadata in cm/px and compares it with the map
layer's CRS units taken as metres: exact for UTM layers, ``cos(latitude)`` off for Web Mercator ones.

The training GSD of a prepared dataset is the median of its train scenes' GSDs
(:func:`dataset_gsd`); checkpoints carry it in ``meta[GSD_META_KEY]`` (cm/px).
This module imports neither torch nor the OpenMMLab stack (rasterio only when reading a file).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

__all__ = ['GSD_META_KEY', 'SPREAD_WARN_RATIO', 'raster_gsd_cm', 'grid_gsd_cm', 'dataset_gsd', 'valid_gsd_cm',
           'summary_train_gsd_cm', 'find_summary']

#: Key of the training GSD (cm/px) in a checkpoint's ``meta`` and in the data summary's ``gsd``.
GSD_META_KEY = 'gsd_cm'
#: Scenes whose GSDs differ by more than this factor (max / min) get a warning in the summary.
SPREAD_WARN_RATIO = 1.25

_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)


def valid_gsd_cm(value) -> Optional[float]:
    """``value`` as a float when it is a usable GSD (finite, > 0), else None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _ground_side_m(lon, lat) -> float:
    """Ground length (m) between two points given in degrees (local tangent plane at their middle)."""
    lat0 = math.radians((lat[0] + lat[1]) / 2)
    s2 = math.sin(lat0) ** 2
    n = _WGS84_A / math.sqrt(1 - _WGS84_E2 * s2)                 # prime-vertical radius
    m = _WGS84_A * (1 - _WGS84_E2) / (1 - _WGS84_E2 * s2) ** 1.5  # meridian radius
    dlon = (lon[1] - lon[0] + 180.0) % 360.0 - 180.0
    return math.hypot(math.radians(dlon) * n * math.cos(lat0), math.radians(lat[1] - lat[0]) * m)


def grid_gsd_cm(crs, transform, width: int, height: int) -> Optional[float]:
    """Ground GSD (cm/px) at the centre of a ``width x height`` grid (``affine.Affine`` ``transform``
    pixel -> ``crs``); None without a CRS or with an identity transform (see the module doc)."""
    if crs is None or transform is None or transform.is_identity:
        return None
    from rasterio.warp import transform as warp_transform
    cx, cy, half = width / 2.0, height / 2.0, 0.5
    pts = [(cx - half, cy), (cx + half, cy), (cx, cy - half), (cx, cy + half)]
    t = transform
    xs = [t.a * c + t.b * r + t.c for c, r in pts]
    ys = [t.d * c + t.e * r + t.f for c, r in pts]
    try:
        lon, lat = warp_transform(crs, 'EPSG:4326', xs, ys)
        sx = _ground_side_m(lon[0:2], lat[0:2])
        sy = _ground_side_m(lon[2:4], lat[2:4])
        if not (math.isfinite(sx) and math.isfinite(sy)) or sx <= 0 or sy <= 0:
            raise ValueError('degenerate pixel')
    except Exception:
        if not getattr(crs, 'is_projected', False):
            return None
        try:
            factor = float(crs.linear_units_factor[1])
        except Exception:
            return None
        sx = math.hypot(transform.a, transform.d) * factor
        sy = math.hypot(transform.b, transform.e) * factor
    return 100.0 * math.sqrt(sx * sy)


def raster_gsd_cm(path) -> Optional[float]:
    """Ground GSD (cm/px) of the image file ``path`` from its georeferencing; None when it has none
    (or GDAL cannot open it: plain images are then read by the caller's own reader)."""
    try:
        import rasterio
    except ImportError:  # the annotation side may run without rasterio: GSD unknown
        return None
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(str(path)) as ds:
                return grid_gsd_cm(ds.crs, ds.transform, ds.width, ds.height)
    except rasterio.errors.RasterioError:
        return None


def _median(values: Sequence[float]) -> float:
    v = sorted(values)
    k = len(v) // 2
    return v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2


def dataset_gsd(scene_gsds: dict, scene_splits: dict) -> dict:
    """The dataset-level GSD record of ``summary.json``.

    Args:
        scene_gsds: ``{scene id: cm/px or None}``.
        scene_splits: ``{scene id: 'train' | 'val' | 'test'}`` (a patch split: every scene counts
            as train).

    Returns:
        ``{'gsd_cm': median of the train scenes with a known GSD (None if none), 'scenes_known',
        'scenes_unknown', 'train_min_cm', 'train_max_cm', 'spread': max / min, 'note': a sentence}``.
        The note says when train scenes lack a GSD or differ by more than :data:`SPREAD_WARN_RATIO`.
    """
    known = {k: v for k, v in scene_gsds.items() if v is not None}
    train = [v for k, v in known.items() if scene_splits.get(k, 'train') == 'train']
    unknown_train = sorted(k for k, v in scene_gsds.items() if v is None and scene_splits.get(k, 'train') == 'train')
    rec = dict(gsd_cm=None, scenes_known=len(known), scenes_unknown=len(scene_gsds) - len(known),
               train_min_cm=None, train_max_cm=None, spread=None, note='')
    if not train:
        rec['note'] = ('no train scene has a known ground resolution (no georeferencing; give --gsd-cm): '
                       'models trained on this data cannot match the input resolution at inference')
        return rec
    lo, hi = min(train), max(train)
    rec.update(gsd_cm=round(_median(train), 4), train_min_cm=round(lo, 4), train_max_cm=round(hi, 4),
               spread=round(hi / lo, 4))
    notes = [f'training GSD {rec["gsd_cm"]:.2f} cm/px = median of {len(train)} train scenes']
    if hi / lo > SPREAD_WARN_RATIO:
        notes.append(f'WARNING: train scenes differ a lot ({lo:.2f} to {hi:.2f} cm/px, x{hi / lo:.2f}); the '
                     'median is a rough summary (consider resampling the scenes to one GSD)')
    if unknown_train:
        notes.append(f'{len(unknown_train)} train scenes have no known GSD (e.g. {unknown_train[0]})')
    rec['note'] = '; '.join(notes)
    return rec


def summary_train_gsd_cm(summary: dict) -> Optional[float]:
    """The training GSD (cm/px) recorded in a prepared dataset's ``summary.json`` dict, or None."""
    return valid_gsd_cm(((summary or {}).get('gsd') or {}).get(GSD_META_KEY))


def find_summary(data_root) -> Optional[Path]:
    """``summary.json`` in ``data_root`` or its parent (a split folder), or None."""
    for folder in (Path(data_root), Path(data_root).parent):
        if (folder / 'summary.json').is_file():
            return folder / 'summary.json'
    return None
