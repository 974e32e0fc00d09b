"""Compatibility fixes for the OpenMMLab 2023-24 stack on today's torch and numpy: one function per fix.

The stack vnseg extends (mmengine 0.10.7, mmcv 2.1.0, mmsegmentation 1.2.2, mmpretrain 1.2.0) was last
released before torch 2.6 and numpy 2. Every fix vnseg needs is one function of this module, in the order
of the list below (and of ``docs/compat.md``), small, idempotent and covered by ``tests/openmmlab/test_compat.py`` with
a check that fails without it. :func:`apply` runs the import-time fixes (all but 4) once; it is called by
:mod:`vnseg.mmseg_ext` (what configs' ``custom_imports``, the tools and :mod:`vnseg.apis` import), never
by ``import vnseg``, which stays free of torch. Fix 4 adapts a config: :func:`adapt_cfg_to_device`, called
by ``vnseg train`` and ``vnseg test``.

The fixes patch what mmseg and mmengine call (a module attribute looked up at call time, a class
method, a function object itself), never a name that some module may have bound before the fixes
ran, so they hold whatever the import order. Fixes 3 and 5 route mmseg's loaders into vnseg's own
(:mod:`vnseg.openmmlab.dataset_meta`, :mod:`vnseg.openmmlab.checkpoints`), which import nothing of this module.

1. **Checkpoints under ``torch.load(weights_only=True)``** (the default since torch 2.6):
   :func:`allow_mmengine_checkpoint_globals`. mmengine calls ``torch.load`` without ``weights_only``, and
   the checkpoints it writes hold ``mmengine.logging.HistoryBuffer`` objects and numpy arrays/scalars in
   ``message_hub``, so ``resume``, ``load_from``, ``init_model`` and ``tools/test.py`` all fail. Instead of
   switching ``weights_only`` off for the process, exactly those classes are allow-listed with
   ``torch.serialization.add_safe_globals`` (the list: :func:`vnseg.openmmlab.checkpoints.mmengine_checkpoint_globals`);
   anything else in a pickle is still refused.
2. **Distributed on CPU**: :func:`patch_init_dist_for_cpu`. mmengine's ``init_dist('pytorch')`` calls
   ``torch.cuda.set_device`` before creating the process group, which fails with "Found no NVIDIA driver"
   under torchrun on a machine without a GPU. Without CUDA that call is skipped and the gloo backend used
   (nccl is CUDA-only).
3. **Class names of inference models**: :func:`patch_inference_dataset_meta`. mmseg's ``init_model`` and
   ``MMSegInferencer`` take a model's class names and palette from the checkpoint only: without them (bare
   state_dict, ``weights=None``) the inferencer falls back to Cityscapes' 19 classes and ``init_model`` sets
   none (or raises ``KeyError`` on a checkpoint without ``meta``). Both now fall back to the config's dataset
   (``VNDroneDataset`` -> vnseg's 5 classes; the logic: :mod:`vnseg.openmmlab.dataset_meta`). The function object
   ``mmseg.apis.init_model`` itself is patched (its code now calls vnseg's), so a reference taken by
   ``from mmseg.apis import init_model`` before the fixes ran is fixed too.
4. **Configs on a machine without CUDA**: :func:`adapt_cfg_to_device`. ``AmpOptimWrapper`` (mmseg's
   ConvNeXt configs) refuses to run, so it becomes a plain ``OptimWrapper`` with a warning, while an
   explicit ``--amp`` is a clear error; distributed runs wrap the model in DDP with ``device_ids=None``
   (CPU modules) and use BN instead of SyncBN (SyncBN needs CUDA).
5. **Checkpoint files that cannot be used**: :func:`route_checkpoint_loading`. mmengine reads a local
   checkpoint with a bare ``torch.load``: a missing, empty, text, truncated or code-carrying file ends in a
   traceback (for the last, one about ``weights_only`` that no user can act on). mmengine's local loader
   (``load_from``, ``resume``, ``_load_checkpoint``, ``MMSegInferencer``) is routed through
   :func:`vnseg.openmmlab.checkpoints.read_checkpoint`, whose errors name the file and say what is wrong.
6. **Checkpoints written in place**: :func:`patch_atomic_local_writes`. mmengine's ``LocalBackend.put``
   opens the final file and writes into it, so a kill during a save leaves a truncated checkpoint under
   its final name. It now writes a hidden temporary file next to it, fsyncs it and renames it over the
   final name (:func:`vnseg.core.atomic.atomic_write_bytes`). ``vnseg.engine.AtomicCheckpointHook`` does
   the same for ``last_checkpoint`` and prunes old checkpoints only after the new one is complete.
7. **Class weights with ignored pixels**: :func:`patch_class_weighted_cross_entropy`. mmseg 1.2.2's
   ``cross_entropy`` (``CrossEntropyLoss`` with ``class_weight``, mean reduction) computes its normaliser by
   indexing ``class_weight`` with every label, the ignored ones (255) included: any batch with an ignored
   or padded pixel fails with ``IndexError: index 255 is out of bounds``. The normaliser is now the sum of
   the class weights of the valid pixels (PyTorch's weighted mean), plus 1 per ignored pixel when
   ``avg_non_ignore`` is off (as the unweighted loss counts them); the loss itself is mmseg's.
"""
import copy
import types
import warnings

