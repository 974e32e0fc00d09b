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

The options are three small objects whose fields are the ``vnseg prepare`` flags of the same names:
:class:`PatchOptions` (``--patch-size``, ``--stride``, ``--edge``, ``--background-threshold`` /
``--keep-background``, ``--num-augment``), :class:`SplitOptions` (``--split-mode``, ``--ratios``,
``--seed``) and :class:`SceneOptions` (``--labels``, ``--color-table``, ``--mask-format``,
``--pixel-origin``, ``--line-width``, ``--point-radius``, ``--max-pixels``, ``--gsd-cm``).
"""
from __future__ import annotations

import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from vnseg.core.atomic import atomic_write_text, write_json
from vnseg.core.classes import CLASSES, IGNORE_INDEX, NUM_CLASSES
from vnseg.core.errors import DataError
from vnseg.data.augment import augment_variants
from vnseg.data.class_weights import write_class_weights
from vnseg.data.color_mask import ColorTable
from vnseg.data.gsd import dataset_gsd, raster_gsd_cm, valid_gsd_cm
from vnseg.data.io import DEFAULT_MAX_PIXELS, write_mask_png, write_rgb_png
from vnseg.data.label_map import LabelMap, LabelMapError
from vnseg.data.labelme import NotAnAnnotationError, class_pixel_counts
from vnseg.data.labelme.schema import DEFAULT_LINE_WIDTH, DEFAULT_POINT_RADIUS
from vnseg.data.patches import Window, crop, crop_pair, keep_patch, patch_windows
from vnseg.data.scenes import discover_scenes, load_scene
from vnseg.data.split import DEFAULT_RATIOS, SPLITS, split_by_patch, split_by_scene

__all__ = ['prepare_dataset', 'PatchOptions', 'SplitOptions', 'SceneOptions', 'PrepareError']

SUMMARY_VERSION = 1
MARKER = '.vnseg-prepare'
SPLIT_MODES = ('scene', 'patch')


@dataclass(frozen=True)
class PatchOptions:
    """How scenes are cut into patches: the ``vnseg prepare`` flags of the same names.

    A new option is a field here named like its flag (``--patch-size`` -> ``patch_size``), the flag in
    :mod:`vnseg.commands.prepare` (its parser fills the field by name) and its use in this module.

    Attributes:
        patch_size: patch side in pixels.
        stride: window step in pixels (None: ``patch_size``, no overlap).
        edge: border handling, ``'shift'``, ``'pad'`` or ``'drop'`` (see :mod:`vnseg.data.patches`).
        background_threshold: drop patches whose background+ignore share is >= this (1.0: drop only
            all-background patches; None: keep all, ``--keep-background``).
        num_augment: augmented copies per train patch (0-7, 0: none), each with a different
            flip/rotation (default 1: originals + one augmented copy each, as in the study).
    """
    patch_size: int = 512
    stride: Optional[int] = None
    edge: str = 'shift'
    background_threshold: Optional[float] = 1.0
    num_augment: int = 1


@dataclass(frozen=True)
class SplitOptions:
    """How patches are shared out among train / val / test: the ``vnseg prepare`` flags of the same names.

    A new option is a field here named like its flag (``--split-mode`` -> ``split_mode``), the flag in
    :mod:`vnseg.commands.prepare` (its parser fills the field by name) and its use in this module.

    Attributes:
        split_mode: ``'scene'`` (no scene in two splits) or ``'patch'`` (the study's).
        ratios: train/val/test proportions.
        seed: seed of the split and of the augmentation.
    """
    split_mode: str = 'scene'
    ratios: Tuple[float, ...] = DEFAULT_RATIOS
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, 'ratios', tuple(self.ratios))


@dataclass(frozen=True)
class SceneOptions:
    """How each scene is read: the ``vnseg prepare`` flags of the same names.

    A new option is a field here named like its flag (``--gsd-cm`` -> ``gsd_cm``), the flag in
    :mod:`vnseg.commands.prepare` (its parser fills the field by name) and its use in this module.

    Attributes:
        labels: JSON labels -> classes (None: vnseg's names; dict; ``.json``/``.txt`` path).
        color_table: colours -> classes for colour masks (None: vnseg palette; preset name such as
            ``'dubai'``; dict; JSON path).
        mask_format: ``'auto'``, ``'index'`` or ``'color'`` (see :func:`vnseg.data.color_mask.mask_from_array`).
        pixel_origin, line_width, point_radius: JSON rasterisation (see :mod:`vnseg.data.labelme`).
        max_pixels: refuse images above this many pixels.
        gsd_cm: ground resolution (cm/px) of the scenes whose image has no georeferencing (None:
            unknown); georeferenced scenes use their own.
    """
    labels: object = None
    color_table: object = None
    mask_format: str = 'auto'
    pixel_origin: str = 'corner'
    line_width: float = DEFAULT_LINE_WIDTH
    point_radius: float = DEFAULT_POINT_RADIUS
    max_pixels: int = DEFAULT_MAX_PIXELS
    gsd_cm: Optional[float] = None


class PrepareError(RuntimeError):
    """Invalid arguments or output folder (raised before any scene is processed)."""

    #: a user's mistake: tools report it as one line (:mod:`vnseg.commands.cli`)
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


def prepare_dataset(src, out, patches: PatchOptions = PatchOptions(), split: SplitOptions = SplitOptions(),
                    scenes: SceneOptions = SceneOptions(), *, strict: bool = False, progress: bool = True,
                    chart: bool = True) -> dict:
    """Build ``OUT`` from the scenes in ``SRC`` (see the module docstring for the layout).

    Args:
        src: source folder (JSON scenes and/or image + mask pairs, searched recursively).
        out: output folder (created; must not hold another tool's img_dir/ann_dir).
        patches: patch size, stride, border handling, background filter, augmentation.
        split: split mode, proportions and seed.
        scenes: how each scene is read (labels, colour table, mask format, JSON rasterisation, size
            limit, ground resolution).
        strict: raise the first bad input instead of recording it and continuing.
        progress: tqdm bars.
        chart: write ``class_distribution.png``.

    Returns:
        The summary dict (also written to ``OUT/summary.json``); ``summary['failures']`` lists the
        bad inputs as ``{'file', 'error'}``.

    Raises:
        PrepareError: invalid arguments or output folder.
        DataError: with ``strict=True``, the first bad input.
    """
    src, out = Path(src), Path(out)
    patches, label_map, table = _checked_options(src, patches, split, scenes)
    _check_out(out, src)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / MARKER, 'vnseg prepare_dataset output\n')
    written = _Written()
    found = _convert_scenes(src, out, patches, scenes, label_map, table, written, strict=strict, progress=progress)
    patch_split = _split(found, split)
    counts = _cut_patches(out, found, patch_split, patches.patch_size, written, progress)
    augmented = _augment(out, counts.train_patches, patches.num_augment, split.seed, written, progress)
    if split.split_mode == 'scene':  # OUT/scenes/<split>.txt: whole-scene datasets (ann_file) per split
        for name in SPLITS:
            ids = sorted(sid for sid, info in found.info.items() if info.get('split') == name)
            written.add(atomic_write_text(out / 'scenes' / f'{name}.txt', ''.join(f'{sid}\n' for sid in ids)))
    for name in SPLITS:  # mmseg expects every split folder, even an empty one
        (out / 'img_dir' / name).mkdir(parents=True, exist_ok=True)
        (out / 'ann_dir' / name).mkdir(parents=True, exist_ok=True)
    removed = _prune(out, written.paths)
    splits_summary = {name: counts.summary(name, augmented) for name in SPLITS}
    summary = {
        'version': SUMMARY_VERSION,
        'src': str(src), 'out': str(out),
        'params': _params_summary(patches, split, scenes, label_map, table),
        'classes': list(CLASSES), 'ignore_index': IGNORE_INDEX,
        'splits': splits_summary,
        'gsd': dataset_gsd({sid: info['gsd_cm'] for sid, info in found.info.items()},
                           {sid: info.get('split', 'train') for sid, info in found.info.items()}),
        'num_scenes': len(found.info),
        'scenes': [found.info[k] for k in sorted(found.info)],
        'skipped_patches': {'background': sum(s['dropped_background'] for s in found.info.values())},
        'qa_totals': _qa_totals(found.info.values()),
        'skipped_files': found.skipped_files,
        'unpaired_images': sorted(str(p.relative_to(src.resolve())) for p in found.unpaired
                                  if p.resolve() not in found.used_images),
        'failures': found.failures,
        'removed_stale_files': removed,
    }
    if chart:
        from vnseg.data.chart import write_class_distribution
        write_class_distribution(out / 'class_distribution.png',
                                 {s: splits_summary[s]['class_shares'] for s in SPLITS if splits_summary[s]['patches']},
                                 title=f'Class pixel shares per split ({split.split_mode} split, '
                                       f'{patches.patch_size}px patches)')
    write_class_weights(out, summary)
    write_json(out / 'summary.json', summary)
    return summary


def _checked_options(src: Path, patches: PatchOptions, split: SplitOptions, scenes: SceneOptions) -> tuple:
    """``(patches with the stride filled in, label map, colour table or None)``; :class:`PrepareError`
    for an invalid option or source folder, before any work."""
    if split.split_mode not in SPLIT_MODES:
        raise PrepareError(f'split_mode must be one of {SPLIT_MODES}, got {split.split_mode!r}')
    if not src.is_dir():
        raise PrepareError(f'{src}: source folder not found')
    stride = patches.stride or patches.patch_size
    if patches.patch_size <= 0 or stride <= 0:
        raise PrepareError(f'patch_size and stride must be positive, got {patches.patch_size}, {stride}')
    if scenes.gsd_cm is not None and valid_gsd_cm(scenes.gsd_cm) is None:
        raise PrepareError(f'--gsd-cm: must be a number > 0 (cm per pixel), got {scenes.gsd_cm}')
    try:
        label_map = LabelMap.from_spec(scenes.labels)
        table = None if scenes.color_table is None else ColorTable.from_spec(scenes.color_table)
    except (LabelMapError, OSError) as e:
        raise PrepareError(str(e)) from e
    bad = sorted(v for v in label_map.values() | (set(table.colors.values()) if table else set())
                 if v >= NUM_CLASSES and v != IGNORE_INDEX)
    if bad:
        raise PrepareError(f'label map / colour table produce class indices {bad}, '
                           f'outside 0..{NUM_CLASSES - 1} and {IGNORE_INDEX}')
    return replace(patches, stride=stride), label_map, table


def _params_summary(patches: PatchOptions, split: SplitOptions, scenes: SceneOptions, label_map: LabelMap,
                    table: Optional[ColorTable]) -> dict:
    """``summary['params']``: the options of the run (the label map and colour table as resolved)."""
    return {
        'patch_size': patches.patch_size, 'stride': patches.stride, 'split_mode': split.split_mode,
        'ratios': list(split.ratios), 'seed': split.seed, 'augment': patches.num_augment > 0,
        'num_augment': patches.num_augment, 'background_threshold': patches.background_threshold,
        'edge': patches.edge, 'mask_format': scenes.mask_format, 'pixel_origin': scenes.pixel_origin,
        'line_width': scenes.line_width, 'point_radius': scenes.point_radius, 'max_pixels': scenes.max_pixels,
        'label_map': label_map.as_dict(), 'gsd_cm': scenes.gsd_cm,
        'color_table': None if table is None else {'#%02X%02X%02X' % c: v for c, v in sorted(table.colors.items())},
    }


class _Written:
    """The files this run wrote (everything else under img_dir, ann_dir and scenes is stale)."""

    def __init__(self):
        self.paths = set()

    def add(self, path) -> Path:
        self.paths.add(Path(path).resolve())
        return path


@dataclass
class _FoundScenes:
    """Stage 1's result: per-scene summary entries and kept patch windows, and what was skipped."""
    info: Dict[str, dict] = field(default_factory=dict)
    windows: Dict[str, list] = field(default_factory=dict)
    failures: List[dict] = field(default_factory=list)
    skipped_files: List[dict] = field(default_factory=list)
    used_images: set = field(default_factory=set)
    unpaired: list = field(default_factory=list)


def _convert_scenes(src: Path, out: Path, patches: PatchOptions, scenes: SceneOptions, label_map: LabelMap,
                    table: Optional[ColorTable], written: _Written, *, strict: bool, progress: bool) -> _FoundScenes:
    """Stage 1: convert every scene (one at a time) to ``OUT/scenes`` and list its patch windows,
    dropping mostly-background ones; a bad scene is recorded (``strict``: raised)."""
    sources, unpaired = discover_scenes(src, exclude=out)
    found = _FoundScenes(unpaired=unpaired)
    for scene in _tqdm(sources, '1/3 scenes', progress):
        try:
            loaded = load_scene(scene, src, label_map=label_map, color_table=table, mask_format=scenes.mask_format,
                                pixel_origin=scenes.pixel_origin, line_width=scenes.line_width,
                                point_radius=scenes.point_radius, max_pixels=scenes.max_pixels)
            h, w = loaded.mask.shape
            windows = patch_windows(h, w, patches.patch_size, patches.stride, patches.edge, path=scene.source)
        except NotAnAnnotationError as e:
            found.skipped_files.append({'file': str(scene.source), 'reason': e.problem})
            continue
        except DataError as e:
            if strict:
                raise
            found.failures.append({'file': str(e.path or scene.source), 'error': str(e)})
            continue
        except Exception as e:  # a batch must survive one bad file; strict re-raises
            if strict:
                raise
            found.failures.append({'file': str(scene.source), 'error': f'{scene.source}: {type(e).__name__}: {e}'})
            continue
        if loaded.image_path is not None:
            found.used_images.add(Path(loaded.image_path).resolve())
        gsd, gsd_from = _scene_gsd(loaded.image_path, scenes.gsd_cm)
        for note in loaded.warnings:
            warnings.warn(note)
        kept = [(win.y, win.x) for win in windows
                if keep_patch(crop(loaded.mask, win, IGNORE_INDEX), patches.background_threshold)]
        found.windows[scene.scene_id] = kept
        written.add(write_rgb_png(out / 'scenes' / 'img' / f'{scene.scene_id}.png', loaded.image))
        written.add(write_mask_png(out / 'scenes' / 'ann' / f'{scene.scene_id}.png', loaded.mask))
        found.info[scene.scene_id] = {
            'id': scene.scene_id, 'source': str(scene.source.relative_to(src.resolve())),
            'mask': None if scene.mask_path is None else str(scene.mask_path.relative_to(src.resolve())),
            'size': [h, w], 'windows': len(windows), 'patches': len(kept),
            'dropped_background': len(windows) - len(kept), 'warnings': loaded.warnings, 'qa': loaded.qa,
            'class_pixels': class_pixel_counts(loaded.mask), 'gsd_cm': gsd, 'gsd_source': gsd_from,
        }
        del loaded
    return found


def _split(found: _FoundScenes, split: SplitOptions) -> dict:
    """Stage 2: ``{(scene id, y, x): split name}`` of every kept window (by scene: each scene's
    summary entry gets its ``split`` too)."""
    if split.split_mode == 'scene':
        scene_split = split_by_scene(found.info, split.ratios, split.seed)
        for sid, name in scene_split.items():
            found.info[sid]['split'] = name
        return {(sid, y, x): scene_split[sid] for sid, wins in found.windows.items() for y, x in wins}
    return split_by_patch([(sid, y, x) for sid, wins in found.windows.items() for y, x in wins],
                          split.ratios, split.seed)


@dataclass
class _PatchCounts:
    """Stage 3's counts per split, and the train patches (augmented next)."""
    pixels: Dict[str, Dict[str, int]] = field(default_factory=lambda: {s: defaultdict(int) for s in SPLITS})
    patches: Dict[str, int] = field(default_factory=lambda: {s: 0 for s in SPLITS})
    scenes: Dict[str, set] = field(default_factory=lambda: {s: set() for s in SPLITS})
    train_patches: List[str] = field(default_factory=list)

    def summary(self, name: str, augmented: int) -> dict:
        """``summary['splits'][name]``."""
        pixels = {n: self.pixels[name].get(n, 0) for n in list(CLASSES) + ['ignore']}
        return {'scenes': len(self.scenes[name]), 'patches': self.patches[name],
                'augmented': augmented if name == 'train' else 0,
                'class_pixels': pixels, 'class_shares': _shares(pixels)}


def _cut_patches(out: Path, found: _FoundScenes, patch_split: dict, patch_size: int, written: _Written,
                 progress: bool) -> _PatchCounts:
    """Stage 3: cut the kept windows of every scene into ``OUT/img_dir`` / ``OUT/ann_dir`` patches."""
    counts = _PatchCounts()
    for sid in _tqdm(sorted(found.windows), '2/3 patches', progress):
        wins = found.windows[sid]
        if not wins:
            continue
        image = np.asarray(Image.open(out / 'scenes' / 'img' / f'{sid}.png').convert('RGB'))
        mask = np.asarray(Image.open(out / 'scenes' / 'ann' / f'{sid}.png'))
        per_split = defaultdict(int)
        for y, x in wins:
            name = patch_split[(sid, y, x)]
            img_p, msk_p = crop_pair(image, mask, Window(y, x, patch_size))
            stem = _patch_stem(sid, y, x)
            written.add(write_rgb_png(out / 'img_dir' / name / f'{stem}.png', img_p))
            written.add(write_mask_png(out / 'ann_dir' / name / f'{stem}.png', msk_p))
            for cls, count in class_pixel_counts(msk_p).items():
                counts.pixels[name][cls] += count
            counts.patches[name] += 1
            counts.scenes[name].add(sid)
            per_split[name] += 1
            if name == 'train':
                counts.train_patches.append(stem)
        found.info[sid]['patches_per_split'] = dict(sorted(per_split.items()))
        del image, mask
    return counts


def _augment(out: Path, train_patches: List[str], num_augment: int, seed: int, written: _Written,
             progress: bool) -> int:
    """Stage 4: ``num_augment`` augmented copies of every train patch; returns how many were written."""
    augmented = 0
    if num_augment <= 0:
        return augmented
    for stem in _tqdm(train_patches, '3/3 augment', progress):
        img_p = np.asarray(Image.open(out / 'img_dir' / 'train' / f'{stem}.png').convert('RGB'))
        msk_p = np.asarray(Image.open(out / 'ann_dir' / 'train' / f'{stem}.png'))
        for suffix, img_a, msk_a, _ in augment_variants(img_p, msk_p, num_augment, seed, stem):
            written.add(write_rgb_png(out / 'img_dir' / 'train' / f'{stem}_{suffix}.png', img_a))
            written.add(write_mask_png(out / 'ann_dir' / 'train' / f'{stem}_{suffix}.png', msk_a))
            augmented += 1
    return augmented
