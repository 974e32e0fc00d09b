"""``LoadAnnotationsFromRasterio``: read a single-band (Geo)TIFF label mask with rasterio.

A drop-in replacement for mmseg's ``LoadAnnotations`` for TIFF masks (see
``load_rasterio_image.py`` for why rasterio). It honours the same per-sample keys the mmseg
datasets put in every data info: ``label_map`` (old id -> new id, how ``OpenEarthMapDataset``
remaps OEM's 9 classes onto vnseg's 5) and ``reduce_zero_label``.
"""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

try:
    import rasterio
except ImportError:  # pragma: no cover - rasterio is a runtime requirement
    rasterio = None


def label_lut(label_map, reduce_zero_label=False):
    """A 256-entry uint8 lookup table applying ``reduce_zero_label`` then ``label_map``.

    Same semantics as mmseg's ``LoadAnnotations``: with ``reduce_zero_label`` 0 becomes 255 and
    every other id drops by one (255 stays 255); then each ``old -> new`` pair of ``label_map`` is
    applied simultaneously (ids absent from the map are kept).
    """
    lut = np.arange(256, dtype=np.uint8)
    if reduce_zero_label:
        lut = np.where(lut == 0, 255, lut - 1).astype(np.uint8)
        lut[255] = 255
    if label_map:
        mapped = lut.copy()
        for old_id, new_id in label_map.items():
            mapped[lut == old_id] = new_id
        lut = mapped
    return lut


@TRANSFORMS.register_module()
class LoadAnnotationsFromRasterio(BaseTransform):
    """Load ``results['seg_map_path']`` (band 1, integer class ids 0-255) with rasterio.

    Added keys: ``gt_seg_map`` (``np.ndarray`` uint8, shape ``(H, W)``, class ids after
    ``label_map``) and ``'gt_seg_map'`` appended to ``seg_fields``.

    Args:
        band (int): 1-based band holding the class ids. Default 1.
    """

    def __init__(self, band=1):
        if rasterio is None:
            raise RuntimeError('LoadAnnotationsFromRasterio needs rasterio (pip install rasterio)')
        self.band = int(band)

    def transform(self, results):
        path = results['seg_map_path']
        with rasterio.open(path) as src:
            seg = src.read(self.band)
        if seg.min(initial=0) < 0 or seg.max(initial=0) > 255:
            raise ValueError(f'{path}: class ids must lie in 0..255, got {seg.min()}..{seg.max()}')
        lut = label_lut(results.get('label_map'), results.get('reduce_zero_label', False))
        results['gt_seg_map'] = lut[seg.astype(np.uint8)]
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(band={self.band})'
