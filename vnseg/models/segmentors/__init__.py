"""Segmentors registered into mmseg's MODELS registry."""
from .distill_segmentor import DistillSegmentor

__all__ = ['DistillSegmentor']
