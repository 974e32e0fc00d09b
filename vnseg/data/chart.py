"""Class-distribution bar chart of a prepared dataset (matplotlib, Agg canvas, no global backend)."""
from __future__ import annotations

import io
from typing import Mapping

from vnseg.core.atomic import atomic_write_bytes
from vnseg.core.classes import CLASSES, PALETTE


def class_distribution_png(split_shares: Mapping[str, Mapping[str, float]], title: str = '') -> bytes:
    """PNG bytes of a grouped bar chart: pixel share (%) per class, one bar group per class,
    one bar per split (``{split: {class name: share in 0..1}}``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import numpy as np

    splits = [s for s in split_shares if split_shares[s]]
    names = list(CLASSES) + ['ignore']
    fig = Figure(figsize=(8, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(names))
    width = 0.8 / max(1, len(splits))
    hatches = ['', '//', '..', 'xx']
    colors = [np.array(c) / 255.0 for c in PALETTE] + [np.array([0.75, 0.75, 0.75])]
    for k, split in enumerate(splits):
        values = [100.0 * float(split_shares[split].get(n, 0.0)) for n in names]
        bars = ax.bar(x + (k - (len(splits) - 1) / 2) * width, values, width, label=split,
                      color=colors, edgecolor='black', linewidth=0.6, hatch=hatches[k % len(hatches)])
        for b, v in zip(bars, values):
            if v > 0:
                ax.annotate(f'{v:.1f}', (b.get_x() + b.get_width() / 2, v), ha='center', va='bottom', fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels(names)
    ax.set_ylabel('pixel share (%)')
    ax.set_title(title or 'Class distribution per split (original patches)')
    if splits:
        ax.legend(title='split (hatch)')
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', metadata={'Software': None})
    return buf.getvalue()


def write_class_distribution(path, split_shares, title: str = ''):
    """Atomically write :func:`class_distribution_png` to ``path``."""
    return atomic_write_bytes(path, class_distribution_png(split_shares, title))
