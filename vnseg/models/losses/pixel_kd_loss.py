"""Pixel-wise knowledge-distillation loss: KL between softened teacher and student class maps."""
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from vnseg.core.classes import IGNORE_INDEX

ALIGN_MODES = ('student', 'label')


@MODELS.register_module()
class PixelKDLoss(nn.Module):
    r"""``loss_weight * T^2 * mean_pixels KL(softmax(t / T) || softmax(s / T))``.

    For every pixel the teacher's and the student's logits are softened with the temperature
    ``T`` and the KL divergence of the student's distribution from the teacher's is summed over
    the classes (units: nats); the mean is taken over the pixels whose label is not
    ``ignore_index`` (all pixels when no label is given). The ``T^2`` factor keeps the gradient
    scale independent of ``T`` (Hinton et al., 2015). The teacher's logits are a fixed target:
    they are detached, so no gradient ever reaches the teacher through this loss.

    The two logit maps usually differ in size (PSPNet-D8 predicts at 1/8 of the input, UperNet
    and SegFormer at 1/4). ``align`` chooses where they are compared:

    - ``'student'`` (default): the teacher's logits are bilinearly resized to the student's
      logit size; the label map is nearest-resized to that size to find the ignored pixels
      (output pixel ``(i, j)`` takes label ``(floor(i * H / h), floor(j * W / w))``). Cheapest,
      and the student's own logits are used exactly as its head produced them.
    - ``'label'``: both logit maps are bilinearly resized to the label's size (as mmseg's
      decode heads do for the cross-entropy) and the label map is used as it is.

    The KL is computed in float32 whatever the logits' dtype (AMP), for a stable log-softmax.

    Args:
        temperature (float): softening temperature ``T`` (> 0). Default 1.0.
        loss_weight (float): factor in front of the loss. Default 1.0.
        ignore_index (int): label value of pixels that do not count. Default 255.
        align (str): ``'student'`` or ``'label'``, see above.
        align_corners (bool): ``align_corners`` of the bilinear resizes (the study's heads use
            False). Default False.
        loss_name (str): key of the loss in the segmentor's loss dict; must start with
            ``loss_`` to be part of the total loss. Default ``'loss_kd'``.
    """

    def __init__(self, temperature=1.0, loss_weight=1.0, ignore_index=IGNORE_INDEX,
                 align='student', align_corners=False, loss_name='loss_kd'):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        if align not in ALIGN_MODES:
            raise ValueError(f'align must be one of {ALIGN_MODES}, got {align!r}')
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)
        self.ignore_index = ignore_index
        self.align = align
        self.align_corners = align_corners
        self._loss_name = loss_name

    @property
    def loss_name(self):
        """Key of this loss in the loss dict (mmseg convention)."""
        return self._loss_name

    def _resize(self, logits, size):
        if tuple(logits.shape[-2:]) == tuple(size):
            return logits
        return F.interpolate(logits, size=size, mode='bilinear', align_corners=self.align_corners)

    def forward(self, student_logits, teacher_logits, seg_label=None):
        """Return the weighted KD loss (scalar tensor, float32).

        Args:
            student_logits (Tensor): ``(N, C, h_s, w_s)`` raw class scores of the student.
            teacher_logits (Tensor): ``(N, C, h_t, w_t)`` raw class scores of the teacher.
            seg_label (Tensor, optional): ``(N, H, W)`` or ``(N, 1, H, W)`` integer class map
                at input resolution; pixels equal to ``ignore_index`` are left out of the mean.
                None: every pixel counts.
        """
        if student_logits.dim() != 4 or teacher_logits.dim() != 4:
            raise ValueError('logits must be (N, C, H, W), got '
                             f'{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}')
        if student_logits.shape[:2] != teacher_logits.shape[:2]:
            raise ValueError('student and teacher logits must agree in batch size and number of '
                             f'classes, got {tuple(student_logits.shape)} and '
                             f'{tuple(teacher_logits.shape)}')
        if seg_label is not None and seg_label.dim() == 3:
            seg_label = seg_label.unsqueeze(1)
        if self.align == 'label' and seg_label is not None:
            size = tuple(seg_label.shape[-2:])
        else:
            size = tuple(student_logits.shape[-2:])
        student = self._resize(student_logits.float(), size)
        teacher = self._resize(teacher_logits.detach().float(), size)

        T = self.temperature
        log_p_s = F.log_softmax(student / T, dim=1)
        log_p_t = F.log_softmax(teacher / T, dim=1)
        # sum_c p_t * (log p_t - log p_s), per pixel: (N, h, w)
        kl = F.kl_div(log_p_s, log_p_t, reduction='none', log_target=True).sum(dim=1)

        if seg_label is None:
            loss = kl.mean()
        else:
            if tuple(seg_label.shape[-2:]) != size:
                seg_label = F.interpolate(seg_label.float(), size=size, mode='nearest')
            valid = (seg_label[:, 0] != self.ignore_index).to(kl.dtype)
            # 0 (with a graph) when every pixel is ignored
            loss = (kl * valid).sum() / valid.sum().clamp(min=1.0)
        return self.loss_weight * T * T * loss

    def extra_repr(self):
        return (f'temperature={self.temperature}, loss_weight={self.loss_weight}, '
                f'ignore_index={self.ignore_index}, align={self.align!r}')
