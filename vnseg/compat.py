"""Compatibility fixes for the OpenMMLab 2023-24 stack on today's torch and numpy.

The stack vnseg extends (mmengine 0.10.7, mmcv 2.1.0, mmsegmentation 1.2.2, mmpretrain 1.2.0) was last
released before torch 2.6 and numpy 2. Every fix vnseg needs lives here, is small, idempotent and
covered by ``tests/test_compat.py`` with a check that fails without it. :func:`apply` runs the
import-time fixes that need nothing of vnseg's models (1, 2, 6, 7) once; it is called by
:mod:`vnseg.mmseg_ext` (what configs' ``custom_imports``, the tools and :mod:`vnseg.apis` import), never
by ``import vnseg``, which stays free of torch. Fixes 3 and 5 route mmseg's loaders through vnseg's
own loading code, so they live with it, one layer up: :func:`vnseg.dataset_meta.patch_inference_dataset_meta`
and :func:`vnseg.checkpoints.route_checkpoint_loading`, applied by :mod:`vnseg.mmseg_ext` right after
:func:`apply`. This module imports nothing of vnseg above :mod:`vnseg.data.io` and
:mod:`vnseg.config_tree` (``tests/test_import_graph.py``).
:func:`adapt_cfg_to_device` is the config-level part (fix 4), called by ``tools/train.py`` and
``tools/test.py``.

The fixes patch what mmseg and mmengine call (a module attribute looked up at call time, a class
method, a function object itself), never a name that some module may have bound before the fixes
ran, so they hold whatever the import order.

Import-time fixes
-----------------
1. **Checkpoints under ``torch.load(weights_only=True)``** (the default since torch 2.6). mmengine
   calls ``torch.load`` without ``weights_only``, and the checkpoints it writes hold
   ``mmengine.logging.HistoryBuffer`` objects and numpy arrays/scalars in ``message_hub``, so
   ``resume``, ``load_from``, ``init_model`` and ``tools/test.py`` all fail. Instead of switching
   ``weights_only`` off for the process, we allow-list exactly those classes with
   ``torch.serialization.add_safe_globals``; anything else in a pickle is still refused. A pickled
   HistoryBuffer refers to its statistics methods as ``getattr(HistoryBuffer, 'mean')``: rather than
   allow-listing ``getattr`` itself, the pickle's ``getattr`` is mapped to a function that only
   returns those few methods.
2. **Distributed on CPU.** mmengine's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` before
   creating the process group, which fails with "Found no NVIDIA driver" under torchrun on a machine
   without a GPU. Without CUDA we skip that call and use the gloo backend (nccl is CUDA-only).
3. **Class names of inference models.** mmseg's ``init_model`` and ``MMSegInferencer`` take a model's
   class names and palette from the checkpoint only: without them (bare state_dict, ``weights=None``)
   the inferencer falls back to Cityscapes' 19 classes and ``init_model`` sets none (or raises
   ``KeyError`` on a checkpoint without ``meta``). Both now fall back to the config's dataset
   (``VNDroneDataset`` -> vnseg's 5 classes); the logic and the patch are in :mod:`vnseg.dataset_meta`. The function
   object ``mmseg.apis.init_model`` itself is patched (its code now calls vnseg's), so a reference
   taken by ``from mmseg.apis import init_model`` before the fixes ran is fixed too.

5. **Checkpoint files that cannot be used.** mmengine reads a local checkpoint with a bare
   ``torch.load``: a missing, empty, text, truncated or code-carrying file ends in a traceback
   (for the last, one about ``weights_only`` that no user can act on). mmengine's local loader
   (``load_from``, ``resume``, ``_load_checkpoint``, ``MMSegInferencer``) is routed through
   :func:`vnseg.checkpoints.read_checkpoint` (:func:`vnseg.checkpoints.route_checkpoint_loading`),
   whose errors name the file and say what is wrong; :func:`weights_only_refusal` (here) recognises
   torch's refusal of a pickled object.
6. **Checkpoints written in place.** mmengine's ``LocalBackend.put`` opens the final file and
   writes into it, so a kill during a save leaves a truncated checkpoint under its final name.
   It now writes a hidden temporary file next to it, fsyncs it and renames it over the final
   name (``os.replace``, atomic). ``vnseg.engine.AtomicCheckpointHook`` does the same for
   ``last_checkpoint`` and prunes old checkpoints only after the new one is complete.

7. **Class weights with ignored pixels.** mmseg 1.2.2's ``cross_entropy`` (``CrossEntropyLoss`` with
   ``class_weight``, mean reduction) computes its normaliser by indexing ``class_weight`` with every
   label, the ignored ones (255) included: any batch with an ignored or padded pixel fails with
   ``IndexError: index 255 is out of bounds``. The normaliser is now the sum of the class weights of
   the valid pixels (PyTorch's weighted mean), plus 1 per ignored pixel when ``avg_non_ignore`` is
   off (as the unweighted loss counts them); the loss itself is mmseg's.

Config-level fallbacks (:func:`adapt_cfg_to_device`)
---------------------------------------------------
4. Without CUDA: ``AmpOptimWrapper`` (mmseg's ConvNeXt configs) refuses to run, so it becomes a plain
   ``OptimWrapper`` with a warning, while an explicit ``--amp`` is a clear error; distributed runs
   wrap the model in DDP with ``device_ids=None`` (CPU modules) and use BN instead of SyncBN
   (SyncBN needs CUDA).
"""
import copy
import pickle
import re
import types
import warnings

