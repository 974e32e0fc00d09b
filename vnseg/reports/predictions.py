"""Predict test patches with a segmentor, for the figure tools.

Models come from the one loader, :func:`vnseg.apis.load_model` (strict weights, class names).

Everything runs one image at a time through mmseg's ``inference_model`` (the config's
``test_pipeline`` without ``LoadAnnotations``), so predictions equal what ``tools/test.py`` scores.
"""
import copy
import os
import os.path as osp

import numpy as np

from vnseg.core.classes import PALETTE
from vnseg.data.io import IMAGE_SUFFIXES


def model_classes(model):
    """Class names of a model from :func:`vnseg.apis.load_model`."""
    return tuple(model.dataset_meta['classes'])


def model_palette(model):
    """RGB palette (list of [r, g, b]) of a model from :func:`vnseg.apis.load_model`."""
    return [list(c) for c in model.dataset_meta.get('palette', PALETTE)]


def predict(model, img_path):
    """Predicted class indices for one image file: uint8 array, shape (H, W) of the image."""
    from mmseg.apis import inference_model
    result = inference_model(model, img_path)
    return result.pred_sem_seg.data.squeeze(0).cpu().numpy().astype(np.uint8)


def pair_dirs(img_dir, ann_dir, seg_map_suffix='.png'):
    """``[(image path, annotation path)]`` for every image in ``img_dir`` (sorted by name) whose
    ``<stem><seg_map_suffix>`` exists in ``ann_dir``. Raises ``FileNotFoundError`` if none."""
    pairs = []
    for name in sorted(os.listdir(img_dir)):
        stem, ext = osp.splitext(name)
        if ext.lower() not in IMAGE_SUFFIXES:
            continue
        ann = osp.join(ann_dir, stem + seg_map_suffix)
        if osp.isfile(ann):
            pairs.append((osp.join(img_dir, name), ann))
    if not pairs:
        raise FileNotFoundError(f'no image in {img_dir} has an annotation in {ann_dir}')
    return pairs


def config_test_pairs(cfg):
    """``[(image path, annotation path)]`` of the config's ``test_dataloader`` dataset, in dataset
    order (built with mmseg's dataset class, so ``data_root``/``data_prefix``/suffixes apply)."""
    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from mmseg.registry import DATASETS

    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg['pipeline'] = []
    dataset = DATASETS.build(ds_cfg)
    return [(info['img_path'], info['seg_map_path'])
            for info in (dataset.get_data_info(i) for i in range(len(dataset)))]


def resolve_pairs(cfg, img_dir=None, ann_dir=None):
    """Image/annotation pairs from explicit dirs when both are given, else from ``cfg``'s test
    split (``cfg`` may be ``None`` only when both dirs are given)."""
    if img_dir and ann_dir:
        return pair_dirs(img_dir, ann_dir)
    if img_dir or ann_dir:
        raise ValueError('give both img_dir and ann_dir, or neither (use the config test split)')
    if cfg is None:
        raise ValueError('no config to take the test split from: give img_dir and ann_dir')
    return config_test_pairs(cfg)
