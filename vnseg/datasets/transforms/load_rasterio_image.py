"""``LoadImageFromRasterio``: read a (Geo)TIFF image with rasterio into an mmcv-style array.

Why rasterio and not mmseg's loaders: ``LoadSingleRSImageFromFile`` needs GDAL's Python bindings
(not installed here), and ``LoadImageFromFile`` (cv2/pillow via ``mmcv.imfrombytes``) copes with
plain 8-bit RGB TIFFs but not with everything GeoTIFF writers produce (more than 4 bands, 16-bit or
float bands, ZSTD/LERC compression). rasterio is already a vnseg runtime dependency (GeoTIFF
export) and reads any GDAL raster. The array it returns follows mmcv's convention (``HxWxC``,
**BGR** channel order for a 3-band RGB raster), so the stock ``SegDataPreProcessor`` with
``bgr_to_rgb=True`` treats TIFF and PNG images identically — which matters when a model
pretrained on OpenEarthMap TIFFs is fine-tuned on vnseg PNGs.
"""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

try:
    import rasterio
except ImportError:  # pragma: no cover - rasterio is a runtime requirement
    rasterio = None


@TRANSFORMS.register_module()
class LoadImageFromRasterio(BaseTransform):
    """Load ``results['img_path']`` with rasterio.

    Added/modified keys: ``img`` (``np.ndarray`` of shape ``(H, W, C)``, the raster's dtype, e.g.
    uint8 0-255; float32 when ``to_float32``), ``img_shape`` and ``ori_shape`` (``(H, W)`` in
    pixels).

    Args:
        bands (Sequence[int] | None): 1-based band indexes to read, in the order they are stored
            (R, G, B for OpenEarthMap). ``None`` reads every band. Default ``(1, 2, 3)``: RGB, any
            alpha/NIR band is dropped.
        channel_order (str): ``'bgr'`` (default, mmcv's convention: the read bands are reversed)
            or ``'rgb'`` (kept as stored).
        to_float32 (bool): Convert to float32 (values unchanged). Default False.
    """

    def __init__(self, bands=(1, 2, 3), channel_order='bgr', to_float32=False):
        if rasterio is None:
            raise RuntimeError('LoadImageFromRasterio needs rasterio (pip install rasterio)')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.bands = None if bands is None else [int(b) for b in bands]
        self.channel_order = channel_order
        self.to_float32 = to_float32

    def transform(self, results):
        path = results['img_path']
        with rasterio.open(path) as src:
            if self.bands is not None and max(self.bands) > src.count:
                raise ValueError(f'{path}: has {src.count} band(s), bands={self.bands} requested')
            img = src.read(self.bands)  # (C, H, W)
        img = np.ascontiguousarray(np.transpose(img, (1, 2, 0)))
        if self.channel_order == 'bgr':
            img = np.ascontiguousarray(img[..., ::-1])
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(bands={self.bands}, '
                f"channel_order='{self.channel_order}', to_float32={self.to_float32})")
