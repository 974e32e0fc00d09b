"""Random crops that favour rare classes (water, trees in aerial scenes)."""
import numpy as np
from mmcv.transforms.utils import cache_randomness
from mmseg.datasets.transforms import RandomCrop
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ClassAwareRandomCrop(RandomCrop):
    """mmseg's ``RandomCrop`` that, with probability ``prob``, centres the crop on a rare class.

    With probability ``prob``, one of the ``rare_classes`` present in ``gt_seg_map`` is drawn
    uniformly, then one of its pixels uniformly, and the crop window is placed so that this pixel
    falls at a uniformly random position inside it (clipped to the image). Otherwise -- or when no
    rare class is present -- the crop is mmseg's ``RandomCrop`` (``cat_max_ratio`` included).
    A whole scene thus yields crops of its water/tree areas far more often than their pixel share,
    without duplicating files on disk.

    Args:
        crop_size: (h, w) or int, pixels.
        cat_max_ratio: as in ``RandomCrop`` (used by the uniform crops only).
        rare_classes: class indices to favour (default: 2 water, 3 tree).
        prob: probability of a class-centred crop, in [0, 1].
        ignore_index: ignored label value.
    """

    def __init__(self, crop_size, cat_max_ratio=1.0, rare_classes=(2, 3), prob=0.5, ignore_index=255):
        super().__init__(crop_size=crop_size, cat_max_ratio=cat_max_ratio, ignore_index=ignore_index)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.rare_classes = tuple(int(c) for c in rare_classes)
        self.prob = float(prob)

    def _window_around(self, shape, y, x):
        """(y1, y2, x1, x2) of a crop that contains pixel (y, x) at a random offset."""
        crop_h, crop_w = self.crop_size
        top = y - np.random.randint(0, crop_h)
        left = x - np.random.randint(0, crop_w)
        top = int(np.clip(top, 0, max(shape[0] - crop_h, 0)))
        left = int(np.clip(left, 0, max(shape[1] - crop_w, 0)))
        return top, top + crop_h, left, left + crop_w

    @cache_randomness
    def crop_bbox(self, results):
        seg = results.get('gt_seg_map')
        if seg is not None and self.rare_classes and np.random.rand() < self.prob:
            present = [c for c in self.rare_classes if (seg == c).any()]
            if present:
                ys, xs = np.nonzero(seg == present[np.random.randint(len(present))])
                i = np.random.randint(len(ys))
                return self._window_around(seg.shape, int(ys[i]), int(xs[i]))
        return super().crop_bbox(results)

    def __repr__(self):
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, cat_max_ratio={self.cat_max_ratio}, '
                f'rare_classes={self.rare_classes}, prob={self.prob})')
