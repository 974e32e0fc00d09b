"""The study's comparison table, generated from runs' metrics files (and their configs).

One row per run: model name, parameter count, OEM-pretrained flag, distilled flag, mIoU and the
per-class IoU — numbers taken verbatim from each run's metrics JSON (percent, 2 decimals).

Where each column comes from (first that applies):

* **Model**: the ``names`` argument; the metrics file's ``model`` key; the config file's stem; the
  work dir's name.
* **Params**: the metrics file's ``num_params``; else counted by building the model from the run's
  config (``<work_dir>/*.py``, which mmengine dumps there, or the metrics file's ``config`` key).
  For a distillation model only the student is counted: that is the model that is deployed
  (vnseg's ``DistillSegmentor`` is built as its student ``EncoderDecoder``; other models with a
  ``student`` sub-module count it, with a ``teacher`` sub-module count all minus the teacher).
* **OEM pretrained**: the metrics file's ``pretrained_oem``; else True when ``load_from`` or a
  backbone/model ``init_cfg`` checkpoint / ``pretrained`` path in the config mentions ``oem`` (as a
  word: ``segformer_b2_oem/iter_40000.pth``) or ``openearthmap``.
* **Distilled**: the metrics file's ``distilled``; else True when ``model.type`` contains
  ``Distill`` (e.g. ``DistillSegmentor``) or the config file name contains ``distill``.

Unknown values print as ``?``; undefined (NaN) metrics as ``n/a``.
"""
import glob
import math
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Optional

from vnseg.core.config_tree import walk_config

from . import metrics_file

OEM_PATTERN = re.compile(r'(?<![a-z])oem(?![a-z])|openearthmap|open[_-]earth[_-]map', re.I)


@dataclass
class RunSummary:
    """One row of the comparison table. Metric values are percent (NaN = undefined)."""
    name: str
    metrics_path: str
    metrics: dict
    config_path: Optional[str] = None
    num_params: Optional[int] = None
    pretrained_oem: Optional[bool] = None
    distilled: Optional[bool] = None
    iou: dict = field(default_factory=dict)

    @property
    def miou(self):
        value = self.metrics.get('mIoU')
        return math.nan if value is None else float(value)


def find_config(metrics_path, metrics=None):
    """The run's config: the metrics file's ``config`` key if that file exists, else the newest
    ``*.py`` next to the metrics file (mmengine dumps the merged config into the work dir)."""
    if metrics and metrics.get('config') and osp.isfile(metrics['config']):
        return metrics['config']
    candidates = sorted(glob.glob(osp.join(osp.dirname(osp.abspath(metrics_path)), '*.py')),
                        key=osp.getmtime)
    return candidates[-1] if candidates else None


def _strings_in(node, keys=('load_from', 'checkpoint', 'pretrained')):
    """Yield string values stored under ``keys`` anywhere in a (nested) config."""
    for _, key, value in walk_config(node):
        if key in keys and isinstance(value, str):
            yield value


def is_oem_pretrained(cfg):
    """True when ``load_from`` or a model checkpoint/pretrained path mentions OEM/OpenEarthMap."""
    paths = []
    if cfg.get('load_from'):
        paths.append(str(cfg.load_from))
    paths += list(_strings_in(cfg.get('model', {})))
    return any(OEM_PATTERN.search(p) for p in paths)


def is_distilled(cfg, config_path=None):
    """True when the model type contains ``Distill`` or the config file name contains
    ``distill``."""
    model_type = str(cfg.get('model', {}).get('type', ''))
    name = osp.basename(config_path or getattr(cfg, 'filename', None) or '')
    return 'distill' in model_type.lower() or 'distill' in name.lower()


def count_parameters(cfg):
    """Number of parameters of the model built from ``cfg.model`` (random init, nothing
    downloaded); for a distillation model the student's only."""
    import copy

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from vnseg.openmmlab.pretrained import disable_pretrained
    model_cfg = copy.deepcopy(cfg.model)
    disable_pretrained(model_cfg)
    if str(model_cfg.get('type', '')) == 'DistillSegmentor':
        # vnseg's DistillSegmentor *is* its student (an EncoderDecoder built from the same
        # arguments; the teacher is not a submodule): build the student alone, so counting
        # never loads the teacher checkpoint.
        for key in ('teacher_config', 'teacher_checkpoint', 'distill_loss'):
            model_cfg.pop(key, None)
        model_cfg['type'] = 'EncoderDecoder'
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(model_cfg)
    total = sum(p.numel() for p in model.parameters())
    student = getattr(model, 'student', None)
    if student is not None and hasattr(student, 'parameters'):
        return int(sum(p.numel() for p in student.parameters()))
    teacher = getattr(model, 'teacher', None)
    if teacher is not None and hasattr(teacher, 'parameters'):
        return int(total - sum(p.numel() for p in teacher.parameters()))
    return int(total)


