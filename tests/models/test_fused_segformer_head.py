"""FusedSegformerHead: SegformerHead's logits and gradients from the same weights, the in-place switch."""
import numpy as np
import pytest
import torch

import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
from mmseg.models.decode_heads.segformer_head import SegformerHead
from mmseg.registry import MODELS
from vnseg.models.fused_segformer_head import FusedSegformerHead, fuse_segformer_head

B0 = [32, 64, 160, 256]  # MiT-B0 stage widths, strides 4/8/16/32


def features(n=2, h=64, w=64, requires_grad=False, channels_last=False):
    """Stage maps as MiT gives them with ``channels_last`` (token maps viewed as images), else NCHW."""
    shapes = [(-(-h // s), -(-w // s)) for s in (4, 8, 16, 32)]
    torch.manual_seed(1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [torch.randn(n, c, *hw).contiguous(memory_format=fmt).requires_grad_(requires_grad)
            for c, hw in zip(B0, shapes)]


def build(head_type='SegformerHead', **kwargs):
    cfg = dict(type=head_type, in_channels=B0, in_index=[0, 1, 2, 3], channels=48, num_classes=5,
               dropout_ratio=0.0, norm_cfg=dict(type='BN', requires_grad=True), align_corners=False)
    cfg.update(kwargs)
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    for m in head.modules():  # BN statistics that are not the identity, so that eval mode is tested
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return head


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('size', [(64, 64), (70, 50)])  # 50 px: stage sizes 13, 7, 4, 2 (not halves)
def test_same_logits_as_segformer_head(size, channels_last):
    plain = build().eval()
    fused = build('FusedSegformerHead').eval()
    fused.load_state_dict(plain.state_dict())  # the same keys: strict load
    feats = features(2, *size, channels_last=channels_last)
    with torch.no_grad():
        a, b = plain(feats), fused(feats)
    assert a.shape == b.shape == (2, 5, -(-size[0] // 4), -(-size[1] // 4))
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, torch.zeros_like(a))


@pytest.mark.parametrize('channels_last', [False, True])
def test_same_gradients_in_training(channels_last):
    plain = build().train()
    fused = build('FusedSegformerHead').train()
    fused.load_state_dict(plain.state_dict())
    grads = []
    for head in (plain, fused):
        feats = features(2, 32, 32, requires_grad=True, channels_last=channels_last)
        head(feats).square().mean().backward()
        grads.append([f.grad for f in feats] + [p.grad for p in head.parameters()])
    for g_plain, g_fused in zip(*grads):
        assert torch.allclose(g_plain, g_fused, atol=1e-6, rtol=1e-4)


def test_switch_in_place_keeps_weights_and_logits():
    head = build().eval()
    segmentor = torch.nn.Module()
    segmentor.decode_head = head
    feats = features(1, 64, 64)
    with torch.no_grad():
        before = head(feats)
    weights = {k: v.clone() for k, v in head.state_dict().items()}
    assert fuse_segformer_head(segmentor) is True
    assert type(segmentor.decode_head) is FusedSegformerHead and segmentor.decode_head is head
    with torch.no_grad():
        after = head(feats)
    assert torch.allclose(before, after, atol=1e-5, rtol=1e-5)
    assert all(torch.equal(weights[k], v) for k, v in head.state_dict().items())
    assert fuse_segformer_head(segmentor) is False  # already fused


def test_other_heads_and_modes_are_left_alone():
    segmentor = torch.nn.Module()
    segmentor.decode_head = MODELS.build(dict(type='FCNHead', in_channels=8, channels=8, num_classes=5))
    assert fuse_segformer_head(segmentor) is False
    segmentor.decode_head = build(interpolate_mode='bicubic')
    assert fuse_segformer_head(segmentor) is False and type(segmentor.decode_head) is SegformerHead
    with pytest.raises(ValueError, match='interpolate_mode'):
        build('FusedSegformerHead', interpolate_mode='bicubic')


def test_as_mmseg_head_config_builds_stock_head_from_fused_weights():
    from mmengine.config import Config
    from vnseg.models.fused_segformer_head import as_mmseg_head_config
    fused_cfg = dict(type='FusedSegformerHead', in_channels=B0, in_index=[0, 1, 2, 3], channels=48, num_classes=5,
                     dropout_ratio=0.0, norm_cfg=dict(type='BN', requires_grad=True), align_corners=False)
    cfg = Config(dict(model=dict(type='EncoderDecoder', decode_head=fused_cfg)))
    torch.manual_seed(0)
    fused = MODELS.build(cfg.model.decode_head).eval()
    assert as_mmseg_head_config(cfg) is True
    assert cfg.model.decode_head.type == 'SegformerHead'
    assert as_mmseg_head_config(cfg) is False  # already mmseg's
    plain = MODELS.build(cfg.model.decode_head).eval()
    assert type(plain) is SegformerHead
    plain.load_state_dict(fused.state_dict())  # strict: the same keys
    feats = features(1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(plain(feats), fused(feats), atol=1e-5, rtol=1e-5)
    assert as_mmseg_head_config(Config(dict(model=dict(decode_head=dict(type='FCNHead'))))) is False


def test_tile_model_fuses_and_predicts_the_same_classes():
    from mmengine.registry import init_default_scope
    from mmseg.models.segmentors import EncoderDecoder
    from vnseg.inference.tile_models import TorchTileModel
    cfg = dict(
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                               bgr_to_rgb=True, size=(64, 64)),
        # a tiny MiT: stage widths embed_dims x num_heads = 8, 16, 32, 64
        backbone=dict(type='MixVisionTransformer', in_channels=3, embed_dims=8, num_stages=4,
                      num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], patch_sizes=[7, 3, 3, 3],
                      sr_ratios=[8, 4, 2, 1], out_indices=(0, 1, 2, 3)),
        decode_head=dict(type='SegformerHead', in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3], channels=16,
                         num_classes=5, norm_cfg=dict(type='BN', requires_grad=True), align_corners=False))
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(dict(type='EncoderDecoder', **cfg)).eval()
    assert isinstance(model, EncoderDecoder)
    rgb = np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64), dtype=np.uint8)
    valid = np.ones((2, 64, 64), bool)
    plain = TorchTileModel(model, tile=64, fuse_head=False).predict(rgb, valid)
    assert type(model.decode_head) is SegformerHead
    fused = TorchTileModel(model, tile=64).predict(rgb, valid)
    assert type(model.decode_head) is FusedSegformerHead
    np.testing.assert_allclose(plain, fused, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('layout', ['nchw', 'channels_last'])  # MiT's stage maps are channels-last views
@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('src, dst', [((8, 8), (64, 64)), ((13, 7), (50, 25)), ((1, 3), (4, 9)), ((5, 5), (5, 12))])
def test_add_bilinear_resized_is_interpolate_plus_add(src, dst, align_corners, layout):
    from vnseg.models.fused_segformer_head import add_bilinear_resized
    torch.manual_seed(2)
    fmt = torch.channels_last if layout == 'channels_last' else torch.contiguous_format
    y = torch.randn(2, 3, *src).contiguous(memory_format=fmt).requires_grad_()
    acc = torch.randn(2, 3, *dst).contiguous(memory_format=fmt).requires_grad_()
    want = acc + torch.nn.functional.interpolate(y, size=dst, mode='bilinear', align_corners=align_corners)
    got = add_bilinear_resized(acc, y, dst, align_corners)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    assert got.is_contiguous(memory_format=fmt)
    alone = add_bilinear_resized(None, y, dst, align_corners)
    assert torch.allclose(alone, want - acc, atol=1e-5, rtol=1e-5)
    g = torch.randn(2, 3, *dst)
    grads_want = torch.autograd.grad(want, (acc, y), g)
    grads_got = torch.autograd.grad(got, (acc, y), g)
    for a, b in zip(grads_want, grads_got):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_linear_interpolation_matrix_by_hand():
    from vnseg.models.fused_segformer_head import linear_interpolation_matrix
    # 2 -> 4, half-pixel centres: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (i1 clamped to 1)
    m = linear_interpolation_matrix(2, 4, False, torch.zeros(()))
    assert torch.equal(m, torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]))
    # 3 -> 5 with corners aligned: sources 0, 0.5, 1, 1.5, 2
    m = linear_interpolation_matrix(3, 5, True, torch.zeros(()))
    assert torch.equal(m, torch.tensor([[1, 0, 0], [.5, .5, 0], [0, 1, 0], [0, .5, .5], [0, 0, 1.0]]))
