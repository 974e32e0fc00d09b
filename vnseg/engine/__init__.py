"""Training-loop components registered into mmseg's and mmengine's registries (hooks, optimizer
wrappers), and vnseg's CPU speed-ups of training (:mod:`vnseg.engine.cpu_speedups`).

Layer 2, the mmseg plug-in: imports only layers 0-1 (the layers: :mod:`vnseg`).
"""
from .hooks import AtomicCheckpointHook, ChannelsLastHook, ClassWeightsHook, CompileModelHook, GsdMetaHook
from .optim import CpuAmpOptimWrapper

__all__ = ['AtomicCheckpointHook', 'ChannelsLastHook', 'CompileModelHook', 'GsdMetaHook', 'ClassWeightsHook',
           'CpuAmpOptimWrapper']