def summarize_run(path, name=None, count_params=True):
    """Build a :class:`RunSummary` from a work dir or metrics JSON path (see module doc)."""
    metrics_path = metrics_file.find_metrics_file(path)
    metrics = metrics_file.load_metrics(metrics_path)
    config_path = find_config(metrics_path, metrics)
    cfg = None
    if config_path is not None:
        from mmengine import Config
        cfg = Config.fromfile(config_path)
    if name is None:
        name = metrics.get('model') or (
            osp.splitext(osp.basename(config_path))[0] if config_path
            else osp.basename(osp.dirname(osp.abspath(metrics_path))))
    num_params = metrics.get('num_params')
    if num_params is None and count_params and cfg is not None:
        num_params = count_parameters(cfg)
    oem = metrics.get('pretrained_oem')
    if oem is None and cfg is not None:
        oem = is_oem_pretrained(cfg)
    distilled = metrics.get('distilled')
    if distilled is None and cfg is not None:
        distilled = is_distilled(cfg, config_path)
    return RunSummary(name=name, metrics_path=metrics_path, metrics=metrics,
                      config_path=config_path,
                      num_params=None if num_params is None else int(num_params),
                      pretrained_oem=oem, distilled=distilled,
                      iou=metrics_file.per_class(metrics, 'IoU'))


def _fmt_metric(value):
    return 'n/a' if value is None or math.isnan(value) else f'{value:.2f}'


def _fmt_flag(value):
    return '?' if value is None else ('yes' if value else 'no')


def _fmt_params(value):
    return '?' if value is None else f'{value / 1e6:.2f}'


def comparison_rows(runs, names=None, count_params=True):
    """:class:`RunSummary` per run; ``runs`` are work dirs / metrics paths / summaries."""
    names = list(names) if names else [None] * len(runs)
    if len(names) != len(runs):
        raise ValueError(f'{len(names)} names for {len(runs)} runs')
    return [run if isinstance(run, RunSummary) else summarize_run(run, name, count_params)
            for run, name in zip(runs, names)]


def comparison_table(runs, names=None, count_params=True, sort=False, extra_metrics=()):
    """The comparison table as GitHub markdown (one header line, one separator, one row a run).

    Args:
        runs (list): work dirs, metrics JSON paths or :class:`RunSummary` objects.
        names (list[str], optional): model names, one per run.
        count_params (bool): build models to count parameters when not stored.
        sort (bool): order rows by mIoU, best first (NaN last); else input order.
        extra_metrics (Sequence[str]): more summary keys to show after mIoU, e.g. ``('mAcc',)``.

    Columns: Model | Params (M) | OEM pretrained | Distilled | mIoU | <extras> | IoU <class>...
    (classes in the first run's file order; a class missing from a run shows ``n/a``).
    Returns the table as a string ending with a newline.
    """
    rows = comparison_rows(runs, names, count_params)
    if sort:
        rows = sorted(rows, key=lambda r: (math.isnan(r.miou), -r.miou if not math.isnan(r.miou)
                                           else 0))
    classes = []
    for row in rows:
        classes += [c for c in row.iou if c not in classes]
    header = (['Model', 'Params (M)', 'OEM pretrained', 'Distilled', 'mIoU'] + list(extra_metrics)
              + [f'IoU {c}' for c in classes])
    align = (['---', '---:', ':---:', ':---:', '---:']
             + ['---:'] * (len(extra_metrics) + len(classes)))
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(align) + '|']
    for row in rows:
        extras = [row.metrics.get(k) for k in extra_metrics]
        cells = ([row.name.replace('|', '\\|'), _fmt_params(row.num_params),
                  _fmt_flag(row.pretrained_oem), _fmt_flag(row.distilled), _fmt_metric(row.miou)]
                 + [_fmt_metric(None if v is None else float(v)) for v in extras]
                 + [_fmt_metric(row.iou.get(c)) for c in classes])
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def comparison_csv(runs, path, names=None, count_params=True):
    """Write the same comparison as CSV (numbers unformatted: params as an integer, metrics in
    percent, empty for unknown/NaN). Returns ``path``."""
    import csv

    from vnseg.core.atomic import atomic_output
    rows = comparison_rows(runs, names, count_params)
    classes = []
    for row in rows:
        classes += [c for c in row.iou if c not in classes]

    def num(v):
        return '' if v is None or (isinstance(v, float) and math.isnan(v)) else v
    with atomic_output(path) as tmp, open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['model', 'num_params', 'pretrained_oem', 'distilled', 'mIoU']
                        + [f'IoU.{c}' for c in classes])
        for row in rows:
            writer.writerow([row.name, num(row.num_params), num(row.pretrained_oem),
                             num(row.distilled), num(row.miou)]
                            + [num(row.iou.get(c)) for c in classes])
    return path
