"""Models, heads and losses registered into mmseg's MODELS registry."""
from .unet_head import UNetHead  # noqa: F401

__all__ = []
