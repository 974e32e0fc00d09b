"""Mixed precision on CPU: mmengine's ``OptimWrapper`` with ``torch.autocast('cpu')`` in its context.

mmengine 0.10.7's ``AmpOptimWrapper`` refuses to build without CUDA/NPU/MLU/MUSA (and its gradient
scaler is ``torch.cuda.amp.GradScaler``). bfloat16 needs no loss scaling (the exponent range of
float32), so the CPU path is the plain ``OptimWrapper`` whose :meth:`optim_context` -- the context
mmengine's ``BaseModel.train_step`` runs the data preprocessor, forward and loss in -- also enters
``torch.autocast('cpu', dtype=torch.bfloat16)``. The parameters are never cast: autocast casts the
inputs of the ops on its lower-precision list (convolutions, matmuls, linear layers) per call, so the
master weights, their gradients and the optimizer state stay float32, and backward and the optimizer
step run outside the context as in fp32 training.

Config::

    optim_wrapper = dict(type='CpuAmpOptimWrapper', dtype='bfloat16', optimizer=dict(type='AdamW', lr=1e-3))

Whether it is faster depends on the CPU: bfloat16 matmuls are fast only with hardware support
(``avx512_bf16``, ``amx_bf16`` in ``lscpu``); ``benchmarks/train_step.py`` measures it.
"""
from contextlib import contextmanager
from typing import Union

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

#: the dtypes CPU autocast runs in (torch >= 2.1 also accepts float16 on CPU; slow without AMX-FP16)
CPU_AUTOCAST_DTYPES = ('bfloat16', 'float16')


@OPTIM_WRAPPERS.register_module()
class CpuAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward context is ``torch.autocast('cpu', dtype)``; fp32 master weights.

    Args:
        dtype: ``'bfloat16'`` (default) or ``'float16'``, or the ``torch.dtype``.
        enabled: False turns autocast off (then exactly ``OptimWrapper``).
        **kwargs: ``OptimWrapper``'s arguments (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', enabled: bool = True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(dtype, torch.dtype):
            dtype = str(dtype).replace('torch.', '')
        if dtype not in CPU_AUTOCAST_DTYPES:
            raise ValueError(f'CpuAmpOptimWrapper: dtype must be one of {CPU_AUTOCAST_DTYPES}, got {dtype!r}')
        self.cast_dtype = getattr(torch, dtype)
        self.enabled = bool(enabled)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        """mmengine's context (gradient accumulation's ``no_sync``) plus CPU autocast."""
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype, enabled=self.enabled):
            yield
