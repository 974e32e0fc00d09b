"""The one way vnseg loads a model to predict or teach: config + checkpoint, strictly.

Every place that turns a checkpoint into predictions goes through here or through what it is built
on (:mod:`vnseg.openmmlab.checkpoints`: reading files, loading weights strictly; :mod:`vnseg.openmmlab.dataset_meta`:
class names and palette): ``tools/test.py``, whole-scene inference, ``mmseg.apis.init_model`` and
``MMSegInferencer`` (patched by :mod:`vnseg.mmseg_ext`), the analysis tools and the distillation
teacher. Checkpoints follow the rules of :mod:`vnseg.openmmlab.checkpoints` (strict fit, readable errors, no
pickled code); and a model gets random weights only when asked for by name (``random_weights=True``,
``--random-weights``).

The checkpoint names are re-exported here (``vnseg.apis.model_loading.read_checkpoint`` is
:func:`vnseg.openmmlab.checkpoints.read_checkpoint`). Errors subclass :class:`vnseg.core.errors.DataError`
(message ``'<file>: <problem>'``), so the tools report them as one line (:mod:`vnseg.commands.cli`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from vnseg.openmmlab.checkpoints import (CheckpointError, ConfigError, PathLike, UnsafeCheckpointError,
                               WeightsMismatchError, _config_name, check_checkpoint_file,
                               checkpoint_state_dict, compare_state_dict, load_config, load_weights,
                               read_checkpoint)
from vnseg.core.errors import DataError, DeviceError, UserError

__all__ = ['CheckpointError', 'UnsafeCheckpointError', 'WeightsMismatchError', 'ConfigError',
           'MissingWeightsError', 'load_config', 'read_checkpoint', 'checkpoint_state_dict',
           'compare_state_dict', 'check_checkpoint_file', 'load_weights', 'resolve_device',
           'load_model', 'inference_config']


class MissingWeightsError(DataError):
    """A model to predict with, but no checkpoint and no explicit request for random weights."""


# ----------------------------------------------------------------------------------------------
# devices and models
# ----------------------------------------------------------------------------------------------
def resolve_device(device: Optional[str] = None) -> str:
    """``device``, checked; None -> ``'cuda:0'`` when CUDA is available, else ``'cpu'``.

    Raises :class:`vnseg.core.errors.DeviceError` (subject: the device as given) for an unknown device or a
    CUDA device on a machine without one.
    """
    import torch

    if device is None:
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(device, 'is not a torch device', use='cpu, cuda or cuda:N') from None
    if parsed.type == 'cuda':
        if not torch.cuda.is_available():
            raise DeviceError(device, 'asked for, but this machine has no usable CUDA GPU', use='cpu')
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise DeviceError(device, f'asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s)')
    return str(device)


def inference_config(config, cfg_options: Optional[dict] = None):
    """A copy of ``config`` (path or ``Config``) ready to build an inference model.

    Overrides are merged; pretrained-weight references are dropped (the checkpoint defines the
    model: no downloads); a ``test_pipeline`` is taken from the test dataloader when the config has
    none.
    """
    import copy

    from vnseg.openmmlab.pretrained import disable_pretrained
    if isinstance(config, (str, os.PathLike)):
        cfg = load_config(config, cfg_options)
    else:
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    disable_pretrained(cfg.model)
    if cfg.get('test_pipeline') is None and cfg.get('test_dataloader') is not None:
        cfg.test_pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    return cfg


def load_model(model_or_config, checkpoint: Optional[PathLike] = None, device: Optional[str] = None,
               cfg_options: Optional[dict] = None, random_weights: bool = False):
    """A segmentor in eval mode, its weights loaded strictly from ``checkpoint``.

    Args:
        model_or_config: a config path / ``mmengine.Config`` (the model is built with
            ``mmseg.apis.init_model``), or an already built segmentor (``checkpoint``, if given,
            is loaded into it).
        checkpoint: weights file. Required for a config unless ``random_weights``.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``; default: the model's device, else
            ``cuda:0`` when available, else ``cpu`` (:func:`resolve_device`).
        cfg_options: overrides merged into the config.
        random_weights: build an untrained model on purpose (no checkpoint).

    ``model.dataset_meta`` holds ``classes`` and ``palette``: the checkpoint's, else the config
    dataset's, else vnseg's classes. SyncBN is reverted to BN on CPU.

    Raises:
        ConfigError, CheckpointError, UnsafeCheckpointError, WeightsMismatchError,
        MissingWeightsError, vnseg.core.errors.DeviceError, vnseg.core.errors.UserError (a checkpoint and
        ``random_weights`` both).
    """
    import torch
    from mmengine.model import revert_sync_batchnorm

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from vnseg.openmmlab.dataset_meta import fallback_meta, resolve_dataset_meta

    from .meta import init_model
    if random_weights and checkpoint is not None:
        raise UserError(checkpoint, 'a checkpoint given with random_weights=True (an untrained model): give one or '
                                    'the other')
    if isinstance(model_or_config, torch.nn.Module):
        model = model_or_config
        if checkpoint is not None:
            load_weights(model, checkpoint)
        if device is not None:
            model.to(resolve_device(device))
    else:
        config = str(model_or_config) if isinstance(model_or_config, Path) else model_or_config
        cfg = inference_config(config, cfg_options)
        if checkpoint is None and not random_weights:
            raise MissingWeightsError(
                _config_name(config) or 'config',
                'no checkpoint given: the model would predict with random weights. Give the '
                'trained checkpoint (.pth), or ask for an untrained model on purpose with '
                '--random-weights (random_weights=True)')
        if checkpoint is not None:
            checkpoint = os.fspath(checkpoint)
            ckpt = read_checkpoint(checkpoint)  # clear errors before building
        device = resolve_device(device)
        model = init_model(cfg, None, device=device)
        if checkpoint is not None:
            loaded = load_weights(model, ckpt, config=cfg,
                                  checkpoint_name=checkpoint)
            meta = resolve_dataset_meta(loaded.get('meta') or {}, cfg)
            if meta is not None:
                model.dataset_meta = meta
    if not (getattr(model, 'dataset_meta', None) or {}).get('classes'):
        model.dataset_meta = fallback_meta(model)
    if next(model.parameters()).device.type == 'cpu':
        model = revert_sync_batchnorm(model)
    model.eval()
    return model
