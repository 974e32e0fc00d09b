"""Cached teacher soft labels: run a (ensemble) teacher over whole scenes once, keep its probabilities.

    from vnseg.apis.teacher_labels import cache_teacher_labels
    report = cache_teacher_labels([('configs/t.py', 'work_dirs/t/best.pth')], 'data/vn_drone',
                                  ['flights/'], 'data/vn_drone/teacher_cache')   # windows: TEACHER_WINDOWS

Every train scene of a prepared dataset (``DATA/scenes/img``, ids in ``DATA/scenes/train.txt``) and
every image of each unlabelled folder goes through vnseg's whole-scene inference
(:class:`vnseg.inference.sliding.TiledSegmenter`: sliding windows, Gaussian blending of the logits, flip
TTA); with several checkpoints the teachers' softmax probabilities are averaged (an ensemble). The
windows of all teachers run strip by strip in step, so memory is one strip of scores per teacher
(``float32 C x tile x width``), whatever the image height; the probabilities go to disk as 8-bit
per class (:mod:`vnseg.distill.soft_label_raster`) and the cache is described by its manifest
(:mod:`vnseg.distill.teacher_cache`: teachers and their sha256, TTA, data fingerprint).

Resumable: an image whose soft labels are listed as done is skipped when the same command runs
again; a killed run recomputes only the image it was on, which gives the same bytes. An image that
cannot be read is reported (``on_error``) and recorded as failed, and the others go on.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from vnseg.core.classes import CLASSES
from vnseg.core.errors import DataError
from vnseg.core.errors import ImageReadError
from vnseg.data.io import IMAGE_SUFFIXES
from vnseg.distill.soft_label_raster import SoftLabelWriter, quantise
from vnseg.distill.teacher_cache import TeacherCache, cache_file_name, file_sha256
from vnseg.geo.raster_io import SourceImage
from vnseg.inference.sliding import TiledSegmenter, WindowOptions, default_overlap

__all__ = ['cache_teacher_labels', 'CacheReport', 'list_inputs', 'teacher_identity', 'strip_probabilities',
           'softmax', 'TEACHER_WINDOWS']

#: The windows of teacher labels: 512 px with 128 px overlap, 4 per forward pass, flip TTA.
TEACHER_WINDOWS = WindowOptions(tile=512, overlap=128, batch_size=4, tta_flip=True)


@dataclass
class CacheReport:
    """What :func:`cache_teacher_labels` did: image keys written, skipped (already done), failed."""
    cache: TeacherCache
    written: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)


def softmax(scores: np.ndarray) -> np.ndarray:
    """``float32 (C, ...)`` softmax over the first axis of logits ``(C, ...)``."""
    e = np.exp(scores - scores.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def teacher_identity(config, checkpoint) -> dict:
    """A teacher as the manifest names it: config and checkpoint paths and the sha256 of each file."""
    for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
        if not Path(path).is_file():
            raise DataError(path, f'teacher {what} not found')
    return dict(config=str(config), config_sha256=file_sha256(config), checkpoint=str(checkpoint),
                checkpoint_sha256=file_sha256(checkpoint))


def _images_of(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def list_inputs(data_root, unlabelled: Sequence = ()) -> Tuple[list, dict, dict]:
    """The images to cache: ``(sources, images, paths)``.

    ``sources``: one dict per input (the dataset's train split, each unlabelled folder);
    ``images``: ``{key: dict(group, name, bytes, sha256, file, source, rel)}`` (the data fingerprint;
    ``source`` = index in ``sources``, ``rel`` = the image's path relative to that source's path);
    ``paths``: ``{key: image path}``. Raises :class:`DataError` naming a missing split list, scene
    image or folder.
    """
    sources, images, paths = [], {}, {}

    def add(key, path, group, file, rel):
        paths[key] = path
        images[key] = dict(group=group, name=path.name, bytes=path.stat().st_size, sha256=file_sha256(path),
                           file=file, source=len(sources) - 1, rel=rel)

    if data_root is not None:
        root = Path(data_root)
        split = root / 'scenes' / 'train.txt'
        if not split.is_file():
            raise DataError(split, 'no train split list: DATA must be a dataset written by `vnseg prepare` '
                            '(DATA/scenes/img + DATA/scenes/train.txt)')
        ids = [line.strip() for line in split.read_text().splitlines() if line.strip()]
        sources.append(dict(kind='train', path=str(root.resolve()), images=len(ids)))
        for sid in ids:
            found = sorted((root / 'scenes' / 'img').glob(f'{sid}.*'))
            if not found:
                raise DataError(root / 'scenes' / 'img' / f'{sid}.png', f'train scene {sid!r} of {split} not found')
            add(f'train/{found[0].name}', found[0], 'train', cache_file_name('train', found[0].name),
                f'scenes/img/{found[0].name}')
    for k, folder in enumerate(map(Path, unlabelled)):
        if not folder.is_dir():
            raise DataError(folder, 'unlabelled image folder not found')
        found = _images_of(folder)
        sources.append(dict(kind='unlabelled', path=str(folder.resolve()), images=len(found)))
        for path in found:
            file = cache_file_name('unlabelled', path.name, k, folder.resolve().name)
            add(file[:-len('.tif')], path, 'unlabelled', file, path.name)
    return sources, images, paths


def strip_probabilities(segmenters: Sequence[TiledSegmenter], source, progress: bool = False):
    """``(row0, q)`` for every strip of ``source``: ``q`` = ``uint8 (C, rows, width)`` quantised mean of
    the segmenters' softmax probabilities, 0 in every band where no window predicted (nodata)."""
    streams = [seg.iter_scores(source, progress=progress and i == 0) for i, seg in enumerate(segmenters)]
    C = segmenters[0].num_classes
    for parts in zip(*streams):
        _, row0, c0, scores, keep = parts[0]
        q = np.zeros((C, keep.shape[0], source.width), np.uint8)
        if scores is not None:
            mean = softmax(scores)
            for _, r, c, other, _ in parts[1:]:  # same grid and validity: same rows and columns
                assert (r, c, other.shape) == (row0, c0, scores.shape)
                mean += softmax(other)
            mean /= len(parts)
            q[:, :, c0:c0 + scores.shape[2]] = quantise(mean) * keep[None]
        yield row0, q


def cache_teacher_labels(teachers: Sequence[Tuple[str, str]], data_root, unlabelled: Sequence, out_dir,
                         windows: WindowOptions = TEACHER_WINDOWS, *, device: Optional[str] = None,
                         progress: bool = True, on_error: Optional[Callable[[Path, Exception], None]] = None,
                         tile_models: Optional[list] = None) -> CacheReport:
    """Write (or continue) the teacher-label cache ``out_dir``; see the module docstring.

    Args:
        teachers: ``(config, checkpoint)`` pairs; several = an ensemble (mean of probabilities).
        data_root: a prepared dataset (its train scenes are cached), or None.
        unlabelled: folders of unlabelled images or mosaics (their files with an image suffix).
        out_dir: the cache folder.
        windows: whole-scene inference's windows (tile, overlap, blend and flip TTA are recorded;
            ``match_gsd`` is not applied).
        device: torch device of the teachers (default: CUDA when available).
        on_error: called with ``(image path, exception)`` for an image that cannot be read (the run
            goes on); None: the exception propagates.
        tile_models: the teachers already built as tile models (tests), one per ``teachers`` pair.

    Raises:
        :class:`vnseg.distill.teacher_cache.CacheMismatch` when ``out_dir`` holds a cache of another
        teacher, settings or data; :class:`DataError` for a missing dataset, folder, config or
        checkpoint (before any work).
    """
    if not teachers:
        raise ValueError('at least one teacher (config, checkpoint) is needed')
    identities = [teacher_identity(c, k) for c, k in teachers]
    sources, images, paths = list_inputs(data_root, unlabelled)
    if not images:
        raise DataError(out_dir, 'nothing to cache: no train scenes and no unlabelled images')
    w = windows if windows.overlap is not None else replace(windows, overlap=default_overlap(windows.tile))
    inference = dict(tile=w.tile, overlap=w.overlap, blend=w.blend, tta_flip=bool(w.tta_flip),
                     ensemble='mean of the teachers\' softmax probabilities',
                     encoding='uint8 round(255 p) per class, band c + 1 = class c; 0 in every band = no prediction')
    # another teacher's, other settings' or other data's cache: refused before any model is built
    TeacherCache.new(out_dir, identities, inference, None, [], sources, images).check_against_disk(
        ('teachers', 'inference', 'sources', 'images', 'fingerprint'))
    if tile_models is None:
        from .scene_model import build_tile_model
        tile_models = [build_tile_model(c, k, device=device, tile=w.tile) for c, k in teachers]
    classes = {int(m.num_classes) for m in tile_models}
    if len(classes) != 1 or min(classes) < 2:
        raise DataError(teachers[0][0], f'the teachers must predict the same number (>= 2) of classes, got '
                        f'{[int(m.num_classes) for m in tile_models]}')
    num_classes = classes.pop()
    names = list(getattr(tile_models[0], 'classes', None)
                 or (CLASSES if num_classes == len(CLASSES) else [f'class_{i}' for i in range(num_classes)]))
    cache = TeacherCache.new(out_dir, identities, inference, num_classes, names, sources, images)
    cache.continue_from_disk()
    cache.remove_stale_partials()  # what a killed run was writing
    segmenters = [TiledSegmenter.of(m, w) for m in tile_models]
    report = CacheReport(cache)
    done = set(cache.manifest['done'])
    for key in sorted(images):
        if key in done:
            report.skipped.append(key)
            continue
        try:
            _cache_one(cache, key, paths[key], segmenters, num_classes, identities, progress)
        except (ImageReadError, DataError) as err:
            if on_error is None:
                raise
            cache.mark_failed(key, str(err))
            report.failed.append((key, str(err)))
            on_error(paths[key], err)
            continue
        cache.mark_done(key)
        report.written.append(key)
    if not cache.manifest_path.is_file():
        cache.save()
    return report


def _cache_one(cache: TeacherCache, key: str, image: Path, segmenters, num_classes: int, identities: list,
               progress: bool) -> None:
    entry = cache.manifest['images'][key]
    tags = dict(SOURCE_IMAGE=entry['name'], SOURCE_SHA256=entry['sha256'],
                TEACHERS=[t['checkpoint_sha256'] for t in identities], TTA_FLIP=str(segmenters[0].tta_flip))
    with SourceImage(image) as source:
        writer = SoftLabelWriter(cache.folder / entry['file'], num_classes, source.width, source.height,
                                 source.crs, source.transform, tags)
        with writer:
            for row0, q in strip_probabilities(segmenters, source, progress):
                writer.write_rows(row0, q)
            writer.close()
