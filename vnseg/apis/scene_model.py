"""The model of a whole-scene run: a tile model and what its weights are.

:func:`build_tile_model` turns what a user names (a config and a checkpoint, an exported ``.onnx``
file, an mmseg segmentor in memory, or a tile model) into a tile model
(:mod:`vnseg.inference.tile_models`). :class:`SceneModel` keeps it together with where its weights come
from -- the config, the checkpoint, random weights on purpose -- which the outputs' tags and report
name and the resume check compares (:attr:`SceneModel.identity`); :func:`build_scene_model` builds
one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Optional

__all__ = ['SceneModel', 'build_tile_model', 'build_scene_model']


def _is_tile_model(obj) -> bool:
    return hasattr(obj, 'predict') and hasattr(obj, 'num_classes') and not hasattr(obj, 'encode_decode')


def _is_onnx_path(obj) -> bool:
    return isinstance(obj, (str, Path)) and str(obj).lower().endswith('.onnx')


def build_tile_model(model_or_config, checkpoint: Optional[str] = None, device: Optional[str] = None,
                     cfg_options: Optional[dict] = None, tile: Optional[int] = None,
                     random_weights: bool = False, backend: str = 'onnxruntime'):
    """The tile model for ``model_or_config``: a tile model as is; an ``.onnx`` path ->
    :class:`~vnseg.inference.tile_models.OnnxTileModel` on ``backend`` (torch is not imported); an mmseg
    segmentor or a config -> :class:`~vnseg.inference.tile_models.TorchTileModel` (built by
    :func:`vnseg.apis.model_loading.load_model`: the checkpoint is loaded strictly; no checkpoint only
    with ``random_weights``)."""
    from vnseg.inference.tile_models import OnnxTileModel, TorchTileModel
    if _is_tile_model(model_or_config):
        return model_or_config
    if _is_onnx_path(model_or_config):
        if checkpoint is not None:
            raise ValueError(f'{model_or_config}: an ONNX model carries its weights; got a checkpoint too')
        providers = None
        if device is not None:
            providers = ['CUDAExecutionProvider'] if str(device).startswith('cuda') else ['CPUExecutionProvider']
        return OnnxTileModel(model_or_config, providers=providers, backend=backend)
    if backend != 'onnxruntime':
        raise ValueError(f'{model_or_config}: the {backend} backend runs exported ONNX models, not a config')
    from .model_loading import load_model
    return TorchTileModel(load_model(model_or_config, checkpoint, device, cfg_options, random_weights=random_weights),
                          tile=tile)


def _file_identity(path) -> dict:
    st = Path(path).stat()
    return dict(path=str(Path(path).resolve()), bytes=st.st_size, mtime_ns=st.st_mtime_ns)


@dataclass(frozen=True)
class SceneModel:
    """A tile model and where its weights come from.

    Attributes:
        tile_model: what runs the windows (:mod:`vnseg.inference.tile_models`).
        config: the config path it was built from (None: an ONNX file or a model given in memory).
        checkpoint: the weights file it was built with (None: an ONNX file, in-memory or random weights).
        random_weights: an untrained model built on purpose.
    """
    tile_model: object
    config: Optional[str] = None
    checkpoint: Optional[str] = None
    random_weights: bool = False

    @property
    def onnx_path(self) -> Optional[Path]:
        """The ONNX file of an :class:`~vnseg.inference.tile_models.OnnxTileModel`, else None."""
        return getattr(self.tile_model, 'path', None)

    @cached_property
    def identity(self) -> dict:
        """What the strips are computed with, for the resume check: the weight file's identity, else a
        hash of an in-memory model's parameters (computed once)."""
        if self.checkpoint is not None:
            return dict(config=self.config, checkpoint=_file_identity(self.checkpoint))
        if self.onnx_path is not None:
            return dict(onnx=_file_identity(self.onnx_path))
        torch_model = getattr(self.tile_model, 'model', None)
        if torch_model is not None and hasattr(torch_model, 'state_dict'):
            h = hashlib.sha1()
            for k, v in torch_model.state_dict().items():
                h.update(k.encode())
                h.update(v.detach().cpu().contiguous().numpy().tobytes())
            return dict(parameters_sha1=h.hexdigest())
        return dict(name=getattr(self.tile_model, 'name', type(self.tile_model).__name__))

    @property
    def weights_name(self) -> str:
        """The weights as the outputs' ``CHECKPOINT`` tag names them: the file name, ``'random weights'``,
        or ``''`` (weights given in memory)."""
        weights = self.checkpoint or self.onnx_path
        if weights:
            return Path(weights).name
        return 'random weights' if self.random_weights else ''

    @property
    def label(self) -> str:
        """The model as the report names it: its config, its ONNX file, or its name."""
        ident = self.identity
        if ident.get('config'):
            return ident['config']
        if isinstance(ident.get('onnx'), dict):
            return Path(ident['onnx']['path']).name
        return ident.get('name') or 'model given in memory'

    @cached_property
    def checkpoint_meta(self) -> dict:
        """The checkpoint's ``meta`` dict (read once, not once per image); ``{}`` without a checkpoint."""
        if self.checkpoint is None:
            return {}
        from .model_loading import read_checkpoint
        return read_checkpoint(self.checkpoint).get('meta') or {}


def build_scene_model(model_or_config, checkpoint: Optional[str] = None, device: Optional[str] = None,
                      cfg_options: Optional[dict] = None, tile: Optional[int] = None,
                      random_weights: bool = False, backend: str = 'onnxruntime') -> SceneModel:
    """The :class:`SceneModel` of ``model_or_config``: a scene model as is, a tile model with nothing
    known of its weights, else :func:`build_tile_model` with the same arguments and what the weights are.

    Raises:
        vnseg.apis.model_loading.CheckpointError (and its subclasses), ConfigError,
        MissingWeightsError: see :func:`vnseg.apis.model_loading.load_model`; FileNotFoundError /
        ValueError: an unusable ONNX file.
    """
    if isinstance(model_or_config, SceneModel):
        return model_or_config
    if _is_tile_model(model_or_config):  # built elsewhere: nothing is known of its weights
        return SceneModel(model_or_config)
    tile_model = build_tile_model(model_or_config, checkpoint, device, cfg_options, tile=tile,
                                  random_weights=random_weights, backend=backend)
    from_file = isinstance(model_or_config, (str, Path)) and not _is_onnx_path(model_or_config)
    return SceneModel(tile_model, config=str(model_or_config) if from_file else None,
                      checkpoint=None if checkpoint is None else str(checkpoint),
                      random_weights=bool(random_weights))
