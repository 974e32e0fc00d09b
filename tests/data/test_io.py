"""Atomic writes, palette masks and the image-reading policy of vnseg.data.io."""
import base64
import io
import os

import numpy as np
import pytest
from PIL import Image

from vnseg.core.atomic import atomic_write_bytes, write_json
from vnseg.core.classes import PALETTE
from vnseg.core.errors import ImageReadError
from vnseg.data.io import decode_base64_image, read_image, read_image_size, write_mask_png


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / 'sub' / 'f.bin'
    atomic_write_bytes(target, b'one')
    atomic_write_bytes(target, b'two')
    assert target.read_bytes() == b'two'
    assert os.listdir(target.parent) == ['f.bin']


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / 'f.bin'
    target.write_bytes(b'old')
    with pytest.raises(TypeError):
        atomic_write_bytes(target, 'not bytes')
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['f.bin']


def test_write_json_is_stable(tmp_path):
    write_json(tmp_path / 'a.json', {'b': 1, 'a': [1, 2]})
    first = (tmp_path / 'a.json').read_bytes()
    write_json(tmp_path / 'a.json', {'a': [1, 2], 'b': 1})
    assert (tmp_path / 'a.json').read_bytes() == first


def test_palette_mask_round_trip(tmp_path):
    mask = np.array([[0, 1, 2], [3, 4, 255]], np.uint8)
    write_mask_png(tmp_path / 'm.png', mask)
    img = Image.open(tmp_path / 'm.png')
    assert img.mode == 'P'
    np.testing.assert_array_equal(np.asarray(img), mask)
    pal = img.getpalette()
    assert pal[3:6] == PALETTE[1] and pal[12:15] == PALETTE[4] and pal[765:768] == [255, 255, 255]


def _save(tmp_path, array, name, **kw):
    path = tmp_path / name
    Image.fromarray(array).save(path, **kw)
    return path


def test_rgb_is_read_unchanged(tmp_path):
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    img = read_image(_save(tmp_path, rgb, 'a.png'))
    np.testing.assert_array_equal(img.rgb, rgb)
    assert img.valid is None and img.warnings == []


def test_grayscale_is_converted_with_a_warning(tmp_path):
    gray = np.array([[0, 100], [200, 255]], np.uint8)
    img = read_image(_save(tmp_path, gray, 'g.png'))
    np.testing.assert_array_equal(img.rgb, np.repeat(gray[..., None], 3, axis=2))
    assert len(img.warnings) == 1 and 'g.png' in img.warnings[0] and 'grayscale' in img.warnings[0]


def test_rgba_alpha_dropped_and_transparent_pixels_marked(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 50
    rgba[..., 3] = [[255, 0], [128, 255]]
    img = read_image(_save(tmp_path, rgba, 'a.png'))
    assert (img.rgb == 50).all()
    np.testing.assert_array_equal(img.valid, [[True, False], [True, True]])
    assert '1 fully transparent' in img.warnings[0]


def test_16bit_images_are_rejected(tmp_path):
    path = _save(tmp_path, np.full((4, 4), 40000, np.uint16), 'g16.png')
    with pytest.raises(ImageReadError, match='16-bit') as err:
        read_image(path)
    assert 'g16.png' in str(err.value)
    import cv2
    cv2.imwrite(str(tmp_path / 'rgb16.png'), np.full((4, 4, 3), 1000, np.uint16))
    with pytest.raises(ImageReadError, match='16-bit'):
        read_image(tmp_path / 'rgb16.png')


def test_pixel_limit_checked_from_the_header(tmp_path):
    path = _save(tmp_path, np.zeros((40, 50, 3), np.uint8), 'a.png')
    assert read_image_size(path) == (40, 50)
    with pytest.raises(ImageReadError, match='2,000 pixels, above the limit of 1,999'):
        read_image(path, max_pixels=1999)


def test_unreadable_and_missing_images(tmp_path):
    (tmp_path / 'bad.png').write_bytes(b'not an image at all')
    with pytest.raises(ImageReadError, match='bad.png: cannot read image'):
        read_image(tmp_path / 'bad.png')
    with pytest.raises(ImageReadError, match='nope.png: image file not found'):
        read_image(tmp_path / 'nope.png')


def test_base64_image(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.full((3, 5, 3), 7, np.uint8)).save(buf, format='PNG')
    data = base64.b64encode(buf.getvalue()).decode()
    assert decode_base64_image(data, header_only=True) == (3, 5)
    assert (decode_base64_image(data).rgb == 7).all()
    with pytest.raises(ImageReadError, match='x.json'):
        decode_base64_image(base64.b64encode(b'garbage').decode(), path='x.json')


def test_exif_orientation_is_applied_like_the_labelling_tools(tmp_path):
    raw = np.zeros((4, 6, 3), np.uint8)      # stored 6 wide x 4 high
    raw[0, 0] = 255                          # stored top-left corner is white
    exif = Image.Exif()
    exif[0x0112] = 6                         # "rotate 90 degrees clockwise to display"
    Image.fromarray(raw).save(tmp_path / 'r.jpg', exif=exif, quality=100)
    assert read_image_size(tmp_path / 'r.jpg') == (6, 4)
    img = read_image(tmp_path / 'r.jpg')
    assert img.shape == (6, 4)
    assert img.rgb[0, -1].min() > 200 and img.rgb[0, 0].max() < 50   # top-left went to top-right
