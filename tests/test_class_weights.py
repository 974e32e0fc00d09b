"""vnseg.data.class_weights: the recipe's CE class weights, from prepared data to the trained run."""
import json
import math

import pytest
import torch

import vnseg.mmseg_ext  # noqa: F401  (registrations)
from mmengine.config import Config

from vnseg.data.class_weights import (CLASS_WEIGHTS_FILE, class_weights_from_pixels, class_weights_from_summary,
                                      drop_class_weight_marker, read_class_weights, resolve_class_weights,
                                      write_class_weights)
from vnseg.data.io import DataError
from vnseg.data.prepare import prepare_dataset
from synthetic_scenes import generate_scenes

from conftest import REPO

RECIPE = str(REPO / 'configs' / 'segformer_b0_recipe_vn.py')


def _ce(cfg):
    ce, = [loss for loss in cfg.model.decode_head.loss_decode if loss.type == 'CrossEntropyLoss']
    return ce


def test_weights_from_pixels_against_hand_computed_values():
    # shares 0.9 / 0.1 / absent: 1/sqrt(0.9) = 1.0541, 1/sqrt(0.1) = 3.1623, absent -> the largest;
    # mean (1.0541 + 2 * 3.1623) / 3 = 2.4596
    assert class_weights_from_pixels([900, 100, 0]) == pytest.approx([0.4286, 1.2857, 1.2857], abs=1e-4)
    assert class_weights_from_pixels([1, 1, 1, 1]) == [1.0, 1.0, 1.0, 1.0]
    assert class_weights_from_pixels([0, 0]) == [1.0, 1.0]
    w = class_weights_from_pixels([64, 16, 16, 4])  # shares 64/16/16/4 %: raw 1.25, 2.5, 2.5, 5; mean 2.8125
    assert w == pytest.approx([1.25 / 2.8125, 2.5 / 2.8125, 2.5 / 2.8125, 5 / 2.8125], abs=1e-4)
    assert sum(w) / len(w) == pytest.approx(1.0, abs=1e-3)


def test_summary_and_file(tmp_path):
    summary = dict(classes=['background', 'road', 'water'],
                   splits=dict(train=dict(class_pixels=dict(background=900, road=100, water=0, ignore=5))))
    path = write_class_weights(tmp_path, summary)
    assert path == tmp_path / CLASS_WEIGHTS_FILE
    assert json.loads(path.read_text()) == class_weights_from_summary(summary)
    assert class_weights_from_summary(summary) == class_weights_from_pixels([900, 100, 0])
    assert read_class_weights(path, 3) == pytest.approx([0.4286, 1.2857, 1.2857], abs=1e-4)
    # a dataset without train pixels (test scenes only) has no weights: a stale file goes
    empty = dict(summary, splits=dict(train=dict(class_pixels=dict(background=0, road=0, water=0))))
    assert write_class_weights(tmp_path, empty) is None and not path.exists()


@pytest.mark.parametrize('text, fragment', [
    (None, 'class weights file not found'),
    ('[1, 2', 'not valid JSON'),
    ('[1, 2]', 'a JSON list of 3 positive numbers'),
    ('[1, 0, 2]', 'a JSON list of 3 positive numbers'),
    ('{"road": 2}', 'a JSON list of 3 positive numbers'),
])
def test_bad_weight_files_are_named(tmp_path, text, fragment):
    path = tmp_path / CLASS_WEIGHTS_FILE
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataError, match=fragment) as info:
        read_class_weights(path, 3)
    assert str(path) in str(info.value)


def test_prepare_writes_the_weights_of_its_train_split(tmp_path):
    generate_scenes(tmp_path / 'src', num_scenes=4, size=96, seed=5)
    summary = prepare_dataset(tmp_path / 'src', tmp_path / 'out', patch_size=48, ratios=(0.5, 0.5, 0.0),
                              progress=False, chart=False)
    pixels = summary['splits']['train']['class_pixels']
    weights = json.loads((tmp_path / 'out' / CLASS_WEIGHTS_FILE).read_text())
    total = sum(pixels[c] for c in summary['classes'])
    raw = [1 / math.sqrt(pixels[c] / total) if pixels[c] else None for c in summary['classes']]
    raw = [max(r for r in raw if r) if r is None else r for r in raw]  # a class absent: the rarest's weight
    assert weights == pytest.approx([r / (sum(raw) / len(raw)) for r in raw], abs=1e-4)
    assert len(weights) == 5 and weights[0] == min(weights)  # the background is the commonest class


def test_recipe_trains_with_the_file_and_predicts_without_it(tmp_path):
    (tmp_path / CLASS_WEIGHTS_FILE).write_text('[0.5, 1, 1.5, 2, 1]')
    cfg = Config.fromfile(RECIPE)
    assert _ce(cfg).class_weight == '{data_root}/class_weights.json'
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    assert resolve_class_weights(cfg) == [0.5, 1.0, 1.5, 2.0, 1.0]
    assert _ce(cfg).class_weight == [0.5, 1.0, 1.5, 2.0, 1.0]
    assert resolve_class_weights(cfg) is None  # resolved once: numbers stay numbers
    from mmseg.registry import MODELS
    from vnseg.pretrained import disable_pretrained
    disable_pretrained(cfg.model)
    ce = [m for m in MODELS.build(cfg.model).decode_head.loss_decode if type(m).__name__ == 'CrossEntropyLoss'][0]
    assert ce.class_weight == [0.5, 1.0, 1.5, 2.0, 1.0]  # what mmseg's loss multiplies with

    # training from data without the file: one error naming it
    cfg = Config.fromfile(RECIPE)
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'elsewhere')
    with pytest.raises(DataError, match='class weights file not found') as info:
        resolve_class_weights(cfg)
    assert str(tmp_path / 'elsewhere' / CLASS_WEIGHTS_FILE) in str(info.value)

    # a model to predict with never needs the training data
    from vnseg.apis import load_model
    model = load_model(RECIPE, random_weights=True, device='cpu')
    assert model(torch.zeros(1, 3, 64, 64), mode='tensor').shape == (1, 5, 16, 16)
    cfg = Config.fromfile(RECIPE)
    assert drop_class_weight_marker(cfg.model) == 1 and 'class_weight' not in _ce(cfg)
    assert drop_class_weight_marker(cfg.model) == 0
