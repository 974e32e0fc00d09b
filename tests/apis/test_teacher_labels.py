"""``vnseg teacher-labels``: the cache holds the teacher's probabilities (one-hot of the
mask for the colour teacher; an ensemble's mean by hand), 8-bit, tiled, by strips; a cache of another
teacher, other settings or other data is refused; an unreadable image is reported and skipped; a
killed run resumes to identical bytes.

Tool runs use a real model (``configs/segformer_tiny_demo_vn.py``, random weights saved as checkpoints
here); the numbers are checked with the colour teacher (``teacher_cache_data``), whose output is known.
"""
import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image

from conftest import REPO, TESTS
from teacher_cache_data import ColourTeacher, prepared_colour_dataset, unlabelled_folder
from vnseg.apis.teacher_labels import TEACHER_WINDOWS, cache_teacher_labels, strip_probabilities
from vnseg.commands.cli import run_tool
from vnseg.commands.teacher_labels import main
from vnseg.distill.soft_label_raster import BLOCK, read_soft_labels
from vnseg.distill.teacher_cache import TeacherCache, data_fingerprint
from vnseg.inference.sliding import TiledSegmenter

pytestmark = pytest.mark.usefixtures('one_torch_thread')

TINY = 'configs/segformer_tiny_demo_vn.py'
KILLER = str(TESTS / 'kill_on_write.py')
WINDOWS = ['--tile', '48', '--overlap', '16', '--batch-size', '8', '--no-progress']


