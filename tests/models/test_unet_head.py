"""UNetHead: output shapes, every skip used, parameter count by hand, argument checks."""
import pytest
import torch

import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
from mmseg.registry import MODELS

R50 = [256, 512, 1024, 2048]  # ResNet-50 stage widths, strides 4/8/16/32


def r50_features(n=2, h=64, w=64, requires_grad=False):
    """Random features with ResNet-50's shapes for an (n, 3, h, w) input."""
    shapes = [(-(-h // s), -(-w // s)) for s in (4, 8, 16, 32)]
    return [torch.randn(n, c, *hw, requires_grad=requires_grad) for c, hw in zip(R50, shapes)]


def build(**kwargs):
    cfg = dict(type='UNetHead', in_channels=R50, in_index=[0, 1, 2, 3], num_classes=5,
               norm_cfg=dict(type='BN', requires_grad=True))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_default_decoder_reaches_full_resolution():
    head = build().eval()
    with torch.no_grad():
        out = head(r50_features(2, 64, 64))
    assert out.shape == (2, 5, 64, 64)
    assert head.channels == 16 and head.conv_seg.in_channels == 16


def test_skip_only_decoder_stops_at_stride_4():
    head = build(decoder_channels=(256, 128, 64)).eval()
    with torch.no_grad():
        out = head(r50_features(2, 64, 64))
    assert out.shape == (2, 5, 16, 16)


def test_odd_input_size_follows_skip_sizes():
    head = build(upsample_mode='bilinear').eval()
    feats = r50_features(1, 70, 50)  # stage sizes 18x13, 9x7, 5x4, 3x2
    with torch.no_grad():
        out = head(feats)
    assert out.shape == (1, 5, 18 * 4, 13 * 4)


def test_every_stage_reaches_the_output():
    head = build().train()
    feats = r50_features(2, 32, 32, requires_grad=True)
    head(feats).square().mean().backward()
    for f in feats:
        assert f.grad is not None and f.grad.abs().sum() > 0


def test_parameter_count_by_hand():
    head = build()

    def block(cin, cout):  # two bias-free 3x3 convs, each followed by BN (weight + bias)
        return 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout

    expected = (block(2048 + 1024, 256) + block(256 + 512, 128) + block(128 + 256, 64)
                + block(64, 32) + block(32, 16) + 16 * 5 + 5)
    assert sum(p.numel() for p in head.parameters()) == expected
    assert 8.9e6 < expected < 9.1e6  # the ~9.0M decoder of the study's UNet-R50


def test_loss_on_labels():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    head = build(decoder_channels=(64, 32, 16))
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(32, 32)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 32, 32)))
        samples.append(s)
    losses = head.loss(r50_features(2, 32, 32), samples, train_cfg=dict())
    assert torch.isfinite(losses['loss_ce']) and losses['loss_ce'] > 0


@pytest.mark.parametrize('kwargs,match', [
    (dict(channels=32), 'channels'),
    (dict(decoder_channels=(256, 128)), 'skip'),
    (dict(upsample_mode='bicubic'), 'upsample_mode'),
    (dict(input_transform='resize_concat'), 'multiple_select'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)
