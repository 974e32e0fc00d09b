"""Training-loop components registered into mmseg's registries (hooks)."""
from .hooks import AtomicCheckpointHook

__all__ = ['AtomicCheckpointHook']
