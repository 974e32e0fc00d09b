"""Cross-entropy class weights from a prepared dataset's class distribution.

``prepare_dataset`` writes ``OUT/class_weights.json``: one weight per class (a JSON list of
``NUM_CLASSES`` floats), ``1/sqrt(share)`` of the class's share of the labelled train pixels,
scaled to mean 1 -- rare classes (water, trees) weigh more, the background less. Users may edit
the file; it is read when training starts.

vnseg's recipe asks for it with a training hook, not in the model::

    custom_hooks = [..., dict(type='ClassWeightsHook', file='class_weights.json')]

:class:`vnseg.engine.hooks.ClassWeightsHook` (built by mmengine's Runner for training only) reads
``<train_dataloader.dataset.data_root>/<file>`` when training starts and sets it as the
``class_weight`` of the decode head's ``CrossEntropyLoss``. The model config holds no file name, so a
recipe config builds a model anywhere a config is accepted (``MMSegInferencer``, ``init_model``,
``tools/test.py``, the benchmarks and analysis tools) without the training data. Before a run sets
anything up, ``tools/train.py`` and the benchmark check the file with :func:`training_class_weights`
(the same path, the same reader), so a missing or malformed file is one error line naming it.

No torch and no mmengine here: configs are used through their mapping interface.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

from vnseg.core.atomic import write_json
from vnseg.core.errors import DataError
from vnseg.data.io import PathLike

CLASS_WEIGHTS_FILE = 'class_weights.json'
#: The registered name of the training hook that applies the file (:mod:`vnseg.engine.hooks`).
HOOK_TYPE = 'ClassWeightsHook'
#: The head whose cross-entropy the hook weights by default.
DEFAULT_HEAD = 'decode_head'


def class_weights_from_pixels(pixels: Sequence[float]) -> List[float]:
    """Per-class CE weights from per-class pixel counts: ``1/sqrt(share)``, then mean 1.

    A class with no pixels gets the largest weight of the present classes (it is the rarest);
    with no pixels at all every weight is 1. Returns floats rounded to 4 decimals.
    """
    total = float(sum(pixels))
    if total <= 0:
        return [1.0] * len(pixels)
    raw = [1.0 / math.sqrt(p / total) if p > 0 else 0.0 for p in pixels]
    largest = max(raw)
    raw = [w if w > 0 else largest for w in raw]
    mean = sum(raw) / len(raw)
    return [round(w / mean, 4) for w in raw]


def class_weights_from_summary(summary: Mapping) -> Optional[List[float]]:
    """The weights of a ``prepare_dataset`` summary's train split, in class order; None when the
    train split has no labelled pixels (a test-only dataset: nothing to train on)."""
    pixels = [summary['splits']['train']['class_pixels'].get(name, 0) for name in summary['classes']]
    return class_weights_from_pixels(pixels) if sum(pixels) > 0 else None


def write_class_weights(out: PathLike, summary: Mapping) -> Optional[Path]:
    """Write ``OUT/class_weights.json`` for a prepared dataset (atomically); remove a stale one
    when the train split is empty. Returns the path written, or None."""
    path = Path(out) / CLASS_WEIGHTS_FILE
    weights = class_weights_from_summary(summary)
    if weights is None:
        path.unlink(missing_ok=True)
        return None
    return write_json(path, weights)


def read_class_weights(path: PathLike, num_classes: int) -> List[float]:
    """The weights in ``path``: a JSON list of ``num_classes`` positive finite numbers.

    Raises :class:`DataError` naming the file when it is missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, 'class weights file not found: prepare the data with tools/prepare_dataset.py '
                              '(it writes it), or remove ClassWeightsHook from custom_hooks to train unweighted')
    try:
        weights = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f'not valid JSON class weights: {exc}') from None
    if not isinstance(weights, list) or len(weights) != num_classes or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w > 0
            for w in weights):
        raise DataError(path, f'expected a JSON list of {num_classes} positive numbers (one per class), '
                              f'got {json.dumps(weights)[:80]}')
    return [float(w) for w in weights]


def train_data_root(cfg) -> Optional[str]:
    """``data_root`` of a config's train dataset (the first one, through RepeatDataset, ConcatDataset and
    other wrappers), or None: the class weights are those of the prepared data there."""
    from vnseg.core.config_tree import train_data_roots
    roots = train_data_roots(cfg)
    return roots[0] if roots else None


def class_weights_path(data_root: PathLike, file: PathLike = CLASS_WEIGHTS_FILE) -> Path:
    """The class-weights file of the train data: ``data_root/file`` (``file`` itself when absolute)."""
    return Path(data_root) / file


def class_weight_hooks(cfg) -> List[Mapping]:
    """The ``ClassWeightsHook`` entries of a config's ``custom_hooks``."""
    found = []
    for hook in cfg.get('custom_hooks') or []:
        kind = hook.get('type') if isinstance(hook, Mapping) else None
        name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
        if name.split('.')[-1] == HOOK_TYPE:
            found.append(hook)
    return found


def training_class_weights(cfg, config_name: str = 'config') -> Optional[List[float]]:
    """The weights ``ClassWeightsHook`` will give the cross-entropy when ``cfg`` trains, read and
    checked now (nothing is changed); None when the config has no such hook.

    Raises :class:`DataError` naming the file when it is missing or malformed, or naming the config
    when it has no train data root or no ``num_classes`` in the weighted head.
    """
    hooks = class_weight_hooks(cfg)
    if not hooks:
        return None
    if len(hooks) > 1:
        raise DataError(config_name, f'custom_hooks has {len(hooks)} {HOOK_TYPE} entries; give one')
    hook = hooks[0]
    head = hook.get('head', DEFAULT_HEAD)
    num_classes = ((cfg.get('model') or {}).get(head) or {}).get('num_classes')
    if not isinstance(num_classes, int):
        raise DataError(config_name, f'{HOOK_TYPE} weights model.{head}, which has no num_classes')
    data_root = train_data_root(cfg)
    if not data_root:
        raise DataError(config_name, f'{HOOK_TYPE} reads its file from train_dataloader.dataset.data_root, '
                                     'which is not set')
    return read_class_weights(class_weights_path(data_root, hook.get('file', CLASS_WEIGHTS_FILE)), num_classes)
