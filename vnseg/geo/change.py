"""Change between two flights: class transitions, a change raster, change polygons, a summary figure.

The BEFORE class map defines the grid. The AFTER map may have another grid, resolution and CRS: it is
reprojected onto BEFORE's grid with nearest-neighbour resampling (GDAL's warper through
``rasterio.vrt.WarpedVRT``, read window by window), so every number below is counted on BEFORE's
pixels and areas come from BEFORE's ground area per row (:class:`vnseg.geo.areas.PixelAreas`). A
pixel counts when both maps predict a class there (not 255 / outside AFTER's footprint).

Change categories are what planners ask about; each is ``NAME=FROM>TO`` with class names (English
or Vietnamese) or ``*`` for "any other class", e.g. the defaults ``new_buildings=*>building``,
``trees_lost=tree>*``, ``water_gained=*>water``, ``water_lost=water>*``. A pixel may belong to several
categories (tree -> building is a new building and lost trees): each category gets its own polygon
layer; the change raster shows the first matching category.

Outputs (``STEM`` = ``--stem``, default ``change``), written atomically, streamed by strips:

* ``STEM_transitions.csv`` -- matrix BEFORE class (rows) x AFTER class (columns), hectares (pixels
  without ground units); ``STEM_summary.json`` -- the same plus per-class totals and categories.
* ``STEM_change.tif`` -- uint8 COG on BEFORE's grid: 0 unchanged, 1..K the categories, K+1 other
  change, 255 no data; colour table + ``STEM_change.qml``.
* ``STEM_changes.gpkg`` -- one styled polygon layer per category (area, ha).
* ``STEM_summary.png`` -- change map thumbnail + gains/losses per class.
* ``STEM_zones.csv`` -- per zone and class: before/after ha and %, change (with zones).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from vnseg.core.classes import CLASS_NAMES, CLASSES, IGNORE_INDEX, PALETTE, class_names

__all__ = ['ChangeCategory', 'parse_category', 'DEFAULT_CATEGORIES', 'ChangeOptions', 'compare_class_maps',
           'ChangeError']

#: Default categories and their display names per language.
DEFAULT_CATEGORIES = ('new_buildings=*>building', 'trees_lost=tree>*', 'water_gained=*>water',
                      'water_lost=water>*')
_LABELS = {
    'new_buildings': {'en': 'new buildings', 'vi': 'công trình mới'},
    'trees_lost': {'en': 'trees lost', 'vi': 'mất cây xanh'},
    'water_gained': {'en': 'water gained', 'vi': 'mặt nước tăng'},
    'water_lost': {'en': 'water lost', 'vi': 'mặt nước giảm'},
    'unchanged': {'en': 'unchanged', 'vi': 'không đổi'},
    'other': {'en': 'other change', 'vi': 'thay đổi khác'},
}
_COLOURS = [(220, 40, 40), (150, 90, 20), (0, 110, 255), (120, 200, 255), (255, 0, 255), (255, 190, 0),
            (0, 200, 180), (140, 60, 200)]


class ChangeError(ValueError):
    """Inputs that cannot be compared (the message names the file)."""

    user_error = True  # a user's mistake: tools print one line (vnseg.commands.cli)


@dataclass
class ChangeCategory:
    """A change of interest: pixels whose BEFORE class is in ``src`` and AFTER class in ``dst``
    (and different). ``name`` is the key, ``label`` the display name."""

    name: str
    src: tuple
    dst: tuple
    label: str
    rule: str = ''


def _class_id(token: str) -> Optional[int]:
    t = token.strip().casefold()
    for names in CLASS_NAMES.values():
        for i, n in enumerate(names):
            if n.casefold() == t:
                return i
    if t.isdigit() and int(t) < len(CLASSES):
        return int(t)
    return None


def parse_category(spec: str, lang: str = 'en') -> ChangeCategory:
    """``NAME=FROM>TO`` (FROM / TO: class names separated by ``|``, or ``*``) -> :class:`ChangeCategory`."""
    try:
        name, rule = spec.split('=', 1)
        a, b = rule.split('>', 1)
    except ValueError:
        raise ValueError(f'change category {spec!r}: expected NAME=FROM>TO, e.g. new_buildings=*>building')
    sides = []
    for side in (a, b):
        if side.strip() == '*':
            sides.append(tuple(range(len(CLASSES))))
            continue
        ids = []
        for tok in side.split('|'):
            i = _class_id(tok)
            if i is None:
                raise ValueError(f'change category {spec!r}: unknown class {tok.strip()!r} '
                                 f'(classes: {", ".join(CLASSES)} or *)')
            ids.append(i)
        sides.append(tuple(ids))
    name = name.strip()
    label = _LABELS.get(name, {}).get(lang, name.replace('_', ' '))
    return ChangeCategory(name, sides[0], sides[1], label, rule.strip())


def _after_reader(after_ds, before_ds):
    """A dataset-like object reading AFTER on BEFORE's grid (nearest), or AFTER itself when the
    grids are identical."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    same = (after_ds.crs == before_ds.crs and after_ds.transform.almost_equals(before_ds.transform)
            and (after_ds.width, after_ds.height) == (before_ds.width, before_ds.height))
    if same:
        return after_ds, False
    return WarpedVRT(after_ds, crs=before_ds.crs, transform=before_ds.transform, width=before_ds.width,
                     height=before_ds.height, resampling=Resampling.nearest,
                     src_nodata=after_ds.nodata if after_ds.nodata is not None else IGNORE_INDEX,
                     nodata=IGNORE_INDEX), True


