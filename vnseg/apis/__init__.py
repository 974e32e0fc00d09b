"""High-level APIs (whole-scene inference).

Layer 4: imports only layers 0-3, not :mod:`vnseg.deploy` beside it (the layers: :mod:`vnseg`).

Importing this package loads nothing heavy: whole-scene inference on an exported ONNX model needs
neither torch nor OpenMMLab (:mod:`vnseg.inference.tile_models`). The PyTorch entry points
(:func:`load_model`, :func:`init_model`, a config given to :func:`infer_large_image`) apply vnseg's
fixes and registrations to mmseg before they build a model: among them, ``mmseg.apis.init_model`` and
``MMSegInferencer`` take class names and palette from the config's dataset when a checkpoint has none
(instead of Cityscapes').

:func:`load_model` (:mod:`vnseg.apis.model_loading`) is how every vnseg tool turns a config and a
checkpoint into a model: weights are loaded strictly (``mmseg.apis.init_model`` and
``MMSegInferencer`` too, patched by ``vnseg.mmseg_ext`` with :mod:`vnseg.openmmlab.checkpoints` and
:mod:`vnseg.openmmlab.dataset_meta`, which sit below this package), unusable checkpoint files are clear errors,
random weights only on request.
"""
import importlib

_EXPORTS = {
    'infer_large_image': 'large_image', 'LargeImageResult': 'large_image', 'load_model': 'model_loading',
    'load_weights': 'model_loading', 'read_checkpoint': 'model_loading', 'load_config': 'model_loading',
    'CheckpointError': 'model_loading', 'UnsafeCheckpointError': 'model_loading',
    'WeightsMismatchError': 'model_loading', 'ConfigError': 'model_loading',
    'MissingWeightsError': 'model_loading',
    'build_tile_model': 'scene_model', 'build_scene_model': 'scene_model', 'SceneModel': 'scene_model',
    'WindowOptions': 'vnseg.inference.sliding', 'PolygonOptions': 'large_image', 'OutputOptions': 'gis_outputs',
    'infer_images': 'distributed', 'ProcessGroup': 'distributed',
    'init_model': 'meta', 'dataset_meta_from_config': 'meta',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    """Import an exported name's module on first use (PEP 562)."""
    if name in _EXPORTS:
        where = _EXPORTS[name]
        module = importlib.import_module(where if '.' in where else f'.{where}', __name__)
        if _EXPORTS[name] in ('meta', 'model_loading'):
            _apply_mmseg_fixes()
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def _apply_mmseg_fixes():
    """vnseg's compatibility fixes and registrations (imports torch and mmseg)."""
    import vnseg.mmseg_ext  # noqa: F401
