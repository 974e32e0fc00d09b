"""The one way vnseg loads a model to predict or teach: config + checkpoint, strictly.

Every place that turns a checkpoint into predictions goes through here: ``tools/test.py``,
whole-scene inference, ``mmseg.apis.init_model`` and ``MMSegInferencer`` (through
:mod:`vnseg.compat`), the analysis tools and the distillation teacher. The rules:

* a checkpoint must fit the model exactly: a missing, unexpected or mis-shaped key is a
  :class:`WeightsMismatchError` that names the checkpoint, the config and the first offending
  keys (mmengine only logs a warning and leaves those weights random);
* a checkpoint file that is missing, empty, a text file, truncated, or holds pickled objects other
  than weights is a :class:`CheckpointError` (:class:`UnsafeCheckpointError`) with a sentence a
  user understands;
* random weights only when asked for by name (``random_weights=True``, ``--random-weights``).

Errors subclass :class:`vnseg.data.io.DataError` (message ``'<file>: <problem>'``), so the tools
report them as one line (:mod:`vnseg.cli`).
"""
from __future__ import annotations

import errno
import os
import pickle
import zipfile
from pathlib import Path
from typing import Mapping, Optional, Union

from vnseg.data.io import DataError

__all__ = ['CheckpointError', 'UnsafeCheckpointError', 'WeightsMismatchError', 'ConfigError',
           'MissingWeightsError', 'load_config', 'read_checkpoint', 'checkpoint_state_dict',
           'compare_state_dict', 'check_checkpoint_file', 'load_weights', 'resolve_device',
           'load_model', 'inference_config']

#: How many offending keys of each kind an error message shows.
SHOWN_KEYS = 3

PathLike = Union[str, os.PathLike]


class CheckpointError(DataError):
    """A checkpoint file that cannot be used (missing, not a checkpoint, corrupt)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that holds pickled Python objects other than weights (could run code)."""


class WeightsMismatchError(CheckpointError):
    """A checkpoint whose weights do not fit the model the config builds."""


class ConfigError(DataError):
    """A config file that is missing or cannot be loaded."""


class MissingWeightsError(DataError):
    """A model to predict with, but no checkpoint and no explicit request for random weights."""


# ----------------------------------------------------------------------------------------------
# configs
# ----------------------------------------------------------------------------------------------
def load_config(path: PathLike, cfg_options: Optional[dict] = None):
    """``mmengine.Config`` of the file ``path`` with ``cfg_options`` merged.

    Raises :class:`ConfigError` naming the file when it is missing, a folder, or cannot be parsed
    or resolved (syntax error, a ``_base_`` that does not exist, ...).
    """
    from mmengine.config import Config

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(path, 'config file not found')
    if os.path.isdir(path):
        raise ConfigError(path, 'is a folder, expected a config file (.py)')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as exc:
        raise ConfigError(path, f'is not a valid config: {exc.msg} (line {exc.lineno})') from None
    except Exception as exc:  # (mmengine raises many types while resolving a config)
        raise ConfigError(path, f'cannot be loaded: {_one_line(exc)}') from None
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _one_line(exc: BaseException) -> str:
    text = ' '.join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + '...'


def _config_name(config) -> Optional[str]:
    """The file name a config came from (path, ``Config`` with ``filename``), else None."""
    if config is None:
        return None
    if isinstance(config, (str, os.PathLike)):
        return os.fspath(config)
    name = getattr(config, 'filename', None)
    return str(name) if name else None


