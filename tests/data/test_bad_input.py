"""Bad inputs: each gets a clear error naming the file; the batch continues and exits non-zero;
``strict`` stops at the first. Grayscale and RGBA are converted with a warning, 16-bit is rejected."""
import importlib.util
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vnseg.core.errors import DataError, ImageReadError
from vnseg.data.io import read_image
from vnseg.data.prepare import PatchOptions, prepare_dataset
from vnseg.testing.synthetic_scenes import generate_scene

ROAD_RECT = [{'label': 'road', 'points': [[0, 0], [128, 40]], 'shape_type': 'rectangle'}]


def bomb_png(width, height) -> bytes:
    """A valid PNG header claiming width x height pixels, with (almost) no pixel data."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'')) + chunk(b'IEND', b'')


def add_json(src, name, image=None, h=128, w=128, shapes=ROAD_RECT, image_path=None):
    if image is not None:
        Image.fromarray(image).save(src / f'{name}.png')
    doc = {'version': '5.5.0', 'shapes': shapes, 'imagePath': image_path or f'{name}.png', 'imageData': None,
           'imageHeight': h, 'imageWidth': w}
    (src / f'{name}.json').write_text(json.dumps(doc))


@pytest.fixture
def bad_src(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    good, _, _ = generate_scene(128, seed=0, index=0)
    add_json(src, 'a_good', good)
    (src / 'b_malformed.json').write_text('{"shapes": [ {"label": "road", ')
    add_json(src, 'c_missing_image', None, image_path='nothere.png')
    (src / 'd_unreadable.png').write_bytes(b'this is not a png')
    add_json(src, 'd_unreadable', None)
    add_json(src, 'e_size_mismatch', good, h=100, w=100)
    add_json(src, 'f_gray', good[..., 1])
    rgba = np.dstack([good, np.full(good.shape[:2], 255, np.uint8)])
    rgba[100:, :, 3] = 0                                   # transparent bottom 28 rows
    add_json(src, 'g_rgba', rgba)
    Image.fromarray(np.full((128, 128), 30000, np.uint16)).save(src / 'h_16bit.png')
    add_json(src, 'h_16bit', None)
    add_json(src, 'i_too_small', good[:32, :32], h=32, w=32)
    Image.fromarray(good).save(tmp_path / 'outside.png')
    add_json(src, 'j_escape', None, image_path='../outside.png')
    (src / 'k_bomb.png').write_bytes(bomb_png(100_000, 100_000))
    add_json(src, 'k_bomb', None, h=100_000, w=100_000)
    add_json(src, 'l_unknown_label', good,
             shapes=[{'label': 'car', 'points': [[0, 0], [9, 9]], 'shape_type': 'rectangle'}])
    (src / 'pairs' / 'images').mkdir(parents=True)
    (src / 'pairs' / 'masks').mkdir()
    Image.fromarray(good).save(src / 'pairs' / 'images' / 'm_pair.png')
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(src / 'pairs' / 'masks' / 'm_pair.png')
    (src / 'n_not_an_annotation.json').write_text(json.dumps({'classes': ['road']}))
    return src


EXPECTED_FAILURES = {
    'b_malformed.json': 'malformed JSON at line 1 column',
    'c_missing_image.json': 'nothere.png: image file not found',
    'd_unreadable.json': 'cannot read image',
    'e_size_mismatch.json': ('size mismatch: JSON declares imageHeight x imageWidth = 100x100 '
                             'but the image e_size_mismatch.png is 128x128'),
    'h_16bit.json': '16-bit image',
    'i_too_small.json': 'scene is 32x32 pixels, smaller than one 64x64 patch',
    'j_escape.json': 'outside the source folder',
    'k_bomb.json': '10,000,000,000 pixels, above the limit',
    'l_unknown_label.json': "unknown label(s) not in the label map: label 'car' (shape 0)",
    'm_pair.png': 'size mismatch: mask is 64x64 but image m_pair.png is 128x128',
}


def test_batch_continues_and_lists_every_failure(bad_src, tmp_path):
    with pytest.warns(UserWarning) as caught:
        summary = prepare_dataset(bad_src, tmp_path / 'out', PatchOptions(patch_size=64), progress=False, chart=False)
    failures = {Path(f['file']).name: f['error'] for f in summary['failures']}
    assert set(failures) == set(EXPECTED_FAILURES)
    for name, fragment in EXPECTED_FAILURES.items():
        assert fragment in failures[name], (name, failures[name])
        assert name.rsplit('.', 1)[0] in failures[name]      # the message names the file
    # the good, grayscale and RGBA scenes went through
    assert sorted(s['id'] for s in summary['scenes']) == ['a_good', 'f_gray', 'g_rgba']
    assert summary['skipped_files'] == [{'file': str(bad_src / 'n_not_an_annotation.json'),
                                         'reason': 'no "shapes" key: not a labelme/AnyLabeling annotation'}]
    messages = [str(w.message) for w in caught]
    assert any('f_gray.png' in m and 'converted to RGB' in m for m in messages)
    assert any('g_rgba.png' in m and '3584 fully transparent pixels set to ignore' in m for m in messages)
    # RGBA: transparent rows are ignored in the scene mask; gray: stored as 3 equal channels
    mask = np.asarray(Image.open(tmp_path / 'out' / 'scenes' / 'ann' / 'g_rgba.png'))
    assert (mask[100:] == 255).all() and (mask[:40] == 1).all()
    gray = np.asarray(Image.open(tmp_path / 'out' / 'scenes' / 'img' / 'f_gray.png'))
    assert gray.shape == (128, 128, 3) and (gray[..., 0] == gray[..., 2]).all()


def test_strict_stops_at_the_first_bad_file(bad_src, tmp_path):
    with pytest.raises(DataError) as err:
        prepare_dataset(bad_src, tmp_path / 'out', PatchOptions(patch_size=64), progress=False, strict=True)
    assert 'b_malformed.json' in str(err.value) and 'malformed JSON' in str(err.value)
    assert not (tmp_path / 'out' / 'summary.json').exists()   # stopped before the end of the batch


def test_tool_exits_non_zero_and_prints_failures(bad_src, tmp_path, capsys):
    tool = importlib.import_module('vnseg.commands.prepare')
    argv = [str(bad_src), '--out-dir', str(tmp_path / 'out'), '--patch-size', '64', '--no-progress', '--no-chart']
    assert tool.main(argv) == 1
    err = capsys.readouterr().err
    assert '10 input(s) failed' in err and 'k_bomb.json' in err and 'warning:' in err
    from vnseg.commands.cli import run_tool  # what the command line runs: one line per user mistake
    assert run_tool(tool.main, argv + ['--strict']) == 1
    err = capsys.readouterr().err
    assert 'b_malformed.json' in err and 'Traceback' not in err


def test_decompression_bomb_is_refused_without_decoding(tmp_path):
    path = tmp_path / 'bomb.png'
    path.write_bytes(bomb_png(200_000, 200_000))   # 120 GB if decoded
    with pytest.raises(ImageReadError, match='bomb.png: image is 200000x200000'):
        read_image(path)


def test_json_to_mask_tool_lists_bad_files(bad_src, tmp_path, capsys):
    tool = importlib.import_module('vnseg.commands.masks')
    assert tool.main([str(bad_src), '-o', str(tmp_path / 'masks'), '--no-progress']) == 1
    err = capsys.readouterr().err
    assert 'b_malformed.json' in err and 'l_unknown_label.json' in err
    report = json.loads((tmp_path / 'masks' / 'qa_report.json').read_text())
    assert {Path(f['file']).name for f in report['failures']} >= {'b_malformed.json', 'j_escape.json', 'k_bomb.json'}
    assert (tmp_path / 'masks' / 'a_good.png').is_file()
