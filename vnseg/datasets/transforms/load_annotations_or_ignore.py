"""``LoadAnnotationsOrIgnore``: mmseg's ``LoadAnnotations``, and an all-ignore mask for an unlabelled image."""
import numpy as np
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from vnseg.core.classes import IGNORE_INDEX


@TRANSFORMS.register_module()
class LoadAnnotationsOrIgnore(LoadAnnotations):
    """Load ``seg_map_path`` as mmseg's ``LoadAnnotations`` does; when a sample has no mask
    (``seg_map_path`` is None: an unlabelled image, :class:`vnseg.datasets.TeacherCacheImages`),
    ``gt_seg_map`` is ``uint8 (H, W)`` filled with ``ignore_index`` (255) of the loaded image's size, so
    that the supervised losses see no labelled pixel and the rest of the pipeline runs unchanged.

    Required keys: ``img`` (for the size of an unlabelled sample), ``seg_map_path``, ``seg_fields``.
    Added: ``gt_seg_map``, appended to ``seg_fields``.
    """

    def __init__(self, ignore_index=IGNORE_INDEX, **kwargs):
        super().__init__(**kwargs)
        self.ignore_index = int(ignore_index)

    def _load_seg_map(self, results: dict) -> None:
        if results.get('seg_map_path') is not None:
            return super()._load_seg_map(results)
        h, w = results['img'].shape[:2]
        results['gt_seg_map'] = np.full((h, w), self.ignore_index, np.uint8)
        results.setdefault('seg_fields', []).append('gt_seg_map')
