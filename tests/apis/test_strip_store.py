"""A truncated input image: the run ends in one error line naming the image and leaves no hidden resume
folder (``.STEM.parts``) when no strip was finished; when some were, the folder keeps them for --resume."""
import numpy as np
import pytest

from conftest import REPO

rasterio = pytest.importorskip('rasterio')

CFG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')


def _truncated_tiff(path, keep_share, height=512, width=256):
    """An uncompressed, striped RGB GeoTIFF cut to its first ``keep_share`` of bytes."""
    from affine import Affine
    rgb = np.random.default_rng(0).integers(0, 255, (3, height, width), dtype=np.uint8)
    with rasterio.open(path, 'w', driver='GTiff', width=width, height=height, count=3, dtype='uint8',
                       crs='EPSG:32648', transform=Affine(0.05, 0, 500000, 0, -0.05, 2300000),
                       interleave='pixel', blockysize=16) as dst:
        dst.write(rgb)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep_share)])
    with rasterio.open(path) as ds:   # the header is intact: the image opens, its pixels are missing
        assert (ds.width, ds.height) == (width, height)
    return path


def _run(image, out, capsys):
    from vnseg.commands.map import main
    rc = main([CFG, str(image), str(out), '--random-weights', '--tile', '128', '--overlap', '32',
               '--no-progress', '--no-polygons', '--no-report'])
    return rc, capsys.readouterr().err


def test_truncated_image_leaves_no_hidden_folder(tmp_path, capsys, one_torch_thread):
    image = _truncated_tiff(tmp_path / 'cut.tif', 0.1)   # the first strip (rows 0-127) is already cut
    out = tmp_path / 'out'
    rc, err = _run(image, out, capsys)
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1 and str(image) in lines[0] and 'cannot read' in lines[0], err
    assert not (out / '.cut.parts').exists()
    assert not out.exists() or list(out.iterdir()) == []   # nothing half-written either


def test_truncated_image_after_finished_strips_keeps_them_for_resume(tmp_path, capsys, one_torch_thread):
    image = _truncated_tiff(tmp_path / 'cut.tif', 0.8)   # rows 0-~400 readable: the first strips finish
    out = tmp_path / 'out'
    rc, err = _run(image, out, capsys)
    assert rc == 1 and 'error:' in err and str(image) in err
    parts = out / '.cut.parts'
    strips = sorted(p.name for p in parts.glob('strip_*.tif'))
    assert (parts / 'manifest.json').is_file() and strips and strips[0] == 'strip_000000.tif'
    assert not (out / 'cut_classes.tif').exists()


def test_store_is_created_with_the_first_strip(tmp_path):
    from vnseg.apis.strip_store import StripStore
    store = StripStore(tmp_path / '.x.parts', dict(strips=2))
    assert store.start(resume=False) == 0 and not store.folder.exists()
    store.write(0, np.zeros((4, 5), np.uint8), np.full((4, 5), 90, np.uint8))
    assert store.exists() and store.done(2) == {0}
    again = StripStore(tmp_path / '.x.parts', dict(strips=2))
    assert again.start(resume=True) == 1     # resumed: the finished strip is kept
    assert again.start(resume=False) == 0 and not again.folder.exists()   # a fresh start discards it
