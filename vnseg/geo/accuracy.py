"""A reviewed sample -> class areas with 95 % confidence intervals, error matrix and accuracies (files).

Reads the sample that ``vnseg sample`` drew and a reviewer labelled (its GeoPackage, or a CSV with the
same columns, e.g. the chips' ``chips.csv``; class names in English or Vietnamese, or class ids), checks
that it belongs to the class map, measures each stratum's mapped area on the class map (ground area of
every pixel row, :class:`vnseg.geo.areas.PixelAreas`; with zone strata, the zones rasterised as when
sampling) and estimates with :mod:`vnseg.geo.area_estimation`, for the whole map and per zone.

Writes into the output folder (atomically):

* ``accuracy.json`` -- ``{"n", "overall_accuracy", "overall_accuracy_ci95", "classes": {NAME:
  {"mapped_area_ha", "area_ha", "area_ha_se", "area_ha_ci95", "users_accuracy", "users_accuracy_ci95",
  "producers_accuracy", "producers_accuracy_ci95", ...}}, "zones": {ZONE: {"classes": {...}, ...}}, ...}``:
  NAME the English class name, accuracies as proportions (0..1), ``*_ci95`` the half-width of the 95 %
  interval (1.96 standard errors), ``null`` where not estimable (``notes`` says why). Beside these: the
  standard errors, ``error_matrix`` (counts and estimated area proportions, rows = map class),
  ``strata``, ``unlabelled``, ``sample`` (its file, size and date), ``area_unit`` (``"ha"``; ``"px"``
  for a map without ground units, whose ``*_ha`` values are then ``null`` and ``*_px`` given);
* ``accuracy.csv`` -- one row per class (and per zone and class);
* ``error_matrix.csv`` -- counts and estimated area proportions;
* ``accuracy.md`` and ``accuracy.html`` -- the tables for people (``lang``).

Refused, with one line naming the file: a sample drawn on another map (CRS, grid or extent differ, a
point's map class or zone is not the map's there), an unknown class name (the row and the value are
named), missing columns. Rows without a reference label are counted, left out and reported.
"""
from __future__ import annotations

import csv
import datetime
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .area_estimation import AccuracyEstimates, ReviewedSample, Strata, estimate_accuracy
from .review_form import DESIGN_KEY, FIELDS, LAYER
from .sampling import ClassMap, StrataTable, count_strata, open_class_map, parse_class, pixel_centres

__all__ = ['AccuracyError', 'AccuracyOptions', 'SampleRows', 'read_sample', 'parse_class', 'assess_accuracy',
           'accuracy_document']


class AccuracyError(ValueError):
    """A sample that cannot be used with this class map; the message names the file."""

    user_error = True  # a user's mistake: tools print one line (vnseg.commands.cli)


@dataclass
class AccuracyOptions:
    """Options of ``vnseg accuracy`` (named like its flags).

    Attributes:
        class_map: the class map the sample was drawn on (``--class-map``).
        out_dir: output folder (``--out-dir``).
        zones, zone_field: the zone file of a sample stratified by zone (default: the one recorded in the
            sample's GeoPackage).
        layer: the GeoPackage layer (default :data:`vnseg.geo.review_form.LAYER`, or its only point layer).
        lang: ``'en'`` / ``'vi'``: class names and headings of the Markdown and HTML tables (None: English).
        block_rows: rows of the class map read at a time (memory).
    """

    class_map: str
    out_dir: str
    zones: Optional[str] = None
    zone_field: Optional[str] = None
    layer: Optional[str] = None
    lang: Optional[str] = None
    block_rows: int = 512


@dataclass
class SampleRows:
    """A reviewed sample as read, one entry per row, values as text (``None`` for empty cells).

    Attributes:
        path: the file.
        line: row number shown in messages (CSV: the file's line; GeoPackage: the feature number, 1..n).
        columns: ``{field: list of values}``.
        crs: the layer's CRS (``rasterio.crs.CRS``), None without one, ``'unknown'`` for a CSV.
        design: the sampling design stored in the GeoPackage, or None.
    """

    path: Path
    line: List[int]
    columns: Dict[str, list]
    crs: object
    design: Optional[dict]

    def __len__(self) -> int:
        return len(self.line)


