"""vnseg: semantic segmentation of drone imagery of Vietnam on MMSegmentation.

``import vnseg`` first applies the compatibility fixes for today's torch/numpy (``vnseg.compat``),
then registers vnseg's datasets, models and transforms into mmseg's registries (scope ``mmseg``).
Configs load it with ``custom_imports = dict(imports=['vnseg'], allow_failed_imports=False)``.
"""
from .version import __version__
from . import compat

compat.apply()

from . import datasets, evaluation, models  # noqa: E402  (registration side effects, after compat.apply)

__all__ = ["__version__", "compat", "datasets", "evaluation", "models"]
