"""One-page, self-contained HTML report of a segmented mosaic (``STEM_report.html``).

Everything is inside the file (images base64-embedded, inline CSS, no script, no network): the
colour-overlay preview with its legend, the area table (pixels, ha, share, mean confidence), a
per-class area chart, the confidence histogram, the polygons' validity report, the urban indicators of
the map and of each zone, and the inputs and model used. Charts are drawn with matplotlib (Agg backend).
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Optional, Sequence

from vnseg.core.classes import texts_by_language

__all__ = ['write_report', 'class_area_chart', 'confidence_histogram_chart', 'set_report_section', 'ReportError']


class ReportError(ValueError):
    """A report that cannot take a section; the message names the file."""

    user_error = True  # a user's mistake: tools print one line (vnseg.commands.cli)


_TEXT = texts_by_language({
    'title': ('Segmentation report', 'Báo cáo phân đoạn'),
    'preview': ('Class map', 'Bản đồ lớp phủ'),
    'legend': ('Legend', 'Chú giải'),
    'areas': ('Area per class', 'Diện tích theo lớp'),
    'cls': ('class', 'lớp'),
    'pixels': ('pixels', 'điểm ảnh'),
    'ha': ('area (ha)', 'diện tích (ha)'),
    'share': ('share of mapped area (%)', 'tỷ lệ diện tích (%)'),
    'conf': ('mean confidence (%)', 'độ tin cậy trung bình (%)'),
    'chart': ('Area per class', 'Diện tích theo lớp'),
    'hist': ('Confidence of the predictions', 'Độ tin cậy của dự đoán'),
    'hist_x': ('max class probability (%)', 'xác suất lớp cao nhất (%)'),
    'hist_y': ('share of mapped pixels (%)', 'tỷ lệ điểm ảnh (%)'),
    'inputs': ('Inputs and model', 'Dữ liệu đầu vào và mô hình'),
    'outputs': ('Files', 'Tệp kết quả'),
    'note': ('How areas were measured', 'Cách tính diện tích'),
    'unit_px': ('pixels', 'điểm ảnh'),
    'nodata': ('no data', 'không có dữ liệu'),
    'no_conf': ('no confidence raster was written', 'không có ảnh độ tin cậy'),
    'indicators': ('Urban indicators', 'Chỉ tiêu đô thị'),
    'whole_map': ('whole map', 'toàn bản đồ'),
    'zone': ('zone', 'khu vực'),
    'validity': ('Polygons: a gap-free coverage', 'Vùng (polygon): phủ kín không chồng lấn'),
    'valid': ('the class polygons form a valid coverage: no gap, no overlap, shared borders',
              'các vùng của các lớp phủ kín bản đồ: không hở, không chồng lấn, chung ranh giới'),
    'not_valid': ('NOT a valid coverage: strips with gaps or overlaps at rows {rows}',
                  'KHÔNG phủ kín hợp lệ: các dải có chỗ hở hoặc chồng lấn tại hàng {rows}'),
    'checked': ('{n} strips checked', 'đã kiểm tra {n} dải'),
    'repaired': ('invalid geometries repaired: {n}', 'số hình học lỗi đã sửa: {n}'),
    'drawn': ('drawn area (ha)', 'diện tích vẽ (ha)'),
    'pixel_area': ('pixel area (ha)', 'diện tích điểm ảnh (ha)'),
    'change': ('change (%)', 'chênh lệch (%)'),
    'change_note': ('area of the simplified outlines against the exact area of their pixels',
                    'diện tích đường bao đã đơn giản hoá so với diện tích chính xác của các điểm ảnh'),
})


def _png_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
    return base64.b64encode(buf.getvalue()).decode('ascii')


def class_area_chart(names: Sequence[str], values: Sequence[float], palette, xlabel: str, title: str) -> str:
    """Horizontal bar chart (base64 PNG) of one value per class, bars in the class colours."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 0.45 * len(names) + 1.0))
    colours = [tuple(v / 255 for v in palette[i][:3]) for i in range(len(names))]
    y = range(len(names))[::-1]
    ax.barh(list(y), values, color=colours, edgecolor='#333333', linewidth=0.6)
    ax.set_yticks(list(y), names)
    for yi, v in zip(y, values):
        ax.text(v, yi, f' {v:,.2f}', va='center', fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.18)
    ax.spines[['top', 'right']].set_visible(False)
    out = _png_b64(fig)
    plt.close(fig)
    return out


