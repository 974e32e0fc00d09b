"""Sliding-window grid, blending weights and the streaming engine, on synthetic inputs.

A fake segmentor (no mmseg model) makes the blending arithmetic visible: each window's logits are a
constant, so seams show up as jumps between neighbouring pixels.
"""
import numpy as np
import pytest

from vnseg.inference.windows import blend_weights, tile_starts


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


class ConstantPerWindowModel:
    """Tile model: each window gets constant scores: class 0 = +1 / -1 alternating per window, class 1 = 0."""

    num_classes = 2

    def __init__(self):
        self.calls = 0
        self.windows = 0

    def predict(self, rgb, valid):
        n, _, h, w = rgb.shape
        out = np.zeros((n, 2, h, w), np.float32)
        for k in range(n):
            out[k, 0] = 1.0 if (self.windows + k) % 2 == 0 else -1.0
        self.windows += n
        self.calls += 1
        return out


def _row_field(blend):
    from vnseg.inference.sliding import TiledSegmenter
    model = ConstantPerWindowModel()
    src = ArraySource(np.zeros((3, 64, 64 * 6), np.uint8))
    seg = TiledSegmenter(model, tile=64, overlap=16, batch_size=1, blend=blend)
    parts = list(seg.iter_scores(src, progress=False))
    assert len(parts) == 1  # one strip: the image is one window high
    index, row0, col0, logits, keep = parts[0]
    assert (index, row0, col0) == (0, 0, 0) and logits.shape == (2, 64, 384) and bool(keep.all())
    return logits[0, 32], seg  # class-0 logit along the middle row


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
    from vnseg.inference.sliding import TiledSegmenter
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
    from vnseg.inference.sliding import TiledSegmenter
    shapes = []

    class Recorder(ConstantPerWindowModel):
        def predict(self, rgb, valid):
            shapes.append(tuple(rgb.shape[2:]))
            assert valid[:, :50, :70].all() and not valid[:, 50:].any() and not valid[:, :, 70:].any()
            return super().predict(rgb, valid)

    seg = TiledSegmenter(Recorder(), tile=128, overlap=32)
    out = np.concatenate([b for _, b in seg.iter_rows(ArraySource(np.zeros((3, 50, 70), np.uint8)),
                                                       progress=False)])
    assert out.shape == (50, 70) and shapes == [(128, 128)]


def test_bad_parameters_are_rejected():
    from vnseg.inference.sliding import TiledSegmenter
    m = ConstantPerWindowModel()
    for kw in (dict(tile=64, overlap=64), dict(tile=64, overlap=-1), dict(batch_size=0),
               dict(blend='max')):
        with pytest.raises(ValueError):
            TiledSegmenter(m, **kw)


class ContentModel:
    """Tile model whose scores depend on the pixels and on the position inside the window (so that
    overlapping windows disagree and the blend matters)."""

    num_classes = 3

    def predict(self, rgb, valid):
        x = rgb.astype(np.float32) / 255
        ramp = np.linspace(-1, 1, rgb.shape[3], dtype=np.float32)
        vramp = np.linspace(-2, 2, rgb.shape[2], dtype=np.float32)[:, None]
        return np.stack([3 * x[:, 0] + ramp, 3 * x[:, 1] - ramp, 3 * x[:, 2] * valid + vramp], axis=1)


