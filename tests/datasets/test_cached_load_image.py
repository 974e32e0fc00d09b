"""CachedLoadImageFromFile: LoadImageFromFile's results, each file decoded once, a bounded LRU cache."""
import pickle

import mmcv
import numpy as np
import pytest

import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
from mmcv.transforms import LoadImageFromFile
from mmseg.registry import TRANSFORMS
from vnseg.datasets.transforms.cached_load_image import CachedLoadImageFromFile


def write_images(tmp_path, n, h=20, w=30):
    paths = []
    for i in range(n):
        img = (np.arange(h * w * 3).reshape(h, w, 3) * (i + 1) % 251).astype(np.uint8)
        path = str(tmp_path / f'scene_{i}.png')
        mmcv.imwrite(img, path)
        paths.append(path)
    return paths


def load(transform, path):
    return transform(dict(img_path=path))


def test_same_results_as_load_image_from_file_and_decoded_once(tmp_path, monkeypatch):
    path, = write_images(tmp_path, 1)
    plain = load(LoadImageFromFile(to_float32=True), path)
    cached = CachedLoadImageFromFile(cache_mb=1, to_float32=True)
    first = load(cached, path)
    decoded = []
    monkeypatch.setattr(mmcv, 'imfrombytes', lambda *a, **k: decoded.append(a) or np.zeros((1, 1, 3)))
    second = load(cached, path)
    assert decoded == []  # from memory, not decoded again
    for got in (first, second):
        assert got['img'].dtype == np.float32 and np.array_equal(got['img'], plain['img'])
        assert got['img_shape'] == plain['img_shape'] == (20, 30) and got['ori_shape'] == (20, 30)
    second['img'][:] = 0  # a later transform writing into its array does not reach the cache
    assert np.array_equal(load(cached, path)['img'], plain['img'])
    assert cached.cached_bytes == 20 * 30 * 3 * 4


def test_least_recently_used_out_and_an_oversized_image_not_kept(tmp_path):
    a, b, c = write_images(tmp_path, 3)  # 1800 bytes each as uint8
    cached = CachedLoadImageFromFile(cache_mb=4000 / 2 ** 20)  # room for two
    for path in (a, b, a, c):  # b is the least recently used when c comes
        load(cached, path)
    assert list(cached._images) == [a, c] and cached.cached_bytes == 3600
    tiny = CachedLoadImageFromFile(cache_mb=1000 / 2 ** 20)
    assert load(tiny, a)['img'].shape == (20, 30, 3) and tiny.cached_bytes == 0


def test_a_copy_for_another_process_starts_empty(tmp_path):
    path, = write_images(tmp_path, 1)
    cached = CachedLoadImageFromFile(cache_mb=1)
    load(cached, path)
    clone = pickle.loads(pickle.dumps(cached))
    assert clone.cached_bytes == 0 and cached.cached_bytes > 0 and clone.cache_mb == 1
    assert np.array_equal(load(clone, path)['img'], load(cached, path)['img'])


def test_built_from_the_registry_and_bad_bounds_refused():
    t = TRANSFORMS.build(dict(type='CachedLoadImageFromFile', cache_mb=64, imdecode_backend='cv2'))
    assert isinstance(t, CachedLoadImageFromFile) and 'cache_mb=64' in repr(t)
    for bad in (0, -1, True, '64'):
        with pytest.raises(ValueError, match='cache_mb'):
            CachedLoadImageFromFile(cache_mb=bad)


def test_a_bad_bound_in_a_config_is_one_line_for_the_tools():
    from vnseg.commands.cli import describe_user_error
    with pytest.raises(ValueError) as caught:  # the registry re-raises it as its own type, with its location
        TRANSFORMS.build(dict(type='CachedLoadImageFromFile', cache_mb=0))
    line = describe_user_error(caught.value)
    assert line is not None and '\n' not in line and 'cache_mb must be a number > 0 (MiB), got 0' in line
