"""Datasets registered into mmseg's DATASETS registry."""
from .vn_drone import VNDroneDataset

__all__ = ['VNDroneDataset']
