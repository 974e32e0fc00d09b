"""vnseg.data.class_weights: the recipe's CE class weights, from prepared data to the trained run."""
import json
import math

import pytest
import torch

import vnseg.mmseg_ext  # noqa: F401  (registrations)
from mmengine.config import Config

from mmseg.models.losses import CrossEntropyLoss

from vnseg.data.class_weights import (CLASS_WEIGHTS_FILE, class_weight_hooks, class_weights_from_pixels,
                                      class_weights_from_summary, read_class_weights, training_class_weights,
                                      write_class_weights)
from vnseg.core.errors import DataError
from vnseg.data.prepare import PatchOptions, SplitOptions, prepare_dataset
from vnseg.engine.hooks import ClassWeightsHook
from vnseg.openmmlab.pretrained import disable_pretrained
from vnseg.testing.synthetic_scenes import generate_scenes

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
    summary = prepare_dataset(tmp_path / 'src', tmp_path / 'out', PatchOptions(patch_size=48),
                              SplitOptions(ratios=(0.5, 0.5, 0.0)), progress=False, chart=False)
    pixels = summary['splits']['train']['class_pixels']
    weights = json.loads((tmp_path / 'out' / CLASS_WEIGHTS_FILE).read_text())
    total = sum(pixels[c] for c in summary['classes'])
    raw = [1 / math.sqrt(pixels[c] / total) if pixels[c] else None for c in summary['classes']]
    raw = [max(r for r in raw if r) if r is None else r for r in raw]  # a class absent: the rarest's weight
    assert weights == pytest.approx([r / (sum(raw) / len(raw)) for r in raw], abs=1e-4)
    assert len(weights) == 5 and weights[0] == min(weights)  # the background is the commonest class


def _recipe(data_root=None):
    cfg = Config.fromfile(RECIPE)
    if data_root is not None:
        cfg.train_dataloader.dataset.data_root = str(data_root)
    return cfg


def test_recipe_model_config_holds_no_file_and_builds_without_the_data():
    """The weights are the training data's: the model config has none, a hook applies them."""
    from mmseg.registry import MODELS
    cfg = _recipe('/no/such/data')
    assert 'class_weight' not in _ce(cfg)
    assert class_weight_hooks(cfg) == [dict(type='ClassWeightsHook', file=CLASS_WEIGHTS_FILE)]
    disable_pretrained(cfg.model)
    ce, = [m for m in MODELS.build(cfg.model).decode_head.loss_decode if isinstance(m, CrossEntropyLoss)]
    assert ce.class_weight is None  # until a training run starts


def test_training_class_weights_checks_the_file_the_hook_will_read(tmp_path):
    (tmp_path / CLASS_WEIGHTS_FILE).write_text('[0.5, 1, 1.5, 2, 1]')
    cfg = _recipe(tmp_path)
    assert training_class_weights(cfg) == [0.5, 1.0, 1.5, 2.0, 1.0]
    assert 'class_weight' not in _ce(cfg)  # checked, nothing changed
    # through a dataset wrapper, and with the file named relative to the data root
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2, dataset=cfg.train_dataloader.dataset)
    (tmp_path / 'w.json').write_text('[1, 1, 1, 1, 4]')
    class_weight_hooks(cfg)[0]['file'] = 'w.json'
    assert training_class_weights(cfg) == [1.0, 1.0, 1.0, 1.0, 4.0]

    with pytest.raises(DataError, match='class weights file not found') as info:
        training_class_weights(_recipe(tmp_path / 'elsewhere'))
    assert str(tmp_path / 'elsewhere' / CLASS_WEIGHTS_FILE) in str(info.value)
    cfg = _recipe()
    cfg.train_dataloader.dataset.pop('data_root', None)
    with pytest.raises(DataError, match='my.py: ClassWeightsHook reads its file from train_dataloader'):
        training_class_weights(cfg, config_name='my.py')
    cfg = _recipe(tmp_path)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h.type != 'ClassWeightsHook']
    assert training_class_weights(cfg) is None  # unweighted training needs no file


