"""High-level APIs: the one model loader and whole-scene inference.

:func:`load_model` (:mod:`vnseg.apis.model_loading`) is how every vnseg tool turns a config and a
checkpoint into a model: weights are loaded strictly, unusable checkpoint files are clear errors,
random weights only on request. ``import vnseg`` (``vnseg.compat``) routes
``mmseg.apis.init_model`` and ``MMSegInferencer`` through the same strict loading, with class names
and palette from the config's dataset when a checkpoint has none (instead of Cityscapes').
"""
from .large_image import LargeImageResult, infer_large_image
from .meta import dataset_meta_from_config, init_model
from .model_loading import (CheckpointError, ConfigError, MissingWeightsError, UnsafeCheckpointError,
                            WeightsMismatchError, load_config, load_model, load_weights,
                            read_checkpoint)

__all__ = ['infer_large_image', 'LargeImageResult', 'load_model', 'init_model',
           'dataset_meta_from_config', 'load_config', 'load_weights', 'read_checkpoint',
           'CheckpointError', 'ConfigError', 'MissingWeightsError', 'UnsafeCheckpointError',
           'WeightsMismatchError']
