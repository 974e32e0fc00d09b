"""Class names and palette of a model from its config's dataset (what fix 3 of :mod:`vnseg.openmmlab.compat` routes to).

mmseg 1.2.2 takes a model's ``dataset_meta`` (class names + palette) from the checkpoint only. When the
checkpoint has none -- ``weights=None``, a bare ``state_dict``, a converted checkpoint -- it falls back
to Cityscapes' 19 classes (``MMSegInferencer``) or to a dataset guessed by ``num_classes``
(``init_model``), and ``init_model`` with ``checkpoint=None`` sets no ``dataset_meta`` at all (and with
a checkpoint that has no ``meta`` key it raises ``KeyError``). For vnseg's 5-class configs that paints
and names every prediction wrongly.

:func:`vnseg.openmmlab.compat.patch_inference_dataset_meta` (applied by :mod:`vnseg.mmseg_ext`) routes both entry
points through :func:`init_model_with_meta` and :func:`load_weights_with_meta` below: the metadata comes from
the checkpoint when it has it (palette completed from the config when missing), else from the dataset
that the config's ``test_dataloader`` (or ``val_``/``train_``) uses -- its ``metainfo`` override or its
class's ``METAINFO`` (``VNDroneDataset`` -> :data:`vnseg.core.classes.CLASSES` / :data:`vnseg.core.classes.PALETTE`).
Configs without a dataset keep mmseg's behaviour. Weights are loaded strictly
(:mod:`vnseg.openmmlab.checkpoints`).

Used by :mod:`vnseg.openmmlab.compat` and :mod:`vnseg.apis` (which re-exports :func:`dataset_meta_from_config` and
:func:`resolve_dataset_meta`); it imports nothing of :mod:`vnseg.openmmlab.compat`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

__all__ = ['dataset_meta_from_config', 'resolve_dataset_meta', 'fallback_meta', 'init_model_with_meta',
           'load_weights_with_meta']


def _dataset_cfg(ds):
    """Unwrap dataset wrappers (RepeatDataset, ConcatDataset, ...) down to a dataset config."""
    for _ in range(5):
        if ds is None:
            return None
        if ds.get('dataset') is not None:
            ds = ds['dataset']
        elif ds.get('datasets'):
            ds = ds['datasets'][0]
        else:
            return ds
    return ds


def dataset_meta_from_config(cfg) -> Optional[dict]:
    """``{'classes': tuple, 'palette': list}`` of the dataset a config evaluates on, or None.

    Looks at ``test_dataloader``, ``val_dataloader`` then ``train_dataloader``; a dataset's
    ``metainfo=dict(classes=..., palette=...)`` override wins over its class's ``METAINFO``.
    """
    from mmseg.registry import DATASETS
    if cfg is None:
        return None
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        loader = cfg.get(key)
        ds = _dataset_cfg(loader.get('dataset') if loader else None)
        if not ds or not ds.get('type'):
            continue
        meta = {}
        ds_type = ds['type']
        cls = ds_type if isinstance(ds_type, type) else None
        if cls is None:
            try:
                cls = DATASETS.get(ds_type)
            except Exception:
                cls = None
        if cls is not None:
            meta.update(getattr(cls, 'METAINFO', {}) or {})
        meta.update(ds.get('metainfo') or {})
        classes = meta.get('classes')
        if not classes:
            continue
        palette = meta.get('palette')
        if not palette or len(palette) != len(classes):
            palette = _default_palette(len(classes))
        return {'classes': tuple(classes), 'palette': [list(map(int, c)) for c in palette]}
    return None


def _default_palette(n):
    from vnseg.core.classes import PALETTE
    if n <= len(PALETTE):
        return [list(c) for c in PALETTE[:n]]
    import numpy as np
    rng = np.random.RandomState(42)
    return [list(c) for c in PALETTE] + rng.randint(0, 255, (n - len(PALETTE), 3)).tolist()


def resolve_dataset_meta(checkpoint_meta: Optional[dict], cfg) -> Optional[dict]:
    """The model's ``dataset_meta``: the checkpoint's (palette completed) else the config's, else None."""
    ckpt = checkpoint_meta or {}
    from_cfg = dataset_meta_from_config(cfg)
    if ckpt.get('dataset_meta') and ckpt['dataset_meta'].get('classes'):
        classes = tuple(ckpt['dataset_meta']['classes'])
        palette = ckpt['dataset_meta'].get('palette')
    elif ckpt.get('CLASSES'):
        classes, palette = tuple(ckpt['CLASSES']), ckpt.get('PALETTE')
    else:
        return from_cfg
    if not palette or len(palette) != len(classes):
        if from_cfg and tuple(from_cfg['classes']) == classes:
            palette = from_cfg['palette']
        else:
            palette = _default_palette(len(classes))
    return {'classes': classes, 'palette': [list(map(int, c)) for c in palette]}


