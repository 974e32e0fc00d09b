"""``FusedSegformerHead``: mmseg's ``SegformerHead`` computed in a cheaper order, same weights and outputs.

``SegformerHead`` projects each of the four backbone stages to ``channels`` maps (1x1 conv, norm, act),
resizes them all to the stride-4 grid, concatenates them (``4 * channels`` maps) and applies the fusion
1x1 conv. That conv is linear and per pixel, and bilinear resizing is linear and per channel, so the two
commute: the fusion conv's block ``W_i`` (``channels x channels``) applied to stage ``i`` BEFORE its resize
gives the same sum. This head does exactly that, stage by stage, and adds the four results: no
``4 * channels`` concatenation, and three quarters of the fusion conv's multiply-adds move to the coarser
grids (strides 8, 16, 32). The stride-4 stage is not resized at all (it is on the target grid already).
On a CPU the decode head takes most of a SegFormer-B0 window's time (``docs/results.md``, "CPU speed").

The bilinear resizes and the sum are done together: a bilinear resize is a product with one small
interpolation matrix per axis (``(H, h)`` and ``(W, w)``), and the second product adds into the running
sum (``torch.baddbmm``), so no resized copy of a stage is written and read back (on a CPU the stride-4
maps are what the memory bandwidth is spent on).

The result equals ``SegformerHead``'s up to float rounding (sums in another order: ~1e-6 relative);
parameters and state-dict keys are the same, so every SegFormer checkpoint loads into either.
:func:`fuse_segformer_head` switches a built segmentor's head in place.
"""
import torch
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
            if y.shape[2:] == size:
                out = y if out is None else out + y
            elif self.interpolate_mode == 'bilinear':
                out = add_bilinear_resized(out, y, size, self.align_corners)
            else:
                y = F.interpolate(y, size=size, mode=self.interpolate_mode)
                out = y if out is None else out + y
        if fusion.conv.bias is not None:
            out = out + fusion.conv.bias.view(1, -1, 1, 1)
        if fusion.with_norm:
            out = fusion.norm(out)
        if fusion.with_activation:
            out = fusion.activate(out)
        return self.cls_seg(out)


def linear_interpolation_matrix(n_in: int, n_out: int, align_corners: bool, like: torch.Tensor) -> torch.Tensor:
    """The ``(n_out, n_in)`` matrix of a 1-D linear resize, as ``F.interpolate(mode='bilinear')`` samples
    one axis for an output ``size`` (source index ``(i + 0.5) * n_in / n_out - 0.5`` clamped at 0, or
    ``i * (n_in - 1) / (n_out - 1)`` with ``align_corners``); each row holds two weights summing to 1.
    Dtype and device are ``like``'s."""
    i = torch.arange(n_out, dtype=torch.float64)
    if align_corners:
        src = i * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        src = ((i + 0.5) * (n_in / n_out) - 0.5).clamp(min=0.0)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    frac = src - i0
    rows = torch.arange(n_out)
    matrix = torch.zeros(n_out, n_in, dtype=torch.float64)
    matrix.index_put_((rows, i0), 1.0 - frac, accumulate=True)
    matrix.index_put_((rows, i1), frac, accumulate=True)
    return matrix.to(dtype=like.dtype, device=like.device)


def add_bilinear_resized(out, y: torch.Tensor, size, align_corners: bool) -> torch.Tensor:
    """``out + F.interpolate(y, size, mode='bilinear', align_corners=align_corners)`` (``out`` may be None:
    the resize alone), as two matrix products, the add fused into the second; equal up to float rounding.

    ``y``: ``(N, C, h, w)``; ``out``: ``(N, C, H, W)`` with ``(H, W) = size``; returns ``(N, C, H, W)``.
    Channels-last tensors (what MiT's stages give: their token maps viewed as images) are resized in that
    layout and the result is channels-last; others are resized as contiguous NCHW.
    """
    n, c, h, w = y.shape
    height, width = size
    across = linear_interpolation_matrix(w, width, align_corners, y)  # (W, w)
    down = linear_interpolation_matrix(h, height, align_corners, y)  # (H, h)
    last = torch.channels_last
    if c > 1 and y.is_contiguous(memory_format=last) and (out is None or out.is_contiguous(memory_format=last)):
        rows = torch.matmul(across, y.permute(0, 2, 3, 1))  # (N, h, W, C): each row resized
        rows = rows.reshape(n, h, width * c)
        down = down.expand(n, height, h)
        if out is None:
            res = torch.bmm(down, rows)
        else:
            res = torch.baddbmm(out.permute(0, 2, 3, 1).reshape(n, height, width * c), down, rows)
        return res.reshape(n, height, width, c).permute(0, 3, 1, 2)
    rows = torch.matmul(y.reshape(n * c * h, w), across.t()).reshape(n * c, h, width)  # each row resized
    down = down.expand(n * c, height, h)
    if out is None:
        return torch.bmm(down, rows).reshape(n, c, height, width)
    return torch.baddbmm(out.reshape(n * c, height, width), down, rows).reshape(n, c, height, width)


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


def as_mmseg_head_config(cfg) -> bool:
    """Name a ``FusedSegformerHead`` decode head in a model config as mmseg's ``SegformerHead`` again, in
    place: the same weights and state-dict keys, computed in mmseg's own order. What a config dumped by a
    CPU training (``cpu_speedups.fused_head``) needs to build stock mmseg's model. ``cfg``: an mmengine
    ``Config`` (or a dict with ``model.decode_head``). Returns whether it changed anything."""
    head = (cfg.get('model') or {}).get('decode_head')
    if isinstance(head, dict) and head.get('type') in ('FusedSegformerHead', 'mmseg.FusedSegformerHead'):
        head['type'] = 'SegformerHead'
        return True
    return False
