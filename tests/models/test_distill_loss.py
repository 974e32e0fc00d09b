"""PixelKDLoss against hand computations: temperature, T^2, ignore mask, size alignment."""
import math

import numpy as np
import pytest
import torch

from vnseg.models.losses import PixelKDLoss


def np_kl(student, teacher, T):
    """Per-pixel KL(softmax(t/T) || softmax(s/T)) over axis 1 of (N, C, H, W) arrays."""
    def log_softmax(z):
        z = z / T
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_p_s, log_p_t = log_softmax(student), log_softmax(teacher)
    return (np.exp(log_p_t) * (log_p_t - log_p_s)).sum(axis=1)


def t64(a):
    return torch.tensor(a, dtype=torch.float32)


def test_single_pixel_numbers_by_hand():
    # student uniform over 2 classes, teacher 3:1
    s = t64([[[[0.0]], [[0.0]]]])
    t = t64([[[[math.log(3.0)]], [[0.0]]]])
    # T=1: KL([.75,.25] || [.5,.5]) = .75 ln 1.5 + .25 ln .5
    expected_t1 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert PixelKDLoss(temperature=1.0)(s, t).item() == pytest.approx(expected_t1, abs=1e-6)
    assert expected_t1 == pytest.approx(0.1308120, abs=1e-6)
    # T=2: teacher softened to [sqrt3, 1] / (sqrt3 + 1); the loss is scaled by T^2 = 4 and the weight
    r3 = math.sqrt(3.0)
    p = r3 / (r3 + 1)
    expected_t2 = 4 * (p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p)))
    loss = PixelKDLoss(temperature=2.0, loss_weight=0.5)(s, t)
    assert loss.item() == pytest.approx(0.5 * expected_t2, abs=1e-6)
    assert expected_t2 == pytest.approx(0.1453650, abs=1e-5)


def test_same_size_with_ignore_mask_matches_numpy():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(2, 5, 3, 4))
    t = 3 * rng.normal(size=(2, 5, 3, 4))
    label = rng.integers(0, 5, size=(2, 3, 4))
    label[0, 0, :] = 255
    label[1, 2, 3] = 255
    T, w = 2.5, 0.7
    kl = np_kl(s, t, T)
    expected = w * T * T * kl[label != 255].mean()
    loss = PixelKDLoss(temperature=T, loss_weight=w)(t64(s), t64(t), torch.tensor(label))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # the mask matters: the mean over all pixels is a different number
    assert abs(w * T * T * kl.mean() - expected) > 1e-3
    # (N, 1, H, W) labels are accepted too
    loss4 = PixelKDLoss(temperature=T, loss_weight=w)(t64(s), t64(t), torch.tensor(label)[:, None])
    assert loss4.item() == pytest.approx(expected, rel=1e-5)


def test_identical_logits_give_zero_and_all_ignored_gives_zero_with_graph():
    z = torch.randn(1, 5, 4, 4)
    assert PixelKDLoss(temperature=3.0)(z, z.clone()).item() == pytest.approx(0.0, abs=1e-6)
    s = torch.randn(1, 5, 4, 4, requires_grad=True)
    loss = PixelKDLoss()(s, torch.randn(1, 5, 4, 4), torch.full((1, 4, 4), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(s.grad) == 0


def test_teacher_is_detached_and_student_gets_gradient():
    s = torch.randn(1, 5, 4, 4, requires_grad=True)
    t = torch.randn(1, 5, 4, 4, requires_grad=True)
    PixelKDLoss(temperature=2.0)(s, t).backward()
    assert t.grad is None
    assert s.grad.abs().sum() > 0


def test_student_alignment_resizes_teacher_and_nearest_downsamples_label():
    """Teacher (1/4) at twice the student's (1/8) size: the default compares on the student's grid.

    A 2x bilinear downsample (align_corners=False) averages each 2x2 block, so a teacher constant on
    2x2 blocks becomes the block values; the label is nearest-downsampled: student pixel (i, j)
    takes label (2i, 2j)."""
    rng = np.random.default_rng(1)
    C = 4
    s = rng.normal(size=(1, C, 2, 2))
    t_small = 2 * rng.normal(size=(1, C, 2, 2))
    t = t_small.repeat(2, axis=2).repeat(2, axis=3)  # (1, C, 4, 4), constant on 2x2 blocks
    kl = np_kl(s, t_small, 1.5)[0]  # (2, 2)

    label = np.zeros((1, 4, 4), np.int64)
    label[0, 0, 0] = 255  # the sample of student pixel (0, 0): ignored
    loss = PixelKDLoss(temperature=1.5)(t64(s), t64(t), torch.tensor(label))
    assert loss.item() == pytest.approx(2.25 * (kl.sum() - kl[0, 0]) / 3, rel=1e-5)

    label = np.zeros((1, 4, 4), np.int64)
    label[0, 0, 1] = label[0, 1, 0] = label[0, 1, 1] = 255  # not sampled: nothing ignored
    loss = PixelKDLoss(temperature=1.5)(t64(s), t64(t), torch.tensor(label))
    assert loss.item() == pytest.approx(2.25 * kl.mean(), rel=1e-5)


def test_label_alignment_upsamples_both_to_label_size():
    """align='label': 1x2 student logits -> 1x4 label grid with bilinear weights
    (align_corners=False) [[1, 0], [.75, .25], [.25, .75], [0, 1]] along the width."""
    rng = np.random.default_rng(2)
    C = 3
    s = rng.normal(size=(1, C, 1, 2))
    t = rng.normal(size=(1, C, 1, 4))
    W = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    s_up = np.einsum('ncij,kj->ncik', s, W)
    label = np.array([[[0, 255, 3, 1]]])
    kl = np_kl(s_up, t, 1.0)[0, 0]  # (4,)
    expected = kl[[0, 2, 3]].mean()
    loss = PixelKDLoss(align='label')(t64(s), t64(t), torch.tensor(label))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # the default (student grid) gives another number on the same inputs
    assert abs(PixelKDLoss()(t64(s), t64(t), torch.tensor(label)).item() - expected) > 1e-4


def test_low_precision_logits_give_float32_loss():
    s = torch.randn(1, 5, 4, 4).bfloat16()
    t = torch.randn(1, 5, 4, 4).bfloat16()
    loss = PixelKDLoss(temperature=2.0)(s, t)
    assert loss.dtype == torch.float32
    expected = 4 * np_kl(s.float().numpy(), t.float().numpy(), 2.0).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_registry_build_and_bad_arguments():
    from mmseg.registry import MODELS

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    loss = MODELS.build(dict(type='PixelKDLoss', temperature=4.0, loss_weight=2.0))
    assert isinstance(loss, PixelKDLoss) and loss.temperature == 4.0 and loss.loss_name == 'loss_kd'
    with pytest.raises(ValueError, match='temperature'):
        PixelKDLoss(temperature=0)
    with pytest.raises(ValueError, match='align'):
        PixelKDLoss(align='teacher')
    with pytest.raises(ValueError, match='classes'):
        PixelKDLoss()(torch.randn(1, 5, 2, 2), torch.randn(1, 4, 2, 2))
