"""Tiny datasets on disk in the layouts vnseg's dataset classes read: OpenEarthMap's GeoTIFFs and vnseg's prepared
PNGs (tests/datasets and tests/configs)."""
import os
import os.path as osp

import numpy as np

OEM_H, OEM_W = 24, 40  # not square: a transposed read would show


def oem_label(seed, h=OEM_H, w=OEM_W):
    """An (h, w) uint8 mask holding every OEM id 0..8, shifted per tile."""
    return ((np.arange(h * w).reshape(h, w) + seed) % 9).astype(np.uint8)


def oem_image(seed, h=OEM_H, w=OEM_W):
    """A (3, h, w) uint8 RGB raster; band b (1-based) holds 10*b + seed + column % 5."""
    cols = np.arange(w)[None, :] % 5
    return np.stack([np.broadcast_to(10 * b + seed + cols, (h, w))
                     for b in (1, 2, 3)]).astype(np.uint8)


def write_geotiff(path, array):
    """Write a (C, H, W) or (H, W) uint8 array as an LZW GeoTIFF (UTM 48N, 0.5 m pixels)."""
    from rasterio.transform import from_origin
    array = array[None] if array.ndim == 2 else array
    profile = dict(driver='GTiff', height=array.shape[1], width=array.shape[2],
                   count=array.shape[0], dtype='uint8', compress='lzw', crs='EPSG:32648',
                   transform=from_origin(580000.0, 2330000.0, 0.5, 0.5))
    import rasterio
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(array)


def write_oem_fixture(root, h=OEM_H, w=OEM_W):
    """OEM layout under ``root`` with (h, w) tiles: train = aachen_1, santa_cruz_3 and a
    listed-but-absent tile (like the xBD tiles of OpenEarthMap_wo_xBD); val = aachen_2.
    Returns ``root`` (str)."""
    root = str(root)
    tiles = {'aachen_1.tif': 0, 'aachen_2.tif': 1, 'santa_cruz_3.tif': 2}
    for name, seed in tiles.items():
        region = name.rsplit('_', 1)[0]
        for sub in ('images', 'labels'):
            os.makedirs(osp.join(root, region, sub), exist_ok=True)
        write_geotiff(osp.join(root, region, 'images', name), oem_image(seed, h, w))
        write_geotiff(osp.join(root, region, 'labels', name), oem_label(seed, h, w))
    with open(osp.join(root, 'train.txt'), 'w') as f:
        f.write('aachen_1.tif\nsanta_cruz_3.tif\nnapa_7.tif\n')
    with open(osp.join(root, 'val.txt'), 'w') as f:
        f.write('aachen_2.tif\n')
    return root


def write_vn_fixture(root, size=64, per_split=2):
    """vnseg's prepared layout (``img_dir/<split>/*.png``, ``ann_dir/<split>/*.png``) with random
    RGB patches and masks of ids 0..4 plus some 255. Returns ``root`` (str)."""
    from PIL import Image
    root = str(root)
    rng = np.random.default_rng(0)
    for split in ('train', 'val', 'test'):
        os.makedirs(osp.join(root, 'img_dir', split), exist_ok=True)
        os.makedirs(osp.join(root, 'ann_dir', split), exist_ok=True)
        for i in range(per_split):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            mask = rng.integers(0, 5, (size, size), dtype=np.uint8)
            mask[:4] = 255
            Image.fromarray(img).save(osp.join(root, 'img_dir', split, f'{split}_{i}.png'))
            Image.fromarray(mask).save(osp.join(root, 'ann_dir', split, f'{split}_{i}.png'))
    return root