def _cell(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    s = str(v).strip()
    return s or None


def read_sample(path, layer: Optional[str] = None) -> SampleRows:
    """Read a reviewed sample: a GeoPackage (or any vector file GDAL reads) point layer, or a CSV.

    Raises:
        AccuracyError: missing or unreadable file, no such layer, missing columns.
    """
    path = Path(path)
    if not path.is_file():
        raise AccuracyError(f'{path}: sample not found')
    required = [f for f in FIELDS if f != 'stratum']
    if path.suffix.lower() in ('.csv', '.txt'):
        try:
            with open(path, newline='', encoding='utf-8-sig') as f:
                reader = csv.DictReader(f)
                fields = [(c or '').strip() for c in (reader.fieldnames or [])]
                data = [row for row in reader]
        except (UnicodeDecodeError, csv.Error) as err:
            raise AccuracyError(f'{path}: cannot read the CSV ({err})') from err
        missing = [c for c in required if c not in fields]
        if missing:
            raise AccuracyError(f'{path}: missing column(s) {", ".join(missing)}; a sample has the columns '
                                f'{", ".join(FIELDS)} (vnseg sample)')
        keys = dict(zip(fields, reader.fieldnames or []))
        columns = {c: [_cell(r.get(keys[c])) for r in data] for c in fields}
        return SampleRows(path, list(range(2, len(data) + 2)), columns, 'unknown', None)
    try:
        from pyogrio import list_layers, read_info
        from pyogrio.raw import read
        layers = [(str(n), g) for n, g in list_layers(str(path))]
        if layer is None:
            points = [n for n, g in layers if g and 'POINT' in str(g).upper()]
            layer = LAYER if LAYER in [n for n, _ in layers] else (points[0] if len(points) == 1 else None)
            if layer is None:
                raise AccuracyError(f'{path}: no layer {LAYER!r} and {len(points)} point layers: name one with --layer')
        elif layer not in [n for n, _ in layers]:
            raise AccuracyError(f'{path}: no layer {layer!r}; layers are {", ".join(n for n, _ in layers)}')
        info = read_info(str(path), layer=layer)
        meta, _, _, values = read(str(path), layer=layer, read_geometry=False)
    except AccuracyError:
        raise
    except Exception as err:  # pyogrio.errors.DataSourceError and friends
        raise AccuracyError(f'{path}: cannot read the sample ({str(err).splitlines()[0]})') from err
    fields = [str(f) for f in meta['fields']]
    missing = [c for c in required if c not in fields]
    if missing:
        raise AccuracyError(f'{path}: layer {layer!r} has no field(s) {", ".join(missing)}; a sample has the fields '
                            f'{", ".join(FIELDS)} (vnseg sample)')
    columns = {f: [_cell(v) for v in np.asarray(values[i], dtype=object)] for i, f in enumerate(fields)}
    from rasterio.crs import CRS
    crs = CRS.from_user_input(meta['crs']) if meta.get('crs') else None
    design = None
    raw = (info.get('layer_metadata') or {}).get(DESIGN_KEY)
    if raw:
        try:
            design = json.loads(raw)
        except ValueError:
            design = None
    n = len(next(iter(columns.values()))) if columns else 0
    return SampleRows(path, list(range(1, n + 1)), columns, crs, design)


# ------------------------------------------------------------------------------------------------
# checks: the sample against the class map
# ------------------------------------------------------------------------------------------------
def _another_map(rows: SampleRows, cm: ClassMap, problem: str) -> AccuracyError:
    return AccuracyError(f'{rows.path}: the sample was drawn on another map than {cm.path}: {problem}')


def _check_design(rows: SampleRows, cm: ClassMap):
    """CRS of the layer, and grid and extent recorded in the design, against the class map."""
    from affine import Affine
    from rasterio.crs import CRS
    if not isinstance(rows.crs, str):  # a CSV has no CRS to compare
        if cm.crs is not None and rows.crs is not None and rows.crs != cm.crs:
            raise _another_map(rows, cm, f'its CRS is {rows.crs.to_string()}, the map\'s {cm.crs.to_string()}')
        if (rows.crs is None) != (cm.crs is None):
            raise _another_map(rows, cm, f'the {"map" if rows.crs is None else "sample"} has a CRS, the '
                                         f'{"sample" if rows.crs is None else "map"} has none')
    d = rows.design
    if not d:
        return
    if d.get('crs') and cm.crs is not None and CRS.from_wkt(d['crs']) != cm.crs:
        raise _another_map(rows, cm, 'the CRS recorded with the sample differs from the map\'s')
    t = Affine(*d['transform'][:6])
    m = cm.transform
    size = max(abs(m.a), abs(m.e), 1e-12)
    same_pixel = all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in
                     ((t.a, m.a), (t.b, m.b), (t.d, m.d), (t.e, m.e)))
    if not same_pixel:
        raise _another_map(rows, cm, f'its grid has pixels of {abs(t.a):g} x {abs(t.e):g}, the map\'s '
                                     f'{abs(m.a):g} x {abs(m.e):g}')
    same_origin = math.isclose(t.c, m.c, abs_tol=1e-6 * size) and math.isclose(t.f, m.f, abs_tol=1e-6 * size)
    if not same_origin or (d['width'], d['height']) != (cm.width, cm.height):
        raise _another_map(rows, cm, f'its extent is {d["width"]} x {d["height"]} pixels from ({t.c:.3f}, {t.f:.3f}), '
                                     f'the map\'s {cm.width} x {cm.height} from ({m.c:.3f}, {m.f:.3f})')