import torch

from vnseg.core.config_tree import walk_config

_APPLIED = False


def apply():
    """Apply the import-time fixes 1, 2, 3, 5, 6 and 7 once (idempotent; 4 works on a config)."""
    global _APPLIED
    if _APPLIED:
        return
    allow_mmengine_checkpoint_globals()
    patch_init_dist_for_cpu()
    patch_inference_dataset_meta()
    route_checkpoint_loading()
    patch_atomic_local_writes()
    patch_class_weighted_cross_entropy()
    _APPLIED = True


def replace_function_code(func, replacement, marker):
    """Give the function object ``func`` the code of ``replacement`` in place, so that every reference
    to it, taken before or after, runs the new code; ``func.<marker>`` is set. Returns a copy of the
    original function (its code, globals, defaults, closure), also kept as ``func.__wrapped__``, or
    None when ``func`` already carries ``marker`` (idempotent). ``replacement`` runs with the globals
    of ``func``'s module: it may use only names it imports itself. (Fixes 3 and 7.)"""
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
# 1. checkpoints and weights_only
# ----------------------------------------------------------------------------------------------
def allow_mmengine_checkpoint_globals():
    """Allow-list what mmengine checkpoints hold (:func:`vnseg.openmmlab.checkpoints.mmengine_checkpoint_globals`)
    for every ``torch.load(weights_only=True)`` of the process."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no weights_only default to fight
        return
    from vnseg.openmmlab.checkpoints import mmengine_checkpoint_globals
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
# 3. class names and palette of inference models
# ----------------------------------------------------------------------------------------------
#: mmseg's own ``init_model``, as a separate function object (set by :func:`patch_inference_dataset_meta`).
STOCK_INIT_MODEL = None


def _init_model_with_vnseg_meta(config, checkpoint=None, device='cuda:0', cfg_options=None):
    # Runs as the code of mmseg's ``init_model`` function object, whose globals are those of
    # ``mmseg.apis.inference``: it may use only names it imports itself.
    from vnseg.openmmlab.compat import STOCK_INIT_MODEL
    from vnseg.openmmlab.dataset_meta import init_model_with_meta
    return init_model_with_meta(STOCK_INIT_MODEL, config, checkpoint, device, cfg_options)


def patch_inference_dataset_meta():
    """Route ``mmseg.apis.init_model`` and ``MMSegInferencer`` through :mod:`vnseg.openmmlab.dataset_meta` (idempotent).

    ``init_model`` is patched in place (:func:`replace_function_code`): mmseg's function object keeps its
    identity and gets the code of :func:`_init_model_with_vnseg_meta`, which calls a copy of the original
    (:data:`STOCK_INIT_MODEL`), so a reference taken by ``from mmseg.apis import init_model`` before the
    patch is patched too. ``MMSegInferencer._load_weights_to_model`` is a method, looked up on the class at
    call time.
    """
    global STOCK_INIT_MODEL
    import mmseg.apis.inference as inference
    from mmseg.apis.mmseg_inferencer import MMSegInferencer

    from vnseg.openmmlab.dataset_meta import load_weights_with_meta
    original = replace_function_code(inference.init_model, _init_model_with_vnseg_meta, '_vnseg_meta')
    if original is None:
        return
    STOCK_INIT_MODEL = original

    stock_load = MMSegInferencer._load_weights_to_model

    def _load_weights_to_model(self, model, checkpoint, cfg):
        return load_weights_with_meta(stock_load, self, model, checkpoint, cfg)

    MMSegInferencer._load_weights_to_model = _load_weights_to_model


# ----------------------------------------------------------------------------------------------
# 4. configs on a machine without CUDA
# ----------------------------------------------------------------------------------------------
class AmpNeedsCudaError(ValueError):
    """Mixed precision (``--amp``) asked for on a machine without CUDA; ``vnseg train`` names its flag."""

    user_error = True  # a user's mistake: the command line prints one line (vnseg.commands.cli)


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
        warnings.warn(f'vnseg.openmmlab.compat: {change}', stacklevel=2)
    return changes


def _replace_norm_type(node, old, new):
    """Replace ``type=old`` by ``type=new`` in every ``norm_cfg`` below ``node``; return count."""
    count = 0
    for _, key, value in walk_config(node):
        if key == 'norm_cfg' and hasattr(value, 'get') and value.get('type') == old:
            value['type'] = new
            count += 1
    return count


# ----------------------------------------------------------------------------------------------
# 5. checkpoint files that cannot be used
# ----------------------------------------------------------------------------------------------
def route_checkpoint_loading():
    """Route mmengine's loader of local checkpoint files (``load_from``, ``resume``,
    ``_load_checkpoint``, ``MMSegInferencer``) through :func:`vnseg.openmmlab.checkpoints.read_checkpoint`, whose
    errors name the file and say what is wrong (mmengine's bare ``torch.load`` ends in a traceback);
    ``MMSegInferencer`` remembers the file it was given, to name it in errors. Idempotent."""
    from mmengine.runner.checkpoint import CheckpointLoader
    from mmseg.apis.mmseg_inferencer import MMSegInferencer

    from vnseg.openmmlab.checkpoints import read_checkpoint
    current = CheckpointLoader._schemes.get('')
    if getattr(current, '_vnseg_checked', False):
        return

    def load_from_local(filename, map_location=None):
        return read_checkpoint(filename, map_location=map_location)

    load_from_local._vnseg_checked = True
    load_from_local.__wrapped__ = current
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)

    stock_init_model = MMSegInferencer._init_model

    def _init_model(self, cfg, weights, device='cpu'):
        self._vnseg_weights = weights
        return stock_init_model(self, cfg, weights, device)

    _init_model.__wrapped__ = stock_init_model
    MMSegInferencer._init_model = _init_model


# ----------------------------------------------------------------------------------------------
# 6. checkpoints written in place
# ----------------------------------------------------------------------------------------------
def patch_atomic_local_writes():
    """mmengine's ``LocalBackend.put``/``put_text`` (checkpoints, dumped files) write atomically, fsync'ed."""
    from mmengine.fileio.backends.local_backend import LocalBackend

    from vnseg.core.atomic import atomic_write_bytes

    if getattr(LocalBackend.put, '_vnseg_atomic', False):
        return
    stock_put = LocalBackend.put

    def put(self, obj, filepath):
        atomic_write_bytes(filepath, obj, fsync=True)

    def put_text(self, obj, filepath, encoding='utf-8'):
        atomic_write_bytes(filepath, obj.encode(encoding), fsync=True)

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
    from vnseg.openmmlab.compat import STOCK_CROSS_ENTROPY, class_weighted_avg_factor
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
