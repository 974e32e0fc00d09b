"""``FusedSegformerHead``: mmseg's ``SegformerHead`` computed in a cheaper order, same weights and outputs.

``SegformerHead`` projects each of the four backbone stages to ``channels`` maps (1x1 conv, norm, act),
resizes them all to the stride-4 grid, concatenates them (``4 * channels`` maps) and applies the fusion
1x1 conv. That conv is linear and per pixel, and bilinear resizing is linear and per channel, so the two
commute: the fusion conv's block ``W_i`` (``channels x channels``) applied to stage ``i`` BEFORE its resize
gives the same sum. This head does exactly that, stage by stage, and adds the four results: no
``4 * channels`` concatenation, and three quarters of the fusion conv's multiply-adds move to the coarser
grids (strides 8, 16, 32). The stride-4 stage is not resized at all (it is on the target grid already).
On a CPU this is 60 % of a SegFormer-B0 window's time (``docs/results.md``, "CPU speed").

The result equals ``SegformerHead``'s up to float rounding (sums in another order: ~1e-6 relative);
parameters and state-dict keys are the same, so every SegFormer checkpoint loads into either.
:func:`fuse_segformer_head` switches a built segmentor's head in place.
"""
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.segformer_head import SegformerHead
from mmseg.registry import MODELS


@MODELS.register_module()
class FusedSegformerHead(SegformerHead):
    """``SegformerHead`` with the fusion conv applied per stage before the resize (see module docstring).

    Input: the backbone's stage features (``in_index`` selects them), shallowest first, shapes
    ``(N, in_channels[i], H / s_i, W / s_i)``. Output of :meth:`forward`: logits
    ``(N, num_classes, H / s_0, W / s_0)``, as ``SegformerHead``'s.

    Needs what the reordering relies on: a bias-free fusion conv (the default with a norm layer:
    ``bias='auto'``) or one whose bias is added once, and ``interpolate_mode`` ``'bilinear'`` or
    ``'nearest'`` (both linear per channel). Other modes are refused at construction.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        _check_fusable(self)

    def forward(self, inputs):
        inputs = self._transform_inputs(inputs)
        fusion = self.fusion_conv
        weight = fusion.conv.weight  # (channels, num_inputs * channels, 1, 1)
        size = inputs[0].shape[2:]
        out = None
        for idx, (x, conv) in enumerate(zip(inputs, self.convs)):
            block = weight[:, idx * self.channels:(idx + 1) * self.channels]
            y = F.conv2d(conv(x), block)
            if y.shape[2:] != size:
                y = F.interpolate(y, size=size, mode=self.interpolate_mode,
                                  align_corners=self.align_corners if self.interpolate_mode != 'nearest' else None)
            out = y if out is None else out + y
        if fusion.conv.bias is not None:
            out = out + fusion.conv.bias.view(1, -1, 1, 1)
        if fusion.with_norm:
            out = fusion.norm(out)
        if fusion.with_activation:
            out = fusion.activate(out)
        return self.cls_seg(out)


def _check_fusable(head: SegformerHead) -> None:
    fusion = head.fusion_conv
    order = tuple(getattr(fusion, 'order', ('conv', 'norm', 'act')))
    if head.interpolate_mode not in ('bilinear', 'nearest'):
        raise ValueError(f'FusedSegformerHead: interpolate_mode {head.interpolate_mode!r} does not commute '
                         'with the fusion conv; use SegformerHead')
    if order != ('conv', 'norm', 'act') or not isinstance(fusion.conv, nn.Conv2d) \
            or fusion.conv.kernel_size != (1, 1) or fusion.conv.groups != 1:
        raise ValueError('FusedSegformerHead: the fusion conv is not a plain 1x1 conv followed by norm and act; '
                         'use SegformerHead')


def fuse_segformer_head(segmentor) -> bool:
    """Switch ``segmentor.decode_head`` from ``SegformerHead`` to :class:`FusedSegformerHead` in place.

    Only a head whose type is exactly mmseg's ``SegformerHead`` is switched (a subclass may have a
    forward of its own); its modules and weights stay as they are. Returns whether it was switched.
    """
    head = getattr(segmentor, 'decode_head', None)
    if type(head) is not SegformerHead:
        return False
    try:
        _check_fusable(head)
    except ValueError:
        return False
    head.__class__ = FusedSegformerHead
    return True
