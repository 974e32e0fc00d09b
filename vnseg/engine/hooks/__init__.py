from .atomic_checkpoint_hook import AtomicCheckpointHook
from .channels_last_hook import ChannelsLastHook
from .compile_model_hook import CompileModelHook
from .gsd_meta_hook import GsdMetaHook
from .class_weights_hook import ClassWeightsHook

__all__ = ['AtomicCheckpointHook', 'ChannelsLastHook', 'CompileModelHook', 'GsdMetaHook', 'ClassWeightsHook']