def _ints(rows: SampleRows, column: str) -> np.ndarray:
    out = np.zeros(len(rows), np.int64)
    for k, v in enumerate(rows.columns[column]):
        try:
            f = float(v)
            if f != int(f):
                raise ValueError
            out[k] = int(f)
        except (TypeError, ValueError):
            raise AccuracyError(f'{rows.path}: row {rows.line[k]}: {column} {v!r} is not a whole number') from None
    return out


def _floats(rows: SampleRows, column: str) -> np.ndarray:
    out = np.zeros(len(rows), np.float64)
    for k, v in enumerate(rows.columns[column]):
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise AccuracyError(f'{rows.path}: row {rows.line[k]}: {column} {v!r} is not a number') from None
    return out


def _classes_of(rows: SampleRows, column: str, classes: Sequence[str], required: bool) -> np.ndarray:
    out = np.full(len(rows), -1, np.int64)
    for k, v in enumerate(rows.columns[column]):
        try:
            c = parse_class(v, classes)
        except KeyError:
            raise AccuracyError(f'{rows.path}: row {rows.line[k]} (sample_id {rows.columns["sample_id"][k]}): unknown '
                                f'{column} {v!r}; use a class name ({", ".join(classes)}, or in Vietnamese) or a '
                                f'class id 0..{len(classes) - 1}') from None
        if c is None and required:
            raise AccuracyError(f'{rows.path}: row {rows.line[k]} (sample_id {rows.columns["sample_id"][k]}): '
                                f'{column} is empty')
        out[k] = -1 if c is None else c
    return out


