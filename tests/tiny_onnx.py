"""A real crop of the Kampala drone mosaic and the tiny demo SegFormer exported to ONNX, for tests.

The model has seeded random weights (no training, no download): enough for tests that compare two
ways of running the same model. Tests that need a model that has learnt something train one instead.
"""
from pathlib import Path

import numpy as np

from conftest import REPO, require_shared_data

CFG = REPO / 'configs' / 'segformer_tiny_demo_vn.py'


def kampala_crop(path: Path, width: int = 560, height: int = 400, corner=(130, 90)) -> Path:
    """Write a ``width`` x ``height`` RGBA GeoTIFF cut from the Kampala mosaic at column 1100, row 700.

    The alpha band is 0 (transparent) over the top-left ``corner`` (columns, rows) and 255 elsewhere.
    """
    import rasterio
    from rasterio.windows import Window
    src_path = require_shared_data('kampala_drone', 'kampala_oam_z21_mosaic.tif')
    with rasterio.open(src_path) as src:
        win = Window(1100, 700, width, height)
        rgb = src.read([1, 2, 3], window=win)
        prof = dict(driver='GTiff', width=width, height=height, count=4, dtype='uint8', crs=src.crs,
                    transform=src.window_transform(win))
    alpha = np.full((1, height, width), 255, np.uint8)
    alpha[:, :corner[1], :corner[0]] = 0
    ci = rasterio.enums.ColorInterp
    with rasterio.open(path, 'w', **prof) as dst:
        dst.write(np.concatenate([rgb, alpha]))
        dst.colorinterp = [ci.red, ci.green, ci.blue, ci.alpha]
    return path


def tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save the tiny demo SegFormer with seeded random weights as a checkpoint at ``path``."""
    import torch
    from vnseg.apis.model_loading import inference_config, load_model
    torch.manual_seed(seed)
    model = load_model(inference_config(str(CFG)), None, device='cpu', random_weights=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def export_tiny_onnx(tmp: Path, parity_image: Path, tile: int = 128):
    """The tiny demo model as ``(checkpoint, onnx)`` under ``tmp``, exported by ``vnseg export`` (its parity
    check run on ``parity_image``)."""
    from vnseg.commands.export import main as export
    ckpt = tiny_checkpoint(tmp / 'tiny.pth')
    onnx_path = tmp / 'tiny.onnx'
    assert export([str(CFG), str(ckpt), '--out', str(onnx_path), '--tile', str(tile),
                   '--parity-image', str(parity_image)]) == 0
    return ckpt, onnx_path
