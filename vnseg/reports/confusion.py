"""Confusion matrices: compute (from arrays, prediction PNGs, a model or a metrics JSON),
normalise, derive IoU/Acc, and save as CSV.

Convention everywhere: an int64 array of shape (C, C), ``conf[i, j]`` = number of pixels whose
ground truth is class ``i`` and prediction is class ``j``. Ground-truth ``ignore_index`` pixels
(and values outside ``0..C-1``) are not counted.
"""
import csv
import os
import os.path as osp

import numpy as np
from PIL import Image

from vnseg.core.atomic import atomic_output
from vnseg.core.classes import CLASSES, IGNORE_INDEX, NUM_CLASSES

from . import metrics_file


def confusion_from_arrays(pred, gt, num_classes=NUM_CLASSES, ignore_index=IGNORE_INDEX):
    """Confusion matrix of one prediction/ground-truth pair.

    Args:
        pred (np.ndarray): predicted class indices, shape (H, W), integer.
        gt (np.ndarray): ground-truth class indices, shape (H, W), integer.
        num_classes (int): C.
        ignore_index (int): ground-truth value that is not counted.

    Returns:
        np.ndarray: int64, shape (C, C).
    """
    import torch

    from vnseg.evaluation.metrics.vn_iou_metric import VNIoUMetric
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} != ground-truth shape {gt.shape}')
    conf = VNIoUMetric.image_confusion_matrix(
        torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64)),
        num_classes, ignore_index)
    return conf.numpy()


def read_mask(path):
    """Read a single-channel class-index PNG into a (H, W) array (palette PNGs give indices)."""
    with Image.open(path) as img:
        if img.mode not in ('L', 'P', 'I', 'I;16'):
            raise ValueError(f'{path}: expected a single-channel mask, got mode {img.mode}')
        return np.array(img)


def confusion_from_pred_dir(pred_dir, ann_dir, num_classes=NUM_CLASSES,
                            ignore_index=IGNORE_INDEX, suffix='.png'):
    """Sum the confusion matrices of every ``<pred_dir>/<name><suffix>`` against
    ``<ann_dir>/<name><suffix>`` (predictions as written by ``tools/test.py --out-dir``).

    Returns ``(conf, names)``: int64 (C, C) matrix and the sorted list of matched file names.
    Raises ``FileNotFoundError`` when a prediction has no annotation or nothing matches.
    """
    names = sorted(f for f in os.listdir(pred_dir) if f.endswith(suffix))
    if not names:
        raise FileNotFoundError(f'no *{suffix} predictions in {pred_dir}')
    conf = np.zeros((num_classes, num_classes), dtype=np.int64)
    for name in names:
        ann_path = osp.join(ann_dir, name)
        if not osp.isfile(ann_path):
            raise FileNotFoundError(f'prediction {name} has no annotation {ann_path}')
        conf += confusion_from_arrays(read_mask(osp.join(pred_dir, name)), read_mask(ann_path),
                                      num_classes, ignore_index)
    return conf, names


def confusion_from_metrics(path):
    """The confusion matrix stored in a metrics JSON (file or work dir) and its class names.

    Returns ``(conf, classes)``; raises ``KeyError`` if the file has no ``confusion_matrix``
    (it was written with mmseg's IoUMetric instead of VNIoUMetric)."""
    metrics = metrics_file.load_metrics(path)
    conf = metrics_file.confusion_matrix(metrics)
    if conf is None:
        raise KeyError(f'{metrics_file.find_metrics_file(path)} has no confusion_matrix '
                       '(evaluate with VNIoUMetric to store it)')
    classes = metrics_file.class_names(metrics) or list(CLASSES[:conf.shape[0]])
    return conf, classes


def confusion_from_model(config, checkpoint=None, device='cpu', cfg_options=None,
                         img_dir=None, ann_dir=None, limit=None, ignore_index=IGNORE_INDEX,
                         random_weights=False):
    """Run a model over its config's test split (or ``img_dir``/``ann_dir``) and sum the
    confusion matrices. The checkpoint is loaded strictly (:func:`vnseg.apis.load_model`);
    ``checkpoint=None`` needs ``random_weights=True`` (smoke tests).

    Returns ``(conf, classes)``: int64 (C, C) and the model's class names."""
    from vnseg.apis.model_loading import load_model

    from . import predictions
    model = load_model(config, checkpoint, device=device, cfg_options=cfg_options,
                       random_weights=random_weights)
    pairs = predictions.resolve_pairs(model.cfg, img_dir, ann_dir)
    if limit is not None:
        pairs = pairs[:limit]
    classes = list(predictions.model_classes(model))
    conf = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for img_path, ann_path in pairs:
        pred = predictions.predict(model, img_path)
        conf += confusion_from_arrays(pred, read_mask(ann_path), len(classes), ignore_index)
    return conf, classes


def normalize_rows(conf):
    """Row-normalise: float64 (C, C), each row sums to 1 (fraction of that ground-truth class);
    rows of classes absent from the ground truth are NaN."""
    conf = np.asarray(conf, dtype=np.float64)
    totals = conf.sum(axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(totals > 0, conf / np.where(totals > 0, totals, 1), np.nan)


def metrics_from_confusion(conf):
    """Per-class IoU and Acc (fractions 0-1, NaN where 0/0) and aAcc from a confusion matrix,
    with the same definitions as mmseg's IoUMetric: IoU = TP / (TP + FP + FN), Acc = TP / GT.

    Returns ``dict(IoU=array (C,), Acc=array (C,), aAcc=float)``."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    gt = conf.sum(axis=1)
    pred = conf.sum(axis=0)
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = tp / (gt + pred - tp)
        acc = tp / gt
        aacc = tp.sum() / conf.sum() if conf.sum() else float('nan')
    return dict(IoU=iou, Acc=acc, aAcc=float(aacc))


def save_csv(conf, classes, path, normalized=False):
    """Write the matrix as CSV: header ``gt\\pred,<class>...``, one row per ground-truth class.
    Counts are integers; with ``normalized=True`` rows are fractions (6 decimals, empty = NaN).
    Returns ``path``."""
    values = normalize_rows(conf) if normalized else np.asarray(conf, dtype=np.int64)
    with atomic_output(path) as tmp, open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['gt\\pred'] + list(classes))
        for name, row in zip(classes, values):
            if normalized:
                cells = ['' if np.isnan(v) else f'{v:.6f}' for v in row]
            else:
                cells = [str(int(v)) for v in row]
            writer.writerow([name] + cells)
    return path


def load_csv(path):
    """Read a counts CSV written by :func:`save_csv`; returns ``(conf int64 (C, C), classes)``."""
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    classes = rows[0][1:]
    conf = np.array([[int(v) for v in row[1:]] for row in rows[1:]], dtype=np.int64)
    return conf, classes
