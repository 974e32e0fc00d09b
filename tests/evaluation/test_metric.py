"""VNIoUMetric and the confusion/metrics-file helpers against a hand-computed confusion matrix."""
import json
import math

import numpy as np
import pytest
import torch

from vnseg.core.classes import CLASSES
from vnseg.evaluation import VNIoUMetric
from vnseg.reports import confusion, metrics_file

# Two images; 255 = ignore. Pixel pairs (gt, pred) counted by hand below.
GT1 = [[0, 0, 1, 1],
       [0, 255, 1, 3],
       [3, 3, 3, 255]]
PRED1 = [[0, 1, 1, 1],
         [0, 4, 1, 3],     # the 4 sits on an ignored pixel: must not count anywhere
         [3, 0, 3, 2]]     # so does this 2
GT2 = [[2, 2],
       [0, 255]]
PRED2 = [[2, 0],
         [0, 0]]
# rows = ground truth, columns = prediction
HAND_CONF = np.array([
    [3, 1, 0, 0, 0],   # background: 4 GT pixels, 3 right, 1 -> road
    [0, 3, 0, 0, 0],   # road: 3/3
    [1, 0, 1, 0, 0],   # water: 1 right, 1 -> background
    [1, 0, 0, 3, 0],   # tree: 3 right, 1 -> background
    [0, 0, 0, 0, 0],   # building: absent from GT and (non-ignored) predictions
])
# IoU = TP / (GT + PRED - TP); Acc = TP / GT  (percent)
HAND_IOU = {'background': 50.0, 'road': 75.0, 'water': 50.0, 'tree': 75.0, 'building': math.nan}
HAND_ACC = {'background': 75.0, 'road': 100.0, 'water': 50.0, 'tree': 75.0, 'building': math.nan}
HAND_AACC = round(100 * 10 / 13, 2)   # 76.92
HAND_MIOU = 62.5                      # mean over the 4 defined classes
HAND_MACC = 75.0


def _sample(gt, pred, name='x.png'):
    return dict(gt_sem_seg=dict(data=torch.tensor([gt])), pred_sem_seg=dict(data=torch.tensor([pred])),
                img_path=name)


def _evaluate(pairs, **kwargs):
    metric = VNIoUMetric(**kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    for i, (gt, pred) in enumerate(pairs):
        metric.process({}, [_sample(gt, pred, f'img_{i}.png')])
    return metric.evaluate(len(pairs))


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


def test_metric_matches_hand_computed_confusion_matrix():
    m = _evaluate([(GT1, PRED1), (GT2, PRED2)])
    assert m['aAcc'] == HAND_AACC and m['mIoU'] == HAND_MIOU and m['mAcc'] == HAND_MACC
    for cls in CLASSES:
        assert _same(m[f'IoU.{cls}'], HAND_IOU[cls]), cls
        assert _same(m[f'Acc.{cls}'], HAND_ACC[cls]), cls
    assert np.array_equal(np.array(m['confusion_matrix']), HAND_CONF)
    # plain Python values only: the dict goes straight into json.dump in tools/test.py
    assert all(type(v) is float for k, v in m.items() if k != 'confusion_matrix')
    assert all(type(v) is int for row in m['confusion_matrix'] for v in row)
    assert list(m)[:3] == ['aAcc', 'mIoU', 'mAcc']


def test_class_predicted_but_absent_from_gt_gets_zero_iou_and_nan_acc():
    m = _evaluate([([[1, 1], [1, 1]], [[1, 4], [1, 1]])])
    assert m['IoU.building'] == 0.0 and math.isnan(m['Acc.building'])
    assert m['IoU.road'] == 75.0 and m['Acc.road'] == 75.0
    assert math.isnan(m['IoU.background']) and math.isnan(m['IoU.water'])
    assert m['mIoU'] == 37.5          # nanmean(75, 0): absent classes are left out
    assert m['aAcc'] == 75.0


def test_nan_to_num_and_other_metric_families():
    m = _evaluate([(GT1, PRED1), (GT2, PRED2)], nan_to_num=0, iou_metrics=['mIoU', 'mDice'],
                  confusion_matrix=False)
    assert m['IoU.building'] == 0.0 and m['Acc.building'] == 0.0
    assert m['mIoU'] == round((50 + 75 + 50 + 75 + 0) / 5, 2)
    # Dice = 2 TP / (GT + PRED): water 2*1/(2+1)
    assert m['Dice.water'] == round(200 / 3, 2)
    assert 'confusion_matrix' not in m


def test_metric_still_saves_predictions_like_iou_metric(tmp_path):
    from PIL import Image
    _evaluate([(GT1, PRED1)], output_dir=str(tmp_path))
    saved = np.array(Image.open(tmp_path / 'img_0.png'))
    assert np.array_equal(saved, np.array(PRED1))


def test_metric_is_registered_in_mmseg():
    from mmseg.registry import METRICS
    metric = METRICS.build(dict(type='VNIoUMetric', iou_metrics=['mIoU']))
    assert isinstance(metric, VNIoUMetric)


def test_confusion_helpers_agree_with_hand_matrix():
    conf = (confusion.confusion_from_arrays(np.array(PRED1), np.array(GT1))
            + confusion.confusion_from_arrays(np.array(PRED2), np.array(GT2)))
    assert np.array_equal(conf, HAND_CONF)
    derived = confusion.metrics_from_confusion(conf)
    for i, cls in enumerate(CLASSES):
        assert _same(100 * derived['IoU'][i], HAND_IOU[cls])
        assert _same(100 * derived['Acc'][i], HAND_ACC[cls])
    assert derived['aAcc'] == pytest.approx(10 / 13)
    norm = confusion.normalize_rows(conf)
    np.testing.assert_allclose(norm[0], [0.75, 0.25, 0, 0, 0])
    np.testing.assert_allclose(norm[2], [0.5, 0, 0.5, 0, 0])
    assert np.isnan(norm[4]).all()


def test_metrics_json_roundtrip_writes_null_for_nan(tmp_path):
    m = _evaluate([(GT1, PRED1), (GT2, PRED2)])
    m['config'] = 'configs/x.py'
    path = metrics_file.save_metrics(m, tmp_path / 'metrics_test.json')
    text = path.read_text()
    assert '"IoU.building": null' in text and 'NaN' not in text
    json.loads(text)  # strict JSON
    back = metrics_file.load_metrics(tmp_path)   # a work dir resolves to its metrics_test.json
    assert math.isnan(back['IoU.building']) and back['IoU.road'] == 75.0
    assert back['config'] == 'configs/x.py'
    assert metrics_file.class_names(back) == list(CLASSES)
    assert np.array_equal(metrics_file.confusion_matrix(back), HAND_CONF)
    # a file written by plain json.dump (NaN tokens) reads the same
    (tmp_path / 'plain.json').write_text(json.dumps(m))
    plain = metrics_file.load_metrics(tmp_path / 'plain.json')
    assert math.isnan(plain['IoU.building']) and plain['mIoU'] == HAND_MIOU


def test_confusion_csv_roundtrip(tmp_path):
    confusion.save_csv(HAND_CONF, CLASSES, tmp_path / 'c.csv')
    conf, classes = confusion.load_csv(tmp_path / 'c.csv')
    assert np.array_equal(conf, HAND_CONF) and classes == list(CLASSES)
    confusion.save_csv(HAND_CONF, CLASSES, tmp_path / 'n.csv', normalized=True)
    lines = (tmp_path / 'n.csv').read_text().splitlines()
    assert lines[1] == 'background,0.750000,0.250000,0.000000,0.000000,0.000000'
    assert lines[5] == 'building,,,,,'
