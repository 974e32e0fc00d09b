"""Scenes (labelme/AnyLabeling JSON, or image + mask) -> train-ready patches in mmseg's layout.

Output (what :class:`vnseg.datasets.VNDroneDataset` reads)::

    OUT/img_dir/{train,val,test}/<scene>_y<row>_x<col>[_augK-<op>].png   RGB patches
    OUT/ann_dir/{train,val,test}/<same stem>.png                           palette class masks
    OUT/scenes/img/<scene>.png, OUT/scenes/ann/<scene>.png                 whole scenes (image, mask)
    OUT/scenes/{train,val,test}.txt                                        scene ids per split (scene mode)
    OUT/summary.json                                                       counts, shares, GSD, failures
    OUT/class_weights.json                                                 CE class weights (train split)
    OUT/class_distribution.png                                             bar chart

Stages: 1. convert every scene (one at a time, memory bounded by one scene) to ``OUT/scenes`` and
list its patch windows, dropping mostly-background ones (tqdm bar); 2. seeded split (by scene or by
patch); 3. cut patches (tqdm bar); 4. augment train patches (tqdm bar); 5. remove files of earlier
runs that this run did not write, write the summary and the chart.

Bad inputs (malformed JSON, missing/unreadable/16-bit/oversized image, size mismatch, unsafe
``imagePath``, scene smaller than a patch, unknown label...) are recorded as failures naming the
file and the batch continues (``strict=True`` raises the first one). Grayscale and RGBA images are
converted with a warning (transparent pixels -> ignore); 16-bit images are rejected.

Ground resolution (GSD, cm/px; :mod:`vnseg.data.gsd`): each scene's comes from its image's
georeferencing (GeoTIFF with a CRS: measured on the ground at the scene centre, geographic CRSs
converted there), else from ``gsd_cm`` (``--gsd-cm``, for plain PNG/JPEG scenes), else it is unknown
(None); georeferencing wins over ``gsd_cm``. ``summary['gsd']`` holds the dataset's training GSD, the
median of the train scenes' (with their range and a warning when they differ by more than x1.25):
training records it in the checkpoints (``meta['gsd_cm']``) and exports write it for Deepness.

Deterministic for a seed; every file is written atomically; re-running rewrites identical files.
"""
from __future__ import annotations

import os
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import Image

from vnseg.classes import CLASSES, IGNORE_INDEX, NUM_CLASSES
from vnseg.data.augment import augment_variants
from vnseg.data.class_weights import write_class_weights
from vnseg.data.color_mask import ColorTable
from vnseg.data.gsd import dataset_gsd, raster_gsd_cm, valid_gsd_cm
from vnseg.data.io import (DEFAULT_MAX_PIXELS, DataError, atomic_write_text, write_json,
                           write_mask_png, write_rgb_png)
from vnseg.data.label_map import LabelMap, LabelMapError
from vnseg.data.labelme import NotAnAnnotationError, class_pixel_counts
from vnseg.data.patches import Window, crop, crop_pair, keep_patch, patch_windows
from vnseg.data.scenes import discover_scenes, load_scene
from vnseg.data.split import DEFAULT_RATIOS, SPLITS, split_by_patch, split_by_scene

SUMMARY_VERSION = 1
MARKER = '.vnseg-prepare'
SPLIT_MODES = ('scene', 'patch')


class PrepareError(RuntimeError):
    """Invalid arguments or output folder (raised before any scene is processed)."""

    #: a user's mistake: tools report it as one line (:mod:`vnseg.cli`)
    user_error = True


def _tqdm(iterable, desc, progress, total=None):
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, unit='item', total=total, disable=not progress, leave=True)


def _patch_stem(scene_id: str, y: int, x: int) -> str:
    return f'{scene_id}_y{y:05d}_x{x:05d}'


def _shares(pixels: Dict[str, int]) -> Dict[str, float]:
    total = sum(pixels.values())
    return {k: (round(v / total, 6) if total else 0.0) for k, v in pixels.items()}


def _check_out(out: Path, src: Path) -> None:
    if out.resolve() == src.resolve():
        raise PrepareError(f'{out}: the output folder must differ from the source folder')
    if out.exists() and not out.is_dir():
        raise PrepareError(f'{out}: output exists and is not a folder')
    ours = (out / MARKER).is_file()
    if out.is_dir() and not ours and any((out / d).exists() for d in ('img_dir', 'ann_dir', 'scenes')):
        raise PrepareError(f'{out}: holds img_dir/ann_dir/scenes not written by prepare_dataset '
                           f'(no {MARKER} marker); choose an empty folder')


