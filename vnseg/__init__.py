"""vnseg: semantic segmentation of drone imagery of Vietnam on MMSegmentation.

``import vnseg`` (and ``import vnseg.data``) loads neither torch nor mmengine: the annotation-processing
side of the package stays light. Everything vnseg adds to mmseg -- the compatibility fixes for today's
torch/numpy and the registration of its datasets, transforms, models and metric -- is applied by one
module, :mod:`vnseg.mmseg_ext`, which configs load with
``custom_imports = dict(imports=['vnseg.mmseg_ext'], allow_failed_imports=False)`` and which the
commands and :mod:`vnseg.apis` import themselves.

Layers, bottom first. A package imports only packages of the layers below its own (never a package of
its own layer, never one above); ``tests/test_import_graph.py`` enforces it::

    0  vnseg.core        what everything shares: errors, atomic writes, class names, config walking,
                         tiled GeoTIFFs, the version
    1  vnseg.data        annotations -> masks -> patches; image reading
    1  vnseg.distill     where a teacher's soft labels are stored
    1  vnseg.openmmlab   the OpenMMLab stack: its fixes, checkpoints, pretrained weights, a model's classes
    2  vnseg.datasets    the mmseg plug-in: datasets and transforms,
    2  vnseg.models      models, heads, losses, segmentors,
    2  vnseg.engine      training hooks and optimiser wrappers,
    2  vnseg.evaluation  the metric
    3  vnseg.mmseg_ext   the plug-in applied and registered (what configs load)
    3  vnseg.geo         rasters and vectors of whole scenes: GIS outputs, areas, samples, reports
    3  vnseg.inference   tile models and the sliding-window loop
    4  vnseg.deploy      ONNX export, int8, model cards
    4  vnseg.apis        whole-scene inference and model loading (the Python API)
    5  vnseg.reports     tables and figures of trained runs
    6  vnseg.commands    the ``vnseg`` command line: flags, one-line errors, exit codes
    7  vnseg.testing     generated scenes for the tests and the demo (not in the wheel)

Library code raises plain errors (:mod:`vnseg.core.errors`); only :mod:`vnseg.commands` turns them into
flags, one-line messages and exit codes.
"""
from .core.version import __version__

__all__ = ['__version__']
