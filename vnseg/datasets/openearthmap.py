"""OpenEarthMap (OEM) read with vnseg's 5 classes, for pretraining before fine-tuning on drone data.

OEM's layout (as downloaded, e.g. ``OpenEarthMap_wo_xBD/``)::

    <data_root>/train.txt, val.txt, test.txt     one file name per line, e.g. ``aachen_1.tif``
    <data_root>/<region>/images/<region>_<n>.tif  RGB GeoTIFF, uint8
    <data_root>/<region>/labels/<region>_<n>.tif  1 band, uint8 class ids (below)

OEM classes: 0 unknown, 1 bareland, 2 rangeland, 3 developed space, 4 road, 5 tree, 6 water,
7 agriculture, 8 building. They are remapped onto :mod:`vnseg.core.classes` when the mask is loaded
(through the ``label_map`` every data info carries, which both mmseg's ``LoadAnnotations`` and
vnseg's ``LoadAnnotationsFromRasterio`` apply): 0 -> 255 (ignore), 4 -> 1 road, 6 -> 2 water,
5 -> 3 tree, 8 -> 4 building, and the land-cover classes 1, 2, 3, 7 -> 0 background
(``label_mode='merge'``, default) or -> 255 (``label_mode='safe'``: they are ignored, for the
ablation that does not teach "background" from OEM's definition of it).
"""
import os.path as osp

import mmengine
from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from vnseg.core.classes import CLASSES, IGNORE_INDEX, PALETTE
# Registers the TIFF loaders the OEM pipelines use.
from vnseg.datasets.transforms import load_rasterio_annotations, load_rasterio_image  # noqa: F401

#: OEM class names, index = OEM label id.
OEM_CLASSES = ('unknown', 'bareland', 'rangeland', 'developed space', 'road', 'tree', 'water',
               'agriculture', 'building')

#: OEM id -> vnseg id, per ``label_mode``.
OEM_LABEL_MAPS = {
    'merge': {0: IGNORE_INDEX, 1: 0, 2: 0, 3: 0, 4: 1, 5: 3, 6: 2, 7: 0, 8: 4},
    'safe': {0: IGNORE_INDEX, 1: IGNORE_INDEX, 2: IGNORE_INDEX, 3: IGNORE_INDEX,
             4: 1, 5: 3, 6: 2, 7: IGNORE_INDEX, 8: 4},
}


def oem_region(name):
    """Region folder of an OEM file name: ``'aachen_12.tif'`` -> ``'aachen'`` (text before the
    last ``_``, so multi-word regions such as ``'santa_cruz_3.tif'`` work too)."""
    stem = osp.splitext(osp.basename(name))[0]
    if '_' not in stem:
        raise ValueError(f'not an OEM file name (<region>_<n>.tif): {name!r}')
    return stem.rsplit('_', 1)[0]


@DATASETS.register_module()
class OpenEarthMapDataset(BaseSegDataset):
    """OEM images and masks listed by a split file, with labels remapped to vnseg's classes.

    Args:
        ann_file (str): Split file (``train.txt``...), relative to ``data_root``; lines are file
            names with or without ``.tif``. Required.
        label_mode (str): ``'merge'`` (OEM land-cover classes -> background) or ``'safe'``
            (-> ignored). See the module docstring.
        skip_missing (bool): Drop names whose image is absent (default True): OEM's public
            ``OpenEarthMap_wo_xBD`` release lists the xBD-derived tiles in its split files without
            shipping them. With False a missing image raises ``FileNotFoundError``.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments (``data_root``, ``pipeline``,
            ``test_mode``...). ``data_prefix`` is not used: paths follow OEM's layout.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, ann_file='', label_mode='merge', skip_missing=True, img_suffix='.tif',
                 seg_map_suffix='.tif', reduce_zero_label=False, lazy_init=False, **kwargs):
        if label_mode not in OEM_LABEL_MAPS:
            raise ValueError(f'label_mode must be one of {sorted(OEM_LABEL_MAPS)}, got {label_mode!r}')
        if reduce_zero_label:
            raise ValueError('OpenEarthMapDataset maps OEM id 0 to ignore itself; '
                             'reduce_zero_label must stay False')
        self.label_mode = label_mode
        self.skip_missing = skip_missing
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, lazy_init=True, **kwargs)
        # BaseSegDataset derives label_map from class-name subsets only; OEM needs a many-to-one
        # map, set here before the data list (which copies it into every data info) is built.
        self.label_map = dict(OEM_LABEL_MAPS[label_mode])
        self._metainfo.update(label_map=self.label_map, label_mode=label_mode)
        if not lazy_init:
            self.full_init()

    def load_data_list(self):
        """One data info per existing name of the split file, paths per OEM's layout."""
        if not self.ann_file or not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'OEM split file not found: {self.ann_file!r}')
        root = self.data_root or ''
        data_list, missing = [], []
        for line in mmengine.list_from_file(self.ann_file, backend_args=self.backend_args):
            name = line.strip()
            if not name:
                continue
            stem = name[:-len(self.img_suffix)] if name.endswith(self.img_suffix) else name
            region = oem_region(stem + self.img_suffix)
            img_path = osp.join(root, region, 'images', stem + self.img_suffix)
            if not osp.isfile(img_path):
                if not self.skip_missing:
                    raise FileNotFoundError(img_path)
                missing.append(name)
                continue
            data_list.append(dict(
                img_path=img_path,
                seg_map_path=osp.join(root, region, 'labels', stem + self.seg_map_suffix),
                label_map=self.label_map,
                reduce_zero_label=False,
                seg_fields=[]))
        if missing:
            print_log(f'OpenEarthMapDataset: {len(missing)} name(s) of {self.ann_file} have no '
                      f'image (e.g. {missing[0]}) and were skipped', logger='current')
        return data_list
