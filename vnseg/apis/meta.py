"""Class names and palette of inference models: :func:`init_model` (``mmseg.apis.init_model`` with
vnseg's fixes applied) and the helpers of :mod:`vnseg.openmmlab.dataset_meta`, re-exported.

The logic (metadata from the checkpoint, else from the config's dataset; weights loaded strictly) lives
in :mod:`vnseg.openmmlab.dataset_meta`, below :mod:`vnseg.mmseg_ext`, which patches mmseg's ``init_model`` and
``MMSegInferencer`` with it.
"""
from __future__ import annotations

from typing import Optional

from vnseg.openmmlab.dataset_meta import dataset_meta_from_config, resolve_dataset_meta

__all__ = ['dataset_meta_from_config', 'resolve_dataset_meta', 'init_model']


def init_model(config, checkpoint: Optional[str] = None, device: str = 'cuda:0',
               cfg_options: Optional[dict] = None):
    """``mmseg.apis.init_model`` with ``dataset_meta`` from the checkpoint or, failing that, the config,
    and strict weight loading (what ``mmseg.apis.init_model`` itself does once :mod:`vnseg.mmseg_ext`
    is imported; this function imports it)."""
    import mmseg.apis.inference as inference

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    return inference.init_model(config, checkpoint, device=device, cfg_options=cfg_options)
