"""Streaming sliding-window segmentation: one horizontal strip of tiles at a time.

Only the current strip's logit accumulator lives in memory: ``float32 (C, tile, width)`` plus a
``(tile, width)`` weight sum, on the model's device. After a strip of tiles has been added, the rows
that no later strip touches are final; they are turned into class indices and handed to the caller,
and the overlapping rest of the accumulator is shifted up for the next strip.
"""
from __future__ import annotations

import math
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from vnseg.geo.windows import blend_weights, tile_starts

__all__ = ['TiledSegmenter']


class TiledSegmenter:
    """Sliding-window inference of an mmseg ``EncoderDecoder`` over a windowed image source.

    Args:
        model: an mmseg segmentor in eval mode (``data_preprocessor``, ``encode_decode``).
        tile: window side in pixels (windows are clipped to the image when it is smaller; the model
            input is then zero-padded, in normalised space, back to ``tile``).
        overlap: pixels shared by neighbouring windows, ``0 <= overlap < tile``; stride = tile - overlap.
        batch_size: windows per forward pass.
        blend: ``'gaussian'`` (smooth window weights, no seams) or ``'mean'`` (plain average of
            logits, exactly mmseg's ``slide`` mode with ``crop_size=tile, stride=tile-overlap``).
        tta_flip: also run the horizontally flipped window and average the logits.
        nodata: class value written where the input is invalid (alpha = 0 / nodata).

    Counters after a run: ``tiles_total``, ``tiles_run`` (windows with at least one valid pixel).
    """

    def __init__(self, model, tile: int = 512, overlap: int = 128, batch_size: int = 4,
                 blend: str = 'gaussian', tta_flip: bool = False, nodata: int = 255):
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
        self.device = next(model.parameters()).device
        self.num_classes = int(getattr(model, 'out_channels', None) or model.decode_head.num_classes)
        self.threshold = float(getattr(model.decode_head, 'threshold', None) or 0.3)
        self.tiles_total = self.tiles_run = 0

    # -- model ---------------------------------------------------------------------------------
    @torch.no_grad()
    def forward_tiles(self, tiles: list, valids: Optional[list] = None) -> torch.Tensor:
        """Logits of a batch of same-size RGB windows.

        Args:
            tiles: ``uint8`` arrays ``(3, h, w)`` in RGB order.
            valids: optional ``bool (h, w)`` masks; invalid pixels are set to the normalisation mean
                (0 after normalisation) so that nodata colours do not leak into predictions.

        Returns:
            ``float32 (n, C, h, w)`` logits on the model's device.
        """
        from mmseg.structures import SegDataSample
        h, w = tiles[0].shape[1:]
        # mmseg's loaders deliver BGR; the data preprocessor converts (bgr_to_rgb) and normalises.
        inputs = [torch.from_numpy(np.ascontiguousarray(t[::-1])) for t in tiles]
        data = self.model.data_preprocessor(
            dict(inputs=inputs, data_samples=[SegDataSample() for _ in tiles]), False)
        x = data['inputs']
        if valids is not None and not all(v.all() for v in valids):
            keep = torch.from_numpy(np.stack(valids)).to(x.device)[:, None]
            x[:, :, :h, :w] = x[:, :, :h, :w] * keep
        ph, pw = max(self.tile, x.shape[2]), max(self.tile, x.shape[3])
        if (ph, pw) != tuple(x.shape[2:]):
            x = F.pad(x, (0, pw - x.shape[3], 0, ph - x.shape[2]))
        metas = [dict(img_shape=(ph, pw), pad_shape=(ph, pw), ori_shape=(h, w))] * len(tiles)
        logits = self.model.encode_decode(x, metas)
        if self.tta_flip:
            logits = (logits + self.model.encode_decode(x.flip(-1), metas).flip(-1)) / 2
        return logits[:, :, :h, :w].float()

    # -- streaming -----------------------------------------------------------------------------
    def iter_rows(self, source, progress: bool = True) -> Iterator[Tuple[int, np.ndarray]]:
        """Segment ``source`` strip by strip.

        Args:
            source: an object with ``height``, ``width``, ``read_valid(row0, col0, h, w)`` -> bool
                ``(h, w)`` and ``read_rgb(row0, col0, h, w)`` -> uint8 ``(3, h, w)``
                (:class:`vnseg.geo.raster_io.SourceImage`).
            progress: show a tqdm bar (windows done / total).

        Yields:
            ``(row0, classes)``: consecutive row blocks covering the image top to bottom;
            ``classes`` is ``uint8 (rows, width)``, ``nodata`` where the input is invalid.
        """
        for y, c0, mean, keep in self.iter_logits(source, progress):
            out = np.full((keep.shape[0], source.width), self.nodata, np.uint8)
            if mean is not None:
                pred = self._classify(mean)
                pred = torch.where(keep, pred, torch.full_like(pred, self.nodata))
                out[:, c0:c0 + pred.shape[1]] = pred.cpu().numpy()
            yield y, out

    def _classify(self, mean: torch.Tensor) -> torch.Tensor:
        """``uint8 (rows, cols)`` class of ``(C, rows, cols)`` logits; first class wins ties (= argmax).

        A loop over the class planes: on CPU, ``argmax`` over the leading dimension of a wide strip
        is an order of magnitude slower than C elementwise passes.
        """
        if self.num_classes == 1:
            return (mean[0].sigmoid() > self.threshold).to(torch.uint8)
        best = mean[0].clone()
        pred = torch.zeros(mean.shape[1:], dtype=torch.uint8, device=mean.device)
        for c in range(1, self.num_classes):
            better = mean[c] > best
            pred[better] = c
            torch.maximum(best, mean[c], out=best)
        return pred

    def iter_logits(self, source, progress: bool = True):
        """Like :meth:`iter_rows` but yields the blended logits of the columns that have any.

        Yields:
            ``(row0, col0, logits, keep)`` for consecutive row blocks: ``logits`` float32
            ``(C, rows, cols)`` = weighted mean of the windows' logits for columns
            ``[col0, col0 + cols)`` (the span of the windows that ran; ``None`` when none ran) and
            ``keep`` bool ``(rows, cols)`` = valid input pixel covered by a window (``(rows, 0)``
            when none); both on the model's device. Columns outside the span have no prediction.
        """
        from tqdm import tqdm
        H, W = source.height, source.width
        th, tw = min(self.tile, H), min(self.tile, W)
        stride = self.tile - self.overlap
        ys = tile_starts(H, th, min(stride, th))
        xs = tile_starts(W, tw, min(stride, tw))
        C = self.num_classes
        dev = self.device
        weight = torch.from_numpy(blend_weights(th, tw, self.blend)).to(dev)
        acc = torch.zeros((C, th, W), dtype=torch.float32, device=dev)
        wsum = torch.zeros((th, W), dtype=torch.float32, device=dev)
        spans = []  # (end row, first col, end col) of the windows that ran and reach the buffer
        self.tiles_total = len(ys) * len(xs)
        self.tiles_run = 0
        bar = tqdm(total=self.tiles_total, unit='tile', disable=not progress, desc='segmenting')
        try:
            for i, y in enumerate(ys):
                valid = source.read_valid(y, 0, th, W)
                run = [x for x in xs if valid[:, x:x + tw].any()]
                bar.update(len(xs) - len(run))
                if run:
                    spans.append((y + th, run[0], run[-1] + tw))
                    rgb = source.read_rgb(y, 0, th, W)
                    for b in range(0, len(run), self.batch_size):
                        cols = run[b:b + self.batch_size]
                        logits = self.forward_tiles([rgb[:, :, x:x + tw] for x in cols],
                                                    [valid[:, x:x + tw] for x in cols])
                        for k, x in enumerate(cols):
                            acc[:, :, x:x + tw] += logits[k] * weight
                            wsum[:, x:x + tw] += weight
                        self.tiles_run += len(cols)
                        bar.update(len(cols))
                    del rgb
                # rows [y, next window row) receive no more windows: final
                d = (ys[i + 1] - y) if i + 1 < len(ys) else th
                if not spans:
                    yield y, 0, None, torch.zeros((d, 0), dtype=torch.bool, device=dev)
                    continue
                c0, c1 = min(s[1] for s in spans), max(s[2] for s in spans)
                w = wsum[:d, c0:c1]
                has = w > 0
                mean = acc[:, :d, c0:c1] / torch.where(has, w, torch.ones_like(w))
                keep = has & torch.from_numpy(np.ascontiguousarray(valid[:d, c0:c1])).to(dev)
                yield y, c0, mean, keep
                del mean, keep, has, w
                # shift the rows still open to the top of the buffer, clear the rest
                if d < th:
                    acc[:, :th - d, c0:c1] = acc[:, d:, c0:c1].clone()
                    wsum[:th - d, c0:c1] = wsum[d:, c0:c1].clone()
                acc[:, th - d:, c0:c1] = 0
                wsum[th - d:, c0:c1] = 0
                nxt = ys[i + 1] if i + 1 < len(ys) else H
                spans = [s for s in spans if s[0] > nxt]
        finally:
            bar.close()


def default_overlap(tile: int) -> int:
    """Default overlap: a quarter of the tile (stride = 3/4 tile)."""
    return int(math.floor(tile / 4))