def _check_points(rows: SampleRows, cm: ClassMap, r: np.ndarray, c: np.ndarray, x: np.ndarray, y: np.ndarray):
    ids = rows.columns['sample_id']
    out = (r < 0) | (c < 0) | (r >= cm.height) | (c >= cm.width)
    if out.any():
        k = int(np.flatnonzero(out)[0])
        raise _another_map(rows, cm, f'sample_id {ids[k]} (row {r[k]}, col {c[k]}) lies outside its '
                                     f'{cm.width} x {cm.height} pixels')
    cx, cy = pixel_centres(cm.transform, r, c)
    tol = 0.01 * max(abs(cm.transform.a), abs(cm.transform.e), 1e-12)
    off = (np.abs(np.asarray(cx) - x) > tol) | (np.abs(np.asarray(cy) - y) > tol)
    if off.any():
        k = int(np.flatnonzero(off)[0])
        raise _another_map(rows, cm, f'{int(off.sum())} point(s) are not at the centre of their pixel on its grid '
                                     f'(first: sample_id {ids[k]}, x {x[k]:.3f} y {y[k]:.3f}, pixel row {r[k]} col '
                                     f'{c[k]} is centred at {float(cx[k]):.3f}, {float(cy[k]):.3f})')


def _zones_for(rows: SampleRows, cm: ClassMap, options: AccuracyOptions):
    """The zones of a sample stratified by zone (None for strata = map classes)."""
    from .zones import load_zones
    has_zone = 'zone' in rows.columns and any(v is not None for v in rows.columns['zone'])
    if options.zones and not has_zone:
        raise AccuracyError(f'{rows.path}: the sample was not stratified by zone (no zone column): per-zone estimates '
                            'need a sample drawn with --zones')
    if not has_zone:
        return None
    path, field = options.zones, options.zone_field
    d = rows.design or {}
    if path is None and d.get('zones'):
        recorded = Path(d['zones'])
        for candidate in (recorded, rows.path.parent / recorded, rows.path.parent / recorded.name):
            if candidate.is_file():
                path = candidate
                break
    field = field or d.get('zone_field')
    if path is None or field is None:
        raise AccuracyError(f'{rows.path}: the sample is stratified by zone: pass the zone file it was drawn with '
                            '(--zones FILE --zone-field FIELD)')
    return load_zones(path, field, cm.georef)


# ------------------------------------------------------------------------------------------------
# estimation and outputs
# ------------------------------------------------------------------------------------------------
def _num(v: Optional[float], scale: float = 1.0) -> Optional[float]:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) * scale


def _class_entries(est: AccuracyEstimates, table: StrataTable, mapped_pixels: np.ndarray) -> dict:
    ground = table.unit == 'm2'
    out = {}
    for c, name in enumerate(table.classes):
        a, u, p = est.area[c], est.users[c], est.producers[c]
        e = dict(
            mapped_area_ha=_num(est.mapped_area[c], 1e-4) if ground else None,
            area_ha=_num(a.value, 1e-4) if ground else None,
            area_ha_se=_num(a.se, 1e-4) if ground else None,
            area_ha_ci95=_num(a.ci95, 1e-4) if ground else None,
            users_accuracy=_num(u.value), users_accuracy_ci95=_num(u.ci95), users_accuracy_se=_num(u.se),
            producers_accuracy=_num(p.value), producers_accuracy_ci95=_num(p.ci95), producers_accuracy_se=_num(p.se),
            mapped_pixels=int(mapped_pixels[c]),
            n_map=int(est.counts[c].sum()), n_reference=int(est.counts[:, c].sum()))
        if not ground:
            e.update(mapped_area_px=_num(est.mapped_area[c]), area_px=_num(a.value), area_px_se=_num(a.se),
                     area_px_ci95=_num(a.ci95))
        notes = [f'{what}: {x.note}' for what, x in (('area', a), ("user's accuracy", u), ("producer's accuracy", p))
                 if x.note and (x.value is None or x.se is None)]
        if notes:
            e['not_estimable'] = notes
        out[name] = e
    return out


def _population_entry(est: AccuracyEstimates, table: StrataTable, mapped_pixels: np.ndarray) -> dict:
    o = est.overall
    return dict(n=est.n, overall_accuracy=_num(o.value), overall_accuracy_ci95=_num(o.ci95),
                overall_accuracy_se=_num(o.se), classes=_class_entries(est, table, mapped_pixels),
                error_matrix=dict(rows='map class', columns='reference class', classes=list(table.classes),
                                  counts=est.counts.tolist(),
                                  area_proportions=[[_num(v) for v in row] for row in est.proportions]),
                total_area_ha=_num(est.total_area, 1e-4) if table.unit == 'm2' else None,
                notes=list(est.notes) + ([f'overall accuracy: {o.note}'] if o.note else []))


