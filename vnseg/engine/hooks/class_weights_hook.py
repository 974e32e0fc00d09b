"""The recipe's cross-entropy class weights, read from the training data when training starts."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import HOOKS
from torch import nn

from vnseg.data.class_weights import (CLASS_WEIGHTS_FILE, DEFAULT_HEAD, class_weights_path, read_class_weights,
                                      train_data_root)
from vnseg.core.errors import DataError


@HOOKS.register_module()
class ClassWeightsHook(Hook):
    """Weight the cross-entropy of a head per class by the train data's ``class_weights.json``.

    At ``before_train`` it reads ``<train_dataloader.dataset.data_root>/<file>`` (a JSON list of
    ``num_classes`` positive numbers, :func:`vnseg.data.class_weights.read_class_weights`) and sets it
    as the ``class_weight`` of every mmseg ``CrossEntropyLoss`` of ``model.<head>.loss_decode``: the
    loss is then exactly mmseg's weighted CE, as if ``class_weight=[...]`` were in the config (with
    ``vnseg.openmmlab.compat`` fix 7 for ignored pixels). The run says which weights it trained with: one log
    line with the file and the numbers, and every checkpoint's ``meta['class_weights']``
    (``{'file', 'head', 'weights'}``).

    Why a hook, not a value in the model config: the weights belong to the training data, not to
    the model. A hook is built only by a training Runner and runs only when training starts, where
    the train data root is known, so every other consumer of the config (``MMSegInferencer``,
    ``init_model``, ``tools/test.py``, ONNX export, parameter counts, a distillation teacher) builds
    the model without the data and without stripping anything. A cross-entropy subclass that reads a
    file lazily would not know the data root (``--cfg-options train_dataloader.dataset.data_root=...``
    changes it after the model config is written) and would fail in the middle of the first
    iteration instead of before it.

    Args:
        file (str): the weights file, relative to the train data root (or absolute).
        head (str): the segmentor attribute whose ``loss_decode`` is weighted.

    Raises (at ``before_train``) :class:`vnseg.core.errors.DataError` naming the file when it is
    missing or malformed, or naming the config when the head has no cross-entropy, already has class
    weights from the config, or there is no train data root.
    """

    priority = 'NORMAL'

    def __init__(self, file: str = CLASS_WEIGHTS_FILE, head: str = DEFAULT_HEAD):
        self.file = file
        self.head = head
        self.path = None
        self.weights = None

    def before_train(self, runner) -> None:
        config = getattr(runner.cfg, 'filename', None) or 'config'
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, self.head, None)
        losses = getattr(head, 'loss_decode', None)
        if losses is None:
            raise DataError(config, f'ClassWeightsHook: the model has no {self.head} with loss_decode')
        losses = list(losses) if isinstance(losses, nn.ModuleList) else [losses]
        ce_losses = [loss for loss in losses if isinstance(loss, CrossEntropyLoss)]
        if not ce_losses:
            raise DataError(config, f'ClassWeightsHook: {self.head} has no CrossEntropyLoss to weight')
        for loss in ce_losses:
            if loss.class_weight is not None and not getattr(loss, '_vnseg_class_weights_file', None):
                raise DataError(config, f'ClassWeightsHook: the CrossEntropyLoss of {self.head} has '
                                        f'class_weight={loss.class_weight!r} in the config too; give one '
                                        'or the other')
        data_root = train_data_root(runner.cfg)
        if not data_root:
            raise DataError(config, 'ClassWeightsHook reads its file from train_dataloader.dataset.data_root, '
                                    'which is not set')
        path = class_weights_path(data_root, self.file)
        weights = read_class_weights(path, head.num_classes)
        for loss in ce_losses:
            loss.class_weight = list(weights)  # what mmseg's CrossEntropyLoss keeps from a list in a config
            loss._vnseg_class_weights_file = str(path)
        self.path, self.weights = path, weights
        runner.logger.info(f'ClassWeightsHook: cross-entropy class weights of {self.head} from {path}: '
                           f'{weights}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.weights is not None:
            checkpoint.setdefault('meta', {})['class_weights'] = dict(
                file=str(self.path), head=self.head, weights=list(self.weights))