def _open_map(path, role):
    import rasterio
    path = Path(path)
    if not path.is_file():
        raise ChangeError(f'{path}: {role} class map not found')
    try:
        ds = rasterio.open(path)
    except Exception as err:
        raise ChangeError(f'{path}: cannot read the {role} class map ({str(err).splitlines()[0]})') from err
    if ds.count < 1 or ds.dtypes[0] != 'uint8':
        ds.close()
        raise ChangeError(f'{path}: {role} class map must be a single-band uint8 class-index raster '
                          f'(STEM_classes.tif), found {ds.count} band(s) of {ds.dtypes[0] if ds.count else "?"}')
    return ds


@dataclass(frozen=True)
class ChangeOptions:
    """What :func:`compare_class_maps` writes, and how; each field is the ``vnseg compare`` flag of its name.

    Args:
        stem: output file prefix (``STEM_change.tif``, ...).
        category: change categories, ``NAME=FROM>TO`` each (:func:`parse_category`); None: :data:`DEFAULT_CATEGORIES`.
        lang: ``'en'`` or ``'vi'``: class and category names.
        zones: a polygon vector file (any CRS): per-zone class areas; None: none.
        zone_field: the attribute naming each zone (with ``zones``).
        min_area: change polygons smaller than this are dropped, m² (px without CRS); None: 1 m² / 4 px.
        simplify: polygon simplification in m (px without CRS); None: half a pixel.
        polygons: write the GeoPackage of change polygons.
        figure: write the summary PNG.
        strip_rows: rows processed at a time (memory).
    """

    stem: str = 'change'
    category: Optional[Sequence[str]] = None
    lang: str = 'en'
    zones: Optional[str] = None
    zone_field: Optional[str] = None
    min_area: Optional[float] = None
    simplify: Optional[float] = None
    polygons: bool = True
    figure: bool = True
    strip_rows: int = 1024


def _category_tables(cats: Sequence[ChangeCategory], n: int):
    """``member`` bool ``(K, 256, 256)``: is (before, after) a change of category k; ``code`` uint8 ``(256, 256)``:
    the change raster's value of each pair (0 unchanged, first matching category, K+1 other change, 255 no data)."""
    member = np.zeros((len(cats), 256, 256), bool)
    for k, c in enumerate(cats):
        for i in c.src:
            for j in c.dst:
                if i != j:
                    member[k, i, j] = True
    code = np.full((256, 256), IGNORE_INDEX, np.uint8)
    code[:n, :n] = len(cats) + 1                      # other change
    code[np.arange(n), np.arange(n)] = 0              # unchanged
    for k in range(len(cats) - 1, -1, -1):            # first matching category wins
        code[member[k]] = k + 1
    return member, code


