from .atomic_checkpoint_hook import AtomicCheckpointHook
from .gsd_meta_hook import GsdMetaHook
from .class_weights_hook import ClassWeightsHook

__all__ = ['AtomicCheckpointHook', 'GsdMetaHook', 'ClassWeightsHook']
