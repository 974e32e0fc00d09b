"""Render the study's figures to PNG files with matplotlib (object API, Agg; no pyplot state).

Every renderer writes a figure of exactly ``figsize`` inches x ``dpi`` (no tight bounding box), so
the pixel size is predictable: ``(round(w * dpi), round(h * dpi))``.
"""
import math
import os
import os.path as osp

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from vnseg.core.classes import CLASSES, IGNORE_COLOR, IGNORE_INDEX, PALETTE

from . import logs, metrics_file
from .confusion import normalize_rows


def _new_figure(figsize, dpi):
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_path, dpi):
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=dpi)
    return out_path


def expected_size(figsize, dpi):
    """Pixel size (width, height) of a figure rendered by this module."""
    return int(round(figsize[0] * dpi)), int(round(figsize[1] * dpi))


def colorize(mask, palette=PALETTE, ignore_color=IGNORE_COLOR):
    """Class-index mask (H, W) -> RGB uint8 (H, W, 3). Values >= len(palette) (e.g. 255) get
    ``ignore_color``."""
    mask = np.asarray(mask)
    lut = np.tile(np.array(ignore_color, dtype=np.uint8), (256, 1))
    lut[:len(palette)] = np.asarray(palette, dtype=np.uint8)
    return lut[np.clip(mask.astype(np.int64), 0, 255)]


def render_confusion_matrix(conf, classes, out_path, normalize=True, title=None,
                            figsize=(6.4, 5.6), dpi=100):
    """Heat map of a confusion matrix (rows = ground truth, columns = prediction).

    Args:
        conf (np.ndarray): (C, C) pixel counts.
        classes (Sequence[str]): C class names (tick labels).
        out_path (str): PNG path.
        normalize (bool): show row-normalised percentages (each ground-truth row sums to 100);
            rows of classes absent from the ground truth are grey and marked ``n/a``. With False,
            cells show raw pixel counts.
        figsize (tuple[float, float]): inches; dpi (int): pixels per inch.

    Returns:
        str: ``out_path``.
    """
    conf = np.asarray(conf)
    values = normalize_rows(conf) * 100 if normalize else conf.astype(np.float64)
    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot(1, 1, 1)
    shown = np.ma.masked_invalid(values)
    import matplotlib
    cmap = matplotlib.colormaps['Blues'].with_extremes(bad='#d0d0d0')
    vmax = 100 if normalize else max(float(np.nanmax(values)) if values.size else 1.0, 1.0)
    image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=vmax)
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label('% of ground-truth pixels' if normalize else 'pixels')
    n = len(classes)
    ax.set_xticks(range(n), labels=list(classes), rotation=45, ha='right')
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel('Predicted')
    ax.set_ylabel('Ground truth')
    for i in range(n):
        for j in range(n):
            v = values[i, j]
            text = 'n/a' if np.isnan(v) else (f'{v:.1f}' if normalize else f'{int(v)}')
            dark = not np.isnan(v) and v > 0.5 * vmax
            ax.text(j, i, text, ha='center', va='center', fontsize=8,
                    color='white' if dark else 'black')
    ax.set_title(title or ('Confusion matrix (row-normalised, %)' if normalize
                           else 'Confusion matrix (pixels)'))
    fig.tight_layout()
    return _save(fig, out_path, dpi)


def _as_metrics(item):
    return metrics_file.load_metrics(item) if isinstance(item, (str, os.PathLike)) else item


def render_iou_bar(metrics, out_path, labels=None, family='IoU', title=None,
                   figsize=(8.0, 4.5), dpi=100):
    """Per-class bar chart of ``<family>.<class>`` values (percent) plus the mean, for one or
    several runs (grouped bars).

    Args:
        metrics (dict | str | list): a metrics dict or JSON path/work dir, or a list of them.
        out_path (str): PNG path.
        labels (list[str], optional): legend label per run (default ``run 1``, ``run 2``...; the
            ``model`` meta key when present).
        family (str): ``'IoU'``, ``'Acc'``, ... (the mean bar is ``m<family>``, or the nanmean
            of the classes when that key is absent).

    NaN (undefined) values have no bar and are labelled ``n/a``. Returns ``out_path``.
    """
    runs = [_as_metrics(m) for m in (metrics if isinstance(metrics, (list, tuple)) else [metrics])]
    if not runs:
        raise ValueError('no metrics to plot')
    classes = metrics_file.class_names(runs[0], family)
    if not classes:
        raise KeyError(f'no {family}.<class> keys in the metrics')
    if labels is None:
        labels = [r.get('model') or f'run {i + 1}' for i, r in enumerate(runs)]
    groups = list(classes) + [f'm{family}']
    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(runs)
    x = np.arange(len(groups))
    for k, (run, label) in enumerate(zip(runs, labels)):
        per = metrics_file.per_class(run, family)
        vals = [per.get(c, math.nan) for c in classes]
        mean = run.get(f'm{family}')
        if mean is None:
            finite = [v for v in vals if not math.isnan(v)]
            mean = float(np.mean(finite)) if finite else math.nan
        vals.append(float(mean))
        if len(runs) == 1 and len(classes) <= len(PALETTE):
            # class colours; the black background bar is drawn dark grey, the mean bar grey
            colors = [np.asarray(c) / 255 if any(c) else (0.3, 0.3, 0.3)
                      for c in PALETTE[:len(classes)]] + [(0.4, 0.4, 0.4)]
        else:
            colors = None
        pos = x - 0.4 + width * (k + 0.5)
        heights = [0 if math.isnan(v) else v for v in vals]
        ax.bar(pos, heights, width * 0.95, label=label, color=colors, edgecolor='black',
               linewidth=0.5)
        for p, v in zip(pos, vals):
            ax.text(p, (0 if math.isnan(v) else v) + 1, 'n/a' if math.isnan(v) else f'{v:.1f}',
                    ha='center', va='bottom', fontsize=7)
    ax.set_xticks(x, labels=groups)
    ax.set_ylim(0, 110)
    ax.set_ylabel(f'{family} (%)')
    ax.set_title(title or f'Per-class {family}')
    if len(runs) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_path, dpi)