def _prune(out: Path, written: set) -> int:
    """Delete files under OUT/img_dir, OUT/ann_dir, OUT/scenes that this run did not write."""
    removed = 0
    for top in ('img_dir', 'ann_dir', 'scenes'):
        base = out / top
        if not base.is_dir():
            continue
        for root, _, files in os.walk(base):
            for name in files:
                path = Path(root) / name
                if path.resolve() not in written:
                    path.unlink()
                    removed += 1
    return removed


def _qa_totals(infos) -> dict:
    """Dataset-wide sums of the per-scene QA findings."""
    totals = defaultdict(int)
    for info in infos:
        qa = info['qa']
        totals['unknown_color_pixels'] += qa.get('unknown_pixels', 0)
        totals['invalid_index_pixels'] += qa.get('invalid_pixels', 0)
        totals['degenerate_shapes'] += len(qa.get('degenerate_shapes', []))
        totals['out_of_image_vertices'] += sum(v['count'] for v in qa.get('out_of_image_vertices', []))
        totals['overlap_pixels'] += qa.get('overlap_pixels', 0)
        totals['scenes_with_warnings'] += bool(info['warnings'])
    return dict(totals)


def _scene_gsd(image_path, gsd_cm: Optional[float]) -> tuple:
    """``(cm/px or None, source)`` of one scene: its image's georeferencing, else ``gsd_cm``."""
    measured = raster_gsd_cm(image_path) if image_path is not None else None
    if measured is not None:
        return round(measured, 4), 'georeferencing'
    if gsd_cm is not None:
        return float(gsd_cm), '--gsd-cm'
    return None, None


