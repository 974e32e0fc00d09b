"""Read and write the metrics JSON that ``tools/test.py`` leaves in a work dir.

Format (one flat JSON object)::

    {"aAcc": 91.2, "mIoU": 70.31, "mAcc": 80.02,          # percent, 0-100
     "IoU.background": 88.1, "IoU.road": 61.5, ...,       # percent per class, null = undefined
     "Acc.background": 93.0, "Acc.road": 70.2, ...,
     "confusion_matrix": [[...], ...],                    # optional, pixel counts, rows = GT
     "config": "...", "checkpoint": "...", "model": "...",  # optional meta
     "num_params": 3719045, "pretrained_oem": true, "distilled": false}

Class order is the order of the ``IoU.<class>`` (or ``Acc.<class>``) keys. Undefined per-class
values (see :mod:`vnseg.evaluation.metrics.vn_iou_metric`) are written as ``null`` by
:func:`save_metrics`; Python's default ``json.dump`` writes ``NaN`` instead. :func:`load_metrics`
accepts both and returns ``float('nan')``.
"""
import glob
import json
import math
import os.path as osp
from collections import OrderedDict

import numpy as np

#: File name ``tools/test.py`` writes into ``<work_dir>``.
METRICS_FILENAME = 'metrics_test.json'
#: Summary keys, percent.
SUMMARY_KEYS = ('aAcc', 'mIoU', 'mAcc')
#: Optional meta keys read by the reports (all may be absent).
META_KEYS = ('model', 'config', 'checkpoint', 'num_params', 'pretrained_oem', 'distilled',
             'timestamp')


def find_metrics_file(path):
    """Return the metrics JSON for ``path``: the file itself, or ``<dir>/metrics_test.json``, or
    else the newest ``<dir>/metrics*.json``. Raises ``FileNotFoundError`` if there is none."""
    if osp.isfile(path):
        return path
    if osp.isdir(path):
        preferred = osp.join(path, METRICS_FILENAME)
        if osp.isfile(preferred):
            return preferred
        candidates = sorted(glob.glob(osp.join(path, 'metrics*.json')), key=osp.getmtime)
        if candidates:
            return candidates[-1]
        raise FileNotFoundError(f'no {METRICS_FILENAME} (or metrics*.json) in work dir {path}')
    raise FileNotFoundError(f'metrics file or work dir not found: {path}')


def _is_metric_key(key):
    return key in SUMMARY_KEYS or ('.' in key and key.split('.', 1)[0].isalpha()) or key in (
        'mDice', 'mFscore', 'mPrecision', 'mRecall')


def load_metrics(path):
    """Load a metrics JSON (file or work dir) into an ordered dict; ``null``/``NaN`` metric
    values become ``float('nan')``. Meta keys and ``confusion_matrix`` are kept as they are."""
    with open(find_metrics_file(path)) as f:
        data = json.load(f, object_pairs_hook=OrderedDict)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object, got {type(data).__name__}')
    for key, value in data.items():
        if value is None and _is_metric_key(key):
            data[key] = float('nan')
    return data


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if hasattr(value, 'tolist'):  # torch tensors without importing torch
        return _json_safe(value.tolist())
    return value


def save_metrics(metrics, path):
    """Write ``metrics`` atomically as strict JSON (NaN -> ``null``; numpy/torch values -> plain
    numbers), keeping key order. Creates the parent directory. Returns ``path``."""
    from vnseg.core.atomic import atomic_write_text

    text = json.dumps(_json_safe(dict(metrics)), indent=2, allow_nan=False) + '\n'
    atomic_write_text(path, text)
    return path


def class_names(metrics, family=None):
    """Class names in file order, from the ``<family>.<class>`` keys (default: the first of
    ``IoU``, ``Acc``, ``Dice``, ``Fscore`` that is present)."""
    families = [family] if family else ['IoU', 'Acc', 'Dice', 'Fscore']
    for fam in families:
        names = [k.split('.', 1)[1] for k in metrics if k.startswith(fam + '.')]
        if names:
            return names
    return []


def per_class(metrics, family='IoU'):
    """``OrderedDict`` class name -> value (percent, NaN when undefined) for ``<family>.<class>``
    keys, e.g. ``per_class(m, 'IoU') == {'background': 88.1, 'road': 61.5, ...}``."""
    out = OrderedDict()
    for key, value in metrics.items():
        if key.startswith(family + '.'):
            out[key.split('.', 1)[1]] = float('nan') if value is None else float(value)
    return out


def confusion_matrix(metrics):
    """The stored confusion matrix as an int64 array of shape (C, C) (rows = ground truth,
    columns = prediction, pixel counts), or ``None`` if the file has none."""
    conf = metrics.get('confusion_matrix')
    if conf is None:
        return None
    arr = np.asarray(conf, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f'confusion_matrix must be square, got shape {arr.shape}')
    return arr
