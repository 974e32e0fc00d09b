"""``TeacherCacheImages``: the unlabelled images of a teacher-label cache, as a training dataset."""
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from vnseg.distill.teacher_cache import TeacherCache
from .vn_drone import VNDroneDataset


@DATASETS.register_module()
class TeacherCacheImages(VNDroneDataset):
    """The images of ``cache_dir`` (a ``vnseg teacher-labels`` cache) of one ``group``, without masks.

    One sample per image whose soft labels are finished, in key order, with ``seg_map_path = None``:
    ``LoadAnnotationsOrIgnore`` gives it an all-ignore mask, so it trains the distillation term only.
    The images are read from where the cache run found them (the paths in the manifest's
    ``sources``); the images the run could not read are left out and counted in the log.
    Same classes and palette as :class:`VNDroneDataset`, so it concatenates with the labelled scenes
    (mmengine's ``ConcatDataset``).

    Args:
        cache_dir: the cache folder.
        group: ``'unlabelled'`` (default) or ``'train'``.
        **kwargs: ``BaseSegDataset``'s (``pipeline``, ...); ``data_root``/``data_prefix`` are unused.
    """

    def __init__(self, cache_dir, group='unlabelled', **kwargs):
        self.cache_dir = str(cache_dir)
        self.group = group
        if not TeacherCache.read(self.cache_dir).done_keys(group):
            # a cache made without unlabelled images: an empty dataset (mmengine cannot serialise an empty list)
            kwargs['serialize_data'] = False
        super().__init__(**kwargs)

    def load_data_list(self):
        cache = TeacherCache.read(self.cache_dir)
        keys = cache.done_keys(self.group)
        failed = [k for k in cache.manifest['failed'] if cache.manifest['images'][k]['group'] == self.group]
        if failed:
            print_log(f'TeacherCacheImages: {len(failed)} {self.group} image(s) of {self.cache_dir} have no '
                      f'soft labels (unreadable) and are left out: {", ".join(failed[:5])}', logger='current',
                      level=30)
        sources = cache.manifest['sources']
        data_list = []
        for key in keys:
            entry = cache.manifest['images'][key]
            data_list.append(dict(img_path=f"{sources[entry['source']]['path']}/{entry['rel']}", seg_map_path=None,
                                  label_map=self.label_map, reduce_zero_label=self.reduce_zero_label,
                                  seg_fields=[]))
        return data_list
