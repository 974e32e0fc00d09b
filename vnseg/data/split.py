"""Seeded train/val/test splits, by scene or by patch.

* **by scene** (default of ``prepare_dataset``): whole scenes go to one split, so no pixel of a
  validation/test scene is seen in training.
* **by patch** (the original study's protocol): patches are shuffled individually; neighbouring
  patches of one scene land in different splits, which leaks context (and, with overlapping
  windows, pixels) from training into evaluation.

Both are deterministic for a seed and independent of the order the items are given in (items are
sorted first). Counts use largest-remainder rounding, and when there are at least as many items
as splits with a positive ratio, every such split gets at least one item.
"""
from __future__ import annotations

from typing import Dict, Hashable, Iterable, List, Sequence

import numpy as np

SPLITS = ('train', 'val', 'test')
DEFAULT_RATIOS = (0.8, 0.1, 0.1)


def split_counts(n: int, ratios: Sequence[float] = DEFAULT_RATIOS) -> List[int]:
    """Number of items per split for ``n`` items (largest remainder; non-empty splits when possible)."""
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.shape != (len(SPLITS),) or (ratios < 0).any() or ratios.sum() <= 0:
        raise ValueError(f'ratios must be 3 non-negative numbers with a positive sum, got {ratios.tolist()}')
    ratios = ratios / ratios.sum()
    exact = ratios * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind='stable')[:n - counts.sum()]:
        counts[i] += 1
    positive = np.flatnonzero(ratios > 0)
    if n >= len(positive):
        for i in positive:
            if counts[i] == 0:
                donor = int(np.argmax(counts))
                counts[donor] -= 1
                counts[i] += 1
    return counts.tolist()


def assign_splits(items: Iterable[Hashable], ratios: Sequence[float] = DEFAULT_RATIOS,
                  seed: int = 0) -> Dict[Hashable, str]:
    """Map each item to ``'train'``, ``'val'`` or ``'test'`` (seeded shuffle of the sorted items)."""
    ordered = sorted(set(items))
    order = np.random.default_rng(seed).permutation(len(ordered))
    counts = split_counts(len(ordered), ratios)
    result, start = {}, 0
    for split, count in zip(SPLITS, counts):
        for k in order[start:start + count]:
            result[ordered[k]] = split
        start += count
    return result


def split_by_scene(scene_ids: Iterable[str], ratios: Sequence[float] = DEFAULT_RATIOS,
                   seed: int = 0) -> Dict[str, str]:
    """Scene id -> split."""
    return assign_splits(scene_ids, ratios, seed)


def split_by_patch(patch_keys: Iterable[Hashable], ratios: Sequence[float] = DEFAULT_RATIOS,
                   seed: int = 0) -> Dict[Hashable, str]:
    """Patch key (e.g. ``(scene_id, y, x)``) -> split."""
    return assign_splits(patch_keys, ratios, seed)
