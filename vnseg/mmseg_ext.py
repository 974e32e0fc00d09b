"""Everything vnseg adds to mmseg, applied by one import: ``import vnseg.mmseg_ext``.

1. :func:`vnseg.openmmlab.compat.apply` -- the stack's compatibility fixes for today's torch and numpy, among them
   mmseg's loaders routed through vnseg's strict ones (mmengine's reader of local checkpoint files, the
   class names and palette of ``mmseg.apis.init_model`` / ``MMSegInferencer``);
2. the registration of vnseg's datasets and transforms (:mod:`vnseg.datasets`), models, heads and
   losses (:mod:`vnseg.models`), metric (:mod:`vnseg.evaluation`) and training hooks
   (:mod:`vnseg.engine`: ``AtomicCheckpointHook``, ``ClassWeightsHook``) into mmseg's registries
   (scope ``mmseg``).

Configs load it with ``custom_imports = dict(imports=['vnseg.mmseg_ext'], allow_failed_imports=False)``
(``configs/_base_/default_runtime.py``); the tools and :mod:`vnseg.apis` import it. Importing it again,
or in any order relative to mmseg's own modules, changes nothing: the fixes are idempotent and patch
the functions mmseg calls, not names that another module may already have imported.
Layer 3 (the layers: :mod:`vnseg`): above everything it applies or registers (layers 1-2), below
:mod:`vnseg.apis` and the commands.
"""
from vnseg.openmmlab import checkpoints, compat, dataset_meta

compat.apply()

from vnseg import datasets, engine, evaluation, models  # noqa: E402  (registration, after the fixes)

__all__ = ['checkpoints', 'compat', 'dataset_meta', 'datasets', 'engine', 'evaluation', 'models']
