"""Datasets registered into mmseg's DATASETS registry."""
from .vn_drone import VNDroneDataset
from .openearthmap import OpenEarthMapDataset  # noqa: F401
from .transforms import class_aware_crop, random_rescale  # noqa: F401  (recipe transforms)

__all__ = ['VNDroneDataset']
