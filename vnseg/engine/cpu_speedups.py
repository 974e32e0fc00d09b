"""vnseg's CPU speed-ups of training: what ``vnseg train`` may change on a machine without CUDA.

A config asks for them with a ``cpu_speedups`` dict (any subset of :data:`DEFAULT_CPU_SPEEDUPS`'s keys)::

    cpu_speedups = dict(fused_head=True, channels_last=False, bf16=False, compile=False, threads=None,
                        interop_threads=None, num_workers=None, image_cache_mb=None)

- ``fused_head``: a ``SegformerHead`` decode head is built as vnseg's ``FusedSegformerHead`` (the fusion
  conv applied per stage before the upsampling: the same weights, logits and gradients up to float
  rounding, much less work in the backward pass; checkpoints load into either head);

- ``channels_last``: vnseg's ``ChannelsLastHook`` (NHWC parameters and input batch; oneDNN convolutions);
- ``bf16``: the plain ``OptimWrapper`` becomes vnseg's ``CpuAmpOptimWrapper`` (``torch.autocast('cpu',
  dtype=torch.bfloat16)`` in the forward, float32 master weights; fast only where ``lscpu`` shows
  ``avx512_bf16`` or ``amx_bf16``);
- ``compile``: True: mmengine's ``compile`` option (``torch.compile`` of the whole ``train_step``; with
  torch 2.13 TorchDynamo fails in the optimizer step); ``'model'``: vnseg's ``CompileModelHook``
  (``torch.compile`` of the model's forward and losses, the optimizer step eager); or a dict of
  ``torch.compile``'s arguments with ``target='model'`` or ``'train_step'``;
- ``threads`` / ``interop_threads``: ``torch.set_num_threads`` / ``torch.set_num_interop_threads``
  (None: torch's default, one thread per core);
- ``num_workers``: the train data loader's worker processes (0: load in the training process);
- ``image_cache_mb``: the train pipeline's ``LoadImageFromFile`` becomes vnseg's
  ``CachedLoadImageFromFile`` with this bound (MiB per data-loader process): each scene is decoded once,
  not once per crop; the same images, so the same data stream (None: off).

:func:`apply_cpu_speedups` applies them; ``vnseg train`` calls it unless ``--no-cpu-speedups``, and it
changes nothing where CUDA is available (GPU training is unchanged). **Nothing is on by default**:
:data:`DEFAULT_CPU_SPEEDUPS` is today's training. A speed-up is adopted as the recipe's CPU default
once ``benchmarks/train_step.py`` has measured it, by one line in
``configs/_base_/recipes/vnseg_recipe.py`` (e.g. ``cpu_speedups = dict(channels_last=True)``);
``--cfg-options cpu_speedups.channels_last=True`` tries one for a single run.
"""
import copy
from typing import List, Optional

#: today's training: no CPU speed-up (a config's ``cpu_speedups`` overrides keys of this)
DEFAULT_CPU_SPEEDUPS = dict(fused_head=False, channels_last=False, bf16=False, compile=False, threads=None,
                            interop_threads=None, num_workers=None, image_cache_mb=None)

_PLAIN_WRAPPERS = ('OptimWrapper', 'mmengine.OptimWrapper')
_IMAGE_LOADERS = ('LoadImageFromFile', 'mmseg.LoadImageFromFile', 'mmcv.LoadImageFromFile')


