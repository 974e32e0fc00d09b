"""``VNIoUMetric``: mmseg's ``IoUMetric`` that also returns per-class values and the confusion
matrix.

mmseg's ``IoUMetric`` computes per-class IoU/Acc but only *prints* them; its returned dict holds the
summary (``aAcc``, ``mIoU``, ``mAcc``). ``VNIoUMetric`` reuses all of IoUMetric's machinery
(``intersect_and_union``, ``total_area_to_metrics``, the summary, the printed table, ``output_dir``
prediction saving) and adds to the returned dict:

* ``<Metric>.<class>`` for every per-class metric IoUMetric computes, e.g. ``IoU.road``,
  ``Acc.road`` (and ``Dice.road`` / ``Fscore.road`` ... when ``iou_metrics`` asks for them).
  Units are the same as mmseg's summary: **percent** (0-100), rounded to 2 decimals, plain Python
  ``float``. A class whose value is undefined is ``nan`` (see below).
* ``confusion_matrix`` (when ``confusion_matrix=True``, the default): a nested list of Python
  ``int`` of shape ``(num_classes, num_classes)``; ``[i][j]`` = number of pixels whose ground truth
  is class ``i`` and prediction is class ``j``, over all evaluated images. Pixels whose ground truth
  is ``ignore_index`` (or any value outside ``0..num_classes-1``) are not counted.

Undefined (NaN) values, as in IoUMetric: for a class absent from both the ground truth and the
predictions, IoU = 0/0 = NaN; for a class absent from the ground truth, Acc = 0/0 = NaN (its IoU is
0 if it was predicted). ``mIoU``/``mAcc`` are ``nanmean`` over classes, i.e. undefined classes are
left out of the mean. ``nan_to_num`` (IoUMetric's argument) replaces NaN by a number in both the
summary and the per-class values.

Config line::

    val_evaluator = dict(type='VNIoUMetric', iou_metrics=['mIoU'])
"""
from typing import Dict, Sequence

import numpy as np
import torch
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class VNIoUMetric(IoUMetric):
    """IoUMetric whose result dict also holds per-class metrics and the confusion matrix.

    Args:
        confusion_matrix (bool): Add ``confusion_matrix`` (pixel counts, rows = ground truth,
            columns = prediction) to the returned dict. Defaults to True.
        **kwargs: Everything ``mmseg.evaluation.IoUMetric`` accepts (``ignore_index``,
            ``iou_metrics``, ``nan_to_num``, ``beta``, ``output_dir``, ``format_only``, ...).
    """

    def __init__(self, confusion_matrix: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.with_confusion_matrix = confusion_matrix

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Let IoUMetric store its 4 area histograms per image, then append the image's
        confusion matrix (int64 tensor, shape (num_classes, num_classes)) to each result."""
        first = len(self.results)
        super().process(data_batch, data_samples)
        if self.format_only:
            return
        num_classes = len(self.dataset_meta['classes'])
        for offset, data_sample in enumerate(data_samples):
            pred = data_sample['pred_sem_seg']['data'].squeeze()
            label = data_sample['gt_sem_seg']['data'].squeeze().to(pred)
            conf = self.image_confusion_matrix(pred, label, num_classes, self.ignore_index)
            self.results[first + offset] = tuple(self.results[first + offset]) + (conf,)

    @staticmethod
    def image_confusion_matrix(pred_label: torch.Tensor, label: torch.Tensor, num_classes: int,
                               ignore_index: int) -> torch.Tensor:
        """Pixel-count confusion matrix of one image.

        Args:
            pred_label (torch.Tensor): Predicted class indices, shape (H, W).
            label (torch.Tensor): Ground-truth class indices, shape (H, W).
            num_classes (int): Number of classes C.
            ignore_index (int): Ground-truth value whose pixels are not counted.

        Returns:
            torch.Tensor: int64, shape (C, C), on CPU; ``[i, j]`` = pixels with ground truth ``i``
            predicted as ``j``. Pixels with ground truth ``ignore_index`` or either value outside
            ``0..C-1`` are not counted.
        """
        pred = pred_label.reshape(-1).long()
        gt = label.reshape(-1).long()
        valid = ((gt != ignore_index) & (gt >= 0) & (gt < num_classes)
                 & (pred >= 0) & (pred < num_classes))
        flat = gt[valid] * num_classes + pred[valid]
        counts = torch.bincount(flat, minlength=num_classes * num_classes)
        return counts.reshape(num_classes, num_classes).cpu()

    def compute_metrics(self, results: list) -> Dict[str, object]:
        """Summary metrics from IoUMetric plus per-class ``<Metric>.<class>`` keys (percent, 2
        decimals, NaN where undefined) and, if enabled, ``confusion_matrix`` (nested int list)."""
        if self.format_only:
            return super().compute_metrics(results)
        areas = [tuple(r[:4]) for r in results]
        metrics = super().compute_metrics(areas)

        totals = [sum(column) for column in zip(*areas)]
        per_class = self.total_area_to_metrics(*totals, self.metrics, self.nan_to_num, self.beta)
        class_names = self.dataset_meta['classes']
        for name, values in per_class.items():
            if name == 'aAcc':
                continue
            values = np.round(np.asarray(values, dtype=np.float64) * 100, 2)
            for class_name, value in zip(class_names, values):
                metrics[f'{name}.{class_name}'] = float(value)
        # IoUMetric returns float32 numpy scalars; make the dict plain Python floats (JSON-friendly)
        # and re-round so that float32 -> float64 does not show up as 85.12000274658203.
        metrics = {k: (round(float(v), 2) if isinstance(v, (np.floating, float)) else v)
                   for k, v in metrics.items()}

        if self.with_confusion_matrix:
            conf = sum(r[4] for r in results)
            metrics['confusion_matrix'] = conf.to(torch.int64).tolist()
        return metrics
