"""Sliding-window grid, blending weights and the streaming engine, on synthetic inputs.

A fake segmentor (no mmseg model) makes the blending arithmetic visible: each window's logits are a
constant, so seams show up as jumps between neighbouring pixels.
"""
import numpy as np
import pytest
import torch

from vnseg.geo.windows import blend_weights, tile_starts


def test_tile_starts_cover_axis_without_overhang():
    assert tile_starts(1000, 512, 384) == [0, 384, 488]
    assert tile_starts(512, 512, 384) == [0]
    assert tile_starts(300, 512, 384) == [0]
    assert tile_starts(1280, 512, 384) == [0, 384, 768]
    for length, tile, stride in [(1000, 512, 384), (3072, 512, 384), (777, 100, 100), (101, 100, 1)]:
        starts = tile_starts(length, tile, stride)
        cover = np.zeros(length, int)
        for s in starts:
            assert 0 <= s and s + tile <= length
            cover[s:s + tile] += 1
        assert cover.min() >= 1
        assert len(set(starts)) == len(starts) and starts == sorted(starts)
    with pytest.raises(ValueError):
        tile_starts(100, 64, 0)
    with pytest.raises(ValueError):
        tile_starts(100, 64, 65)


def test_blend_weights_shape_and_values():
    g = blend_weights(64, 32, 'gaussian')
    assert g.shape == (64, 32) and g.dtype == np.float32
    assert g.max() == pytest.approx(1.0, abs=2e-3)
    # sigma = size / 8: the middle of an edge weighs exp(-0.5 * (31.5 / 8) ** 2) ~ 4.3e-4 of the centre
    assert g[0, 16] == pytest.approx(np.exp(-0.5 * (31.5 / 8) ** 2) * g[32, 16] / g[32, 16], rel=0.05)
    assert g[0, 0] >= 1e-6 and np.allclose(g, g[::-1, ::-1])
    assert np.array_equal(blend_weights(8, 8, 'mean'), np.ones((8, 8), np.float32))
    with pytest.raises(ValueError):
        blend_weights(8, 8, 'median')


class ArraySource:
    """In-memory stand-in for SourceImage (same read interface)."""

    def __init__(self, rgb, valid=None):
        self.rgb = rgb
        self.height, self.width = rgb.shape[1:]
        self.valid = np.ones((self.height, self.width), bool) if valid is None else valid
        self.rgb_reads = 0

    def read_valid(self, r, c, h, w):
        return self.valid[r:r + h, c:c + w]

    def read_rgb(self, r, c, h, w):
        self.rgb_reads += 1
        return self.rgb[:, r:r + h, c:c + w]


class ConstantPerWindowModel(torch.nn.Module):
    """Each window gets constant logits: class 0 = +1 / -1 alternating per window, class 1 = 0."""

    out_channels = 2

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.decode_head = type('Head', (), {'num_classes': 2, 'threshold': None})()
        self.calls = 0
        self.windows = 0

    def data_preprocessor(self, data, training=False):
        return dict(inputs=torch.stack(data['inputs']).float(), data_samples=data['data_samples'])

    def encode_decode(self, x, metas):
        n, _, h, w = x.shape
        signs = torch.tensor([1.0 if (self.windows + k) % 2 == 0 else -1.0 for k in range(n)])
        self.windows += n
        self.calls += 1
        out = torch.zeros(n, 2, h, w)
        out[:, 0] = signs[:, None, None]
        return out


def _row_field(blend):
    from vnseg.apis.sliding import TiledSegmenter
    model = ConstantPerWindowModel()
    src = ArraySource(np.zeros((3, 64, 64 * 6), np.uint8))
    seg = TiledSegmenter(model, tile=64, overlap=16, batch_size=1, blend=blend)
    parts = list(seg.iter_logits(src, progress=False))
    assert len(parts) == 1  # one strip: the image is one window high
    row0, col0, logits, keep = parts[0]
    assert (row0, col0) == (0, 0) and logits.shape == (2, 64, 384) and bool(keep.all())
    return logits[0, 32].numpy(), seg  # class-0 logit along the middle row


def test_gaussian_blend_is_seamless_mean_is_not():
    g, seg = _row_field('gaussian')
    m, _ = _row_field('mean')
    assert seg.tiles_total == seg.tiles_run == 8  # starts 0, 48, ..., 288 and 320 (pulled back)
    # plain averaging: +1 and -1 windows meet in one-pixel steps of 1.0 at both ends of each overlap
    steps = np.abs(np.diff(m))
    assert steps.max() == pytest.approx(1.0) and (steps > 0.5).sum() == 14
    # gaussian weights: the same transitions are spread over the overlap (logistic, slope <= 0.375)
    assert np.abs(np.diff(g)).max() < 0.45
    assert np.abs(g).max() > 0.9  # ...while the windows' own values still come through


def test_streamed_strips_cover_image_and_skip_nodata_windows():
    from vnseg.apis.sliding import TiledSegmenter
    h, w = 300, 220
    valid = np.zeros((h, w), bool)
    valid[10:60, 20:90] = True            # one valid patch in the top-left corner
    model = ConstantPerWindowModel()
    src = ArraySource(np.full((3, h, w), 7, np.uint8), valid)
    seg = TiledSegmenter(model, tile=64, overlap=16, batch_size=3, blend='gaussian')
    rows = list(seg.iter_rows(src, progress=False))
    starts = [r for r, _ in rows]
    assert starts[0] == 0 and all(b[0] == a[0] + a[1].shape[0] for a, b in zip(rows, rows[1:]))
    out = np.concatenate([blk for _, blk in rows])
    assert out.shape == (h, w) and out.dtype == np.uint8
    assert np.all(out[~valid] == 255)
    assert np.all(out[valid] != 255)
    # grid 6 x 5 = 30 windows; only those touching the patch run (rows 0,48 x cols 0,48 -> 4)
    assert seg.tiles_total == 30
    assert seg.tiles_run == model.windows == 4
    assert src.rgb_reads == 2  # pixels are not even read for all-nodata strips


def test_small_image_is_padded_to_tile():
    from vnseg.apis.sliding import TiledSegmenter
    shapes = []

    class Recorder(ConstantPerWindowModel):
        def encode_decode(self, x, metas):
            shapes.append(tuple(x.shape[2:]))
            return super().encode_decode(x, metas)

    seg = TiledSegmenter(Recorder(), tile=128, overlap=32)
    out = np.concatenate([b for _, b in seg.iter_rows(ArraySource(np.zeros((3, 50, 70), np.uint8)),
                                                       progress=False)])
    assert out.shape == (50, 70) and shapes == [(128, 128)]


def test_bad_parameters_are_rejected():
    from vnseg.apis.sliding import TiledSegmenter
    m = ConstantPerWindowModel()
    for kw in (dict(tile=64, overlap=64), dict(tile=64, overlap=-1), dict(batch_size=0),
               dict(blend='max')):
        with pytest.raises(ValueError):
            TiledSegmenter(m, **kw)
