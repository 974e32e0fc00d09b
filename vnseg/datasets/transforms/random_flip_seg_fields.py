"""``RandomFlipSegFields``: mmcv's ``RandomFlip`` that flips every seg field, not only ``gt_seg_map``."""
import mmcv
from mmcv.transforms import RandomFlip
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomFlipSegFields(RandomFlip):
    """mmcv's ``RandomFlip`` (same ``prob`` / ``direction``: horizontal, vertical, diagonal) that also
    flips the other arrays listed in ``seg_fields`` (e.g. the cached teacher probabilities
    ``gt_soft_seg``, ``(H, W, C)``) the same way as the image.

    mmcv 2.1's ``RandomFlip`` flips ``img`` and ``gt_seg_map`` only: any other seg field would keep
    its orientation and end up mirrored against the image. ``swap_seg_labels`` applies to
    ``gt_seg_map`` only (the other fields are not class maps).

    Modified keys: ``img``, ``gt_seg_map``, every key of ``seg_fields``; added ``flip``,
    ``flip_direction``.
    """

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        for key in results.get('seg_fields', []):
            if key != 'gt_seg_map':
                results[key] = mmcv.imflip(results[key], direction=results['flip_direction'])
