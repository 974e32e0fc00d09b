"""A teacher-label cache folder: what it was made by and for, and where each image's soft labels are.

    OUT/manifest.json                          what the cache is (below)
    OUT/train/<scene file name>.tif            soft labels of each train scene of the prepared dataset
    OUT/unlabelled/<k>-<folder>/<name>.tif     soft labels of each image of the k-th unlabelled folder

(the ``.tif`` files: :mod:`vnseg.distill.soft_label_raster`). ``manifest.json`` records

* ``teachers``: per checkpoint of the (ensemble) teacher, its config and checkpoint paths and their
  sha256; ``inference``: tile, overlap, blend, flip TTA, how the teachers are combined;
* ``images``: the data fingerprint, one entry per input image (``group`` train/unlabelled, file
  ``name``, ``bytes``, ``sha256``, and the cache ``file`` it gets), and ``fingerprint``, the sha256
  of that list;
* ``done``: the images whose soft labels are complete (their ``.tif`` is written before they are
  listed), ``failed``: the images that could not be read, with the reason.

The identity of a cache is everything but ``done`` and ``failed`` (:meth:`TeacherCache.identity`).
A run into an existing cache continues it only when the identity is the same; a cache made by
another teacher, with other settings or for other data is refused (:class:`CacheMismatch`), never
reused. Training looks an image up by the sha256 of its file (:meth:`TeacherCache.lookup`), so soft
labels computed for another image are never used either.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Dict, Optional

from vnseg.core.atomic import write_json
from vnseg.core.errors import DataError

__all__ = ['FORMAT', 'MANIFEST', 'CacheMismatch', 'TeacherCache', 'file_sha256', 'data_fingerprint',
           'cache_file_name', 'use_teacher_cache']

#: Config components that name a cache folder (``cache_dir``).
CACHE_USERS = ('LoadTeacherProbs', 'TeacherCacheImages')

FORMAT = 1
MANIFEST = 'manifest.json'
KIND = 'vnseg teacher soft labels'


class CacheMismatch(DataError):
    """An existing cache was made by another teacher, with other settings, or for other data."""


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read ``chunk`` bytes at a time."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def data_fingerprint(images: Dict[str, dict]) -> str:
    """sha256 of the images' (key, group, name, bytes, sha256), in key order."""
    rows = [[k, v['group'], v['name'], v['bytes'], v['sha256']] for k, v in sorted(images.items())]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def cache_file_name(group: str, name: str, source_index: int = 0, source_name: str = '') -> str:
    """Relative path of an image's soft labels in the cache (see the module docstring)."""
    if group == 'train':
        return f'train/{name}.tif'
    folder = re.sub(r'[^A-Za-z0-9_.-]+', '_', source_name).strip('_') or 'images'
    return f'unlabelled/{source_index}-{folder}/{name}.tif'


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _differences(old: dict, new: dict) -> list:
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _describe(old: dict, new: dict, keys: list) -> str:
    """``'inference.tta_flip: True -> False, ...'``: the differing values (one level into dicts)."""
    shown = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            shown += [f'{k}.{sub}: {a.get(sub)!r} -> {b.get(sub)!r}' for sub in _differences(a, b)]
        else:
            shown.append(f'{k}: {a!r} -> {b!r}')
    return ', '.join(shown[:4])


