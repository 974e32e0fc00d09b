"""``LoadTeacherProbs``: a scene's cached teacher probabilities, as a seg field aligned with its image."""
import os

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from vnseg.distill.soft_label_raster import read_soft_labels
from vnseg.distill.teacher_cache import CacheMismatch, TeacherCache, file_sha256


@TRANSFORMS.register_module()
class LoadTeacherProbs(BaseTransform):
    """Load the soft labels that ``vnseg teacher-labels`` cached for ``results['img_path']``.

    The image is found in the cache by the sha256 of its file (computed once per file and process),
    so soft labels made for another image are never used: an image the cache does not hold, or whose
    soft labels differ in size from the loaded image, is a
    :class:`vnseg.distill.teacher_cache.CacheMismatch` naming the image.

    Added keys: ``key`` (default ``gt_soft_seg``) = ``uint8 (H, W, C)`` probabilities x 255 (0 in
    every class where the teacher had no input), appended to ``seg_fields`` (so ``RandomCrop``,
    vnseg's ``RandomRescale`` and ``RandomFlipSegFields`` transform it with the image) and to
    ``soft_seg_fields`` (so ``RandomRescale`` resizes it bilinearly, not nearest).

    The whole scene's soft labels are read, as the recipe reads the whole image (``C x H x W`` bytes).

    Args:
        cache_dir: the cache folder (``--out-dir`` of ``vnseg teacher-labels``).
        key: results key of the soft labels.
    """

    def __init__(self, cache_dir, key='gt_soft_seg'):
        self.cache_dir = str(cache_dir)
        self.key = key
        self._cache = None
        self._sha = {}

    @property
    def cache(self) -> TeacherCache:
        if self._cache is None:  # read on first use: building a config needs no cache
            self._cache = TeacherCache.read(self.cache_dir)
        return self._cache

    def _sha256(self, path) -> str:
        st = os.stat(path)
        ident = (str(path), st.st_size, st.st_mtime_ns)
        if ident not in self._sha:
            self._sha[ident] = file_sha256(path)
        return self._sha[ident]

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        soft = read_soft_labels(self.cache.lookup(path, self._sha256(path)))
        h, w = results['img'].shape[:2]
        if soft.shape[1:] != (h, w) or soft.shape[0] != self.cache.manifest['num_classes']:
            raise CacheMismatch(path, f'its cached soft labels are {soft.shape} (C, H, W), the image is {h} x {w}')
        results[self.key] = np.ascontiguousarray(soft.transpose(1, 2, 0))
        for field in ('seg_fields', 'soft_seg_fields'):
            results.setdefault(field, []).append(self.key)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(cache_dir={self.cache_dir!r}, key={self.key!r})'
