"""Streaming sliding-window segmentation, one horizontal strip of windows at a time (numpy only).

The loop is independent of the model's framework: a *tile model* (:mod:`vnseg.inference.tile_models`:
a PyTorch segmentor or an ONNX Runtime session) maps a batch of ``tile x tile`` RGB windows to
per-class scores, and everything else -- the window grid, nodata handling, blending, the strip
buffer, classes and confidence -- happens here, in numpy, once for every backend.

Only the current strip's score accumulator lives in memory: ``float32 (C, tile, width)`` plus a
``(tile, width)`` weight sum. After strip ``i`` (windows starting at row ``ys[i]``) has been added,
rows ``[ys[i], ys[i + 1])`` receive no more windows: they are *final*; they are turned into class
indices and a confidence and handed to the caller, and the overlapping rest of the accumulator is
shifted up for the next strip.

A run can cover a range of strips only (:meth:`TiledSegmenter.iter_strips` ``first``/``stop``):
the earlier strips whose windows reach into the range are run first as context, without output,
so that the rows of a strip come out bit-identical whichever strip the run started from. Resuming
an interrupted run and cutting one mosaic into row bands for several processes are both that.

The window settings travel as one :class:`WindowOptions` (the ``vnseg map`` flags ``--tile``,
``--overlap``, ``--batch-size``, ``--blend``, ``--tta-flip``, ``--match-gsd``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterator, List, Optional

import numpy as np

from vnseg.inference.windows import blend_weights, tile_starts

__all__ = ['TiledSegmenter', 'WindowOptions', 'StripGrid', 'Strip', 'default_overlap', 'classify',
           'confidence_percent']


def default_overlap(tile: int) -> int:
    """Default overlap: a quarter of the tile (stride = 3/4 tile)."""
    return int(math.floor(tile / 4))


@dataclass(frozen=True)
class WindowOptions:
    """How an image is cut into windows and their scores merged: the ``vnseg map`` flags of the same
    names.

    A new window option is a field here named like its flag (``--tta-flip`` -> ``tta_flip``), the flag
    in :mod:`vnseg.commands.map` (its parser fills the field by name) and its use in
    :class:`TiledSegmenter` (or :class:`vnseg.apis.scene.Scene`); every caller passes this object on
    whole.

    Attributes:
        tile: window side in pixels (an exported ONNX model's fixed input size must be the same).
        overlap: pixels shared by neighbouring windows; None: ``tile // 4``.
        batch_size: windows per forward pass; None: the tile model's
            (:func:`vnseg.inference.tile_models.default_batch_size`: 1 for PyTorch on a CPU, else 4).
        blend: ``'gaussian'`` (smooth weights, seamless) or ``'mean'`` (plain average, = mmseg
            ``slide`` with ``crop_size=(tile, tile)``, ``stride=tile - overlap``).
        tta_flip: add horizontally flipped windows (2x compute).
        match_gsd: segment the image resampled to the ground resolution the model was trained at
            (:mod:`vnseg.apis.gsd_match`).
    """
    tile: int = 512
    overlap: Optional[int] = None
    batch_size: Optional[int] = None
    blend: str = 'gaussian'
    tta_flip: bool = False
    match_gsd: bool = False

    def for_model(self, tile_model) -> 'WindowOptions':
        """These options with ``overlap`` and ``batch_size`` filled in for ``tile_model``.

        Raises:
            ValueError: an exported model with a fixed tile size other than :attr:`tile`.
        """
        fixed, path = getattr(tile_model, 'tile', None), getattr(tile_model, 'path', None)
        if fixed is not None and path is not None and fixed != self.tile:
            raise ValueError(f'{path}: the model was exported for {fixed} px tiles, got --tile {self.tile}')
        overlap = default_overlap(self.tile) if self.overlap is None else int(self.overlap)
        batch_size = self.batch_size
        if batch_size is None:
            from .tile_models import default_batch_size
            batch_size = default_batch_size(tile_model)
        return replace(self, overlap=overlap, batch_size=batch_size)


@dataclass(frozen=True)
class StripGrid:
    """The window grid of an image: window rows ``ys`` (one strip each), window columns ``xs``.

    Attributes:
        height, width: image size in pixels.
        th, tw: window size in pixels (the tile, clipped to the image).
        ys, xs: window start offsets (pixels) along rows / columns (mmseg ``slide``'s grid).
    """
    height: int
    width: int
    th: int
    tw: int
    ys: tuple
    xs: tuple

    @classmethod
    def of(cls, height: int, width: int, tile: int, overlap: int) -> 'StripGrid':
        th, tw = min(tile, height), min(tile, width)
        stride = tile - overlap
        return cls(height, width, th, tw, tuple(tile_starts(height, th, min(stride, th))),
                   tuple(tile_starts(width, tw, min(stride, tw))))

    def __len__(self) -> int:
        return len(self.ys)

    def final_rows(self, i: int) -> tuple:
        """``(row0, row1)``: the rows that become final after strip ``i``."""
        return self.ys[i], (self.ys[i + 1] if i + 1 < len(self.ys) else self.height)

    def context_start(self, first: int) -> int:
        """The first strip whose windows reach row ``ys[first]`` (run as context before ``first``)."""
        j = first
        while j > 0 and self.ys[j - 1] + self.th > self.ys[first]:
            j -= 1
        return j

    def bands(self, n: int) -> List[tuple]:
        """``n`` contiguous strip ranges ``(first, stop)`` of nearly equal length (some may be empty)."""
        k = len(self.ys)
        return [(k * r // n, k * (r + 1) // n) for r in range(n)]


@dataclass
class Strip:
    """Final rows of one strip.

    Attributes:
        index: strip number (position in ``StripGrid.ys``).
        row0: first image row.
        classes: ``uint8 (rows, width)`` class indices, ``nodata`` where nothing was predicted.
        confidence: ``uint8 (rows, width)`` probability of the chosen class in percent (0-100),
            ``nodata`` where nothing was predicted.
    """
    index: int
    row0: int
    classes: np.ndarray
    confidence: np.ndarray


def classify(scores: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """``uint8 (rows, cols)`` class of ``float32 (C, rows, cols)`` scores; the first class wins ties.

    With one channel the scores are a binary logit: class 1 where ``sigmoid > threshold``.
    A loop over the class planes (C elementwise passes) instead of ``argmax`` over the leading axis,
    which is several times slower on a wide strip.
    """
    if scores.shape[0] == 1:
        return (scores[0] > math.log(threshold / (1 - threshold))).astype(np.uint8)
    best = scores[0].copy()
    pred = np.zeros(scores.shape[1:], np.uint8)
    for c in range(1, scores.shape[0]):
        better = scores[c] > best
        pred[better] = c
        np.maximum(best, scores[c], out=best)
    return pred


def confidence_percent(scores: np.ndarray) -> np.ndarray:
    """``uint8 (rows, cols)``: the largest class probability of ``(C, rows, cols)`` logits, in percent.

    Probabilities are the softmax of the scores (sigmoid and its complement for one channel);
    ``round(100 * max_c p_c)``, so 0..100 (at least ``100 / C`` for ``C`` classes).
    """
    if scores.shape[0] == 1:
        p = 1.0 / (1.0 + np.exp(-np.abs(scores[0], dtype=np.float32)))
    else:
        best = scores.max(axis=0)
        total = np.zeros_like(best)
        for c in range(scores.shape[0]):
            total += np.exp(scores[c] - best)
        p = 1.0 / total
    return np.floor(p * 100.0 + 0.5).astype(np.uint8)


class TiledSegmenter:
    """Sliding-window inference of a tile model over a windowed image source.

    Args:
        model: a tile model (:class:`vnseg.inference.tile_models.TileModel`): ``num_classes`` and
            ``predict(rgb uint8 (n, 3, tile, tile), valid bool (n, tile, tile)) -> float32
            (n, C, tile, tile)`` scores whose softmax is the class probability (logits or
            log-probabilities; merged linearly).
        tile: window side in pixels (windows are clipped to the image when it is smaller and then
            padded back to ``tile`` with invalid pixels).
        overlap: pixels shared by neighbouring windows, ``0 <= overlap < tile``; stride = tile - overlap.
        batch_size: windows per model call.
        blend: ``'gaussian'`` (smooth window weights, no seams) or ``'mean'`` (plain average of
            scores, exactly mmseg's ``slide`` mode with ``crop_size=tile, stride=tile-overlap``).
        tta_flip: also run the horizontally flipped windows and average the scores.
        nodata: value written where the input is invalid (alpha = 0 / nodata).
        threshold: probability threshold of one-channel (binary) models.

    Counters after a run: ``tiles_total`` (windows of the strips that ran, context included),
    ``tiles_run`` (those with at least one valid pixel).
    """

    def __init__(self, model, tile: int = 512, overlap: int = 128, batch_size: int = 4,
                 blend: str = 'gaussian', tta_flip: bool = False, nodata: int = 255,
                 threshold: Optional[float] = None):
        if tile <= 0:
            raise ValueError(f'tile must be > 0, got {tile}')
        if not 0 <= overlap < tile:
            raise ValueError(f'overlap must be in [0, tile), got overlap={overlap}, tile={tile}')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        blend_weights(1, 1, blend)  # validates the mode
        self.model = model
        self.tile, self.overlap, self.batch_size = tile, overlap, batch_size
        self.blend, self.tta_flip, self.nodata = blend, tta_flip, nodata
        self.num_classes = int(model.num_classes)
        self.threshold = float(threshold if threshold is not None
                               else getattr(model, 'threshold', None) or 0.3)
        self.tiles_total = self.tiles_run = 0

    @classmethod
    def of(cls, model, windows: WindowOptions, nodata: int = 255) -> 'TiledSegmenter':
        """The segmenter of ``model`` with ``windows`` (defaults filled in: :meth:`WindowOptions.for_model`;
        ``match_gsd`` is the caller's: it chooses what the windows read)."""
        w = windows.for_model(model)
        return cls(model, tile=w.tile, overlap=w.overlap, batch_size=w.batch_size, blend=w.blend,
                   tta_flip=w.tta_flip, nodata=nodata)

    def grid(self, height: int, width: int) -> StripGrid:
        return StripGrid.of(height, width, self.tile, self.overlap)

    # -- model -----------------------------------------------------------------------------------
    def _predict(self, tiles: list, valids: list) -> np.ndarray:
        """Scores ``float32 (n, C, h, w)`` of same-size windows ``uint8 (3, h, w)`` (padded to the tile)."""
        h, w = tiles[0].shape[1:]
        n, t = len(tiles), self.tile
        rgb = np.zeros((n, 3, max(t, h), max(t, w)), np.uint8)
        valid = np.zeros((n, rgb.shape[2], rgb.shape[3]), bool)
        for k in range(n):
            rgb[k, :, :h, :w] = tiles[k]
            valid[k, :h, :w] = valids[k]
        scores = self.model.predict(rgb, valid)
        if self.tta_flip:
            flipped = self.model.predict(np.ascontiguousarray(rgb[..., ::-1]),
                                         np.ascontiguousarray(valid[..., ::-1]))
            scores = (scores + flipped[..., ::-1]) / 2
        return np.asarray(scores[:, :, :h, :w], np.float32)

    # -- streaming ---------------------------------------------------------------------------------
    def iter_strips(self, source, first: int = 0, stop: Optional[int] = None,
                    progress: bool = True) -> Iterator[Strip]:
        """Segment strips ``[first, stop)`` of ``source``.

        Args:
            source: an object with ``height``, ``width``, ``read_valid(row0, col0, h, w)`` -> bool
                ``(h, w)`` and ``read_rgb(row0, col0, h, w)`` -> uint8 ``(3, h, w)``
                (:class:`vnseg.geo.raster_io.SourceImage`).
            first, stop: strip range (default: all). Earlier strips that overlap strip ``first`` run
                first as context; their rows are not yielded.
            progress: show a tqdm bar (windows done / total).

        Yields:
            :class:`Strip` for strips ``first .. stop - 1``: consecutive row blocks that cover rows
            ``[ys[first], ys[stop]))`` (to the image bottom for the last strip).
        """
        for i, row0, c0, scores, keep in self.iter_scores(source, first, stop, progress):
            rows = keep.shape[0]
            classes = np.full((rows, source.width), self.nodata, np.uint8)
            conf = np.full((rows, source.width), self.nodata, np.uint8)
            if scores is not None:
                cols = slice(c0, c0 + scores.shape[2])
                classes[:, cols] = np.where(keep, classify(scores, self.threshold), self.nodata)
                conf[:, cols] = np.where(keep, confidence_percent(scores), self.nodata)
            yield Strip(i, row0, classes, conf)

    def iter_rows(self, source, progress: bool = True):
        """``(row0, classes uint8 (rows, width))`` for every strip, top to bottom."""
        for strip in self.iter_strips(source, progress=progress):
            yield strip.row0, strip.classes

    def iter_scores(self, source, first: int = 0, stop: Optional[int] = None, progress: bool = True):
        """Like :meth:`iter_strips` but yields the blended scores of the columns that have any.

        Yields:
            ``(index, row0, col0, scores, keep)`` per strip: ``scores`` float32 ``(C, rows, cols)`` =
            weighted mean of the windows' scores for columns ``[col0, col0 + cols)`` (the span of the
            windows that ran; ``None`` when none ran) and ``keep`` bool ``(rows, cols)`` = valid input
            pixel covered by a window (``(rows, 0)`` when none).
        """
        from tqdm import tqdm
        grid = self.grid(source.height, source.width)
        stop = len(grid) if stop is None else min(stop, len(grid))
        if not 0 <= first <= stop:
            raise ValueError(f'bad strip range [{first}, {stop}) of {len(grid)} strips')
        start = grid.context_start(first) if first < stop else first
        th, tw, W, xs = grid.th, grid.tw, grid.width, grid.xs
        C = self.num_classes
        weight = blend_weights(th, tw, self.blend)
        acc = np.zeros((C, th, W), np.float32)
        wsum = np.zeros((th, W), np.float32)
        spans = []  # (end row, first col, end col) of the windows that ran and reach the buffer
        self.tiles_total = (stop - start) * len(xs)
        self.tiles_run = 0
        bar = tqdm(total=self.tiles_total, unit='tile', disable=not progress, desc='segmenting')
        try:
            for i in range(start, stop):
                y = grid.ys[i]
                valid = source.read_valid(y, 0, th, W)
                run = [x for x in xs if valid[:, x:x + tw].any()]
                bar.update(len(xs) - len(run))
                if run:
                    spans.append((y + th, run[0], run[-1] + tw))
                    rgb = source.read_rgb(y, 0, th, W)
                    for b in range(0, len(run), self.batch_size):
                        cols = run[b:b + self.batch_size]
                        scores = self._predict([rgb[:, :, x:x + tw] for x in cols],
                                               [valid[:, x:x + tw] for x in cols])
                        for k, x in enumerate(cols):
                            acc[:, :, x:x + tw] += scores[k] * weight
                            wsum[:, x:x + tw] += weight
                        self.tiles_run += len(cols)
                        bar.update(len(cols))
                    del rgb
                row0, row1 = grid.final_rows(i)
                d = row1 - row0
                if not spans:  # nothing ran that reaches these rows: the buffer is all zeros
                    if i >= first:
                        yield i, row0, 0, None, np.zeros((d, 0), bool)
                    continue
                c0, c1 = min(s[1] for s in spans), max(s[2] for s in spans)
                if i >= first:
                    w = wsum[:d, c0:c1]
                    has = w > 0
                    mean = acc[:, :d, c0:c1] / np.where(has, w, np.float32(1))
                    yield i, row0, c0, mean, has & valid[:d, c0:c1]
                    del mean, has, w
                # shift the rows still open to the top of the buffer, clear the rest
                if d < th:
                    acc[:, :th - d, c0:c1] = acc[:, d:, c0:c1].copy()
                    wsum[:th - d, c0:c1] = wsum[d:, c0:c1].copy()
                acc[:, th - d:, c0:c1] = 0
                wsum[th - d:, c0:c1] = 0
                spans = [s for s in spans if s[0] > row1]
        finally:
            bar.close()