# ----------------------------------------------------------------------------------------------
# reading checkpoint files
# ----------------------------------------------------------------------------------------------
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = 0x80  # every pickle protocol >= 2 starts with PROTO; torch's legacy format too


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`CheckpointError` unless ``path`` is a non-empty file in a PyTorch format
    (zip or pickle); nothing is unpickled."""
    if not os.path.exists(path):
        raise CheckpointError(path, 'checkpoint file not found')
    if os.path.isdir(path):
        raise CheckpointError(path, 'is a folder, expected a checkpoint file (.pth)')
    try:
        with open(path, 'rb') as f:
            head = f.read(64)
    except OSError as exc:
        raise CheckpointError(path, f'cannot be read: {exc.strerror}') from None
    if not head:
        raise CheckpointError(path, 'is empty (0 bytes), not a checkpoint')
    if head.startswith(_ZIP_MAGIC) or head[0] == _PICKLE_PROTO:
        return
    text = head.decode('utf-8', 'replace')
    if '\ufffd' not in text[:-3] and all(c.isprintable() or c in '\t\r\n' for c in text[:-3]):
        raise CheckpointError(path, 'is a text file, not a PyTorch checkpoint (.pth)')
    raise CheckpointError(path, 'is not a PyTorch checkpoint (.pth): unknown file format')


def read_checkpoint(path: PathLike, map_location='cpu') -> dict:
    """The dict a checkpoint file holds, read with ``torch.load(weights_only=True)``.

    Only tensors, plain Python values and the few classes mmengine checkpoints need
    (:func:`vnseg.compat.allow_mmengine_checkpoint_globals`) are unpickled. Addresses with a
    scheme (``https://``, ``s3://``, ...) are handed to mmengine's loaders.

    Raises:
        CheckpointError: missing, a folder, empty, not a checkpoint, truncated or corrupt.
        UnsafeCheckpointError: it holds other pickled objects (possibly code).
    """
    import torch

    from . import _apply_mmseg_fixes
    _apply_mmseg_fixes()  # the allow-list of what mmengine checkpoints hold (vnseg.compat)
    path = os.path.expanduser(os.fspath(path))
    if '://' in path:
        from mmengine.runner.checkpoint import CheckpointLoader
        return CheckpointLoader.load_checkpoint(path, map_location=map_location)
    check_checkpoint_file(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        from vnseg.compat import weights_only_refusal
        refused = weights_only_refusal(exc)
        if refused is not None:
            raise UnsafeCheckpointError(path, unsafe_checkpoint_problem(path, refused)) from None
        raise CheckpointError(path, f'is corrupt: {_one_line(exc)}') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(path, f'is truncated or corrupt ({_one_line(exc)})') from None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EIO):
            raise CheckpointError(path, f'cannot be read: {exc.strerror}') from None
        # it opened and starts like a checkpoint: torch's zip reader fails on a cut-off file
        raise CheckpointError(path, f'is truncated or corrupt ({exc.strerror or _one_line(exc)})') from None
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(path, f'holds a {type(checkpoint).__name__}, not a checkpoint dict '
                                    'of weights')
    return checkpoint


def unsafe_checkpoint_problem(path: str, refused: str) -> str:
    """The sentence that refuses a checkpoint holding pickled objects other than weights."""
    return (f'holds Python objects that are not allowed in a checkpoint ({refused}); loading them '
            'could run code, so it was refused. If you trust where this file comes from, convert '
            'it once into a plain weights file and use that: python '
            f'tools/model_converters/strip_teacher.py --trust-pickled {path} plain_weights.pth')


def checkpoint_state_dict(checkpoint: Mapping) -> dict:
    """The weights of a checkpoint dict: its ``state_dict`` (else the dict itself), without the
    ``module.`` prefix (DistributedDataParallel) on keys that carry it."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, Mapping):
        raise TypeError(f'state_dict is a {type(state).__name__}, not a mapping')
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in state.items()}


def compare_state_dict(model, state: Mapping):
    """``(missing, unexpected, mis_shaped)`` of ``state`` against ``model.state_dict()``.

    ``mis_shaped`` holds ``(key, checkpoint shape, model shape)`` tuples. Key order is the model's
    (missing, mis-shaped) or the checkpoint's (unexpected).
    """
    target = model.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mis_shaped = []
    for key, value in target.items():
        theirs = state.get(key)
        if theirs is None or not hasattr(theirs, 'shape'):
            continue
        if tuple(theirs.shape) != tuple(value.shape):
            mis_shaped.append((key, tuple(theirs.shape), tuple(value.shape)))
    return missing, unexpected, mis_shaped


def _some(keys, describe=str) -> str:
    shown = ', '.join(describe(k) for k in keys[:SHOWN_KEYS])
    return shown + (f', ... ({len(keys) - SHOWN_KEYS} more)' if len(keys) > SHOWN_KEYS else '')


def mismatch_problem(config_name: Optional[str], missing, unexpected, mis_shaped) -> str:
    """The sentence of a :class:`WeightsMismatchError`."""
    parts = []
    if mis_shaped:
        parts.append(f'{len(mis_shaped)} mis-shaped ('
                     + _some(mis_shaped, lambda m: f'{m[0]} {list(m[1])} here, {list(m[2])} in the model')
                     + ')')
    if missing:
        parts.append(f'{len(missing)} missing ({_some(missing)})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected ({_some(unexpected)})')
    model = f'the model of {config_name}' if config_name else 'the model'
    return (f'does not fit {model}: ' + '; '.join(parts)
            + ' keys. Is it a checkpoint of this config?')


