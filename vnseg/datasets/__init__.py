"""Datasets registered into mmseg's DATASETS registry."""
from .vn_drone import VNDroneDataset
from .openearthmap import OpenEarthMapDataset  # noqa: F401

__all__ = ['VNDroneDataset']
