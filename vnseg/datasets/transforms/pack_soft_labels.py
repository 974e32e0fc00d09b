"""``PackSegInputsWithSoftLabels``: mmseg's ``PackSegInputs`` that also packs cached soft labels."""
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackSegInputsWithSoftLabels(PackSegInputs):
    """Pack as mmseg's ``PackSegInputs`` does, plus ``results[key]`` (the teacher's probabilities
    ``uint8 (H, W, C)``, 255 = probability 1, aligned with ``img``) as ``data_sample.gt_soft_seg`` =
    ``PixelData(data=uint8 tensor (C, H, W))`` (kept 8-bit: the segmentor converts).

    Args:
        key: the results key of the soft labels (default ``'gt_soft_seg'``, what
            :class:`vnseg.datasets.transforms.load_teacher_probs.LoadTeacherProbs` adds).
        **kwargs: ``PackSegInputs``'s (``meta_keys``).
    """

    def __init__(self, key='gt_soft_seg', **kwargs):
        super().__init__(**kwargs)
        self.key = key

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        soft = results[self.key]
        if soft.shape[:2] != results['img'].shape[:2]:
            raise ValueError(f"{results.get('img_path')}: soft labels {soft.shape[:2]} and image "
                             f"{results['img'].shape[:2]} differ in size after the pipeline")
        data = torch.from_numpy(np.ascontiguousarray(soft.transpose(2, 0, 1)))
        packed['data_samples'].set_data(dict(gt_soft_seg=PixelData(data=data)))
        return packed

    def __repr__(self):
        return f'{self.__class__.__name__}(key={self.key!r}, meta_keys={self.meta_keys})'
