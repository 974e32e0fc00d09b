"""A hook that compiles the model's forward with ``torch.compile`` (not mmengine's whole ``train_step``)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class CompileModelHook(Hook):
    """When training starts, ``model.compile(**kwargs)`` (``nn.Module.compile``: the module's ``__call__``
    through ``torch.compile``, in place): the forward with its losses is compiled; the backward runs
    through AOTAutograd's compiled graphs; the optimizer step stays eager.

    mmengine's own ``compile`` option compiles the whole ``train_step``, the optimizer step included, which
    TorchDynamo fails to trace with torch 2.13 (``InternalTorchDynamoError`` in ``AdamW.step``, over
    mmengine's parameter groups; ``benchmarks/train_step.py --variants compile``). The state dict keeps its
    keys (no ``_orig_mod.`` prefix), so checkpoints are unchanged. Runs after ``ChannelsLastHook``. Added by
    :func:`vnseg.engine.cpu_speedups.apply_cpu_speedups` for ``cpu_speedups.compile='model'``.

    Args:
        **kwargs: ``torch.compile``'s arguments (``backend``, ``mode``, ``dynamic``, ...).
    """

    priority = 'LOW'

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self._done = False

    def before_train(self, runner) -> None:
        if self._done:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.compile(**self.kwargs)
        self._done = True