def accuracy_document(table: StrataTable, strata_of_points: np.ndarray, map_ids: np.ndarray, ref_ids: np.ndarray,
                      extra: Optional[dict] = None) -> dict:
    """Estimate for the whole map and each zone; the ``accuracy.json`` document.

    Args:
        table: the strata of the class map (:func:`vnseg.geo.sampling.count_strata`).
        strata_of_points, map_ids, ref_ids: stratum, map class and reference class of each labelled point.
        extra: keys added to the document (sample, class map, dates...).
    """
    K = table.n_classes
    H = len(table.pixels)
    strata = Strata(table.labels(), table.area, table.pixels, np.arange(H) % K)
    sample = ReviewedSample(strata_of_points, map_ids, ref_ids)
    mapped_px = np.bincount(np.arange(H) % K, weights=table.pixels, minlength=K)
    whole = estimate_accuracy(sample, strata, table.classes)
    doc = _population_entry(whole, table, mapped_px)
    doc = {'n': doc.pop('n'), **doc}
    zones = {}
    for z, zname in enumerate(table.zone_names or []):
        idx = np.arange(z * K, (z + 1) * K)
        sel = (sample.stratum >= z * K) & (sample.stratum < (z + 1) * K)
        sub = ReviewedSample(sample.stratum[sel] - z * K, sample.map_class[sel], sample.reference[sel])
        est = estimate_accuracy(sub, strata.subset(idx), table.classes)
        zones[zname] = _population_entry(est, table, table.pixels[idx])
    doc['zones'] = zones
    doc['area_unit'] = 'ha' if table.unit == 'm2' else 'px'
    n_h = np.bincount(sample.stratum, minlength=H)
    doc['strata'] = [dict(stratum=table.label(h), zone=table.zone_of(h), map_class=table.classes[h % K],
                          pixels=int(table.pixels[h]),
                          area_ha=float(table.area[h]) * 1e-4 if table.unit == 'm2' else None, n=int(n_h[h]))
                     for h in range(H) if table.pixels[h] > 0 or n_h[h] > 0]
    doc['method'] = ('stratified estimators: Olofsson et al. 2014 (Remote Sensing of Environment 148), Stehman 2014 '
                     '(International Journal of Remote Sensing 35), Cochran 1977; *_ci95 = 1.96 standard errors; '
                     'accuracies are proportions 0..1')
    doc.update(extra or {})
    return doc


