"""Reading checkpoint files and loading weights into a model, strictly (one loader for all of vnseg).

Every place that turns a checkpoint into a model goes through here: :func:`vnseg.apis.load_model`
(``tools/test.py``, whole-scene inference, the analysis tools), ``mmseg.apis.init_model`` and
``MMSegInferencer`` (:mod:`vnseg.openmmlab.dataset_meta`), mmengine's own loader of local files
(``load_from``, ``resume``: :func:`vnseg.openmmlab.compat.route_checkpoint_loading` routes it here) and
the distillation teacher. The rules (this is their one description):

* a checkpoint must fit the model exactly: a missing, unexpected or mis-shaped key is a
  :class:`WeightsMismatchError` that names the checkpoint, the config and the first offending
  keys (mmengine only logs a warning and leaves those weights random);
* a checkpoint file that is missing, empty, a text file, truncated, or holds pickled objects other
  than weights is a :class:`CheckpointError` (:class:`UnsafeCheckpointError`) with a sentence a
  user understands: files are read with ``torch.load(weights_only=True)`` and an allow-list of the
  few classes mmengine checkpoints hold (:func:`mmengine_checkpoint_globals`).

Below the registrations (:mod:`vnseg.models` uses it for the teacher) and :mod:`vnseg.openmmlab.compat`, whose
fixes 1 and 5 use it; it imports nothing of :mod:`vnseg.openmmlab.compat`.
Errors subclass :class:`vnseg.core.errors.DataError` (message ``'<file>: <problem>'``), so the tools
report them as one line (:mod:`vnseg.commands.cli`).
"""
from __future__ import annotations

import errno
import os
import pickle
import re
import zipfile
from typing import Mapping, Optional, Union

from vnseg.core.errors import DataError

__all__ = ['CheckpointError', 'UnsafeCheckpointError', 'WeightsMismatchError', 'ConfigError',
           'load_config', 'read_checkpoint', 'checkpoint_state_dict', 'compare_state_dict',
           'check_checkpoint_file', 'load_weights', 'mmengine_checkpoint_globals', 'weights_only_refusal']

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
    (:func:`mmengine_checkpoint_globals`) are unpickled. Addresses with a
    scheme (``https://``, ``s3://``, ...) are handed to mmengine's loaders.

    Raises:
        CheckpointError: missing, a folder, empty, not a checkpoint, truncated or corrupt.
        UnsafeCheckpointError: it holds other pickled objects (possibly code).
    """
    import torch

    allowed = torch.serialization.safe_globals(_not_yet_allowed(mmengine_checkpoint_globals()))
    path = os.path.expanduser(os.fspath(path))
    if '://' in path:
        from mmengine.runner.checkpoint import CheckpointLoader
        with allowed:
            return CheckpointLoader.load_checkpoint(path, map_location=map_location)
    check_checkpoint_file(path)
    try:
        with allowed:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
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


# ----------------------------------------------------------------------------------------------
# what a checkpoint may hold, and torch's refusals
# ----------------------------------------------------------------------------------------------
def mmengine_checkpoint_globals():
    """The non-tensor classes/functions an mmengine/mmseg checkpoint pickles, as ``torch.serialization``
    safe-globals entries: objects, or ``(object, 'module.name')`` where pickles name them differently
    (numpy 1.x wrote ``numpy.core.multiarray``; numpy 2 calls the module ``numpy._core.multiarray``)."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    entries = [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        (_history_buffer_getattr, '__builtin__.getattr'),
        np.ndarray,
        np.dtype,
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
        (multiarray.scalar, 'numpy._core.multiarray.scalar'),
    ]
    # numpy >= 1.25 pickles dtypes by their class (numpy.dtypes.Float64DType, ...).
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        for name in dir(dtypes_mod):
            obj = getattr(dtypes_mod, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                entries.append(obj)
    return entries


def _not_yet_allowed(entries) -> list:
    """The ``entries`` that torch's safe globals lack: a ``safe_globals`` block adds these and, when it ends,
    removes them only, so the process-wide allow-list (:func:`vnseg.openmmlab.compat.allow_mmengine_checkpoint_globals`)
    stays whole."""
    import torch
    allowed = set(torch.serialization.get_safe_globals())
    return [e for e in entries if e not in allowed]


#: HistoryBuffer's built-in statistics (its registry fills lazily, on the first instance).
_HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to what a pickled HistoryBuffer needs: its statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = _HISTORY_BUFFER_STATISTICS.union(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'vnseg.openmmlab.checkpoints: refusing getattr({obj!r}, {name!r}) in a weights_only checkpoint')


_REFUSED_GLOBAL = re.compile(r'(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)')
_REFUSED_CLASS = re.compile(r"but got <class '([\w.]+)'>")


def weights_only_refusal(exc: BaseException):
    """What ``torch.load(weights_only=True)`` refused to unpickle (e.g. ``'posix.system'``), or
    None when ``exc`` is not such a refusal (a corrupt file, say)."""
    text = str(exc)
    if 'Weights only load failed' not in text and 'refusing getattr' not in text:
        return None
    for pattern in (_REFUSED_GLOBAL, _REFUSED_CLASS):
        found = pattern.search(text)
        if found:
            return found.group(1)
    if 'refusing getattr' in text:
        return 'getattr'
    return 'an object of a kind weights never hold'


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