def render_training_curves(runs, out_path, labels=None, loss_keys=('loss',), val_keys=('mIoU',),
                           title=None, figsize=(11.0, 4.0), dpi=100):
    """Two panels: training losses vs step (left) and validation metrics vs step (right).

    Args:
        runs (str | logs.History | list): work dir(s) / ``scalars.json`` file(s) / histories.
        out_path (str): PNG path.
        labels (list[str], optional): legend name per run (default: the work dir's name).
        loss_keys (Sequence[str]): training keys to plot, e.g. ``('loss', 'decode.loss_ce')``.
        val_keys (Sequence[str]): validation keys (percent), e.g. ``('mIoU', 'IoU.road')``.

    A panel whose keys are never logged says so in the panel. Returns ``out_path``.
    """
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    if labels is None:
        labels = [osp.basename(osp.normpath(r)) if isinstance(r, (str, os.PathLike))
                  else f'run {i + 1}' for i, r in enumerate(runs)]
    histories = [r if isinstance(r, logs.History) else logs.load_history(r) for r in runs]
    fig = _new_figure(figsize, dpi)
    ax_loss = fig.add_subplot(1, 2, 1)
    ax_val = fig.add_subplot(1, 2, 2)
    plotted = [0, 0]
    for hist, label in zip(histories, labels):
        for key in loss_keys:
            if key in hist.train:
                steps, vals = hist.train[key]
                name = key if len(runs) == 1 else f'{label}: {key}'
                ax_loss.plot(steps, vals, label=name, linewidth=1.2)
                plotted[0] += 1
        for key in val_keys:
            if key in hist.val:
                steps, vals = hist.val[key]
                name = key if len(runs) == 1 else f'{label}: {key}'
                ax_val.plot(steps, vals, marker='o', markersize=3, label=name, linewidth=1.2)
                plotted[1] += 1
    for ax, count, ylabel, what in ((ax_loss, plotted[0], 'loss', 'training loss'),
                                    (ax_val, plotted[1], '%', 'validation metric')):
        ax.set_xlabel('iteration')
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if count:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, f'no {what} logged', ha='center', va='center',
                    transform=ax.transAxes)
    ax_loss.set_title('Training loss')
    ax_val.set_title('Validation')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_path, dpi)


def prediction_grid_size(num_rows, num_cols, panel_inches=2.0, legend_inches=0.6, dpi=100):
    """Pixel size (width, height) of :func:`render_prediction_grid`'s output."""
    return expected_size((num_cols * panel_inches, num_rows * panel_inches + legend_inches), dpi)


def render_prediction_grid(rows, column_titles, out_path, classes=CLASSES, palette=PALETTE,
                           panel_inches=2.0, legend_inches=0.6, dpi=100):
    """Grid of patches: one row per patch, columns ``image | ground truth | model A | ...``,
    masks drawn with the class palette, a legend of classes underneath.

    Args:
        rows (list[dict]): per patch ``dict(name=str, image=uint8 (H, W, 3), masks=[(H, W) ...])``
            where ``masks`` are the ground truth then each model's prediction (class indices;
            ``IGNORE_INDEX`` drawn white).
        column_titles (list[str]): ``1 + len(masks)`` titles, e.g.
            ``['image', 'ground truth', 'segformer', 'distilled']``.
        out_path (str): PNG path.
        panel_inches (float): side of one panel (inches); legend_inches (float): legend strip.

    Size: ``prediction_grid_size(len(rows), len(column_titles), panel_inches, legend_inches, dpi)``.
    Returns ``out_path``.
    """
    if not rows:
        raise ValueError('no patches to draw')
    ncols = len(column_titles)
    for row in rows:
        if 1 + len(row['masks']) != ncols:
            raise ValueError(f"patch {row.get('name')}: {1 + len(row['masks'])} panels for "
                             f'{ncols} column titles')
    nrows = len(rows)
    width, height = ncols * panel_inches, nrows * panel_inches + legend_inches
    fig = _new_figure((width, height), dpi)
    bottom = legend_inches / height
    grid = fig.add_gridspec(nrows, ncols, left=0.01, right=0.99, top=1 - 0.3 / height,
                            bottom=bottom + 0.01, wspace=0.03, hspace=0.12)
    has_ignore = False
    for r, row in enumerate(rows):
        panels = [np.asarray(row['image'])]
        for mask in row['masks']:
            mask = np.asarray(mask)
            has_ignore |= bool(np.any(mask >= len(palette)))
            panels.append(colorize(mask, palette))
        for c, panel in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(panel, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(str(row.get('name', '')), fontsize=7)
    handles = [Patch(facecolor=np.asarray(col) / 255, edgecolor='black', label=name)
               for name, col in zip(classes, palette)]
    if has_ignore:
        handles.append(Patch(facecolor=np.asarray(IGNORE_COLOR) / 255, edgecolor='black',
                             label=f'ignore ({IGNORE_INDEX})'))
    fig.legend(handles=handles, loc='lower center', ncol=len(handles), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 0.0))
    return _save(fig, out_path, dpi)