def _write_transitions(path: Path, names: Sequence[str], matrix: np.ndarray, ground: bool) -> Path:
    """The transition matrix (BEFORE rows x AFTER columns, with totals) as CSV, atomically."""
    from vnseg.core.atomic import atomic_output
    unit = 'ha' if ground else 'px'

    def cells(values):
        return [f'{v:.8f}' if ground else int(v) for v in values]

    with atomic_output(path) as tmp:
        with open(tmp, 'w', newline='', encoding='utf-8') as f:
            wr = csv.writer(f)
            wr.writerow([f'before \\ after ({unit})'] + list(names) + ['total before'])
            for i, name in enumerate(names):
                wr.writerow([name] + cells(matrix[i]) + cells([matrix[i].sum()]))
            wr.writerow(['total after'] + cells(matrix.sum(0)) + cells([matrix.sum()]))
    return path


def compare_class_maps(before, after, out_dir, options: ChangeOptions = ChangeOptions()) -> Dict:
    """Compare two class maps (see the module doc) into ``out_dir``, as ``options`` say. Returns a summary dict
    with the output paths, the transition matrix (``transitions_ha`` or ``transitions_px``) and per-category
    areas.

    Raises:
        ChangeError: a missing / unreadable / non-class map, or grids that cannot be related
            (a map without CRS whose grid differs from the other's).
        vnseg.geo.zones.ZoneError: an unusable zone file.
    """
    from rasterio.windows import Window

    from vnseg.core.atomic import atomic_output

    from .areas import PixelAreas
    from .georef import Georef
    from .layers import GeoPackageWriter, layer_fields
    from .raster_io import ClassMapWriter
    from .strips import LayerSpec, StripPolygonizer
    from .styles import paletted_raster_qml, polygon_layer_qml, write_qml
    o = options
    stem, lang, strip_rows = o.stem, o.lang, o.strip_rows
    names = list(class_names(lang))
    n = len(CLASSES)
    cats = [parse_category(c, lang) for c in (o.category or DEFAULT_CATEGORIES)]
    if len({c.name for c in cats}) != len(cats):
        raise ValueError('change categories must have distinct names')
    out_dir = Path(out_dir)
    bds = _open_map(before, 'BEFORE')
    try:
        ads = _open_map(after, 'AFTER')
    except BaseException:
        bds.close()
        raise
    writer = gp = None
    try:
        g = Georef.from_dataset(bds)
        ga = Georef.from_dataset(ads)
        same_grid = (ads.transform.almost_equals(bds.transform) and (ads.width, ads.height) == (bds.width, bds.height)
                     and ads.crs == bds.crs)
        if not same_grid and (g.kind != 'crs' or ga.kind != 'crs'):
            bad = before if g.kind != 'crs' else after
            raise ChangeError(f'{bad}: no CRS, so it cannot be placed on the other map\'s grid; '
                              'both maps need a CRS unless they share the same grid')
        zone_set = None
        if o.zones is not None:
            from .zones import load_zones
            if not o.zone_field:
                raise ValueError(f'{o.zones}: --zone-field is required with --zones')
            zone_set = load_zones(o.zones, o.zone_field, g)
        pa = PixelAreas.from_georef(g)
        ground = pa.unit == 'm2'
        areader, warped = _after_reader(ads, bds)
        member, code = _category_tables(cats, n)
        change_labels = [_LABELS['unchanged'][lang if lang in ('en', 'vi') else 'en']] + [c.label for c in cats] \
            + [_LABELS['other'][lang if lang in ('en', 'vi') else 'en']]
        change_colours = [(235, 235, 235)] + [_COLOURS[k % len(_COLOURS)] for k in range(len(cats))] + [(120, 120, 120)]
        out_dir.mkdir(parents=True, exist_ok=True)
        change_tif = out_dir / f'{stem}_change.tif'
        writer = ClassMapWriter(change_tif, g.width, g.height, g.crs, g.transform if g.kind != 'pixel' else None,
                                change_labels, change_colours, nodata=IGNORE_INDEX,
                                tags=dict(BEFORE=Path(before).name, AFTER=Path(after).name,
                                          CATEGORIES=json.dumps([c.name for c in cats])))
        px = np.zeros((n, n), np.int64)
        area = np.zeros((n, n), np.float64)
        layers = {}
        if o.polygons:
            gp = GeoPackageWriter(out_dir / f'{stem}_changes.gpkg', g)
            fields = layer_fields(pa.unit, with_confidence=False)
            for k, c in enumerate(cats):
                layers[k] = LayerSpec([gp.layer(c.label, fields)], k + 1, c.label)
        min_area = (1.0 if ground else 4.0) if o.min_area is None else o.min_area
        simplify = (0.5 * (pa.linear_scale() * pa.planar_pixel_area ** 0.5 if ground else 1.0) if o.simplify is None
                    else o.simplify)
        poly = StripPolygonizer(layers, pa, min_area, simplify, (0, g.height, 0, g.width),
                                max_polygon_rows=4 * strip_rows) if o.polygons else None
        zcount = None
        if zone_set is not None:
            from .zones import ZoneAreaCounter
            zcount = ZoneAreaCounter(zone_set, pa, n_maps=2)
        for r0 in range(0, g.height, strip_rows):
            h = min(strip_rows, g.height - r0)
            win = Window(0, r0, g.width, h)
            b = bds.read(1, window=win)
            a = areader.read(1, window=win)
            ok = (b < n) & (a < n)
            pair = np.where(ok, b.astype(np.int64) * n + a, n * n)
            px += np.bincount(pair.ravel(), minlength=n * n + 1)[:n * n].reshape(n, n)
            if ground:
                rows_area = pa.row_area[r0:r0 + h]
                w8 = np.broadcast_to(rows_area[:, None], pair.shape)
                area += np.bincount(pair.ravel(), weights=w8.ravel(), minlength=n * n + 1)[:n * n].reshape(n, n)
            writer.write_rows(r0, np.where(ok, code[b, a], IGNORE_INDEX).astype(np.uint8))
            if poly is not None:
                bb, aa = np.where(ok, b, 0), np.where(ok, a, 0)
                masks = {k: member[k][bb, aa] & ok for k in layers}
                poly.add(r0, h, {k: m for k, m in masks.items() if m.any()})
            if zcount is not None:
                zcount.update(r0, np.where(ok, b, IGNORE_INDEX).astype(np.uint8),
                              np.where(ok, a, IGNORE_INDEX).astype(np.uint8))
        writer.close()
        writer = None
        outputs = [change_tif]
        outputs.append(write_qml(change_tif.with_suffix('.qml'),
                                 paletted_raster_qml(range(len(change_labels)), change_labels, change_colours)))
        gpkg_path = None
        if poly is not None:
            poly.close()
            styles = {c.label: polygon_layer_qml(k + 1, c.label, change_colours[k + 1]) for k, c in enumerate(cats)}
            gpkg_path = gp.close(styles)
            gp = None
            outputs.append(gpkg_path)
        unit = 'ha' if ground else 'px'
        matrix = area / 1e4 if ground else px.astype(np.float64)
        trans_csv = _write_transitions(out_dir / f'{stem}_transitions.csv', names, matrix, ground)
        outputs.append(trans_csv)
        cat_rows = []
        for k, c in enumerate(cats):
            m = member[k][:n, :n]
            cat_rows.append(dict(name=c.name, label=c.label, rule=c.rule, pixels=int(px[m].sum()),
                                 **({'area_ha': float(area[m].sum()) / 1e4} if ground else {}),
                                 polygons=poly.stats[k]['polygons'] if poly is not None else None))
        summary = dict(before=str(before), after=str(after), after_reprojected=bool(warped),
                       grid=dict(crs=g.crs.to_string() if g.crs is not None else None, width=g.width,
                                 height=g.height, pixel_size=list(g.pixel_size)),
                       area_unit=unit, area_note=pa.note, classes=names,
                       compared_pixels=int(px.sum()),
                       transitions=np.round(matrix, 8).tolist(), transitions_px=px.tolist(),
                       before_total=np.round(matrix.sum(1), 8).tolist(),
                       after_total=np.round(matrix.sum(0), 8).tolist(),
                       categories=cat_rows)
        if zcount is not None:
            zpath = zcount.write_csv(out_dir / f'{stem}_zones.csv', names, ['before', 'after'])
            outputs.append(zpath)
        if o.figure:
            png = out_dir / f'{stem}_summary.png'
            _summary_figure(png, change_tif, change_labels, change_colours, names, matrix, unit, cat_rows,
                            Path(before).name, Path(after).name)
            outputs.append(png)
        summary['outputs'] = [p.name for p in outputs]
        sjson = out_dir / f'{stem}_summary.json'
        with atomic_output(sjson) as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding='utf-8')
        summary['paths'] = dict(change=change_tif, gpkg=gpkg_path, transitions=trans_csv, summary_json=sjson,
                                png=out_dir / f'{stem}_summary.png' if o.figure else None,
                                zones=out_dir / f'{stem}_zones.csv' if zcount is not None else None)
        return summary
    except BaseException:
        if writer is not None:
            writer.abort()
        if gp is not None:
            gp.abort()
        raise
    finally:
        bds.close()
        ads.close()


