"""``UNetHead``: a U-Net decoder over a multi-stage backbone (built for ResNet-50), as a decode head.

mmseg's U-Net (``type='UNet'``) is a backbone of its own; the study's UNet-R50 is a ResNet-50
encoder with a U-Net decoder (the segmentation_models_pytorch design): starting from the deepest
stage, every decoder block upsamples x2, concatenates the next-shallower backbone stage (skip
connection) and applies two 3x3 conv-norm-act layers; blocks beyond the skips keep upsampling x2
without one, towards full resolution.

With mmseg's ``ResNetV1c`` depth 50 (``out_indices=(0, 1, 2, 3)``: 256/512/1024/2048 channels at
strides 4/8/16/32) and the default ``decoder_channels=(256, 128, 64, 32, 16)`` the first three
blocks take the skips of stages 3, 2, 1 (output stride 4) and the last two bring the map to stride
1; the decoder holds ~9.0M parameters (ResNet-50 + decoder = 32.5M, the study's UNet-R50).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class UNetHead(BaseDecodeHead):
    """U-Net decoder: upsample x2, concatenate a skip, two 3x3 ConvModules; repeated.

    Input: the backbone features selected by ``in_index``, shallowest first, shapes
    ``(N, in_channels[i], H / s_i, W / s_i)`` with strides ``s_i`` doubling from one to the next
    (e.g. 4, 8, 16, 32). Output of :meth:`forward`: logits ``(N, num_classes, H', W')`` with
    ``H' = H / s_0 * 2 ** (len(decoder_channels) - len(in_channels) + 1)`` (stride 1, i.e. the
    input size, for ResNet-50 and the default decoder); the segmentor resizes to the label/image
    size as for any head.

    Args:
        decoder_channels (Sequence[int]): Output channels of each decoder block, deepest first.
            Needs at least ``len(in_channels) - 1`` entries (one per skip); extra entries add
            skip-less x2 upsampling blocks. ``channels`` (the width ``conv_seg`` sees) is the last
            entry and need not be given.
        upsample_mode (str): ``F.interpolate`` mode for the x2 upsampling: ``'nearest'`` (default,
            as smp's U-Net) or ``'bilinear'`` (uses ``align_corners``).
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels`` a list, ``in_index``,
            ``num_classes``, ``norm_cfg``...). ``input_transform`` is ``'multiple_select'``.
    """

    def __init__(self, decoder_channels=(256, 128, 64, 32, 16), upsample_mode='nearest',
                 **kwargs):
        decoder_channels = tuple(int(c) for c in decoder_channels)
        channels = kwargs.pop('channels', decoder_channels[-1])
        if channels != decoder_channels[-1]:
            raise ValueError(f'channels ({channels}) must equal decoder_channels[-1] '
                             f'({decoder_channels[-1]})')
        if kwargs.setdefault('input_transform', 'multiple_select') != 'multiple_select':
            raise ValueError("UNetHead needs input_transform='multiple_select'")
        super().__init__(channels=channels, **kwargs)
        if len(self.in_channels) < 2:
            raise ValueError('UNetHead needs at least two backbone stages (one skip)')
        n_skips = len(self.in_channels) - 1
        if len(decoder_channels) < n_skips:
            raise ValueError(f'{len(decoder_channels)} decoder block(s) for {n_skips} skip(s): '
                             'need one block per skip at least')
        if upsample_mode not in ('nearest', 'bilinear'):
            raise ValueError(f"upsample_mode must be 'nearest' or 'bilinear', got {upsample_mode!r}")
        self.decoder_channels = decoder_channels
        self.upsample_mode = upsample_mode

        skip_channels = list(self.in_channels[-2::-1]) + [0] * (len(decoder_channels) - n_skips)
        in_ch = self.in_channels[-1]
        self.blocks = nn.ModuleList()
        for skip_ch, out_ch in zip(skip_channels, decoder_channels):
            self.blocks.append(nn.Sequential(
                self._conv(in_ch + skip_ch, out_ch),
                self._conv(out_ch, out_ch)))
            in_ch = out_ch

    def _conv(self, in_ch, out_ch):
        return ConvModule(in_ch, out_ch, 3, padding=1, conv_cfg=self.conv_cfg,
                          norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def _up(self, x, size):
        if self.upsample_mode == 'nearest':
            return F.interpolate(x, size=size, mode='nearest')
        return F.interpolate(x, size=size, mode='bilinear', align_corners=self.align_corners)

    def forward(self, inputs):
        feats = self._transform_inputs(inputs)
        skips = feats[-2::-1]  # next-shallower stage first
        x = feats[-1]
        for i, block in enumerate(self.blocks):
            if i < len(skips):
                # Upsample to the skip's own size (not a blind x2), so odd input sizes work.
                x = torch.cat([self._up(x, skips[i].shape[2:]), skips[i]], dim=1)
            else:
                x = self._up(x, (x.shape[2] * 2, x.shape[3] * 2))
            x = block(x)
        return self.cls_seg(x)
