"""vnseg's evaluation metrics (registered into mmseg's ``METRICS`` on import)."""
from .vn_iou_metric import VNIoUMetric

__all__ = ['VNIoUMetric']
