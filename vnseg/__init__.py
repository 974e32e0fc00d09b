"""vnseg: semantic segmentation of drone imagery of Vietnam on MMSegmentation.

``import vnseg`` (and ``import vnseg.data``) loads neither torch nor mmengine: the annotation-processing
side of the package stays light. Everything vnseg adds to mmseg -- the compatibility fixes for today's
torch/numpy and the registration of its datasets, transforms, models and metric -- is applied by one
module, :mod:`vnseg.mmseg_ext`, which configs load with
``custom_imports = dict(imports=['vnseg.mmseg_ext'], allow_failed_imports=False)`` and which the tools
and :mod:`vnseg.apis` import themselves.

Layout: :mod:`vnseg.data` annotation processing (JSON -> masks -> patches); :mod:`vnseg.datasets`,
:mod:`vnseg.models`, :mod:`vnseg.evaluation` components registered into mmseg; :mod:`vnseg.apis` and
:mod:`vnseg.geo` inference on whole scenes and GIS outputs.
"""
from .version import __version__

__all__ = ['__version__']
