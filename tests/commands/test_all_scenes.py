"""``vnseg train --all-scenes``: the last training sees the train and val splits, at the same budget."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from tiny_data import dataset_cfg_options, make_tiny_dataset, tiny_sample

TINY = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
RECIPE = str(REPO / 'configs' / 'segformer_b0_recipe_vn.py')


def _built_dataset(cfg):
    import vnseg.mmseg_ext  # noqa: F401  (registrations)
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')  # as the Runner does: mmengine's ConcatDataset builds mmseg's datasets
    return DATASETS.build(cfg.train_dataloader.dataset)


def _scene_dataset(root, counts=(('train', 3), ('val', 2))):
    """A prepared dataset's whole-scene layout: scenes/img|ann/<id>.png and scenes/<split>.txt."""
    rng = np.random.default_rng(0)
    for sub in ('img', 'ann'):
        (root / 'scenes' / sub).mkdir(parents=True)
    for split, n in counts:
        ids = [f'{split}{i}' for i in range(n)]
        for scene in ids:
            image, mask = tiny_sample(rng, 48)
            Image.fromarray(image).save(root / 'scenes' / 'img' / f'{scene}.png')
            Image.fromarray(mask).save(root / 'scenes' / 'ann' / f'{scene}.png')
        (root / 'scenes' / f'{split}.txt').write_text('\n'.join(ids) + '\n')
    return root


def test_patch_layout_all_scenes_is_train_plus_val(tmp_path):
    from vnseg.apis.model_loading import load_config
    from vnseg.commands.runner import train_on_all_scenes
    root = make_tiny_dataset(tmp_path, splits=(('train', 5), ('val', 3), ('test', 2)))
    cfg = load_config(TINY, None)
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(root),
                         'val_dataloader.dataset.data_root': str(root)})
    assert len(_built_dataset(cfg)) == 5
    pipeline = cfg.train_dataloader.dataset.pipeline
    train_on_all_scenes(cfg)
    dataset = _built_dataset(cfg)
    names = sorted(os.path.basename(d['img_path']) for d in (dataset.get_data_info(i) for i in range(len(dataset))))
    assert names == [f'train_{i:03d}.png' for i in range(5)] + [f'val_{i:03d}.png' for i in range(3)]
    # the val scenes go through the TRAIN pipeline (augmentation), not the val one
    assert cfg.train_dataloader.dataset.datasets[1].pipeline == pipeline
    assert cfg.val_dataloader.dataset.data_prefix.img_path == 'img_dir/val'  # validation unchanged


def test_recipe_scene_lists_all_scenes_is_train_plus_val(tmp_path):
    from vnseg.apis.model_loading import load_config
    from vnseg.commands.runner import train_on_all_scenes
    from vnseg.core.config_tree import train_data_roots
    root = _scene_dataset(tmp_path)
    cfg = load_config(RECIPE, None)
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(root),
                         'val_dataloader.dataset.data_root': str(root)})
    train_on_all_scenes(cfg)
    dataset = _built_dataset(cfg)
    names = sorted(os.path.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset)))
    assert names == ['train0.png', 'train1.png', 'train2.png', 'val0.png', 'val1.png']
    assert train_data_roots(cfg) == [str(root)]  # class weights and GSD of the prepared data still found


def test_all_scenes_needs_a_val_split():
    from mmengine.config import Config
    from vnseg.commands.runner import train_on_all_scenes
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='VNDroneDataset', data_root='d'))))
    with pytest.raises(ValueError, match='no val_dataloader'):
        train_on_all_scenes(cfg)


@pytest.mark.slow
def test_train_tool_all_scenes_trains_on_every_scene(tmp_path):
    root = make_tiny_dataset(tmp_path / 'data', splits=(('train', 2), ('val', 2), ('test', 1)))
    work = tmp_path / 'work'
    opts = dataset_cfg_options(root) + ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                                        'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=2']
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([sys.executable, '-m', 'vnseg', 'train', TINY, '--all-scenes', '--work-dir', str(work),
                           '--cfg-options', *opts], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / 'iter_2.pth').is_file()
    dumped, = work.glob('*/vis_data/config.py')
    text = dumped.read_text()
    assert "type='ConcatDataset'" in text and "img_path='img_dir/val'" in text
    scalars = [json.loads(line) for line in next(work.glob('*/vis_data/scalars.json')).read_text().splitlines()]
    assert any('mIoU' in s for s in scalars)  # validation still ran (on scenes it trained on)
