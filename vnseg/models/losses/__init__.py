"""Losses registered into mmseg's MODELS registry."""
from .class_dice_loss import ClassDiceLoss
from .pixel_kd_loss import PixelKDLoss

__all__ = ['ClassDiceLoss', 'PixelKDLoss']
