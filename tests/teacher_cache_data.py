"""Scenes whose colours ARE their labels, and a teacher that reads them: for teacher-cache tests.

Every pixel of a scene has exactly the colour of its class (``tiny_data.CLASS_COLOURS``), so
:class:`ColourTeacher` -- a tile model (``vnseg.inference.tile_models`` interface) whose logits are minus
the squared distance of a pixel's colour to each class colour -- predicts the mask exactly: its
cached probabilities are one-hot of the mask (255 for the class, 0 elsewhere), and any misalignment
of the soft labels against the mask shows as disagreement.
"""
from pathlib import Path

import numpy as np
from PIL import Image

from tiny_data import CLASS_COLOURS
from vnseg.data.prepare import PatchOptions, SplitOptions, prepare_dataset


class ColourTeacher:
    """Tile model: logits ``-|rgb - colour_c|^2 / 100`` per class ``c`` (argmax = nearest class colour)."""
    num_classes, tile, classes, palette, threshold, name = 5, None, None, None, None, 'colour teacher'

    def predict(self, rgb, valid):
        d = ((rgb[:, None].astype(np.float32) - CLASS_COLOURS[None, :, :, None, None]) ** 2).sum(axis=2)
        return (-d / 100.0).astype(np.float32)


def colour_scene(rng, height, width):
    """``(image uint8 (H, W, 3), mask uint8 (H, W))``: rectangles of classes 1-4 on background."""
    mask = np.zeros((height, width), np.uint8)
    for _ in range(6):
        cls = rng.integers(1, 5)
        h, w = rng.integers(height // 6, height // 2), rng.integers(width // 6, width // 2)
        y, x = rng.integers(0, height - h), rng.integers(0, width - w)
        mask[y:y + h, x:x + w] = cls
    return CLASS_COLOURS[mask].astype(np.uint8), mask


def write_pairs(folder, n, size=(72, 88), seed=0, prefix='scene'):
    """``folder/images/<prefix>_i.png`` + ``folder/masks/<prefix>_i.png``; returns the folder."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    (folder / 'masks').mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = colour_scene(rng, *size)
        Image.fromarray(image).save(folder / 'images' / f'{prefix}_{i}.png')
        Image.fromarray(mask).save(folder / 'masks' / f'{prefix}_{i}.png')
    return folder


def prepared_colour_dataset(tmp, n=4, size=(72, 88), seed=0):
    """A dataset written by ``vnseg prepare`` (scene split: half train, half val) of colour scenes."""
    src = write_pairs(Path(tmp) / 'src', n, size, seed)
    out = Path(tmp) / 'data'
    summary = prepare_dataset(src, out, PatchOptions(patch_size=32), SplitOptions(ratios=(0.5, 0.5, 0.0)),
                              progress=False, chart=False)
    assert summary['failures'] == []
    return out


def unlabelled_folder(folder, n=2, size=(64, 96), seed=5):
    """``folder/flight_i.png``: colour scenes without masks (an unlabelled flight)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(colour_scene(rng, *size)[0]).save(folder / f'flight_{i}.png')
    return folder