import numpy as np
import torch

from vnseg.config_tree import walk_config

_APPLIED = False


def apply():
    """Apply the import-time fixes 1, 2, 6 and 7 once (idempotent; 3 and 5: see the module's doc)."""
    global _APPLIED
    if _APPLIED:
        return
    allow_mmengine_checkpoint_globals()
    patch_init_dist_for_cpu()
    patch_atomic_local_writes()
    patch_class_weighted_cross_entropy()
    _APPLIED = True


# ----------------------------------------------------------------------------------------------
# 1. checkpoints and weights_only
# ----------------------------------------------------------------------------------------------
def mmengine_checkpoint_globals():
    """The non-tensor classes/functions an mmengine/mmseg checkpoint pickles, as add_safe_globals
    entries: objects, or ``(object, 'module.name')`` where pickles name them differently (numpy 1.x
    wrote ``numpy.core.multiarray``; numpy 2 calls the module ``numpy._core.multiarray``)."""
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


#: HistoryBuffer's built-in statistics (its registry fills lazily, on the first instance).
_HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to what a pickled HistoryBuffer needs: its statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = _HISTORY_BUFFER_STATISTICS.union(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'vnseg.compat: refusing getattr({obj!r}, {name!r}) in a weights_only checkpoint')


def allow_mmengine_checkpoint_globals():
    """Allow-list mmengine checkpoint contents for ``torch.load(weights_only=True)``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no weights_only default to fight
        return
    add_safe_globals(mmengine_checkpoint_globals())


# ----------------------------------------------------------------------------------------------
# 2. distributed process groups on machines without CUDA
# ----------------------------------------------------------------------------------------------
def patch_init_dist_for_cpu():
    """Make mmengine's PyTorch launcher set-up work without CUDA (gloo, no ``set_device``)."""
    from mmengine.dist import utils as dist_utils

    original = dist_utils._init_dist_pytorch
    if getattr(original, '_vnseg_cpu_fallback', False):
        return

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch' or _other_accelerator():
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'
        torch.distributed.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch._vnseg_cpu_fallback = True
    _init_dist_pytorch.__wrapped__ = original
    dist_utils._init_dist_pytorch = _init_dist_pytorch


def _other_accelerator():
    from mmengine.device import is_mlu_available, is_musa_available, is_npu_available
    return is_mlu_available() or is_npu_available() or is_musa_available()


# ----------------------------------------------------------------------------------------------
# patching a function object in place (fixes 3 and 7)
# ----------------------------------------------------------------------------------------------
def replace_function_code(func, replacement, marker):
    """Give the function object ``func`` the code of ``replacement`` in place, so that every reference
    to it, taken before or after, runs the new code; ``func.<marker>`` is set. Returns a copy of the
    original function (its code, globals, defaults, closure), also kept as ``func.__wrapped__``, or
    None when ``func`` already carries ``marker`` (idempotent). ``replacement`` runs with the globals
    of ``func``'s module: it may use only names it imports itself."""
    if getattr(func, marker, False):
        return None
    original = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__,
                                  func.__closure__)
    original.__kwdefaults__ = func.__kwdefaults__
    func.__code__ = replacement.__code__
    func.__wrapped__ = original
    setattr(func, marker, True)
    return original


