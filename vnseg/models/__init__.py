"""Models, heads and losses registered into mmseg's MODELS registry."""

__all__ = []
