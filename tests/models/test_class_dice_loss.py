"""ClassDiceLoss against hand computations: one Dice per class over the batch, ignored pixels, present classes."""
import math

import pytest
import torch

from vnseg.models.losses import ClassDiceLoss


def logits_from_probs(rows):
    """(N, C, H, W) logits whose softmax over C is ``rows`` (N, H, W, C probabilities)."""
    return torch.log(torch.tensor(rows, dtype=torch.float32)).permute(0, 3, 1, 2).contiguous()


def test_two_pixels_two_classes_by_hand():
    # pixel 1: p = (.75, .25), label 0; pixel 2: p = (.5, .5), label 1
    pred = logits_from_probs([[[[0.75, 0.25], [0.5, 0.5]]]])
    target = torch.tensor([[[0, 1]]])
    # class 0: 2 * .75 / (1.25 + 1) = 2/3; class 1: 2 * .5 / (.75 + 1) = 4/7
    expected = 1 - (2 / 3 + 4 / 7) / 2
    assert ClassDiceLoss(smooth=0.0)(pred, target).item() == pytest.approx(expected, abs=1e-6)
    assert ClassDiceLoss(smooth=0.0, loss_weight=0.5)(pred, target).item() == pytest.approx(expected / 2, abs=1e-6)
    # smooth = 1 pixel added to numerator and denominator
    smoothed = 1 - ((1.5 + 1) / (2.25 + 1) + (1.0 + 1) / (1.75 + 1)) / 2
    assert ClassDiceLoss(smooth=1.0)(pred, target).item() == pytest.approx(smoothed, abs=1e-6)


def test_ignored_pixels_do_not_count():
    pred = logits_from_probs([[[[0.75, 0.25], [0.5, 0.5], [0.1, 0.9]]]])
    target = torch.tensor([[[0, 1, 255]]])
    expected = 1 - (2 / 3 + 4 / 7) / 2  # as if the third pixel were not there
    assert ClassDiceLoss(smooth=0.0)(pred, target).item() == pytest.approx(expected, abs=1e-6)
    assert ClassDiceLoss(smooth=0.0, ignore_index=7)(pred, torch.tensor([[[0, 1, 7]]])).item() == \
        pytest.approx(expected, abs=1e-6)


def test_sums_run_over_the_whole_batch_not_per_image():
    # image 1 holds only class 0, image 2 only class 1: one Dice per class over both images
    pred = logits_from_probs([[[[0.75, 0.25]]], [[[0.5, 0.5]]]])
    target = torch.tensor([[[0]], [[1]]])
    expected = 1 - (2 / 3 + 4 / 7) / 2
    assert ClassDiceLoss(smooth=0.0)(pred, target).item() == pytest.approx(expected, abs=1e-6)


def test_absent_classes_count_only_with_classes_all():
    pred = logits_from_probs([[[[0.6, 0.2, 0.2], [0.2, 0.6, 0.2]]]])
    target = torch.tensor([[[0, 1]]])
    d = 2 * 0.6 / (0.8 + 1)  # classes 0 and 1 alike
    assert ClassDiceLoss(smooth=0.0)(pred, target).item() == pytest.approx(1 - d, abs=1e-6)
    # 'all': class 2 (no label, predicted 0.4 in total) has Dice (0 + 1) / (0.4 + 1) with smooth 1
    d_s = (1.2 + 1) / (1.8 + 1)
    expected = 1 - (2 * d_s + 1 / 1.4) / 3
    assert ClassDiceLoss(classes='all')(pred, target).item() == pytest.approx(expected, abs=1e-6)


def test_rare_class_weighs_like_a_large_one():
    # 99 correct background pixels and one missed water pixel: CE barely moves, the class Dice halves
    probs = [[[[0.9, 0.1]] * 99 + [[0.9, 0.1]]]]
    pred = logits_from_probs(probs)
    target = torch.tensor([[[0] * 99 + [1]]])
    loss = ClassDiceLoss(smooth=0.0)(pred, target).item()
    d0 = 2 * 0.9 * 99 / (90 + 99)
    d1 = 2 * 0.1 / (100 * 0.1 + 1)
    assert loss == pytest.approx(1 - (d0 + d1) / 2, abs=1e-5)
    assert loss > 0.4


def test_confident_right_answer_has_near_zero_loss_and_gradients_flow():
    target = torch.tensor([[[0, 1], [2, 255]]])
    pred = torch.full((1, 3, 2, 2), -20.0)
    for i, j in [(0, 0), (0, 1), (1, 0)]:
        pred[0, target[0, i, j], i, j] = 20.0
    pred.requires_grad_(True)
    loss = ClassDiceLoss()(pred, target)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    wrong = torch.zeros(1, 3, 2, 2, requires_grad=True)
    ClassDiceLoss()(wrong, target).backward()
    assert wrong.grad.abs().sum() > 0 and wrong.grad[0, :, 1, 1].abs().sum() == 0  # ignored pixel: no gradient


def test_all_ignored_is_zero_and_bad_options_fail():
    pred = torch.zeros(1, 2, 2, 2, requires_grad=True)
    assert ClassDiceLoss()(pred, torch.full((1, 2, 2), 255)).item() == 0.0
    with pytest.raises(ValueError, match='classes'):
        ClassDiceLoss(classes='some')
    with pytest.raises(ValueError, match='smooth'):
        ClassDiceLoss(smooth=-1)
    with pytest.raises(ValueError, match='weights'):
        ClassDiceLoss()(pred, torch.zeros(1, 2, 2, dtype=torch.long), weight=torch.ones(1))


def test_half_precision_logits_are_computed_in_float32():
    pred = logits_from_probs([[[[0.75, 0.25], [0.5, 0.5]]]]).half()
    loss = ClassDiceLoss(smooth=0.0)(pred, torch.tensor([[[0, 1]]]))
    assert loss.dtype == torch.float32 and math.isclose(loss.item(), 1 - (2 / 3 + 4 / 7) / 2, abs_tol=1e-3)
