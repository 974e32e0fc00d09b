"""vnseg evaluation: the ``VNIoUMetric`` metric, and the library behind the report tools.

Importing this package registers ``VNIoUMetric`` in mmseg's ``METRICS``. The other modules
(each one job) load on first use, so ``import vnseg`` does not pull in matplotlib:

* :mod:`.metrics_file` — read/write the metrics JSON of a run (``metrics_test.json``).
* :mod:`.confusion` — confusion matrices: compute, normalise, IoU/Acc from them, CSV.
* :mod:`.inference` — load a model from config (+ checkpoint), list test patches, predict.
* :mod:`.logs` — read ``scalars.json`` training/validation logs.
* :mod:`.plots` — render figures (confusion matrix, IoU bars, training curves, prediction grid).
* :mod:`.figures` — figures that need a model / data first (confusion matrix, prediction grid).
* :mod:`.reports` — the comparison table (markdown / CSV).
"""
import importlib

from .metrics import VNIoUMetric

_SUBMODULES = ('metrics_file', 'confusion', 'inference', 'logs', 'plots', 'figures', 'reports')

__all__ = ['VNIoUMetric', *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