def test_strip_ranges_reproduce_the_full_run_bit_for_bit():
    """Resume and row bands run a range of strips after their context: same bytes as one full run."""
    from vnseg.inference.sliding import TiledSegmenter
    rng = np.random.RandomState(0)
    h, w = 300, 260
    valid = np.ones((h, w), bool)
    valid[120:200, 30:90] = False
    src = ArraySource(rng.randint(0, 255, (3, h, w)).astype(np.uint8), valid)
    # overlap 40 of 64: a window reaches two strips further down (stride 24)
    seg = TiledSegmenter(ContentModel(), tile=64, overlap=40, batch_size=3, blend='gaussian')
    grid = seg.grid(h, w)
    n = len(grid)
    assert grid.ys[:4] == (0, 24, 48, 72) and grid.ys[-1] == 236 and n == 11
    assert grid.context_start(5) == 3 and grid.context_start(1) == 0 and grid.context_start(0) == 0
    full = list(seg.iter_strips(src, progress=False))
    assert [s.index for s in full] == list(range(n))
    assert np.concatenate([s.classes for s in full]).shape == (h, w)
    for first, stop in [(3, n), (5, 7), (n - 1, n), (0, 4)]:
        part = list(seg.iter_strips(src, first, stop, progress=False))
        assert [s.index for s in part] == list(range(first, stop))
        for s in part:
            assert s.row0 == full[s.index].row0
            assert np.array_equal(s.classes, full[s.index].classes)
            assert np.array_equal(s.confidence, full[s.index].confidence)
    # without its context a strip comes out different: the context is needed
    seg_nc = TiledSegmenter(ContentModel(), tile=64, overlap=40, batch_size=3, blend='gaussian')
    seg_nc.grid = lambda hh, ww: type(grid)(h, w, 64, 64, grid.ys[5:7], grid.xs)
    alone = list(seg_nc.iter_strips(src, progress=False))
    assert not np.array_equal(alone[0].classes, full[5].classes)
    assert not np.array_equal(alone[0].confidence, full[5].confidence)
    bands = grid.bands(2)
    assert bands == [(0, 5), (5, 11)]
    merged = [s for a, b in bands for s in seg.iter_strips(src, a, b, progress=False)]
    assert all(np.array_equal(x.classes, y.classes) for x, y in zip(merged, full))


def test_classes_and_confidence_by_hand():
    from vnseg.inference.sliding import classify, confidence_percent
    scores = np.array([[[2.0, 0.0, 1.0]], [[0.0, 0.0, 1.0]], [[-1.0, 3.0, 1.0]]], np.float32)  # (C=3, 1, 3)
    assert classify(scores).tolist() == [[0, 2, 0]]   # ties: first class wins
    e = np.exp
    expected = [e(2) / (e(2) + 1 + e(-1)), e(3) / (1 + 1 + e(3)), 1 / 3]
    assert confidence_percent(scores).tolist() == [[round(100 * p) for p in expected]] == [[84, 91, 33]]
    # one channel = binary logit; threshold 0.3 on the probability
    logit = np.array([[[-1.0, -0.8, 2.0]]], np.float32)
    assert classify(logit, threshold=0.3).tolist() == [[0, 1, 1]]
    assert confidence_percent(logit).tolist() == [[73, 69, 88]]


def test_confidence_of_blended_windows_and_nodata():
    """Where +1/-1 windows overlap with equal weight the blended scores are 0: confidence 50 %."""
    from vnseg.inference.sliding import TiledSegmenter
    valid = np.ones((64, 112), bool)
    valid[:, -4:] = False
    seg = TiledSegmenter(ConstantPerWindowModel(), tile=64, overlap=16, blend='mean')
    (strip,) = list(seg.iter_strips(ArraySource(np.zeros((3, 64, 112), np.uint8), valid), progress=False))
    # windows at x = 0 (+1) and 48 (-1): columns 48..63 are shared
    p1 = round(100 * np.exp(1) / (np.exp(1) + 1))
    assert np.all(strip.confidence[:, :48] == p1) and np.all(strip.classes[:, :48] == 0)
    assert np.all(strip.confidence[:, 48:64] == 50) and np.all(strip.classes[:, 48:64] == 0)
    assert np.all(strip.confidence[:, 64:108] == round(100 * 1 / (1 + np.exp(-1))))
    assert np.all(strip.classes[:, 64:108] == 1)
    assert np.all(strip.confidence[:, 108:] == 255) and np.all(strip.classes[:, 108:] == 255)