def assess_accuracy(sample_path, options: AccuracyOptions) -> dict:
    """Check the reviewed sample against the class map, estimate, write the outputs. Returns the JSON document.

    Args:
        sample_path: the reviewed sample (GeoPackage or CSV).
        options: :class:`AccuracyOptions`.

    Raises:
        AccuracyError: see the module doc; :class:`vnseg.geo.sampling.SampleError` for an unusable class map.
    """
    from vnseg.core.atomic import write_json
    rows = read_sample(sample_path, options.layer)
    if not len(rows):
        raise AccuracyError(f'{rows.path}: the sample has no rows')
    ids = rows.columns['sample_id']
    seen = {}
    for k, v in enumerate(ids):
        if v in seen:
            raise AccuracyError(f'{rows.path}: row {rows.line[k]}: sample_id {v} appears twice (also row {seen[v]})')
        seen[v] = rows.line[k]
    with open_class_map(options.class_map) as cm:
        _check_design(rows, cm)
        r, c = _ints(rows, 'row'), _ints(rows, 'col')
        x, y = _floats(rows, 'x'), _floats(rows, 'y')
        map_ids = _classes_of(rows, 'map_class', cm.classes, required=True)
        ref_ids = _classes_of(rows, 'reference_class', cm.classes, required=False)
        _check_points(rows, cm, r, c, x, y)
        zones = _zones_for(rows, cm, options)
        table = count_strata(cm, zones, options.block_rows, points=(r, c))
    K = table.n_classes
    got = table.point_strata
    if zones is not None:
        zone_index = {n: i for i, n in enumerate(table.zone_names)}
        for k, zname in enumerate(rows.columns['zone']):
            if zname not in zone_index:
                raise AccuracyError(f'{rows.path}: row {rows.line[k]} (sample_id {ids[k]}): zone {zname!r} is not a '
                                    f'zone of {zones.path}')
        want = np.array([zone_index[z] for z in rows.columns['zone']], np.int64) * K + map_ids
    else:
        want = map_ids
    bad = got != want
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        there = 'nodata or outside the zones' if got[k] < 0 else repr(table.label(int(got[k])))
        raise _another_map(rows, cm, f'{int(bad.sum())} point(s) are not in their stratum on this map (first: '
                                     f'sample_id {ids[k]} is {table.label(int(want[k]))!r} in the sample, {there} on '
                                     'the map)')
    labelled = ref_ids >= 0
    design = rows.design or {}
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    extra = dict(
        unlabelled=int((~labelled).sum()), rows=len(rows), class_map=str(cm.path.name),
        sample=dict(file=str(rows.path.name), drawn=design.get('date'), seed=design.get('seed'),
                    points=len(rows), labelled=int(labelled.sum()), assessed=now))
    doc = accuracy_document(table, got[labelled], map_ids[labelled], ref_ids[labelled], extra)
    out = Path(options.out_dir)
    write_json(out / 'accuracy.json', doc)
    _write_csv(out / 'accuracy.csv', doc)
    _write_matrix_csv(out / 'error_matrix.csv', doc)
    from .accuracy_report import accuracy_markdown, write_accuracy_html
    from vnseg.core.atomic import atomic_write_text
    atomic_write_text(out / 'accuracy.md', accuracy_markdown(doc, options.lang or 'en'))
    write_accuracy_html(out / 'accuracy.html', doc, options.lang or 'en')
    return doc


def _write_csv(path: Path, doc: dict):
    from vnseg.core.atomic import atomic_output
    unit = doc['area_unit']
    cols = ['zone', 'class', f'mapped_area_{unit}', f'area_{unit}', f'area_{unit}_se', f'area_{unit}_ci95',
            'users_accuracy', 'users_accuracy_se', 'users_accuracy_ci95', 'producers_accuracy', 'producers_accuracy_se',
            'producers_accuracy_ci95', 'n_map', 'n_reference']
    rows = []
    for zone, pop in [('', doc)] + list(doc['zones'].items()):
        for name, e in pop['classes'].items():
            rows.append({'zone': zone, 'class': name, **{k: ('' if e.get(k) is None else e.get(k)) for k in cols[2:]}})
    with atomic_output(path) as tmp:
        with open(tmp, 'w', newline='', encoding='utf-8') as f:
            wr = csv.DictWriter(f, fieldnames=cols)
            wr.writeheader()
            wr.writerows(rows)


def _write_matrix_csv(path: Path, doc: dict):
    from vnseg.core.atomic import atomic_output
    classes = doc['error_matrix']['classes']
    cols = ['zone', 'map_class'] + [f'n_{c}' for c in classes] + [f'p_{c}' for c in classes]
    rows = []
    for zone, pop in [('', doc)] + list(doc['zones'].items()):
        m = pop['error_matrix']
        for i, name in enumerate(classes):
            rows.append([zone, name] + m['counts'][i] + ['' if v is None else v for v in m['area_proportions'][i]])
    with atomic_output(path) as tmp:
        with open(tmp, 'w', newline='', encoding='utf-8') as f:
            wr = csv.writer(f)
            wr.writerow(cols)
            wr.writerows(rows)
