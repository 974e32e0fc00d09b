"""A small georeferenced scene mapped by ``vnseg map`` and its sample labelled from a known truth, for the tests of
the planner's workflow (map -> sample -> review -> accuracy -> report)."""
from pathlib import Path

import numpy as np

from conftest import REPO
from sample_maps import CRS, fill_reference, pixel_box, read_points, transform, truth_and_map, write_zones
from tiny_data import CLASS_COLOURS

CFG = REPO / 'configs' / 'segformer_tiny_demo_vn.py'
#: The scene: rows x columns (6-pixel blocks of the five classes), 0.5 m pixels in UTM 48N.
HEIGHT, WIDTH = 192, 252
#: Transparent (nodata) corner of the mosaic: rows, columns.
CORNER = (30, 42)


def write_scene(folder: Path):
    """``(truth, mosaic.tif, wards.geojson)``: an RGBA GeoTIFF whose blocks have their class's colour (with noise),
    transparent over :data:`CORNER`, and two wards (west and east halves) in EPSG:4326, field ``ward``."""
    import rasterio
    folder.mkdir(parents=True, exist_ok=True)
    truth, _ = truth_and_map(HEIGHT, WIDTH, seed=3)
    rng = np.random.default_rng(0)
    rgb = np.clip(CLASS_COLOURS[truth] + rng.normal(0, 12, truth.shape + (3,)), 0, 255).astype(np.uint8)
    alpha = np.full(truth.shape, 255, np.uint8)
    alpha[:CORNER[0], :CORNER[1]] = 0
    mosaic = folder / 'mosaic.tif'
    ci = rasterio.enums.ColorInterp
    with rasterio.open(mosaic, 'w', driver='GTiff', width=WIDTH, height=HEIGHT, count=4, dtype='uint8', crs=CRS,
                       transform=transform()) as dst:
        dst.write(np.concatenate([rgb.transpose(2, 0, 1), alpha[None]]))
        dst.colorinterp = [ci.red, ci.green, ci.blue, ci.alpha]
    wards = write_zones(folder / 'wards.geojson', [pixel_box(0, 0, HEIGHT, WIDTH // 2),
                                                    pixel_box(0, WIDTH // 2, HEIGHT, WIDTH)], ['Tây', 'Đông'])
    return truth, mosaic, wards


def tiny_checkpoint(path: Path) -> Path:
    """The tiny demo SegFormer with seeded random weights: a poor map, which is what the estimates correct."""
    import torch
    from vnseg.apis.model_loading import inference_config, load_model
    torch.manual_seed(0)
    model = load_model(inference_config(str(CFG)), None, device='cpu', random_weights=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def map_args(checkpoint: Path, mosaic: Path, out: Path, *flags) -> list:
    """``vnseg map``'s arguments for the scene (CPU, 128-pixel windows, no progress bar)."""
    return ['map', str(CFG), str(checkpoint), str(mosaic), str(out), '--tile', '128', '--device', 'cpu',
            '--no-progress', *map(str, flags)]


def review_from_truth(gpkg: Path, truth: np.ndarray) -> dict:
    """Fill every point's ``reference_class`` with the truth at its pixel (a perfect reviewer); returns the points."""
    from vnseg.core.classes import CLASSES
    pts = read_points(gpkg)
    fill_reference(gpkg, {i: CLASSES[truth[r, c]] for i, r, c in zip(pts['sample_id'], pts['row'], pts['col'])})
    return read_points(gpkg)