def load_weights(model, checkpoint, config=None, checkpoint_name: Optional[str] = None) -> dict:
    """Load ``checkpoint`` (a path or an already read dict) into ``model``, strictly.

    Args:
        model: the ``nn.Module`` (a wrapper's ``.module`` is used when it has one).
        checkpoint: checkpoint file, or the dict :func:`read_checkpoint` returned.
        config: the config the model was built from (path or ``Config``): named in errors.
        checkpoint_name: the file name to report when ``checkpoint`` is a dict.

    Returns:
        The checkpoint dict (``meta`` holds ``dataset_meta`` when training saved it).

    Raises:
        WeightsMismatchError: a missing, unexpected or mis-shaped key; nothing is loaded then.
        CheckpointError / UnsafeCheckpointError: see :func:`read_checkpoint`.
    """
    import torch

    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint_name = os.fspath(checkpoint)
        checkpoint = read_checkpoint(checkpoint)
    name = checkpoint_name or '<checkpoint>'
    config_name = _config_name(config) or _config_name(getattr(model, 'cfg', None))
    target = model
    while isinstance(getattr(target, 'module', None), torch.nn.Module):
        target = target.module  # DDP / TTA wrappers hold the segmentor
    try:
        state = checkpoint_state_dict(checkpoint)
    except TypeError as exc:
        raise CheckpointError(name, str(exc)) from None
    missing, unexpected, mis_shaped = compare_state_dict(target, state)
    if missing or unexpected or mis_shaped:
        raise WeightsMismatchError(name, mismatch_problem(config_name, missing, unexpected,
                                                          mis_shaped))
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # a module's own load hook refused a value
        raise WeightsMismatchError(name, f'does not fit the model of {config_name}: '
                                         f'{_one_line(exc)}') from None
    return dict(checkpoint)


# ----------------------------------------------------------------------------------------------
# devices and models
# ----------------------------------------------------------------------------------------------
def resolve_device(device: Optional[str] = None) -> str:
    """``device``, checked; None -> ``'cuda:0'`` when CUDA is available, else ``'cpu'``.

    Raises :class:`vnseg.cli.OptionError` (subject ``--device``) for an unknown device or a CUDA
    device on a machine without one.
    """
    import torch

    from vnseg.cli import OptionError
    if device is None:
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise OptionError('--device', f'unknown device {device!r}; use cpu, cuda or cuda:N') from None
    if parsed.type == 'cuda':
        if not torch.cuda.is_available():
            raise OptionError('--device', f'{device} asked for, but this machine has no usable '
                                          'CUDA GPU; use --device cpu')
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise OptionError('--device', f'{device} asked for, but this machine has '
                                          f'{torch.cuda.device_count()} CUDA GPU(s)')
    return str(device)


def inference_config(config, cfg_options: Optional[dict] = None):
    """A copy of ``config`` (path or ``Config``) ready to build an inference model.

    Overrides are merged; pretrained-weight references are dropped (the checkpoint defines the
    model: no downloads), and so is the recipe's class-weights file (training only); a
    ``test_pipeline`` is taken from the test dataloader when the config has none.
    """
    import copy

    from vnseg.data.class_weights import drop_class_weight_marker
    from vnseg.pretrained import disable_pretrained
    if isinstance(config, (str, os.PathLike)):
        cfg = load_config(config, cfg_options)
    else:
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    disable_pretrained(cfg.model)
    drop_class_weight_marker(cfg.model)  # the recipe's training-loss weights (vnseg.data.class_weights)
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
        MissingWeightsError, vnseg.cli.OptionError (``--device``).
    """
    import torch
    from mmengine.model import revert_sync_batchnorm

    from . import _apply_mmseg_fixes
    _apply_mmseg_fixes()
    if random_weights and checkpoint is not None:
        from vnseg.cli import OptionError
        raise OptionError('--random-weights', f'a checkpoint ({checkpoint}) was given too; '
                                              'give one or the other')
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
        from .meta import init_model
        model = init_model(cfg, None, device=device)
        if checkpoint is not None:
            from .meta import resolve_dataset_meta
            loaded = load_weights(model, ckpt, config=cfg,
                                  checkpoint_name=checkpoint)
            meta = resolve_dataset_meta(loaded.get('meta') or {}, cfg)
            if meta is not None:
                model.dataset_meta = meta
    if not (getattr(model, 'dataset_meta', None) or {}).get('classes'):
        model.dataset_meta = _fallback_meta(model)
    if next(model.parameters()).device.type == 'cpu':
        model = revert_sync_batchnorm(model)
    model.eval()
    return model


def _fallback_meta(model) -> dict:
    """vnseg's classes and palette when the model predicts that many classes, else numbered ones."""
    from vnseg.classes import CLASSES, PALETTE

    from .meta import _default_palette
    head = getattr(model, 'decode_head', None)
    num_classes = getattr(head, 'num_classes', len(CLASSES))
    if num_classes == len(CLASSES):
        return dict(classes=tuple(CLASSES), palette=[list(c) for c in PALETTE])
    return dict(classes=tuple(f'class_{i}' for i in range(num_classes)),
                palette=_default_palette(num_classes))