def cpu_speedups_of(cfg) -> dict:
    """:data:`DEFAULT_CPU_SPEEDUPS` updated with the config's ``cpu_speedups``, checked: a bad key or
    value is a :class:`vnseg.core.errors.UserError` (a ValueError; ``vnseg train`` prints one error line)."""
    from vnseg.core.errors import UserError

    asked = dict(cfg.get('cpu_speedups') or {})
    unknown = sorted(set(asked) - set(DEFAULT_CPU_SPEEDUPS))
    if unknown:
        raise UserError('cpu_speedups', f'unknown key(s) {", ".join(unknown)} '
                                        f'(known: {", ".join(DEFAULT_CPU_SPEEDUPS)})')
    speedups = copy.deepcopy(DEFAULT_CPU_SPEEDUPS)
    speedups.update(asked)
    compile_ = speedups['compile']
    if not (isinstance(compile_, (bool, dict)) or compile_ == 'model') or (
            isinstance(compile_, dict) and compile_.get('target', 'train_step') not in ('model', 'train_step')):
        raise UserError('cpu_speedups.compile', f"must be False, True, 'model' or a dict of torch.compile's "
                                                f"arguments with target='model' or 'train_step', got {compile_!r}")
    for key, low in (('threads', 1), ('interop_threads', 1), ('num_workers', 0)):
        value = speedups[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise UserError(f'cpu_speedups.{key}', f'must be None or a whole number >= {low}, got {value!r}')
    cache = speedups['image_cache_mb']
    if cache is not None and (isinstance(cache, bool) or not isinstance(cache, (int, float)) or not cache > 0):
        raise UserError('cpu_speedups.image_cache_mb', f'must be None or a number of MiB > 0, got {cache!r}')
    return speedups


def _pipelines(dataset):
    """The pipeline lists of a dataset config and of the datasets it wraps (ConcatDataset, RepeatDataset)."""
    if not isinstance(dataset, dict):
        return []
    found = [dataset['pipeline']] if isinstance(dataset.get('pipeline'), list) else []
    found += _pipelines(dataset.get('dataset'))
    for child in dataset.get('datasets') or []:
        found += _pipelines(child)
    return found


def apply_cpu_speedups(cfg, enabled: bool = True, cuda_available: Optional[bool] = None) -> List[str]:
    """Apply the config's CPU speed-ups (:func:`cpu_speedups_of`) to ``cfg`` in place, and the thread
    settings to this process; call it before the runner is built. Returns the changes made (strings,
    also logged). Nothing changes with ``enabled=False`` or where CUDA is available."""
    import torch

    speedups = cpu_speedups_of(cfg)  # a bad key fails on every machine, not only on CPU ones
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if not enabled or cuda_available:
        return []
    changes = []
    if speedups['fused_head']:
        head = (cfg.get('model') or {}).get('decode_head')
        if isinstance(head, dict) and head.get('type') in ('SegformerHead', 'mmseg.SegformerHead'):
            head['type'] = 'FusedSegformerHead'
            changes.append('SegformerHead computed as FusedSegformerHead (the same weights and outputs)')
    if speedups['channels_last']:
        hooks = list(cfg.get('custom_hooks') or [])
        if not any(h.get('type') in ('ChannelsLastHook', 'mmseg.ChannelsLastHook') for h in hooks):
            hooks.append(dict(type='ChannelsLastHook'))
            cfg.custom_hooks = hooks
        changes.append('channels_last (ChannelsLastHook)')
    if speedups['bf16']:
        wrapper = cfg.get('optim_wrapper')
        if wrapper is not None and wrapper.get('type', 'OptimWrapper') in _PLAIN_WRAPPERS:
            wrapper['type'] = 'CpuAmpOptimWrapper'
            wrapper.setdefault('dtype', 'bfloat16')
            changes.append('bf16 autocast, float32 master weights (CpuAmpOptimWrapper)')
        elif wrapper is not None and wrapper.get('type') != 'CpuAmpOptimWrapper':
            changes.append(f"bf16 not applied: optim_wrapper is {wrapper.get('type')}, not OptimWrapper")
    if speedups['compile']:
        options = dict(speedups['compile']) if isinstance(speedups['compile'], dict) else {}
        target = options.pop('target', 'model' if speedups['compile'] == 'model' else 'train_step')
        if target == 'model':
            hooks = list(cfg.get('custom_hooks') or [])
            if not any(h.get('type') in ('CompileModelHook', 'mmseg.CompileModelHook') for h in hooks):
                hooks.append(dict(type='CompileModelHook', **options))
                cfg.custom_hooks = hooks
            changes.append(f'torch.compile of the model forward (CompileModelHook{options or ""})')
        elif not cfg.get('compile'):
            cfg.compile = options or True
            changes.append(f"torch.compile of train_step (mmengine's compile={cfg.compile})")
    if speedups['num_workers'] is not None and cfg.get('train_dataloader') is not None:
        loader = cfg.train_dataloader
        loader.num_workers = speedups['num_workers']
        loader.persistent_workers = speedups['num_workers'] > 0
        if speedups['num_workers'] == 0:
            loader.pop('prefetch_factor', None)  # torch's DataLoader refuses it without workers
        changes.append(f"train data loader: {speedups['num_workers']} worker(s)")
    if speedups['image_cache_mb'] is not None and cfg.get('train_dataloader') is not None:
        cached = 0
        for pipeline in _pipelines(cfg.train_dataloader.get('dataset')):
            for step in pipeline:
                if isinstance(step, dict) and step.get('type') in _IMAGE_LOADERS:
                    step['type'] = 'CachedLoadImageFromFile'
                    step['cache_mb'] = speedups['image_cache_mb']
                    cached += 1
        if cached:
            changes.append(f"train images decoded once per data-loader process (CachedLoadImageFromFile, "
                           f"at most {speedups['image_cache_mb']} MiB each)")
    if speedups['threads'] is not None:
        torch.set_num_threads(speedups['threads'])
        changes.append(f"torch threads: {speedups['threads']}")
    if speedups['interop_threads'] is not None:
        try:
            torch.set_num_interop_threads(speedups['interop_threads'])
            changes.append(f"torch inter-op threads: {speedups['interop_threads']}")
        except RuntimeError as exc:  # only before any inter-op parallel work of this process
            changes.append(f'inter-op threads not set: {exc}')
    if changes:
        from mmengine.logging import print_log
        for change in changes:
            print_log(f'vnseg CPU speed-up: {change} (vnseg train --no-cpu-speedups: none)', logger='current')
    return changes