# ----------------------------------------------------------------------------------------------
# 5. checkpoint files that cannot be used: torch's refusals (the routing: vnseg.checkpoints)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# 6. checkpoints written in place
# ----------------------------------------------------------------------------------------------
def write_file_atomically(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file in the same folder, fsync'ed and
    renamed over ``path``: a reader (or a run resumed after a kill) sees the old file or the whole
    new one, never a part. A write error (disk full) names ``path`` and leaves no partial file."""
    import os

    from vnseg.data.io import atomic_output
    try:
        with atomic_output(path) as tmp:
            with open(tmp, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def patch_atomic_local_writes():
    """mmengine's ``LocalBackend.put``/``put_text`` (checkpoints, dumped files) write atomically."""
    from mmengine.fileio.backends.local_backend import LocalBackend

    if getattr(LocalBackend.put, '_vnseg_atomic', False):
        return
    stock_put = LocalBackend.put

    def put(self, obj, filepath):
        write_file_atomically(filepath, obj)

    def put_text(self, obj, filepath, encoding='utf-8'):
        write_file_atomically(filepath, obj.encode(encoding))

    put._vnseg_atomic = True
    put.__wrapped__ = stock_put
    LocalBackend.put = put
    LocalBackend.put_text = put_text


# ----------------------------------------------------------------------------------------------
# 7. class-weighted cross-entropy with ignored pixels
# ----------------------------------------------------------------------------------------------
#: mmseg's own ``cross_entropy``, as a separate function object (set by :func:`patch_class_weighted_cross_entropy`).
STOCK_CROSS_ENTROPY = None


def class_weighted_avg_factor(label, class_weight, ignore_index, avg_non_ignore):
    """Normaliser of a class-weighted mean cross-entropy: sum of ``class_weight[label]`` (shape (C,))
    over the pixels of ``label`` (any shape, int) that are not ``ignore_index``, plus 1 per ignored
    pixel unless ``avg_non_ignore``. Returns a 0-d tensor."""
    valid = label != ignore_index
    total = class_weight[label[valid].long()].sum()
    if not avg_non_ignore:
        total = total + (~valid).sum().to(total.dtype)
    return total


def _cross_entropy_with_ignored_labels(pred, label, weight=None, class_weight=None, reduction='mean',
                                       avg_factor=None, ignore_index=-100, avg_non_ignore=False):
    # Runs as the code of mmseg's ``cross_entropy`` function object (globals of
    # ``mmseg.models.losses.cross_entropy_loss``): it may use only names it imports itself.
    from vnseg.compat import STOCK_CROSS_ENTROPY, class_weighted_avg_factor
    if class_weight is not None and avg_factor is None and reduction == 'mean':
        avg_factor = class_weighted_avg_factor(label, class_weight, ignore_index, avg_non_ignore)
    return STOCK_CROSS_ENTROPY(pred, label, weight, class_weight, reduction, avg_factor, ignore_index,
                               avg_non_ignore)


def patch_class_weighted_cross_entropy():
    """mmseg's ``cross_entropy`` function object gets the code of
    :func:`_cross_entropy_with_ignored_labels`, which calls a copy of the original
    (:data:`STOCK_CROSS_ENTROPY`) with the normaliser computed without indexing by ignored labels;
    ``CrossEntropyLoss`` instances built before or after the fix use the same object."""
    global STOCK_CROSS_ENTROPY
    import mmseg.models.losses.cross_entropy_loss as ce_module

    original = replace_function_code(ce_module.cross_entropy, _cross_entropy_with_ignored_labels,
                                     '_vnseg_ignored_labels')
    if original is not None:
        STOCK_CROSS_ENTROPY = original


# ----------------------------------------------------------------------------------------------
# 4. config-level fallbacks for CPU
# ----------------------------------------------------------------------------------------------
class AmpNeedsCudaError(SystemExit):
    """Raised (exits with a message) when ``--amp`` is asked for on a machine without CUDA."""


def adapt_cfg_to_device(cfg, amp_requested=False, cuda_available=None):
    """Adjust a loaded mmengine ``Config`` in place for the device it will run on.

    With CUDA nothing changes. Without it: an explicit AMP request raises
    :class:`AmpNeedsCudaError`; an ``AmpOptimWrapper`` from the config becomes ``OptimWrapper``;
    when ``cfg.launcher`` is distributed, DDP gets ``device_ids=None`` and SyncBN becomes BN.
    Returns the list of changes made (human-readable strings), also issued as warnings.
    """
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_available:
        return []
    changes = []
    if amp_requested:
        raise AmpNeedsCudaError(
            '--amp needs a CUDA GPU: mixed precision (AmpOptimWrapper) does not run on CPU. '
            'Run without --amp on this machine.')
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is not None and optim_wrapper.get('type') == 'AmpOptimWrapper':
        optim_wrapper['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            optim_wrapper.pop(key, None)
        changes.append('AmpOptimWrapper -> OptimWrapper (no CUDA: training in float32)')
    if cfg.get('launcher', 'none') != 'none':
        wrapper = copy.deepcopy(cfg.get('model_wrapper_cfg') or {})
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
        changes.append('DDP on CPU: device_ids=None')
        if _replace_norm_type(cfg.model, 'SyncBN', 'BN'):
            changes.append('SyncBN -> BN (SyncBN needs CUDA)')
    for change in changes:
        warnings.warn(f'vnseg.compat: {change}', stacklevel=2)
    return changes


def _replace_norm_type(node, old, new):
    """Replace ``type=old`` by ``type=new`` in every ``norm_cfg`` below ``node``; return count."""
    count = 0
    for _, key, value in walk_config(node):
        if key == 'norm_cfg' and hasattr(value, 'get') and value.get('type') == old:
            value['type'] = new
            count += 1
    return count
