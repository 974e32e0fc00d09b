"""Image chips of sample points, for a reviewer without QGIS: a PNG per point and a CSV to fill in.

Each chip is the mosaic around the point (``chip_size`` mosaic pixels a side, enlarged by whole pixels
to about :data:`CHIP_OUTPUT_PX` for the eye; outside the mosaic is black), with the point's pixel framed
and a cross-hair that leaves it uncovered, and the sample id in a corner. ``chips.csv`` has the columns
of the GeoPackage form (``reference_class`` empty) plus ``chip``, the PNG's file name: filled in, it is
a sample ``vnseg accuracy`` reads as it is.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ['ChipError', 'check_mosaic', 'write_chips', 'CHIP_OUTPUT_PX', 'CHIPS_CSV']

#: Side of a chip PNG, about (the mosaic window is enlarged by a whole factor).
CHIP_OUTPUT_PX = 288

#: The CSV written beside the chips.
CHIPS_CSV = 'chips.csv'

_FRAME = (255, 0, 255)


class ChipError(ValueError):
    """A mosaic that cannot give the chips of a sample (not the class map's mosaic); the message names it."""

    user_error = True  # a user's mistake: tools print one line (vnseg.commands.cli)


def _mosaic_pixels(points, cm, mosaic):
    """Fractional (col, row) in the mosaic of each point's pixel centre.

    Raises:
        ChipError: grids that cannot relate, or a point outside the mosaic.
    """
    from rasterio.warp import transform as warp_transform
    xs, ys = np.asarray(points.x), np.asarray(points.y)
    if cm.georef.kind != mosaic.georef.kind:
        raise ChipError(f'{mosaic.path}: the mosaic is georeferenced as {mosaic.georef.kind!r} and the class map '
                        f'as {cm.georef.kind!r}: pass the mosaic the class map was made from (--image)')
    if cm.georef.kind == 'crs' and cm.crs != mosaic.crs:
        xs, ys = (np.asarray(v) for v in warp_transform(cm.crs, mosaic.crs, xs, ys))
    inv = ~mosaic.transform
    cols, rows = inv.a * xs + inv.b * ys + inv.c, inv.d * xs + inv.e * ys + inv.f
    outside = (cols < 0) | (rows < 0) | (cols >= mosaic.width) | (rows >= mosaic.height)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ChipError(f'{mosaic.path}: sample point {int(points.sample_id[k])} (x {points.x[k]:.3f}, '
                        f'y {points.y[k]:.3f}) lies outside this mosaic: pass the mosaic the class map was made '
                        'from (--image)')
    return cols, rows


def check_mosaic(points, cm, mosaic_path) -> None:
    """Raise :class:`ChipError` unless every point lies in the mosaic (before anything is written)."""
    from .raster_io import SourceImage
    with SourceImage(mosaic_path) as mosaic:
        _mosaic_pixels(points, cm, mosaic)


def _chip(mosaic, col: float, row: float, size: int) -> np.ndarray:
    """``uint8 (size, size, 3)`` around (col, row), black outside the mosaic."""
    c0 = int(np.floor(col)) - size // 2
    r0 = int(np.floor(row)) - size // 2
    out = np.zeros((size, size, 3), np.uint8)
    a0, a1 = max(r0, 0), min(r0 + size, mosaic.height)
    b0, b1 = max(c0, 0), min(c0 + size, mosaic.width)
    if a1 > a0 and b1 > b0:
        rgb = mosaic.read_rgb(a0, b0, a1 - a0, b1 - b0)
        out[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = np.moveaxis(rgb, 0, -1)
    return out


def _mark(chip: np.ndarray, size: int, scale: int, label: str) -> np.ndarray:
    """Enlarge by ``scale``, frame the centre pixel, draw a cross-hair with a gap, write ``label``."""
    from PIL import Image, ImageDraw
    img = Image.fromarray(np.repeat(np.repeat(chip, scale, axis=0), scale, axis=1))
    draw = ImageDraw.Draw(img)
    c = (size // 2) * scale
    x0, y0, x1, y1 = c - 1, c - 1, c + scale, c + scale  # one output pixel outside the centre pixel
    draw.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], outline=(0, 0, 0))
    draw.rectangle([x0, y0, x1, y1], outline=_FRAME)
    gap, arm = 3 * scale, 8 * scale
    mid = c + scale // 2
    for a, b in ((x0 - gap - arm, x0 - gap), (x1 + gap, x1 + gap + arm)):
        draw.line([a, mid, b, mid], fill=_FRAME, width=max(1, scale // 2))
        draw.line([mid, a, mid, b], fill=_FRAME, width=max(1, scale // 2))
    draw.rectangle([0, 0, 8 * len(label) + 6, 14], fill=(0, 0, 0))
    draw.text((3, 1), label, fill=(255, 255, 255))
    return np.asarray(img)


def write_chips(points, table, cm, mosaic_path, out_dir, chip_size: int = 96) -> Path:
    """Write ``sample_NNNNN.png`` per point and :data:`CHIPS_CSV` into ``out_dir`` (atomically, file by file).

    Args:
        points: :class:`vnseg.geo.sampling.SamplePoints`.
        table: :class:`vnseg.geo.sampling.StrataTable` (stratum labels, class names).
        cm: the class map (:class:`vnseg.geo.sampling.ClassMap`).
        mosaic_path: the mosaic (any CRS; 8-bit RGB or grey).
        out_dir: folder of the chips.
        chip_size: window side in mosaic pixels.

    Returns:
        The CSV's path.

    Raises:
        ChipError: a point outside the mosaic (not the class map's mosaic), or grids that cannot relate.
    """
    from vnseg.core.atomic import atomic_output
    from vnseg.data.io import write_rgb_png
    from .raster_io import SourceImage
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scale = max(1, int(round(CHIP_OUTPUT_PX / chip_size)))
    rows = []
    with SourceImage(mosaic_path) as mosaic:
        cols_m, rows_m = _mosaic_pixels(points, cm, mosaic)
        for k in range(len(points)):
            sid = int(points.sample_id[k])
            name = f'sample_{sid:05d}.png'
            chip = _chip(mosaic, cols_m[k], rows_m[k], chip_size)
            write_rgb_png(out_dir / name, _mark(chip, chip_size, scale, f'#{sid}'))
            h = int(points.stratum[k])
            row = dict(sample_id=sid, stratum=table.label(h), map_class=table.classes[h % table.n_classes],
                       reference_class='', x=repr(float(points.x[k])), y=repr(float(points.y[k])),
                       row=int(points.row[k]), col=int(points.col[k]))
            if table.zone_names is not None:
                row['zone'] = table.zone_of(h)
            row['chip'] = name
            rows.append(row)
    csv_path = out_dir / CHIPS_CSV
    with atomic_output(csv_path) as tmp:
        with open(tmp, 'w', newline='', encoding='utf-8') as f:
            wr = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ['sample_id'])
            wr.writeheader()
            wr.writerows(rows)
    return csv_path
