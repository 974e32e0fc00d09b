"""The Vietnamese drone dataset in the layout that ``tools/prepare_dataset.py`` writes."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from vnseg.core.classes import CLASSES, PALETTE


@DATASETS.register_module()
class VNDroneDataset(BaseSegDataset):
    """5-class drone patches: ``img_dir/<split>/*.png`` with ``ann_dir/<split>/*.png``.

    Masks are single-channel PNGs of class indices (0 background, 1 road, 2 water, 3 tree,
    4 building) with 255 for ignored pixels; class 0 is a real class, so ``reduce_zero_label``
    is off.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False, **kwargs):
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label, **kwargs)
