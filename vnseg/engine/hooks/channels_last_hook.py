"""A hook that trains a model in the ``channels_last`` (NHWC) memory format on CPU."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


def to_channels_last(data: dict) -> dict:
    """``data['inputs']`` (the preprocessed N x C x H x W batch) in ``channels_last``; in place."""
    inputs = data.get('inputs') if isinstance(data, dict) else None
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
        data['inputs'] = inputs.contiguous(memory_format=torch.channels_last)
    return data


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """When training starts (after weight init and resume), the model's 4-d parameters and buffers
    become ``channels_last``, and so does the data preprocessor's output batch (a forward hook): oneDNN's
    convolutions then run NHWC.

    The parameters stay the same ``Parameter`` objects (``module.to(memory_format=...)`` replaces
    their data), so an optimizer built before keeps them; values, dtypes and checkpoints (state dicts
    load into either format) are unchanged. Added by :func:`vnseg.engine.cpu_speedups.apply_cpu_speedups`.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._handle = None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.to(memory_format=torch.channels_last)
        preprocessor = getattr(model, 'data_preprocessor', None)
        if preprocessor is not None and self._handle is None:
            self._handle = preprocessor.register_forward_hook(lambda _m, _args, out: to_channels_last(out))