def init_model_with_meta(orig, config, checkpoint: Optional[str] = None, device: str = 'cuda:0',
                         cfg_options: Optional[dict] = None):
    """Body of the patched ``mmseg.apis.init_model``; ``orig`` is mmseg's own function.

    The model is built by mmseg without weights; a checkpoint is then loaded strictly by
    :func:`vnseg.openmmlab.checkpoints.load_weights` (a missing, unexpected or mis-shaped key is an
    error naming both files, where mmseg would only warn and keep random weights).
    """
    from vnseg.openmmlab.checkpoints import load_config, load_weights, read_checkpoint
    if isinstance(config, (str, Path)):
        config = load_config(config)
    if cfg_options is not None:
        config.merge_from_dict(cfg_options)
        cfg_options = None
    ckpt = None
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint)  # clear errors for unusable files, before building
    model = orig(config, None, device=device)
    ckpt_meta = {}
    if ckpt is not None:
        load_weights(model, ckpt, config=config, checkpoint_name=str(checkpoint))
        if isinstance(ckpt.get('meta'), dict):
            ckpt_meta = ckpt['meta']
    meta = resolve_dataset_meta(ckpt_meta, model.cfg)
    if meta is not None:
        model.dataset_meta = meta
    model.to(device)
    model.eval()
    return model


def load_weights_with_meta(orig, self, model, checkpoint, cfg):
    """Body of the patched ``MMSegInferencer._load_weights_to_model``; ``orig`` is mmseg's.

    Weights are loaded strictly (:func:`vnseg.openmmlab.checkpoints.load_weights`); the file named in
    errors is the ``weights`` the inferencer was given.
    """
    from vnseg.openmmlab.checkpoints import load_weights
    del orig  # mmseg's version loads non-strictly and guesses Cityscapes classes: not used
    ckpt_meta = (checkpoint or {}).get('meta') or {}
    meta = resolve_dataset_meta(ckpt_meta, cfg)
    if checkpoint is not None:
        load_weights(model, checkpoint, config=cfg,
                     checkpoint_name=getattr(self, '_vnseg_weights', None))
    elif meta is not None:
        warnings.warn('MMSegInferencer: no weights given, the model is randomly initialised; classes '
                      "and palette come from the config's dataset")
    if meta is None:  # no dataset in the config, no meta in the checkpoint
        meta = fallback_meta(model)
    model.dataset_meta = meta


def fallback_meta(model) -> dict:
    """vnseg's classes and palette when the model predicts that many classes, else numbered ones."""
    from vnseg.core.classes import CLASSES, PALETTE
    head = getattr(model, 'decode_head', None)
    num_classes = getattr(head, 'num_classes', len(CLASSES))
    if num_classes == len(CLASSES):
        return dict(classes=tuple(CLASSES), palette=[list(c) for c in PALETTE])
    return dict(classes=tuple(f'class_{i}' for i in range(num_classes)),
                palette=_default_palette(num_classes))
