"""High-level APIs (whole-scene inference).

Importing this package applies :mod:`vnseg.mmseg_ext` (vnseg's fixes and registrations): among them,
``mmseg.apis.init_model`` and ``MMSegInferencer`` take class names and palette from the config's dataset
when a checkpoint has none (instead of Cityscapes'), ``vnseg.compat`` fix 3.
"""
import vnseg.mmseg_ext  # noqa: F401  (fixes and registrations before any mmseg API runs)

from .large_image import LargeImageResult, infer_large_image, load_model
from .meta import dataset_meta_from_config, init_model

__all__ = ['infer_large_image', 'LargeImageResult', 'load_model', 'init_model',
           'dataset_meta_from_config']
