"""Online multi-scale augmentation relative to each image's own resolution."""
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomRescale(BaseTransform):
    """Resize the image and its masks by one random factor drawn from ``ratio_range``.

    mmcv's ``RandomResize`` draws a target size around a fixed ``scale`` (e.g. 2048x512), which maps
    every image to about the same size whatever its ground resolution. Aerial scenes of different
    sizes share roughly one ground sampling distance, so here the factor is relative to the image's
    own size: a factor ``f`` turns a GSD of ``g`` metres/pixel into ``g / f``.

    Required keys: ``img``; optional ``gt_seg_map`` and the other ``seg_fields``.
    Modified keys: ``img``, ``img_shape``, ``scale``, ``scale_factor`` and the ``seg_fields``
    (nearest-neighbour, so class indices and the ignore value stay exact), except those also listed
    in ``soft_seg_fields`` (soft labels, e.g. cached teacher probabilities ``(H, W, C)``): bilinear.

    Args:
        ratio_range: (min, max) of the uniform factor, e.g. ``(0.5, 2.0)``.
        interpolation: image interpolation for :func:`mmcv.imresize` (default ``'bilinear'``).
    """

    def __init__(self, ratio_range=(0.5, 2.0), interpolation='bilinear'):
        low, high = (float(v) for v in ratio_range)
        if not 0 < low <= high:
            raise ValueError(f'ratio_range must be 0 < min <= max, got {ratio_range}')
        self.ratio_range = (low, high)
        self.interpolation = interpolation

    @cache_randomness
    def _sample_ratio(self):
        return float(np.random.uniform(*self.ratio_range))

    def transform(self, results):
        ratio = self._sample_ratio()
        h, w = results['img'].shape[:2]
        new_w, new_h = max(1, int(round(w * ratio))), max(1, int(round(h * ratio)))
        results['img'] = mmcv.imresize(results['img'], (new_w, new_h), interpolation=self.interpolation)
        soft = set(results.get('soft_seg_fields', []))
        for key in results.get('seg_fields', []):
            results[key] = mmcv.imresize(results[key], (new_w, new_h),
                                         interpolation='bilinear' if key in soft else 'nearest')
        results['img_shape'] = (new_h, new_w)
        results['scale'] = (new_w, new_h)
        results['scale_factor'] = (new_w / w, new_h / h)
        results['keep_ratio'] = True
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(ratio_range={self.ratio_range}, interpolation={self.interpolation!r})'