def _ce_module(model):
    ce, = [m for m in model.decode_head.loss_decode if isinstance(m, CrossEntropyLoss)]
    return ce


def test_hook_weights_the_cross_entropy_when_training_starts(tmp_path):
    """ClassWeightsHook in a real Runner of the recipe: at before_train the CE gets the file's weights,
    and the loss is exactly mmseg's weighted CE with those weights in the config (fix 7 normaliser)."""
    from mmengine.runner import Runner
    (tmp_path / CLASS_WEIGHTS_FILE).write_text('[0.5, 1, 1.5, 2, 1]')
    cfg = _recipe(tmp_path)
    cfg.work_dir = str(tmp_path / 'work')
    disable_pretrained(cfg.model)  # no download
    runner = Runner.from_cfg(cfg)
    hook, = [h for h in runner.hooks if isinstance(h, ClassWeightsHook)]
    ce = _ce_module(runner.model)
    assert ce.class_weight is None
    hook.before_train(runner)
    assert ce.class_weight == [0.5, 1.0, 1.5, 2.0, 1.0]

    # the same loss as a CrossEntropyLoss with the weights in its config: mmseg's own
    from mmseg.registry import MODELS
    configured = MODELS.build(dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                                   class_weight=[0.5, 1.0, 1.5, 2.0, 1.0]))
    logits = torch.zeros(1, 5, 1, 3)
    logits[0, 0, 0, 0] = 2.0  # pixel 0: label 0, p = e^2 / (e^2 + 4); pixel 1: label 3, p = 1/5; pixel 2 ignored
    label = torch.tensor([[[0, 3, 255]]])
    ours, theirs = ce(logits, label, ignore_index=255), configured(logits, label, ignore_index=255)
    nll0, nll3 = -math.log(math.exp(2) / (math.exp(2) + 4)), math.log(5)
    # weighted mean over the valid pixels, +1 per ignored pixel in the normaliser (avg_non_ignore off)
    assert ours.item() == pytest.approx((0.5 * nll0 + 2.0 * nll3) / (0.5 + 2.0 + 1), rel=1e-6)
    assert ours.item() == theirs.item()

    # the run says which weights it trained with: every checkpoint's meta
    checkpoint = dict(meta=dict(seed=0))
    hook.before_save_checkpoint(runner, checkpoint)
    assert checkpoint['meta'] == dict(seed=0, class_weights=dict(
        file=str(tmp_path / CLASS_WEIGHTS_FILE), head='decode_head', weights=[0.5, 1.0, 1.5, 2.0, 1.0]))
    hook.before_train(runner)  # again (a second train() call): the same weights, no error
    assert ce.class_weight == [0.5, 1.0, 1.5, 2.0, 1.0]


def test_hook_errors_name_the_file_or_the_config(tmp_path):
    from mmengine.runner import Runner
    cfg = _recipe(tmp_path / 'elsewhere')
    cfg.work_dir = str(tmp_path / 'work')
    disable_pretrained(cfg.model)
    runner = Runner.from_cfg(cfg)
    hook, = [h for h in runner.hooks if isinstance(h, ClassWeightsHook)]
    with pytest.raises(DataError, match='class weights file not found') as info:
        hook.before_train(runner)  # a runner built without vnseg's tools: still one clear error
    assert str(tmp_path / 'elsewhere' / CLASS_WEIGHTS_FILE) in str(info.value)
    # weights in the config too: one or the other
    (tmp_path / 'elsewhere').mkdir()
    (tmp_path / 'elsewhere' / CLASS_WEIGHTS_FILE).write_text('[1, 1, 1, 1, 1]')
    _ce_module(runner.model).class_weight = [2.0] * 5
    with pytest.raises(DataError, match='class_weight=.* in the config too; give one or the other'):
        hook.before_train(runner)
