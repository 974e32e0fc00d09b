"""Cross-entropy class weights from a prepared dataset's class distribution.

``prepare_dataset`` writes ``OUT/class_weights.json``: one weight per class (a JSON list of
``NUM_CLASSES`` floats), ``1/sqrt(share)`` of the class's share of the labelled train pixels,
scaled to mean 1 -- rare classes (water, trees) weigh more, the background less. Users may edit
the file; it is read when training starts.

vnseg's recipe asks for it with a marker in its cross-entropy loss::

    dict(type='CrossEntropyLoss', ..., class_weight='{data_root}/class_weights.json')

mmseg would read that string as a file name, so every config that builds a model goes through
this module first:

* training (``tools/train.py``, the benchmark): :func:`resolve_class_weights` puts the file's
  weights into the config (the run's dumped config then holds the numbers, not the path), or
  fails with one line naming the missing or bad file;
* inference, tests, parameter counts, a distillation teacher: :func:`drop_class_weight_marker`
  removes the marker -- the weights only scale the training loss, predictions never depend on
  them, and a trained model must not need its training data.

No torch and no mmengine: configs are used through their mapping interface.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator, List, Mapping, Optional, Sequence

from vnseg.data.io import DataError, PathLike, write_json

CLASS_WEIGHTS_FILE = 'class_weights.json'


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
                              '(it writes it), or set the loss class_weight to None')
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


def _marked_losses(node, num_classes=None) -> Iterator[tuple]:
    """(loss dict, num_classes of its head) for every loss under ``node`` with the marker."""
    if isinstance(node, Mapping):
        num_classes = node.get('num_classes', num_classes)
        if isinstance(node.get('class_weight'), str) and '{data_root}' in node['class_weight']:
            yield node, num_classes
        for value in node.values():
            yield from _marked_losses(value, num_classes)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _marked_losses(value, num_classes)


def _train_data_root(cfg) -> Optional[str]:
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    while 'data_root' not in dataset and isinstance(dataset.get('dataset'), Mapping):
        dataset = dataset['dataset']  # RepeatDataset and other wrappers
    return dataset.get('data_root')


def resolve_class_weights(cfg, config_name: str = 'config') -> Optional[List[float]]:
    """Replace the marker in every loss of ``cfg.model`` by the weights of the train data root's
    ``class_weights.json`` (in place, for training). Returns the weights, or None without a marker.

    Raises :class:`DataError` naming the file when it is missing or malformed, or naming the
    config when it has no train data root.
    """
    marked = list(_marked_losses(cfg['model']))
    if not marked:
        return None
    data_root = _train_data_root(cfg)
    if not data_root:
        raise DataError(config_name, f'class_weight {marked[0][0]["class_weight"]!r} needs '
                                     'train_dataloader.dataset.data_root')
    weights = None
    for loss, num_classes in marked:
        path = loss['class_weight'].replace('{data_root}', str(data_root))
        if num_classes is None:
            raise DataError(config_name, f'class_weight {loss["class_weight"]!r} outside a head with num_classes')
        weights = read_class_weights(path, num_classes)
        loss['class_weight'] = weights
    return weights


def drop_class_weight_marker(model_cfg) -> int:
    """Remove the marker from every loss of a ``model`` config (in place; for models that are
    not trained from it). Returns how many losses had it."""
    marked = list(_marked_losses(model_cfg))
    for loss, _ in marked:
        del loss['class_weight']
    return len(marked)
