"""High-level APIs (whole-scene inference).

``import vnseg`` (``vnseg.compat``, fix 4) makes ``mmseg.apis.init_model`` and ``MMSegInferencer``
take class names and palette from the config's dataset when a checkpoint has none (instead of
Cityscapes').
"""
from .large_image import LargeImageResult, infer_large_image, load_model
from .meta import dataset_meta_from_config, init_model

__all__ = ['infer_large_image', 'LargeImageResult', 'load_model', 'init_model',
           'dataset_meta_from_config']