def _summary_figure(path, change_tif, labels, colours, names, matrix, unit, cat_rows, before_name, after_name):
    """Change map thumbnail (left) and per-class gains / losses (right), as PNG."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    import rasterio
    from matplotlib.patches import Patch
    from rasterio.enums import Resampling

    from vnseg.core.atomic import atomic_output
    with rasterio.open(change_tif) as ds:
        s = min(1.0, 1200 / max(ds.width, ds.height))
        arr = ds.read(1, out_shape=(max(1, round(ds.height * s)), max(1, round(ds.width * s))),
                      resampling=Resampling.nearest)
    lut = np.full((256, 4), 0, np.uint8)
    for i, c in enumerate(colours):
        lut[i] = (*c, 255)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw=dict(width_ratios=[1.2, 1]))
    ax0.imshow(lut[arr])
    ax0.set_axis_off()
    ax0.set_title(f'{before_name} → {after_name}', fontsize=10)
    ax0.legend(handles=[Patch(facecolor=np.array(c) / 255, edgecolor='#333', label=lab)
                        for lab, c in zip(labels, colours)], loc='upper left', bbox_to_anchor=(0, -0.02),
               ncol=3, fontsize=8, frameon=False)
    n = len(names)
    gain = matrix.sum(0) - np.diag(matrix)
    loss = matrix.sum(1) - np.diag(matrix)
    y = np.arange(n)[::-1]
    cols = [np.array(PALETTE[i]) / 255 for i in range(n)]
    ax1.barh(y + 0.2, gain, height=0.4, color=cols, edgecolor='#333', label='gained')
    ax1.barh(y - 0.2, -loss, height=0.4, color=cols, edgecolor='#333', hatch='//', label='lost')
    ax1.axvline(0, color='#333', lw=0.8)
    ax1.set_yticks(y, names)
    ax1.set_xlabel(f'{unit} (right: gained, left: lost)')
    summary = '\n'.join(f"{r['label']}: {r.get('area_ha', r['pixels']):,.4f} {unit}" if unit == 'ha' else
                        f"{r['label']}: {r['pixels']:,} px" for r in cat_rows)
    ax1.set_title('class gains and losses', fontsize=10)
    ax1.text(0.0, -0.14, summary, transform=ax1.transAxes, ha='left', va='top', fontsize=8,
             bbox=dict(facecolor='white', edgecolor='#999'))
    ax1.spines[['top', 'right']].set_visible(False)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format='png', dpi=100)
    plt.close(fig)
    return Path(path)


def category_names(categories: Sequence[str], lang: str = 'en') -> List[str]:
    """Display names of category specs (for tools' printing)."""
    return [parse_category(c, lang).label for c in categories]