class UniformTeacher:
    """Tile model: the same logit for every class (probability 1/5 each)."""
    num_classes, tile, classes, palette, threshold, name = 5, None, None, None, None, 'uniform teacher'

    def predict(self, rgb, valid):
        return np.zeros((rgb.shape[0], 5) + rgb.shape[2:], np.float32)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A prepared colour dataset (2 train scenes), an unlabelled folder (2 images, one with a
    transparent block), teacher files, and two real tiny checkpoints (different random weights)."""
    import vnseg.mmseg_ext  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from vnseg.openmmlab.pretrained import disable_pretrained
    tmp = tmp_path_factory.mktemp('teacher_labels')
    data = prepared_colour_dataset(tmp, n=4)
    flights = unlabelled_folder(tmp / 'flights', n=2)
    rgba = np.dstack([np.asarray(Image.open(flights / 'flight_1.png')), np.full((64, 96), 255, np.uint8)])
    rgba[10:30, 20:50, 3] = 0  # nodata
    Image.fromarray(rgba).save(flights / 'flight_1.png')
    (tmp / 'colour.py').write_text('# the colour teacher\n')
    (tmp / 'colour.pth').write_bytes(b'colour teacher')
    (tmp / 'uniform.pth').write_bytes(b'uniform teacher')
    init_default_scope('mmseg')
    model_cfg = Config.fromfile(str(REPO / TINY)).model
    disable_pretrained(model_cfg)
    checkpoints = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = MODELS.build(model_cfg)
        path = tmp / f'tiny_{seed}.pth'
        torch.save(dict(state_dict=model.state_dict(), meta=dict(seed=seed)), path)
        checkpoints.append(path)
    return dict(tmp=tmp, data=data, flights=flights, colour=(tmp / 'colour.py', tmp / 'colour.pth'),
                uniform=(tmp / 'colour.py', tmp / 'uniform.pth'), checkpoints=checkpoints)


def _colour_cache(inputs, out, teachers=None, models=None, **kw):
    return cache_teacher_labels(teachers or [inputs['colour']], inputs['data'], [inputs['flights']], out,
                                replace(TEACHER_WINDOWS, tile=48, overlap=16), tile_models=models or [ColourTeacher()],
                                progress=False, **kw)


def test_cache_is_the_teachers_probabilities_8bit_and_tiled(inputs, tmp_path):
    report = _colour_cache(inputs, tmp_path / 'cache')
    cache = TeacherCache.read(tmp_path / 'cache')
    train = cache.done_keys('train')
    assert report.written == sorted(report.written) and len(report.written) == 4 and not report.failed
    assert [k.split('/')[-1] for k in train] == [f'{sid}.png' for sid in
                                                 (inputs['data'] / 'scenes' / 'train.txt').read_text().split()]
    for key in train:  # the colour teacher's probabilities are one-hot of the mask: argmax = mask, 0 / 255
        q = read_soft_labels(cache.path_of(key))
        mask = np.asarray(Image.open(inputs['data'] / 'scenes' / 'ann' / key.split('/')[-1]))
        assert q.shape == (5,) + mask.shape and q.dtype == np.uint8
        assert np.array_equal(q.argmax(0), mask) and set(np.unique(q)) == {0, 255}
        assert np.array_equal(read_soft_labels(cache.path_of(key), (5, 7, 20, 30)), q[:, 5:25, 7:37])
        with rasterio.open(cache.path_of(key)) as src:
            assert src.count == 5 and src.dtypes == ('uint8',) * 5 and src.block_shapes[0] == (BLOCK, BLOCK)
            assert src.profile['tiled'] and src.compression.name == 'deflate'
            assert src.interleaving.name.lower() == 'pixel'
    q = read_soft_labels(cache.path_of('unlabelled/0-flights/flight_1.png'))
    assert (q[:, 10:30, 20:50] == 0).all()  # transparent input: no prediction (0 in every class)
    rest = np.ones((64, 96), bool)
    rest[10:30, 20:50] = False
    assert (q.sum(0)[rest] >= 254).all()
    # the manifest names the teacher (sha256 of its files), the settings and the data fingerprint
    m = cache.manifest
    assert m['teachers'] == [dict(config=str(inputs['colour'][0]), checkpoint=str(inputs['colour'][1]),
                                  config_sha256=hashlib.sha256(inputs['colour'][0].read_bytes()).hexdigest(),
                                  checkpoint_sha256=hashlib.sha256(b'colour teacher').hexdigest())]
    assert m['inference']['tta_flip'] is True and m['inference']['tile'] == 48
    image = inputs['flights'] / 'flight_0.png'
    assert m['images']['unlabelled/0-flights/flight_0.png'] == dict(
        group='unlabelled', name='flight_0.png', bytes=image.stat().st_size, source=1, rel='flight_0.png',
        sha256=hashlib.sha256(image.read_bytes()).hexdigest(), file='unlabelled/0-flights/flight_0.png.tif')
    assert m['fingerprint'] == data_fingerprint(m['images'])
    assert not list((tmp_path / 'cache').rglob('.*partial*'))


def test_an_ensemble_is_the_mean_of_the_teachers_probabilities(inputs, tmp_path):
    """colour, colour, uniform: (1 + 1 + 0.2) / 3 = 0.7333 -> 187 for the mask's class, 0.2 / 3 -> 17."""
    _colour_cache(inputs, tmp_path / 'cache', teachers=[inputs['colour'], inputs['colour'], inputs['uniform']],
                  models=[ColourTeacher(), ColourTeacher(), UniformTeacher()])
    cache = TeacherCache.read(tmp_path / 'cache')
    assert len(cache.manifest['teachers']) == 3
    for key in cache.done_keys('train'):
        q = read_soft_labels(cache.path_of(key))
        mask = np.asarray(Image.open(inputs['data'] / 'scenes' / 'ann' / key.split('/')[-1]))
        expected = np.where(np.arange(5)[:, None, None] == mask[None], 187, 17)
        assert np.array_equal(q, expected)


def test_memory_is_one_strip_of_rows(tmp_path):
    """A 600-row image comes out as strips of at most one tile of rows (here: the stride, 32), never
    as the whole image, and they cover every row once."""
    from vnseg.geo.raster_io import SourceImage
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (600, 40, 3), dtype=np.uint8)).save(tmp_path / 'tall.png')
    seg = TiledSegmenter(ColourTeacher(), tile=48, overlap=16)
    with SourceImage(tmp_path / 'tall.png') as source:
        rows = [(row0, q.shape) for row0, q in strip_probabilities([seg, seg], source)]
    assert [r for r, _ in rows] == list(np.cumsum([0] + [s[1] for _, s in rows[:-1]]))
    assert sum(s[1] for _, s in rows) == 600 and max(s[1] for _, s in rows) <= 48
    assert {(s[0], s[2]) for _, s in rows} == {(5, 40)}


# -- the tool, with a real model ---------------------------------------------------------------------
def _tool(inputs, out, *extra, checkpoint=0, capsys=None):
    argv = [TINY, str(inputs['checkpoints'][checkpoint]), '--data', str(inputs['data']), '--out-dir', str(out),
            *WINDOWS, *extra]
    status = run_tool(main, argv)
    captured = capsys.readouterr() if capsys is not None else None
    return status, captured


