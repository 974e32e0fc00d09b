"""A tiny, learnable mmseg-layout dataset for tests (no shared data, no network).

Each image is a few axis-aligned blocks; every block's colour identifies its class, with noise on
top, so a tiny model can learn it in a few dozen iterations.
"""
from pathlib import Path

import numpy as np
from PIL import Image

#: Mean RGB per class (background, road, water, tree, building) of the tiny images.
CLASS_COLOURS = np.array(
    [[90, 80, 70], [200, 200, 200], [30, 60, 170], [40, 140, 40], [190, 60, 50]], dtype=np.float32)


def tiny_sample(rng, size=64):
    """One (image HxWx3 uint8 RGB, mask HxW uint8 in 0..4) pair."""
    mask = np.zeros((size, size), np.uint8)
    for cls in rng.permutation(np.arange(1, 5))[:3]:
        h, w = rng.integers(size // 4, size // 2, size=2)
        y, x = rng.integers(0, size - h), rng.integers(0, size - w)
        mask[y:y + h, x:x + w] = cls
    image = CLASS_COLOURS[mask] + rng.normal(0, 12, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_tiny_dataset(root, splits=(('train', 8), ('val', 2), ('test', 2)), size=64, seed=0):
    """Write ``root/img_dir/<split>/*.png`` and ``root/ann_dir/<split>/*.png``; return ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in splits:
        (root / 'img_dir' / split).mkdir(parents=True, exist_ok=True)
        (root / 'ann_dir' / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image, mask = tiny_sample(rng, size)
            # mmcv loads BGR; PIL writes RGB: both agree on the file's RGB meaning.
            Image.fromarray(image).save(root / 'img_dir' / split / f'{split}_{i:03d}.png')
            Image.fromarray(mask).save(root / 'ann_dir' / split / f'{split}_{i:03d}.png')
    return root


def dataset_cfg_options(root, batch_size=2, num_workers=0):
    """``--cfg-options`` items pointing a VNDroneDataset config at ``root`` with light loaders."""
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={root}',
                 f'{loader}.num_workers={num_workers}',
                 f'{loader}.persistent_workers={num_workers > 0}']
    opts.append(f'train_dataloader.batch_size={batch_size}')
    return opts
