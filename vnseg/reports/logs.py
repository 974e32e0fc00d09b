"""Read a run's scalar logs: ``<work_dir>/<timestamp>/vis_data/scalars.json``.

mmengine's ``LocalVisBackend`` appends one JSON object per line: training lines (every logger
interval) hold ``lr``, ``loss``, ``decode.loss_ce``, ..., ``iter``, ``step``; validation lines hold
``aAcc``, ``mIoU``, ``mAcc`` (and ``IoU.<class>``... with VNIoUMetric), ``data_time``, ``time``,
``step``. ``step`` is the iteration (or epoch, for epoch-based logging). A resumed run writes a new
``<timestamp>`` folder; :func:`load_history` merges them in time order, later values winning.
"""
import glob
import json
import math
import os.path as osp
from collections import OrderedDict

import numpy as np

#: Keys that mark a validation line.
VAL_MARKERS = ('mIoU', 'aAcc', 'mAcc', 'mDice', 'mFscore')


def find_scalar_files(path):
    """``scalars.json`` files of a work dir (sorted by timestamp folder name), or ``[path]`` if
    ``path`` is a file. Raises ``FileNotFoundError`` when there are none."""
    if osp.isfile(path):
        return [path]
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no <timestamp>/vis_data/scalars.json under {path}')
    return files


def read_scalar_lines(path):
    """The JSON objects of one ``scalars.json`` (blank and truncated lines are skipped)."""
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut off by a killed run
    return records


def is_val_record(record):
    """True for a validation line (has a summary metric and no training loss)."""
    return any(k in record for k in VAL_MARKERS) and not any(
        k == 'loss' or k.startswith('loss') or k == 'lr' for k in record)


class History:
    """Scalar series of a run, split into ``train`` and ``val``.

    Attributes:
        train (OrderedDict[str, tuple[np.ndarray, np.ndarray]]): key -> (steps int64 (N,),
            values float64 (N,)), sorted by step.
        val (OrderedDict[str, tuple[np.ndarray, np.ndarray]]): same for validation lines.
    """

    def __init__(self, train, val):
        self.train = train
        self.val = val

    def series(self, key):
        """(steps, values) for ``key`` from val if present there, else train; ``None`` if absent."""
        return self.val.get(key) or self.train.get(key)


def _to_series(table):
    out = OrderedDict()
    for key, by_step in table.items():
        steps = np.array(sorted(by_step), dtype=np.int64)
        values = np.array([by_step[s] for s in steps], dtype=np.float64)
        out[key] = (steps, values)
    return out


def load_history(path):
    """Merge every ``scalars.json`` of a work dir (or one file) into a :class:`History`.

    Non-numeric values are dropped; ``null`` becomes NaN. When several files log the same key at
    the same step (a resumed run), the later file wins."""
    train, val = OrderedDict(), OrderedDict()
    for file in find_scalar_files(path):
        for record in read_scalar_lines(file):
            if 'step' not in record:
                continue
            step = int(record['step'])
            table = val if is_val_record(record) else train
            for key, value in record.items():
                if key == 'step':
                    continue
                if value is None:
                    value = math.nan
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                table.setdefault(key, {})[step] = float(value)
    return History(_to_series(train), _to_series(val))
