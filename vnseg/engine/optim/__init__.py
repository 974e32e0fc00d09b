"""Optimizer wrappers registered into mmengine's ``OPTIM_WRAPPERS`` (``CpuAmpOptimWrapper``)."""
from .cpu_amp_optim_wrapper import CpuAmpOptimWrapper

__all__ = ['CpuAmpOptimWrapper']
