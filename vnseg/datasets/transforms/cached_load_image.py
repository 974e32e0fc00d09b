"""``CachedLoadImageFromFile``: mmcv's ``LoadImageFromFile`` that keeps the images it decoded in memory.

The recipe trains on whole scenes cropped online: every sample decodes one whole scene (most of the
recipe's data pipeline's CPU time: docs/results.md, "CPU speed") to keep a 256 px crop of it,
and the same few hundred scenes are decoded again in every epoch. On a machine whose cores also run the
model (a CPU training), that decoding takes the cores from the training step. This loader decodes each
file once per process and hands out copies of the decoded array afterwards: the same arrays, so the
same data stream and the same loss curve, bit for bit.

The cache is per process (each data-loader worker holds its own), least recently used first out, and
bounded by ``cache_mb``; an image larger than the bound is not kept. A file is looked up by its path:
files that change during a training are not re-read.
"""
from collections import OrderedDict

from mmcv.transforms import LoadImageFromFile
from mmseg.registry import TRANSFORMS


class CacheSizeError(ValueError):
    """A ``cache_mb`` that is not a number of MiB > 0."""

    #: a user's mistake: tools report it as one line (:mod:`vnseg.commands.cli`)
    user_error = True


@TRANSFORMS.register_module()
class CachedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` (same arguments, same results) with an in-memory cache of decoded images.

    Added/modified keys, as ``LoadImageFromFile``'s: ``img`` (``(H, W, C)`` array, a copy of the
    cached one: later transforms may write into it), ``img_shape`` and ``ori_shape`` (``(H, W)``, px).

    Args:
        cache_mb (float): the most memory the decoded images of one process may take, in MiB (> 0).
        **kwargs: ``LoadImageFromFile``'s arguments (``to_float32``, ``color_type``,
            ``imdecode_backend``, ``backend_args``, ``ignore_empty``).
    """

    def __init__(self, cache_mb: float = 512, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, (int, float)) or not cache_mb > 0:
            raise CacheSizeError(f'CachedLoadImageFromFile: cache_mb must be a number > 0 (MiB), got {cache_mb!r}')
        self.cache_mb = cache_mb
        self._capacity = int(cache_mb * 2 ** 20)
        self._images = OrderedDict()  # path -> decoded array, least recently used first
        self._bytes = 0

    def transform(self, results: dict):
        path = results['img_path']
        img = self._images.get(path)
        if img is None:
            results = super().transform(results)
            if results is None:  # ignore_empty and an unreadable file: nothing to keep
                return None
            self._keep(path, results['img'])
            results['img'] = results['img'].copy()
            return results
        self._images.move_to_end(path)
        results['img'] = img.copy()
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _keep(self, path, img):
        if img.nbytes > self._capacity:
            return
        while self._bytes + img.nbytes > self._capacity:
            _, old = self._images.popitem(last=False)
            self._bytes -= old.nbytes
        self._images[path] = img
        self._bytes += img.nbytes

    @property
    def cached_bytes(self) -> int:
        """Bytes of decoded images this process holds now."""
        return self._bytes

    def __repr__(self):
        return f'{super().__repr__()[:-1]}, cache_mb={self.cache_mb})'

    def __getstate__(self):  # a copy sent to another process starts empty (it would hold stale copies)
        state = self.__dict__.copy()
        state['_images'] = OrderedDict()
        state['_bytes'] = 0
        return state
