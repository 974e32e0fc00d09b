"""Datasets registered into mmseg's DATASETS registry.

Layer 2, the mmseg plug-in: imports only layers 0-1 (the layers: :mod:`vnseg`).
"""
from .vn_drone import VNDroneDataset
from .openearthmap import OpenEarthMapDataset  # noqa: F401
from .teacher_cache_images import TeacherCacheImages  # noqa: F401
from .transforms import cached_load_image, class_aware_crop, random_rescale  # noqa: F401  (recipe transforms)
from .transforms import (load_annotations_or_ignore, load_teacher_probs, pack_soft_labels,  # noqa: F401
                         random_flip_seg_fields)  # (training from cached teacher soft labels)

__all__ = ['VNDroneDataset']
