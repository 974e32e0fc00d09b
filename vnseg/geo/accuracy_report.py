"""Accuracy results for people: the HTML section (chart + tables) and the Markdown tables, from ``accuracy.json``.

:func:`accuracy_section_html` returns a self-contained HTML fragment (``<section>``, the chart embedded as
a base64 PNG, no script): mapped vs estimated area per class with the 95 % intervals as error bars, the
area and accuracy table, the sample's size and dates, per-zone tables, and what was not estimable. The
mosaic's report (:mod:`vnseg.geo.report`) can embed it as it is; :func:`write_accuracy_html` wraps it in
a page of its own, and :func:`add_to_mosaic_report` puts it into the report that ``vnseg map`` wrote
beside the class map (``vnseg accuracy --report``). :func:`accuracy_markdown` gives the same tables, and
the error matrices, as Markdown.
Class names and headings in English or Vietnamese (``lang``); numbers come from the document only.
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import List, Optional, Sequence

from vnseg.core.classes import PALETTE, class_names, texts_by_language

__all__ = ['accuracy_section_html', 'write_accuracy_html', 'accuracy_markdown', 'area_chart_png', 'mosaic_report_of',
           'check_mosaic_report', 'add_to_mosaic_report', 'not_estimable_notes']

_TEXT = texts_by_language({
    'title': ('Class areas with 95 % confidence intervals', 'Diện tích các lớp với khoảng tin cậy 95 %'),
    'cls': ('class', 'lớp'),
    'mapped': ('mapped area', 'diện tích trên bản đồ'),
    'estimated': ('estimated area', 'diện tích ước tính'),
    'ci': ('± 95 %', '± 95 %'),
    'users': ("user's accuracy", 'độ chính xác người dùng'),
    'producers': ("producer's accuracy", 'độ chính xác người sản xuất'),
    'overall': ('overall accuracy', 'độ chính xác tổng thể'),
    'zone': ('zone', 'khu vực'),
    'zones': ('Per zone', 'Theo khu vực'),
    'counts': ('Error matrix (sample counts)', 'Ma trận sai số (số điểm mẫu)'),
    'props': ('Error matrix (estimated area proportions)', 'Ma trận sai số (tỷ lệ diện tích ước tính)'),
    'rows': ('rows: map class; columns: reference class', 'hàng: lớp trên bản đồ; cột: lớp tham chiếu'),
    'notes': ('Not estimable', 'Không ước lượng được'),
    'points': ('reviewed points', 'điểm đã kiểm tra'),
    'drawn': ('sample drawn', 'ngày lấy mẫu'),
    'assessed': ('assessed', 'ngày đánh giá'),
    'unlabelled': ('points without a reference label left out', 'điểm chưa có lớp tham chiếu (bỏ qua)'),
    'chart_x': ('area', 'diện tích'),
    'na': ('n/e', 'k/ư'),
    'na_long': ('n/e: not estimable (see below)', 'k/ư: không ước lượng được (xem bên dưới)'),
    'unit_ha': ('ha', 'ha'),
    'unit_px': ('pixels', 'điểm ảnh'),
    'legend_mapped': ('mapped (the class map)', 'trên bản đồ'),
    'legend_est': ('estimated from the sample, ± 95 %', 'ước tính từ mẫu, ± 95 %'),
})


def _t(lang: str) -> dict:
    return _TEXT.get(lang, _TEXT['en'])


def _decimals(v: float) -> int:
    if v == 0 or not math.isfinite(v):
        return 2
    return int(min(4, max(0, 2 - math.floor(math.log10(abs(v))))))


def _area(v: Optional[float], ref: Optional[float] = None, na: str = 'n/e') -> str:
    if v is None:
        return na
    d = _decimals(ref if ref is not None else v)
    return f'{v:,.{d}f}'


def _pct(v: Optional[float], na: str = 'n/e') -> str:
    return na if v is None else f'{100 * v:.1f}'


def _class_order(doc: dict) -> List[str]:
    """The class names in class-id order (``accuracy.json`` is written with sorted keys: its ``classes``
    mapping is alphabetical; the error matrix keeps the ids' order)."""
    return list((doc.get('error_matrix') or {}).get('classes') or doc['classes'])


def _colour(name: str, palette: Sequence[Sequence[int]]):
    from vnseg.core.classes import CLASSES
    i = CLASSES.index(name) if name in CLASSES else -1
    return tuple(v / 255 for v in palette[i][:3]) if 0 <= i < len(palette) else (0.5, 0.5, 0.5)


def _unit_keys(doc: dict):
    unit = doc.get('area_unit', 'ha')
    return unit, ('mapped_area_ha', 'area_ha', 'area_ha_ci95') if unit == 'ha' else (
        'mapped_area_px', 'area_px', 'area_px_ci95')


def area_chart_png(doc: dict, lang: str = 'en', palette: Sequence[Sequence[int]] = PALETTE) -> Optional[bytes]:
    """PNG bytes of mapped vs estimated area per class (error bars: 95 % intervals); None when nothing to draw."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    import numpy as np
    t = _t(lang)
    unit, (k_map, k_area, k_ci) = _unit_keys(doc)
    names = _class_order(doc)
    labels = class_names(lang, names)
    mapped = [doc['classes'][n].get(k_map) for n in names]
    est = [doc['classes'][n].get(k_area) for n in names]
    ci = [doc['classes'][n].get(k_ci) for n in names]
    if all(v is None for v in mapped + est):
        return None
    y = np.arange(len(names))[::-1].astype(float)
    fig, ax = plt.subplots(figsize=(6.4, 0.62 * len(names) + 1.2))
    colours = [_colour(n, palette) for n in names]
    h = 0.36
    ax.barh(y + h / 2, [v or 0 for v in mapped], height=h, color=colours, alpha=0.35, edgecolor='#333333',
            linewidth=0.6, hatch='//')
    ax.barh(y - h / 2, [v or 0 for v in est], height=h, color=colours, edgecolor='#333333', linewidth=0.6)
    from matplotlib import patheffects
    halo = [patheffects.withStroke(linewidth=3.2, foreground='white')]  # visible on a dark bar (background)
    for yi, v, e in zip(y, est, ci):
        if v is not None and e is not None:
            bars = ax.errorbar(v, yi - h / 2, xerr=e, fmt='none', ecolor='#111111', elinewidth=1.2, capsize=4)
            for artist in list(bars.lines[1]) + list(bars.lines[2]):
                artist.set_path_effects(halo)
        elif v is None:
            ax.text(0, yi - h / 2, f' {t["na"]}', va='center', fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f'{t["chart_x"]} ({t["unit_ha"] if unit == "ha" else t["unit_px"]})')
    if unit != 'ha':  # pixel counts in millions read badly as '1e6' offsets
        from matplotlib.ticker import FuncFormatter
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f'{v:,.0f}'))
    ax.set_xlim(left=0)
    ax.spines[['top', 'right']].set_visible(False)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(facecolor='#bbbbbb', edgecolor='#333333', hatch='//', label=t['legend_mapped']),
                       Patch(facecolor='#555555', edgecolor='#333333', label=t['legend_est'])],
              fontsize=8, loc='best', frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
    plt.close(fig)
    return buf.getvalue()


def _rows(pop: dict, names: Sequence[str], labels: Sequence[str], keys, na: str) -> List[List[str]]:
    k_map, k_area, k_ci = keys
    out = []
    for name, label in zip(names, labels):
        e = pop['classes'][name]
        est = e.get(k_area)
        out.append([label, _area(e.get(k_map), na=na), _area(est, na=na), _area(e.get(k_ci), ref=est, na=na),
                    _pct(e.get('users_accuracy'), na), _pct(e.get('users_accuracy_ci95'), na),
                    _pct(e.get('producers_accuracy'), na), _pct(e.get('producers_accuracy_ci95'), na)])
    return out


def _head(t: dict, unit: str) -> List[str]:
    u = t['unit_ha'] if unit == 'ha' else t['unit_px']
    return [t['cls'], f'{t["mapped"]} ({u})', f'{t["estimated"]} ({u})', t['ci'], f'{t["users"]} (%)', t['ci'],
            f'{t["producers"]} (%)', t['ci']]


def _summary(doc: dict, t: dict) -> str:
    s = doc.get('sample') or {}
    oa = doc.get('overall_accuracy')
    parts = [f'{doc["n"]} {t["points"]}']
    if doc.get('unlabelled'):
        parts.append(f'{doc["unlabelled"]} {t["unlabelled"]}')
    if s.get('drawn'):
        parts.append(f'{t["drawn"]} {s["drawn"][:10]}')
    if s.get('assessed'):
        parts.append(f'{t["assessed"]} {s["assessed"][:10]}')
    parts.append(f'{t["overall"]} {_pct(oa, t["na"])} % ± {_pct(doc.get("overall_accuracy_ci95"), t["na"])}')
    return '; '.join(parts)


def not_estimable_notes(doc: dict) -> List[str]:
    """What was not estimable, and why: the population's notes and each class's (``not_estimable``), per zone too."""
    def of(pop: dict) -> List[str]:
        out = list(pop.get('notes') or [])
        for e in (pop.get('classes') or {}).values():
            out += [n for n in e.get('not_estimable') or [] if n not in out]
        return out
    notes = of(doc)
    for zone, pop in (doc.get('zones') or {}).items():
        notes += [f'{zone}: {n}' for n in of(pop)]
    return notes


def _has_gaps(doc: dict) -> bool:
    """Any value of the tables not estimable (``None``)?"""
    _, keys = _unit_keys(doc)
    fields = list(keys) + ['users_accuracy', 'users_accuracy_ci95', 'producers_accuracy', 'producers_accuracy_ci95']
    pops = [doc] + list((doc.get('zones') or {}).values())
    return any(pop.get('overall_accuracy_ci95') is None or any(e.get(k) is None for e in pop['classes'].values()
                                                                for k in fields) for pop in pops)


def accuracy_section_html(doc: dict, lang: str = 'en', palette: Sequence[Sequence[int]] = PALETTE) -> str:
    """An HTML ``<section>`` of the accuracy document (``accuracy.json``): chart, tables, sample, notes.

    Args:
        doc: the document of :func:`vnseg.geo.accuracy.assess_accuracy` (as read from ``accuracy.json``).
        lang: ``'en'`` / ``'vi'``.
        palette: RGB per class (chart colours).
    """
    t = _t(lang)
    esc = html.escape
    unit, keys = _unit_keys(doc)
    names = _class_order(doc)
    labels = class_names(lang, names)

    def table(rows, head, first=()):
        return ('<table class="areas accuracy"><thead><tr>' + ''.join(f'<th>{esc(h)}</th>' for h in head)
                + '</tr></thead><tbody>' + ''.join(
                    '<tr>' + ''.join(f'<td>{esc(str(c))}</td>' for c in list(first) + r) + '</tr>' for r in rows)
                + '</tbody></table>')

    png = area_chart_png(doc, lang, palette)
    chart = (f'<img class="accuracy-chart" alt="{esc(t["title"])}" '
             f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">' if png else '')
    parts = [f'<section class="vnseg-accuracy"><h2>{esc(t["title"])}</h2>',
             f'<p>{esc(_summary(doc, t))}</p>', chart, table(_rows(doc, names, labels, keys, t['na']), _head(t, unit))]
    if doc.get('zones'):
        parts.append(f'<h3>{esc(t["zones"])}</h3>')
        zrows = []
        for zone, pop in doc['zones'].items():
            oa = f'{_pct(pop.get("overall_accuracy"), t["na"])} ± {_pct(pop.get("overall_accuracy_ci95"), t["na"])}'
            for r in _rows(pop, names, labels, keys, t['na']):
                zrows.append([zone, oa] + r)
        parts.append(table(zrows, [t['zone'], f'{t["overall"]} (%)'] + _head(t, unit)))
    notes = not_estimable_notes(doc)
    if _has_gaps(doc):
        parts.append(f'<p class="muted">{esc(t["na_long"])}</p>')
    if notes:
        parts.append(f'<h3>{esc(t["notes"])}</h3><ul>' + ''.join(f'<li>{esc(n)}</li>' for n in notes) + '</ul>')
    parts.append('</section>')
    return '\n'.join(p for p in parts if p)


def write_accuracy_html(path, doc: dict, lang: str = 'en') -> Path:
    """Write :func:`accuracy_section_html` as a page of its own (atomically)."""
    from vnseg.core.atomic import atomic_write_text
    t = _t(lang)
    page = f'''<!DOCTYPE html>
<html lang="{html.escape(lang)}"><head><meta charset="utf-8"><title>{html.escape(t["title"])}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; max-width: 1100px; }}
h2 {{ font-size: 18px; }} h3 {{ font-size: 15px; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 8px 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
th {{ background: #f0f0f0; text-align: left; }} table.areas td:not(:first-child) {{ text-align: right; }}
.muted {{ color: #777; }}
</style></head><body>
{accuracy_section_html(doc, lang)}
</body></html>
'''
    return atomic_write_text(path, page)


def mosaic_report_of(class_map) -> Path:
    """The report ``vnseg map`` writes beside a class map: ``STEM_report.html`` for ``STEM_classes.tif``.

    Raises:
        vnseg.geo.report.ReportError: a class map not named like ``vnseg map``'s.
    """
    from .report import ReportError
    class_map = Path(class_map)
    if not class_map.name.endswith('_classes.tif'):
        raise ReportError(f'{class_map}: not named STEM_classes.tif as vnseg map names its class maps: give the '
                          'report to add to (--report STEM_report.html)')
    return class_map.with_name(class_map.name[:-len('_classes.tif')] + '_report.html')


def check_mosaic_report(report, class_map) -> str:
    """The text of ``report`` when it is the report of ``class_map`` (it lists the class map among its files).

    Raises:
        vnseg.geo.report.ReportError: no report, or the report of another class map.
    """
    from .report import ReportError
    report, name = Path(report), Path(class_map).name
    if not report.is_file():
        raise ReportError(f'{report}: no report of vnseg map beside the class map (it was run with --no-report?): '
                          'run vnseg map again with --resume to write it, or give the report (--report FILE)')
    text = report.read_text(encoding='utf-8')
    if f'<code>{html.escape(name)}</code>' not in text:
        raise ReportError(f'{report}: not the report of {name} (its files do not list it)')
    return text


def add_to_mosaic_report(report, doc: dict, class_map, lang: Optional[str] = None) -> Path:
    """Put the accuracy section of ``doc`` into the mosaic's report (atomically; a second call replaces it).

    Args:
        report: ``STEM_report.html`` of ``vnseg map`` (:func:`mosaic_report_of`).
        doc: the accuracy document (``accuracy.json``).
        class_map: the class map the sample was assessed on (:func:`check_mosaic_report`).
        lang: ``'en'`` / ``'vi'``; default: the report's own language.

    Raises:
        vnseg.geo.report.ReportError: no report, or the report of another class map.
    """
    import re

    from .report import set_report_section
    text = check_mosaic_report(report, class_map)
    if lang is None:
        found = re.search(r'<html lang="([A-Za-z-]+)"', text)
        lang = found.group(1) if found and found.group(1) in _TEXT else 'en'
    return set_report_section(report, 'accuracy', accuracy_section_html(doc, lang))


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '|'.join('---' for _ in head) + '|']
    lines += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(lines)


def accuracy_markdown(doc: dict, lang: str = 'en') -> str:
    """The accuracy document as Markdown: summary, area and accuracy table, error matrices, zones, notes."""
    t = _t(lang)
    unit, keys = _unit_keys(doc)
    names = _class_order(doc)
    labels = list(class_names(lang, names))
    out = [f'# {t["title"]}', '', _summary(doc, t), '', _md_table(_head(t, unit), _rows(doc, names, labels, keys,
                                                                                         t['na'])), '']
    m = doc['error_matrix']
    out += [f'## {t["counts"]}', '', t['rows'], '',
            _md_table([''] + labels, [[lab] + [str(v) for v in row] for lab, row in zip(labels, m['counts'])]), '',
            f'## {t["props"]}', '',
            _md_table([''] + labels, [[lab] + ['n/e' if v is None else f'{v:.4f}' for v in row]
                                      for lab, row in zip(labels, m['area_proportions'])]), '']
    if doc.get('zones'):
        out += [f'## {t["zones"]}', '']
        for zone, pop in doc['zones'].items():
            out += [f'### {zone}', '', _summary(pop, t), '',
                    _md_table(_head(t, unit), _rows(pop, names, labels, keys, t['na'])), '']
    notes = not_estimable_notes(doc)
    if notes:
        out += [f'## {t["notes"]}', ''] + [f'- {n}' for n in notes] + ['']
    if _has_gaps(doc):
        out += [t['na_long'], '']
    out += [f'_{doc.get("method", "")}_', '']
    return '\n'.join(out)
