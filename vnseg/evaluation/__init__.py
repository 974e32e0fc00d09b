"""vnseg's evaluation metric, registered into mmseg's ``METRICS`` on import: ``VNIoUMetric``
(mmseg's IoUMetric plus per-class values and the confusion matrix). The report and figure library
that reads its results lives in :mod:`vnseg.reports`.

Layer 2, the mmseg plug-in: imports only layers 0-1 (the layers: :mod:`vnseg`).
"""
from .metrics import VNIoUMetric

__all__ = ['VNIoUMetric']
