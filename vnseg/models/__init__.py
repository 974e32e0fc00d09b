"""Models, heads and losses registered into mmseg's MODELS registry.

Layer 2, the mmseg plug-in: imports only layers 0-1 (the layers: :mod:`vnseg`).
"""
from .fused_segformer_head import FusedSegformerHead  # noqa: F401
from .unet_head import UNetHead  # noqa: F401
from . import losses, segmentors  # noqa: F401  (PixelKDLoss, DistillSegmentor)

__all__ = []