def confidence_histogram_chart(hist: Sequence[int], xlabel: str, ylabel: str, title: str) -> str:
    """Histogram (base64 PNG) of the 0..100 % confidence counts, in 5 % bins."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    import numpy as np
    h = np.asarray(hist, np.float64)
    total = h.sum() or 1.0
    bins = np.add.reduceat(h, np.arange(0, 101, 5))  # [0,5), ..., [95,100), {100} folded into the last
    bins[-2] += bins[-1]
    bins = bins[:-1] / total * 100
    fig, ax = plt.subplots(figsize=(5.2, 2.6))
    centres = np.arange(0, 100, 5) + 2.5
    cmap = matplotlib.colormaps['RdYlGn']
    ax.bar(centres, bins, width=4.6, color=[cmap(c / 100) for c in centres], edgecolor='#333333', linewidth=0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.spines[['top', 'right']].set_visible(False)
    out = _png_b64(fig)
    plt.close(fig)
    return out


def write_report(path, areas: dict, names: Sequence[str], palette, preview_png: Optional[Path] = None,
                 inputs: Optional[dict] = None, outputs: Sequence[str] = (), lang: str = 'en',
                 title: Optional[str] = None) -> Path:
    """Write the report (atomically).

    Args:
        path: ``.html`` output.
        areas: the area-table JSON document (:func:`vnseg.geo.areas.write_area_tables`).
        names: class display names (index = class id), in ``lang``.
        palette: RGB per class.
        preview_png: the colour-overlay preview to embed (None: no picture).
        inputs: ``{label: value}`` shown in the inputs table (image, CRS, model config, checkpoint...).
        outputs: file names listed at the end.
        lang: ``'en'`` or ``'vi'`` (headings; class names come in ``names``).
    """
    from vnseg.core.atomic import atomic_output
    t = _TEXT.get(lang, _TEXT['en'])
    esc = html.escape
    rows = areas['classes']
    ground = areas.get('area_unit') == 'm2'
    has_conf = any('mean_confidence_pct' in r for r in rows)
    head = [t['cls'], t['pixels']] + ([t['ha']] if ground else []) + [t['share']] + ([t['conf']] if has_conf else [])
    body = []
    for r in rows:
        i = r['class_id']
        rgb = palette[i] if i < len(palette) else (128, 128, 128)
        sw = f'<span class="sw" style="background:rgb({rgb[0]},{rgb[1]},{rgb[2]})"></span>'
        cells = [sw + esc(names[i] if i < len(names) else r['class']), f"{r['pixels']:,}"]
        if ground:
            cells.append(f"{r['area_ha']:,.4f}")
        cells.append(f"{r['share_valid_pct']:.2f}")
        if has_conf:
            mc = r.get('mean_confidence_pct')
            cells.append('–' if mc is None else f'{mc:.1f}')
        body.append('<tr>' + ''.join(f'<td>{c}</td>' for c in cells) + '</tr>')
    table = ('<table class="areas"><thead><tr>' + ''.join(f'<th>{esc(h)}</th>' for h in head)
             + '</tr></thead><tbody>' + '\n'.join(body) + '</tbody></table>')
    values = [r['area_ha'] if ground else r['share_valid_pct'] for r in rows]
    chart_names = [names[r['class_id']] if r['class_id'] < len(names) else r['class'] for r in rows]
    chart = class_area_chart(chart_names, values, palette, t['ha'] if ground else t['share'], t['chart'])
    if areas.get('confidence_histogram'):
        hist = confidence_histogram_chart(areas['confidence_histogram'], t['hist_x'], t['hist_y'], '')
        hist_html = f'<img alt="{esc(t["hist"])}" src="data:image/png;base64,{hist}">'
    else:
        hist_html = f'<p class="muted">{esc(t["no_conf"])}</p>'
    legend = ''.join(
        f'<li><span class="sw" style="background:rgb({p[0]},{p[1]},{p[2]})"></span>{esc(n)}</li>'
        for n, p in zip(names, palette)) + f'<li><span class="sw nodata"></span>{esc(t["nodata"])}</li>'
    prev_html = ''
    if preview_png is not None and Path(preview_png).exists():
        b64 = base64.b64encode(Path(preview_png).read_bytes()).decode('ascii')
        prev_html = f'<img class="preview" alt="{esc(t["preview"])}" src="data:image/png;base64,{b64}">'
    info = dict(inputs or {})
    info_html = ''.join(f'<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>' for k, v in info.items())
    files_html = ''.join(f'<li><code>{esc(str(f))}</code></li>' for f in outputs)
    title = title or f"{t['title']}: {Path(str(areas.get('image', ''))).name}"
    doc = f'''<!DOCTYPE html>
<html lang="{esc(lang)}"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
h1 {{ font-size: 22px; margin: 0 0 4px 0; }} h2 {{ font-size: 16px; margin: 18px 0 6px 0; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 24px; }} .col {{ flex: 1 1 520px; min-width: 420px; }}
img.preview {{ max-width: 100%; border: 1px solid #999;
  background: repeating-conic-gradient(#ddd 0% 25%, #fff 0% 50%) 50% / 16px 16px; }}
ul.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 12px; margin: 6px 0; }}
.sw {{ display: inline-block; width: 14px; height: 14px; border: 1px solid #333; margin-right: 6px;
  vertical-align: -2px; }}
.sw.nodata {{ background: repeating-conic-gradient(#bbb 0% 25%, #fff 0% 50%) 50% / 6px 6px; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
table.areas td:not(:first-child) {{ text-align: right; }} table.areas td:first-child {{ white-space: nowrap; }}
th {{ background: #f0f0f0; text-align: left; }}
.muted {{ color: #777; }} code {{ font-size: 12px; }}
table.indicators th {{ font-size: 12px; }} .validity.bad {{ color: #b00020; font-weight: bold; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p class="muted">{esc(areas.get('note', ''))}</p>
<div class="grid">
<div class="col"><h2>{esc(t['preview'])}</h2>{prev_html}
<ul class="legend">{legend}</ul>
<h2>{esc(t['inputs'])}</h2><table class="info">{info_html}</table>
<h2>{esc(t['outputs'])}</h2><ul>{files_html}</ul></div>
<div class="col"><h2>{esc(t['areas'])}</h2>{table}
<img alt="{esc(t['chart'])}" src="data:image/png;base64,{chart}">
<h2>{esc(t['hist'])}</h2>{hist_html}{_validity_html(areas, t, names)}</div>
</div>
{_indicators_html(areas, t, lang)}
</body></html>
'''
    with atomic_output(path) as tmp:
        Path(tmp).write_text(doc, encoding='utf-8')
    return Path(path)


def _cell(key: str, value) -> str:
    """An indicator value as shown: shares with 1 decimal, km with 3, counts whole, '–' for none."""
    if value is None:
        return '–'
    if key == 'building_count':
        return f'{int(value):,}'
    if key.endswith('_km'):
        return f'{value:,.3f}'
    if key.endswith(('_pct', '_km_km2')):
        return f'{value:,.1f}'
    return f'{value:,.2f}'


def _indicators_html(areas: dict, t: dict, lang: str) -> str:
    """The urban indicators of the map and of each zone (the area JSON's ``indicators`` and
    ``zone_indicators``) as a table in ``lang``; '' when there are none."""
    if not areas.get('indicators'):
        return ''
    from .indicators import INDICATORS, indicator_labels
    esc = html.escape
    labels = indicator_labels(lang)
    keys = [k for k, *_ in INDICATORS]
    rows = [(t['whole_map'], areas['indicators'])] + [(r.get('zone', ''), r) for r in areas.get('zone_indicators', [])]
    head = ''.join(f'<th>{esc(h)}</th>' for h in [t['zone']] + [labels[k] for k in keys])
    body = '\n'.join('<tr><td>' + esc(str(name)) + '</td>' + ''.join(f'<td>{_cell(k, r.get(k))}</td>' for k in keys)
                     + '</tr>' for name, r in rows)
    return (f'<h2>{esc(t["indicators"])}</h2><table class="areas indicators"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table>')


def _validity_html(areas: dict, t: dict, names: Sequence[str]) -> str:
    """The polygons' validity report (the area JSON's ``validity``): coverage valid, strips checked,
    geometries repaired and per class the area change of simplification; '' without polygons."""
    v = areas.get('validity')
    if not v:
        return ''
    esc = html.escape
    ok = t['valid'] if v['coverage_valid'] else t['not_valid'].format(rows=', '.join(map(str, v['invalid_strips'])))
    ground = v.get('unit') == 'm2'
    scale = 1e-4 if ground else 1.0
    rows = []
    for r in v['classes']:
        i = r['class_id']
        name = names[i] if i < len(names) else r['class']
        rows.append(f"<tr><td>{esc(str(name))}</td><td>{r['pixel_area'] * scale:,.4f}</td>"
                    f"<td>{r['geom_area'] * scale:,.4f}</td><td>{r['area_change_pct']:+.3f}</td></tr>")
    units = (t['pixel_area'], t['drawn']) if ground else (t['pixels'], t['pixels'])
    head = ''.join(f'<th>{esc(h)}</th>' for h in (t['cls'], *units, t['change']))
    return (f'<h2>{esc(t["validity"])}</h2><p class="validity {"ok" if v["coverage_valid"] else "bad"}">{esc(ok)}'
            f' ({esc(t["checked"].format(n=v["strips_checked"]))}; '
            f'{esc(t["repaired"].format(n=v["invalid_repaired"]))})</p>'
            f'<table class="areas"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<p class="muted">{esc(t["change_note"])}</p>')


def set_report_section(path, key: str, fragment: str) -> Path:
    """Put an HTML ``fragment`` into the report at ``path`` as its section ``key`` (atomically).

    The fragment replaces the section ``key`` that an earlier call put there (between two comments naming
    it), else it goes at the end of the page; the rest of the page is kept as it is.

    Raises:
        ReportError: no such file, or not an HTML page.
    """
    from vnseg.core.atomic import atomic_write_text
    path = Path(path)
    if not path.is_file():
        raise ReportError(f'{path}: report not found')
    text = path.read_text(encoding='utf-8')
    start, end = f'<!-- vnseg section {key} -->', f'<!-- /vnseg section {key} -->'
    block = f'{start}\n{fragment}\n{end}'
    i, j = text.find(start), text.find(end)
    if 0 <= i < j:
        text = text[:i] + block + text[j + len(end):]
    else:
        k = text.rfind('</body>')
        if k < 0:
            raise ReportError(f'{path}: not an HTML page (no </body>)')
        text = text[:k] + block + '\n' + text[k:]
    return atomic_write_text(path, text)
