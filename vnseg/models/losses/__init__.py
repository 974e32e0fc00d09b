"""Losses registered into mmseg's MODELS registry."""
from .pixel_kd_loss import PixelKDLoss

__all__ = ['PixelKDLoss']
