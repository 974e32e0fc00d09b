"""Soft Dice averaged over classes: a differentiable stand-in for mIoU that weighs rare classes."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from vnseg.core.classes import IGNORE_INDEX


@MODELS.register_module()
class ClassDiceLoss(nn.Module):
    r"""``loss_weight * (1 - mean_c dice_c)``, one soft Dice per class over the whole batch.

    With ``p = softmax(logits)`` and ``g`` the one-hot label, for each class ``c``, summed over
    every non-ignored pixel of every image of the batch::

        dice_c = 2 * sum(p_c * g_c) / (sum(p_c) + sum(g_c))

    and the mean is taken over the classes present in the batch's labels (``classes='present'``,
    the default: a class the batch does not show has no overlap to reward; its false positives
    still cost through the other classes' terms) or over all classes (``'all'``).

    Every class weighs the same whatever its pixel count, as in mIoU: water and trees covering
    5 % of the pixels count as much as the background. mmseg 1.2.2's ``DiceLoss`` is not this: it
    flattens classes and pixels together into one overlap per image (one soft pixel accuracy),
    and counts ignored pixels as predictions.

    Shapes: ``pred`` (N, C, H, W) logits, ``target`` (N, H, W) class indices (``ignore_index``
    for pixels that do not count); mmseg's decode heads resize the logits to the label size
    before calling their losses. Computed in float32 whatever the logits' dtype (AMP).

    Args:
        loss_weight (float): factor in front of the loss. Default 1.0.
        classes (str): ``'present'`` or ``'all'``, see above.
        smooth (float): added to numerator and denominator of each class's Dice (pixels); keeps
            an empty class finite. Default 1.0.
        ignore_index (int): label value of pixels that do not count. Default 255.
        loss_name (str): key in the segmentor's loss dict (must start with ``loss_``).
    """

    def __init__(self, loss_weight=1.0, classes='present', smooth=1.0, ignore_index=IGNORE_INDEX,
                 loss_name='loss_class_dice'):
        super().__init__()
        if classes not in ('present', 'all'):
            raise ValueError(f"classes must be 'present' or 'all', got {classes!r}")
        if smooth < 0:
            raise ValueError(f'smooth must be >= 0, got {smooth}')
        self.loss_weight = float(loss_weight)
        self.classes = classes
        self.smooth = float(smooth)
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    @property
    def loss_name(self):
        return self._loss_name

    def forward(self, pred, target, weight=None, ignore_index=None, **kwargs):
        """Scalar loss for (N, C, H, W) logits and (N, H, W) labels; ``weight`` is not supported."""
        if weight is not None:
            raise ValueError('ClassDiceLoss does not take per-pixel weights')
        ignore = self.ignore_index if ignore_index is None else ignore_index
        num_classes = pred.shape[1]
        prob = pred.float().softmax(dim=1)
        valid = target != ignore
        label = torch.where(valid, target, torch.zeros_like(target)).long()
        onehot = F.one_hot(label, num_classes).permute(0, 3, 1, 2).float()  # (N, C, H, W)
        mask = valid.unsqueeze(1).float()
        prob, onehot = prob * mask, onehot * mask
        inter = (prob * onehot).sum(dim=(0, 2, 3))
        denom = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
        dice = (2 * inter + self.smooth) / (denom + self.smooth)
        if self.classes == 'present':
            present = onehot.sum(dim=(0, 2, 3)) > 0
            if not present.any():  # every pixel ignored: nothing to learn, keep the graph
                return pred.sum() * 0.0
            dice = dice[present]
        return self.loss_weight * (1.0 - dice.mean())
