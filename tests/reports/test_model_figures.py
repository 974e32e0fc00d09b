"""The model-driven parts on the tiny SegFormer with random weights and a tiny dataset:
VNIoUMetric inside mmengine's Runner, confusion matrix from config / saved predictions / the
stored matrix (all equal), and the prediction grid."""
import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from tiny_data import make_tiny_dataset
from vnseg.core.classes import CLASSES, IGNORE_INDEX
from vnseg.reports import confusion, figures, metrics_file, plots

from conftest import REPO
CONFIG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
N_TEST = 3
SIZE = 32


def _command(name):
    """The module ``vnseg.commands.<name>`` (the code of ``vnseg <name>`` and of its ``tools/`` script)."""
    return importlib.import_module(f'vnseg.commands.{name}')


def _png(path):
    with Image.open(path) as img:
        return np.array(img.convert('RGB'))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """3 test patches of 32x32; the first row of every mask is set to ignore (255)."""
    root = make_tiny_dataset(tmp_path_factory.mktemp('evaldata'), splits=(('test', N_TEST),),
                             size=SIZE, seed=1)
    for ann in sorted((root / 'ann_dir' / 'test').glob('*.png')):
        mask = np.array(Image.open(ann))
        mask[0, :] = IGNORE_INDEX
        Image.fromarray(mask).save(ann)
    return root


def _options(root):
    return {'test_dataloader.dataset.data_root': str(root), 'test_dataloader.num_workers': 0,
            'test_dataloader.persistent_workers': False}


@pytest.fixture(scope='module')
def tested(tmp_path_factory, data_root):
    """runner.test() of the random-weight tiny model with VNIoUMetric, predictions saved."""
    from mmengine import Config
    from mmengine.runner import Runner
    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)

    work_dir = tmp_path_factory.mktemp('evalrun')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(_options(data_root))
    cfg.work_dir = str(work_dir)
    cfg.test_evaluator = dict(type='VNIoUMetric', iou_metrics=['mIoU'],
                              output_dir=str(work_dir / 'preds'))
    cfg.randomness = dict(seed=0)
    from vnseg.openmmlab.pretrained import disable_pretrained
    disable_pretrained(cfg.model)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    metrics_file.save_metrics(metrics, work_dir / 'metrics_test.json')
    # the same (random) weights as a checkpoint, for the config+checkpoint paths of the tools
    torch.save({'state_dict': runner.model.state_dict(), 'meta': {}}, work_dir / 'random.pth')
    return work_dir, metrics


def test_runner_metrics_are_consistent_with_the_confusion_matrix(tested, data_root):
    work_dir, m = tested
    conf = np.array(m['confusion_matrix'])
    masks = [np.array(Image.open(p)) for p in sorted((data_root / 'ann_dir' / 'test').glob('*.png'))]
    assert conf.sum() == sum(int((mk != IGNORE_INDEX).sum()) for mk in masks) == N_TEST * SIZE * (SIZE - 1)
    np.testing.assert_array_equal(conf.sum(axis=1), [sum(int((mk == c).sum()) for mk in masks)
                                                     for c in range(len(CLASSES))])
    derived = confusion.metrics_from_confusion(conf)
    for i, cls in enumerate(CLASSES):
        for fam in ('IoU', 'Acc'):
            want = 100 * derived[fam][i]
            got = m[f'{fam}.{cls}']
            assert (np.isnan(want) and np.isnan(got)) or got == pytest.approx(want, abs=0.006)
    assert m['aAcc'] == pytest.approx(100 * derived['aAcc'], abs=0.006)
    assert m['mIoU'] == pytest.approx(100 * np.nanmean(derived['IoU']), abs=0.006)
    assert len(list((work_dir / 'preds').glob('*.png'))) == N_TEST


def test_confusion_from_predictions_model_and_metrics_agree(tested, data_root, tmp_path):
    work_dir, m = tested
    stored, _ = confusion.confusion_from_metrics(work_dir)
    from_preds, names = confusion.confusion_from_pred_dir(work_dir / 'preds',
                                                          data_root / 'ann_dir' / 'test')
    assert len(names) == N_TEST
    np.testing.assert_array_equal(from_preds, stored)
    # the tool, from config + the same weights: rerunning the model gives the same matrix
    _command('confusion').main([CONFIG, str(work_dir / 'random.pth'), '--out-dir', str(tmp_path),
                                    '--cfg-options', f'test_dataloader.dataset.data_root={data_root}'])
    from_model, classes = confusion.load_csv(tmp_path / 'confusion_matrix.csv')
    assert classes == list(CLASSES)
    np.testing.assert_array_equal(from_model, stored)
    assert _png(tmp_path / 'confusion_matrix.png').shape == (560, 640, 3)


def test_prediction_grid_tool_models_and_saved_predictions(tested, data_root, tmp_path):
    work_dir, _ = tested
    out = tmp_path / 'grid.png'
    _command('grid').main([
        '--model', 'random-A', CONFIG, str(work_dir / 'random.pth'), '--model', 'random-B', CONFIG,
        '--pred-dir', 'saved', str(work_dir / 'preds'), '--num', '2', '--seed', '3',
        '--panel-size', '1.5', '--dpi', '60', '--out', str(out), '--random-weights',
        '--cfg-options', f'test_dataloader.dataset.data_root={data_root}'])
    img = _png(out)
    w, h = plots.prediction_grid_size(2, 5, panel_inches=1.5, dpi=60)
    assert img.shape == (h, w, 3) and img.std() > 10


def test_grid_patch_choice_and_ground_truth_panel(data_root, tmp_path):
    from vnseg.reports import predictions
    pairs = predictions.pair_dirs(data_root / 'img_dir' / 'test', data_root / 'ann_dir' / 'test')
    assert len(pairs) == N_TEST
    assert figures.select_patches(pairs, num=2, seed=5) == figures.select_patches(pairs, num=2, seed=5)
    assert figures.select_patches(pairs, patches=['test_002', 'test_000.png']) == [pairs[2], pairs[0]]
    with pytest.raises(KeyError):
        figures.select_patches(pairs, patches=['nope'])
    # a one-patch grid drawn from arrays: the GT panel shows the palette colours
    gt = np.zeros((SIZE, SIZE), np.uint8)
    gt[:, SIZE // 2:] = 2   # water, right half
    rows = [dict(name='p', image=np.full((SIZE, SIZE, 3), 128, np.uint8), masks=[gt, gt])]
    out = plots.render_prediction_grid(rows, ['image', 'ground truth', 'model'],
                                       str(tmp_path / 'g.png'), panel_inches=2.0, dpi=50)
    img = _png(out)
    assert img.shape[:2][::-1] == plots.prediction_grid_size(1, 3, dpi=50)
    water = np.all(img == [0, 110, 255], axis=-1)
    assert water.sum() > 100
