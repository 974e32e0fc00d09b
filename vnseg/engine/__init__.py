"""Training-loop components registered into mmseg's registries (hooks)."""
from .hooks import AtomicCheckpointHook, ClassWeightsHook, GsdMetaHook

__all__ = ['AtomicCheckpointHook', 'GsdMetaHook', 'ClassWeightsHook']
