"""Distillation from cached teacher soft labels: an EncoderDecoder with a KL term and no teacher forward."""
import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import add_prefix

from vnseg.core.classes import IGNORE_INDEX

#: Smallest probability the cached (8-bit) teacher is taken to give a class: half a quantum, so
#: that ``log`` stays finite where the cache holds 0.
MIN_PROB = 0.5 / 255.0


@MODELS.register_module()
class CachedDistillSegmentor(EncoderDecoder):
    """An :class:`EncoderDecoder` student trained on labels plus a teacher's cached probabilities.

    Every keyword argument of :class:`EncoderDecoder` builds the student exactly as the plain
    student config would, and the segmentor holds nothing else: checkpoints load into the plain
    student config, and ``predict`` / ``tensor`` are the student's. Training needs, in each data
    sample, ``gt_soft_seg``: the teacher's probabilities ``uint8 (C, H, W)`` (x 255) aligned with
    the input crop (``LoadTeacherProbs`` ... ``PackSegInputsWithSoftLabels`` in the pipeline; see
    ``configs/_base_/recipes/vnseg_kd_cached_recipe.py``). No teacher runs at training time.

    Loss = the decode head's own losses (``decode.*``: cross-entropy, Dice, ... on labelled pixels;
    an unlabelled image has an all-255 mask and adds nothing there) + ``distill_loss``
    (``PixelKDLoss``: ``weight * T^2 * mean KL(teacher_T || student_T)``) on the pixels the teacher
    covers, at the student's logit resolution ``(h, w)``:

    - the cached probabilities are area-averaged to ``(h, w)`` (``F.interpolate(mode='area')``),
      over the pixels the teacher covers (the cache is 0 in every class where it had no input, and
      so is the batch padding); an output pixel counts when over half of its input pixels are covered;
    - ``min_confidence``: on pixels without a label, only where the teacher's largest probability
      is at least this (0: everywhere). Labelled pixels always get the term;
    - the teacher's "logits" are ``log(max(p, MIN_PROB))``: ``softmax(log p / T)`` is the teacher's
      distribution softened by ``T``, as with real logits.

    Args:
        distill_loss (dict): config of the KD loss (default ``PixelKDLoss``, T = 1, weight 1).
        min_confidence (float): in [0, 1), see above.
        soft_key (str): the data samples' field of the soft labels.
        ignore_index (int): the mask's ignore value.
        **kwargs: the student's :class:`EncoderDecoder` arguments.
    """

    def __init__(self, distill_loss=dict(type='PixelKDLoss'), min_confidence=0.0, soft_key='gt_soft_seg',
                 ignore_index=IGNORE_INDEX, **kwargs):
        super().__init__(**kwargs)
        if type(self.decode_head).loss is not BaseDecodeHead.loss:
            raise TypeError(f'{type(self.decode_head).__name__} overrides loss(); CachedDistillSegmentor '
                            'needs a decode head whose loss is forward() + loss_by_feat()')
        if not 0.0 <= float(min_confidence) < 1.0:
            raise ValueError(f'min_confidence must be in [0, 1), got {min_confidence}')
        self.distill_loss = MODELS.build(distill_loss)
        self.min_confidence = float(min_confidence)
        self.soft_key = soft_key
        self.ignore_index = int(ignore_index)

    def teacher_targets(self, data_samples, input_size, size):
        """``(log_probs, kd_label)`` of the batch at the student's logit ``size`` ``(h, w)``.

        ``log_probs``: float32 ``(N, C, h, w)`` log of the cached probabilities (area-averaged);
        ``kd_label``: long ``(N, 1, h, w)``, 0 where the KD term counts, ``ignore_index`` elsewhere
        (the mask :class:`vnseg.models.losses.PixelKDLoss` takes). ``input_size``: the padded batch
        ``(H, W)``; each sample's soft labels are zero-padded right and bottom to it, as the data
        preprocessor pads the image and the mask.
        """
        H, W = input_size
        soft = []
        for ds in data_samples:
            if self.soft_key not in ds:
                raise KeyError(f'data sample without {self.soft_key!r}: the pipeline must load the cached '
                               'teacher probabilities (LoadTeacherProbs, PackSegInputsWithSoftLabels)')
            s = ds.get(self.soft_key).data
            soft.append(F.pad(s, (0, W - s.shape[-1], 0, H - s.shape[-2])))
        probs = torch.stack(soft).float() / 255.0                          # (N, C, H, W)
        covered = (probs.sum(dim=1, keepdim=True) > 0).float()             # (N, 1, H, W)
        probs = F.interpolate(probs, size=size, mode='area')
        share = F.interpolate(covered, size=size, mode='area')
        probs = probs / share.clamp(min=1e-6)
        valid = share[:, 0] > 0.5
        if self.min_confidence > 0:
            gt = torch.stack([ds.gt_sem_seg.data for ds in data_samples]).float()
            unlabelled = F.interpolate(gt, size=size, mode='nearest')[:, 0] == self.ignore_index
            confident = probs.max(dim=1).values >= self.min_confidence
            valid &= ~unlabelled | confident
        kd_label = torch.full(valid.shape, self.ignore_index, dtype=torch.long, device=valid.device)
        kd_label[valid] = 0
        return probs.clamp(min=MIN_PROB).log(), kd_label[:, None]

    def loss(self, inputs, data_samples):
        """Student losses plus the KD loss against the cached probabilities, for preprocessed
        ``inputs`` ``(N, 3, H, W)``. Returns ``decode.*`` (and ``aux.*``) and ``loss_kd``."""
        x = self.extract_feat(inputs)
        logits = self.decode_head.forward(x)  # one head forward for both terms
        losses = add_prefix(self.decode_head.loss_by_feat(logits, data_samples), 'decode')
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        teacher, kd_label = self.teacher_targets(data_samples, inputs.shape[-2:], logits.shape[-2:])
        losses[self.distill_loss.loss_name] = self.distill_loss(logits, teacher, kd_label)
        return losses