class TeacherCache:
    """The manifest of a cache folder, in memory; :meth:`save` writes it atomically.

    Args:
        folder: the cache folder (``--out-dir`` of ``vnseg teacher-labels``).
        manifest: its content (``format``, ``kind``, ``teachers``, ``inference``, ``num_classes``,
            ``classes``, ``sources``, ``images``, ``fingerprint``, ``done``, ``failed``).
    """

    IDENTITY = ('format', 'kind', 'teachers', 'inference', 'num_classes', 'classes', 'sources', 'images',
                'fingerprint')

    def __init__(self, folder, manifest: dict):
        self.folder = Path(folder)
        self.manifest = json.loads(json.dumps(manifest))  # JSON-normalised
        self.manifest.setdefault('done', [])
        self.manifest.setdefault('failed', {})
        self._by_sha = None

    # -- making one ---------------------------------------------------------------------------------
    @classmethod
    def new(cls, folder, teachers: list, inference: dict, num_classes: int, classes: list, sources: list,
            images: Dict[str, dict]) -> 'TeacherCache':
        """A cache description for a run (nothing is written)."""
        return cls(folder, dict(format=FORMAT, kind=KIND, teachers=teachers, inference=inference,
                                num_classes=None if num_classes is None else int(num_classes),
                                classes=list(classes), sources=sources, images=images,
                                fingerprint=data_fingerprint(images)))

    def identity(self) -> dict:
        return {k: self.manifest.get(k) for k in self.IDENTITY}

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def check_against_disk(self, keys=IDENTITY):
        """The cache already in the folder (None when there is none), after checking that its
        ``keys`` of the identity equal this one's.

        Raises :class:`CacheMismatch` (naming the manifest and what differs) when that cache was
        made by another teacher, with other settings, or for other data.
        """
        if not self.manifest_path.is_file():
            return None
        old = TeacherCache.read(self.folder)
        diff = [k for k in _differences(old.identity(), self.identity()) if k in keys]
        if diff:
            if 'teachers' in diff:
                why = ('was made by another teacher: ' + ', '.join(
                    f"{t['checkpoint']} (sha256 {t['checkpoint_sha256'][:12]})" for t in old.manifest['teachers'])
                    + '; this run: ' + ', '.join(
                    f"{t['checkpoint']} (sha256 {t['checkpoint_sha256'][:12]})" for t in self.manifest['teachers']))
            elif set(diff) & {'images', 'fingerprint', 'sources'}:
                why = (f"was made for other data (fingerprint {old.manifest.get('fingerprint', '')[:12]}, "
                       f"these images: {self.manifest['fingerprint'][:12]})")
            else:
                why = f'was made with other settings ({_describe(old.manifest, self.manifest, diff)})'
            raise CacheMismatch(self.manifest_path, f'this cache {why}; it is not reused: choose another '
                                '--out-dir (or delete this one)')
        return old

    def continue_from_disk(self) -> int:
        """Adopt the finished images of the cache already in the folder, if any; returns how many.

        Raises :class:`CacheMismatch` as :meth:`check_against_disk` does. Images listed as done
        whose file is gone are computed again.
        """
        old = self.check_against_disk()
        if old is None:
            return 0
        done = [k for k in old.manifest['done'] if (self.folder / self.manifest['images'][k]['file']).is_file()]
        self.manifest['done'] = done
        return len(done)

    def remove_stale_partials(self) -> int:
        """Delete the hidden half-written files (``.NAME.partial-PID.EXT``, :func:`vnseg.core.atomic.partial_path`)
        that a killed run left in the cache, those of processes no longer running; returns how many."""
        n = 0
        for path in self.folder.rglob('.*.partial-*'):
            match = re.search(r'\.partial-(\d+)', path.name)
            if match and not _running(int(match.group(1))):
                path.unlink(missing_ok=True)
                n += 1
        return n

    def save(self) -> Path:
        return write_json(self.manifest_path, self.manifest)

    def mark_done(self, key: str) -> None:
        if key not in self.manifest['done']:
            self.manifest['done'].append(key)
        self.manifest['failed'].pop(key, None)
        self.save()

    def mark_failed(self, key: str, reason: str) -> None:
        self.manifest['failed'][key] = reason
        self.save()

    # -- using one ----------------------------------------------------------------------------------
    @classmethod
    def read(cls, folder) -> 'TeacherCache':
        """The cache in ``folder``; :class:`vnseg.core.errors.DataError` naming the file when there is
        none or it is not a teacher-label manifest of this format."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise DataError(path, 'no teacher-label cache here (make one with `vnseg teacher-labels`)')
        try:
            manifest = json.loads(path.read_text())
        except (UnicodeDecodeError, ValueError) as err:
            raise DataError(path, f'not a teacher-label manifest (invalid JSON: {err})') from None
        if not isinstance(manifest, dict) or manifest.get('kind') != KIND:
            raise DataError(path, 'not a teacher-label manifest (no "kind": "vnseg teacher soft labels")')
        if manifest.get('format') != FORMAT:
            raise DataError(path, f"teacher-label cache format {manifest.get('format')!r}, this vnseg reads {FORMAT}")
        return cls(folder, manifest)

    def done_keys(self, group: Optional[str] = None) -> list:
        """Keys of the finished images (of ``group`` 'train' / 'unlabelled' only, if given), sorted."""
        images = self.manifest['images']
        return sorted(k for k in self.manifest['done'] if group is None or images[k]['group'] == group)

    def path_of(self, key: str) -> Path:
        return self.folder / self.manifest['images'][key]['file']

    def lookup(self, image_path, sha256: Optional[str] = None) -> Path:
        """The soft-label file of the image file ``image_path`` (matched by the sha256 of its bytes).

        Raises :class:`CacheMismatch` naming the image when the cache holds no finished soft labels
        for these bytes (another image, an edited one, or one the teacher run has not reached).
        """
        if self._by_sha is None:
            images = self.manifest['images']
            self._by_sha = {images[k]['sha256']: k for k in self.manifest['done']}
        sha = sha256 or file_sha256(image_path)
        key = self._by_sha.get(sha)
        if key is None:
            raise CacheMismatch(image_path, f'the teacher-label cache {self.folder} holds no soft labels for this '
                                'image (made for other data, or not finished: run `vnseg teacher-labels` on it)')
        return self.path_of(key)


def use_teacher_cache(cfg, cache_dir) -> int:
    """Point every component of a config that reads a teacher-label cache (``LoadTeacherProbs``,
    ``TeacherCacheImages``: :data:`CACHE_USERS`) and its ``teacher_cache`` variable at ``cache_dir``;
    returns how many components were changed. (``--cfg-options teacher_cache=DIR`` alone changes the
    variable, not the copies the pipelines were given when the config was parsed.)"""
    from vnseg.core.config_tree import walk_config
    n = 0
    for mapping, key, value in walk_config(cfg):
        if key == 'type' and value in CACHE_USERS:
            mapping['cache_dir'] = str(cache_dir)
            n += 1
    if 'teacher_cache' in cfg:
        cfg['teacher_cache'] = str(cache_dir)
    return n