def test_a_cache_of_another_teacher_settings_or_data_is_refused(inputs, tmp_path, capsys):
    import shutil
    data = shutil.copytree(inputs['data'], tmp_path / 'data')  # its own copy: one image gets edited
    out = tmp_path / 'cache'

    def tool(*extra, checkpoint=0):
        argv = [TINY, str(inputs['checkpoints'][checkpoint]), '--data', str(data), '--out-dir', str(out),
                *WINDOWS, *extra]
        return run_tool(main, argv), capsys.readouterr()

    assert tool()[0] == 0
    manifest = (out / 'manifest.json').read_bytes()
    files = {p: p.read_bytes() for p in out.rglob('*.tif')}
    assert len(files) == 2
    status, cap = tool()  # the same teacher, settings and data: everything is done
    assert status == 0 and '0 images written, 2 already done' in cap.out

    def refused(*extra, checkpoint=0):
        status, cap = tool(*extra, checkpoint=checkpoint)
        err = cap.err.splitlines()
        assert status == 1 and len(err) == 1, cap.err
        assert err[0].startswith(f'error: {out / "manifest.json"}: this cache '), err
        assert (out / 'manifest.json').read_bytes() == manifest  # untouched
        assert {p: p.read_bytes() for p in out.rglob('*.tif')} == files
        return err[0]

    assert 'was made by another teacher: ' in refused(checkpoint=1)
    assert 'other settings (inference.tta_flip: True -> False)' in refused('--no-tta-flip')
    assert 'other settings (inference.tile: 48 -> 64)' in refused('--tile', '64')
    assert 'was made for other data' in refused('--unlabelled', str(inputs['flights']))
    scene = data / 'scenes' / 'img' / ((data / 'scenes' / 'train.txt').read_text().split()[0] + '.png')
    pixels = np.asarray(Image.open(scene)).copy()
    pixels[0, 0] = 1  # one pixel of one scene edited
    Image.fromarray(pixels).save(scene)
    assert 'was made for other data' in refused()


def test_an_unreadable_image_is_reported_by_name_and_skipped(inputs, tmp_path, capsys):
    flights = unlabelled_folder(tmp_path / 'flights', n=2)
    (flights / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    out = tmp_path / 'cache'
    status, cap = _tool(inputs, out, '--unlabelled', str(flights), capsys=capsys)
    assert status == 1
    err = cap.err.splitlines()
    assert err[0].startswith(f'error: {flights / "broken.png"}: cannot read image')
    assert err[-1] == '1 of 5 images failed: unlabelled/0-flights/broken.png'
    cache = TeacherCache.read(out)
    assert len(cache.done_keys()) == 4 and list(cache.manifest['failed']) == ['unlabelled/0-flights/broken.png']
    assert all(cache.path_of(k).is_file() for k in cache.done_keys())
    assert not (out / 'unlabelled' / '0-flights' / 'broken.png.tif').exists()
    status, cap = _tool(inputs, out, '--unlabelled', str(flights), capsys=capsys)  # the rest is done
    assert status == 1 and '0 images written, 4 already done, 1 failed, of 5' in cap.out


@pytest.mark.slow
def test_a_killed_run_resumes_to_identical_bytes(inputs, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    clean, out = tmp_path / 'clean', tmp_path / 'killed'
    args = [TINY, str(inputs['checkpoints'][0]), '--data', str(inputs['data']), '--unlabelled',
            str(inputs['flights']), *WINDOWS]
    assert run_tool(main, args + ['--out-dir', str(clean)]) == 0
    # killed as it records its 2nd finished image (the image's soft labels are written, not listed)
    killed = subprocess.run([sys.executable, KILLER, r'manifest', '2', 'tools/teacher_labels.py', *args,
                             '--out-dir', str(out)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert len(TeacherCache.read(out).done_keys()) == 1
    assert list(out.glob('.manifest.partial-*'))  # the half-written manifest, removed by the resumed run
    resumed = subprocess.run([sys.executable, 'tools/teacher_labels.py', *args, '--out-dir', str(out)], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert '3 images written, 1 already done, 0 failed, of 4' in resumed.stdout

    def tree(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}
    assert tree(out) == tree(clean) and len(tree(out)) == 5  # 4 soft-label files + the manifest