def prepare_dataset(src, out, *, patch_size: int = 512, stride: Optional[int] = None,
                    split_mode: str = 'scene', ratios: Sequence[float] = DEFAULT_RATIOS, seed: int = 0,
                    num_augment: int = 1, background_threshold: Optional[float] = 1.0,
                    edge: str = 'shift', label_map=None, color_table=None, mask_format: str = 'auto',
                    pixel_origin: str = 'corner', line_width: float = 10.0, point_radius: float = 5.0,
                    max_pixels: int = DEFAULT_MAX_PIXELS, strict: bool = False, progress: bool = True,
                    chart: bool = True, gsd_cm: Optional[float] = None) -> dict:
    """Build ``OUT`` from the scenes in ``SRC`` (see the module docstring for the layout).

    Args:
        src: source folder (JSON scenes and/or image + mask pairs, searched recursively).
        out: output folder (created; must not hold another tool's img_dir/ann_dir).
        patch_size: patch side in pixels.
        stride: window step in pixels (default ``patch_size``: no overlap).
        split_mode: ``'scene'`` (default; no scene in two splits) or ``'patch'`` (the study's).
        ratios: train/val/test proportions.
        seed: seed of the split and the augmentation.
        num_augment: augmented copies per train patch (0-7, 0: none), each with a different
            flip/rotation (default 1: originals + one augmented copy each, as in the study:
            3114 + 3114 train patches).
        background_threshold: drop patches whose background+ignore share is >= this (1.0: drop only
            all-background patches; None: keep all).
        edge: border handling, ``'shift'``, ``'pad'`` or ``'drop'`` (see :mod:`vnseg.data.patches`).
        label_map: JSON labels -> classes (None: vnseg's names; dict; ``.json``/``.txt`` path).
        color_table: colours -> classes for colour masks (None: vnseg palette; preset name
            such as ``'dubai'``; dict; JSON path).
        mask_format: ``'auto'``, ``'index'`` or ``'color'`` (see :func:`vnseg.data.color_mask.mask_from_array`).
        pixel_origin, line_width, point_radius: JSON rasterisation (see :mod:`vnseg.data.labelme`).
        max_pixels: refuse images above this many pixels.
        strict: raise the first bad input instead of recording it and continuing.
        progress: tqdm bars.
        chart: write ``class_distribution.png``.
        gsd_cm: ground resolution (cm/px) of the scenes whose image has no georeferencing (None:
            unknown); georeferenced scenes use their own.

    Returns:
        The summary dict (also written to ``OUT/summary.json``); ``summary['failures']`` lists the
        bad inputs as ``{'file', 'error'}``.

    Raises:
        PrepareError: invalid arguments or output folder.
        DataError: with ``strict=True``, the first bad input.
    """
    src, out = Path(src), Path(out)
    if split_mode not in SPLIT_MODES:
        raise PrepareError(f'split_mode must be one of {SPLIT_MODES}, got {split_mode!r}')
    if not src.is_dir():
        raise PrepareError(f'{src}: source folder not found')
    stride = stride or patch_size
    if patch_size <= 0 or stride <= 0:
        raise PrepareError(f'patch_size and stride must be positive, got {patch_size}, {stride}')
    if gsd_cm is not None and valid_gsd_cm(gsd_cm) is None:
        raise PrepareError(f'--gsd-cm: must be a number > 0 (cm per pixel), got {gsd_cm}')
    try:
        label_map = LabelMap.from_spec(label_map)
        table = None if color_table is None else ColorTable.from_spec(color_table)
    except (LabelMapError, OSError) as e:
        raise PrepareError(str(e)) from e
    bad = sorted(v for v in label_map.values() | (set(table.colors.values()) if table else set())
                 if v >= NUM_CLASSES and v != IGNORE_INDEX)
    if bad:
        raise PrepareError(f'label map / colour table produce class indices {bad}, '
                           f'outside 0..{NUM_CLASSES - 1} and {IGNORE_INDEX}')
    _check_out(out, src)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / MARKER, 'vnseg prepare_dataset output\n')
    written = set()

    def record(path: Path):
        written.add(Path(path).resolve())

    # -- stage 1: scenes ----------------------------------------------------------------------
    scenes, unpaired = discover_scenes(src, exclude=out)
    failures, skipped_files, scene_info, used_images = [], [], {}, set()
    kept_windows: Dict[str, list] = {}
    for scene in _tqdm(scenes, '1/3 scenes', progress):
        try:
            loaded = load_scene(scene, src, label_map=label_map, color_table=table, mask_format=mask_format,
                                pixel_origin=pixel_origin, line_width=line_width, point_radius=point_radius,
                                max_pixels=max_pixels)
            h, w = loaded.mask.shape
            windows = patch_windows(h, w, patch_size, stride, edge, path=scene.source)
        except NotAnAnnotationError as e:
            skipped_files.append({'file': str(scene.source), 'reason': e.problem})
            continue
        except DataError as e:
            if strict:
                raise
            failures.append({'file': str(e.path or scene.source), 'error': str(e)})
            continue
        except Exception as e:  # a batch must survive one bad file; strict re-raises
            if strict:
                raise
            failures.append({'file': str(scene.source), 'error': f'{scene.source}: {type(e).__name__}: {e}'})
            continue
        if loaded.image_path is not None:
            used_images.add(Path(loaded.image_path).resolve())
        gsd, gsd_from = _scene_gsd(loaded.image_path, gsd_cm)
        for note in loaded.warnings:
            warnings.warn(note)
        kept = [(win.y, win.x) for win in windows
                if keep_patch(crop(loaded.mask, win, IGNORE_INDEX), background_threshold)]
        kept_windows[scene.scene_id] = kept
        record(write_rgb_png(out / 'scenes' / 'img' / f'{scene.scene_id}.png', loaded.image))
        record(write_mask_png(out / 'scenes' / 'ann' / f'{scene.scene_id}.png', loaded.mask))
        scene_info[scene.scene_id] = {
            'id': scene.scene_id, 'source': str(scene.source.relative_to(src.resolve())),
            'mask': None if scene.mask_path is None else str(scene.mask_path.relative_to(src.resolve())),
            'size': [h, w], 'windows': len(windows), 'patches': len(kept),
            'dropped_background': len(windows) - len(kept), 'warnings': loaded.warnings, 'qa': loaded.qa,
            'class_pixels': class_pixel_counts(loaded.mask), 'gsd_cm': gsd, 'gsd_source': gsd_from,
        }
        del loaded

    # -- stage 2: split -------------------------------------------------------------------------
    if split_mode == 'scene':
        scene_split = split_by_scene(scene_info, ratios, seed)
        patch_split = {(sid, y, x): scene_split[sid] for sid, wins in kept_windows.items() for y, x in wins}
        for sid, split in scene_split.items():
            scene_info[sid]['split'] = split
    else:
        patch_split = split_by_patch([(sid, y, x) for sid, wins in kept_windows.items() for y, x in wins],
                                     ratios, seed)

    # -- stage 3: patches ----------------------------------------------------------------------
    split_pixels = {s: defaultdict(int) for s in SPLITS}
    split_patches = {s: 0 for s in SPLITS}
    split_scenes = {s: set() for s in SPLITS}
    train_patches = []
    for sid in _tqdm(sorted(kept_windows), '2/3 patches', progress):
        wins = kept_windows[sid]
        if not wins:
            continue
        image = np.asarray(Image.open(out / 'scenes' / 'img' / f'{sid}.png').convert('RGB'))
        mask = np.asarray(Image.open(out / 'scenes' / 'ann' / f'{sid}.png'))
        per_split = defaultdict(int)
        for y, x in wins:
            split = patch_split[(sid, y, x)]
            img_p, msk_p = crop_pair(image, mask, Window(y, x, patch_size))
            stem = _patch_stem(sid, y, x)
            record(write_rgb_png(out / 'img_dir' / split / f'{stem}.png', img_p))
            record(write_mask_png(out / 'ann_dir' / split / f'{stem}.png', msk_p))
            for name, count in class_pixel_counts(msk_p).items():
                split_pixels[split][name] += count
            split_patches[split] += 1
            split_scenes[split].add(sid)
            per_split[split] += 1
            if split == 'train':
                train_patches.append(stem)
        scene_info[sid]['patches_per_split'] = dict(sorted(per_split.items()))
        del image, mask

    # -- stage 4: augmentation (train only) ----------------------------------------------------
    augmented = 0
    if num_augment > 0:
        for stem in _tqdm(train_patches, '3/3 augment', progress):
            img_p = np.asarray(Image.open(out / 'img_dir' / 'train' / f'{stem}.png').convert('RGB'))
            msk_p = np.asarray(Image.open(out / 'ann_dir' / 'train' / f'{stem}.png'))
            for suffix, img_a, msk_a, _ in augment_variants(img_p, msk_p, num_augment, seed, stem):
                record(write_rgb_png(out / 'img_dir' / 'train' / f'{stem}_{suffix}.png', img_a))
                record(write_mask_png(out / 'ann_dir' / 'train' / f'{stem}_{suffix}.png', msk_a))
                augmented += 1

    # -- stage 5: scene lists, clean-up, summary, chart ------------------------------------------
    if split_mode == 'scene':  # OUT/scenes/<split>.txt: whole-scene datasets (ann_file) per split
        for split in SPLITS:
            ids = sorted(sid for sid, info in scene_info.items() if info.get('split') == split)
            record(atomic_write_text(out / 'scenes' / f'{split}.txt', ''.join(f'{sid}\n' for sid in ids)))
    for split in SPLITS:  # mmseg expects every split folder, even an empty one
        (out / 'img_dir' / split).mkdir(parents=True, exist_ok=True)
        (out / 'ann_dir' / split).mkdir(parents=True, exist_ok=True)
    removed = _prune(out, written)
    unpaired_left = sorted(str(p.relative_to(src.resolve())) for p in unpaired if p.resolve() not in used_images)
    splits_summary = {}
    for split in SPLITS:
        pixels = {n: split_pixels[split].get(n, 0) for n in list(CLASSES) + ['ignore']}
        splits_summary[split] = {
            'scenes': len(split_scenes[split]), 'patches': split_patches[split],
            'augmented': augmented if split == 'train' else 0,
            'class_pixels': pixels, 'class_shares': _shares(pixels),
        }
    summary = {
        'version': SUMMARY_VERSION,
        'src': str(src), 'out': str(out),
        'params': {
            'patch_size': patch_size, 'stride': stride, 'split_mode': split_mode, 'ratios': list(ratios),
            'seed': seed, 'augment': num_augment > 0, 'num_augment': num_augment,
            'background_threshold': background_threshold, 'edge': edge, 'mask_format': mask_format,
            'pixel_origin': pixel_origin, 'line_width': line_width, 'point_radius': point_radius,
            'max_pixels': max_pixels, 'label_map': label_map.as_dict(), 'gsd_cm': gsd_cm,
            'color_table': None if table is None else {'#%02X%02X%02X' % c: v for c, v in sorted(table.colors.items())},
        },
        'classes': list(CLASSES), 'ignore_index': IGNORE_INDEX,
        'splits': splits_summary,
        'gsd': dataset_gsd({sid: info['gsd_cm'] for sid, info in scene_info.items()},
                           {sid: info.get('split', 'train') for sid, info in scene_info.items()}),
        'num_scenes': len(scene_info),
        'scenes': [scene_info[k] for k in sorted(scene_info)],
        'skipped_patches': {'background': sum(s['dropped_background'] for s in scene_info.values())},
        'qa_totals': _qa_totals(scene_info.values()),
        'skipped_files': skipped_files,
        'unpaired_images': unpaired_left,
        'failures': failures,
        'removed_stale_files': removed,
    }
    if chart:
        from vnseg.data.chart import write_class_distribution
        write_class_distribution(out / 'class_distribution.png',
                                 {s: splits_summary[s]['class_shares'] for s in SPLITS if splits_summary[s]['patches']},
                                 title=f'Class pixel shares per split ({split_mode} split, {patch_size}px patches)')
    write_class_weights(out, summary)
    write_json(out / 'summary.json', summary)
    return summary
