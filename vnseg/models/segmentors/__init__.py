"""Segmentors registered into mmseg's MODELS registry."""
from .cached_distill_segmentor import CachedDistillSegmentor
from .distill_segmentor import DistillSegmentor

__all__ = ['CachedDistillSegmentor', 'DistillSegmentor']
