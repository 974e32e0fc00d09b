"""Export a segmentor's tile forward to ONNX, check it against PyTorch, and describe it for Deepness.

The graph (:class:`TileForward`) takes what the QGIS Deepness plugin feeds a segmentation model --
``float32 (N, 3, T, T)`` RGB scaled to [0, 1] (with ``standardization_mean = 0`` and
``standardization_std = 1`` in the metadata, Deepness applies no further change) -- and returns class
probabilities ``float32 (N, C, T, T)`` (softmax; sigmoid for a one-channel binary head). The model's
own normalisation (mmseg's mean/std on 0-255 values) and channel order are inside the graph; the batch
dimension is dynamic, the tile size fixed.

Metadata (``metadata_props``, every value JSON-encoded as Deepness reads it): Deepness' keys
``model_type``, ``class_names``, ``resolution`` (cm/px, when known), ``tiles_size`` (and the older
``tile_size``), ``tiles_overlap`` (%), ``seg_thresh`` (0 = no threshold, see :func:`deepness_metadata`),
``seg_small_segment`` (0 = no median filter), ``standardization_mean``, ``standardization_std``; and
``vnseg``: class names in English and Vietnamese, palette, the colour that normalises to 0 (used for
nodata pixels), the source config/checkpoint, the ground resolution and where it came from, test
metrics and the parity figures measured at export.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

__all__ = ['TileForward', 'export_onnx', 'check_parity', 'fill_rgb01', 'exact_adaptive_pooling', 'pool_matrix',
           'deepness_metadata', 'embed_metadata', 'parity_tiles']

#: Minimum share of pixels whose class must agree between PyTorch and ONNX Runtime at export.
MIN_AGREEMENT = 0.995


def _torch():
    import torch
    return torch


def pool_matrix(n: int, m: int) -> np.ndarray:
    """``float32 (m, n)``: row ``i`` averages PyTorch's adaptive-pooling bin ``i`` of ``n`` inputs
    (``floor(i n / m)`` to ``ceil((i + 1) n / m)``, bins may overlap)."""
    out = np.zeros((m, n), np.float32)
    for i in range(m):
        a, b = (i * n) // m, -((-(i + 1) * n) // m)
        out[i, a:b] = 1.0 / (b - a)
    return out


def exact_adaptive_pooling(model):
    """Replace every ``nn.AdaptiveAvgPool2d`` of ``model`` (in place) by the same average written as two
    matrix products. ONNX has no adaptive pooling: the TorchScript exporter refuses output sizes that do
    not divide the input (PSPNet's and UperNet's 3 and 6 bins) and other exporters approximate them with
    a fixed-stride pool; the matrices give PyTorch's exact bins for the fixed tile size."""
    torch = _torch()

    class MatrixAdaptiveAvgPool2d(torch.nn.Module):
        def __init__(self, output_size):
            super().__init__()
            size = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
            self.output_size = tuple(size)

        def forward(self, x):
            h, w = int(x.shape[-2]), int(x.shape[-1])
            oh = self.output_size[0] or h
            ow = self.output_size[1] or w
            ph = torch.from_numpy(pool_matrix(h, oh)).to(x)
            pw = torch.from_numpy(pool_matrix(w, ow).T.copy()).to(x)
            return torch.matmul(torch.matmul(ph, x), pw)

    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.AdaptiveAvgPool2d):
                setattr(module, child_name, MatrixAdaptiveAvgPool2d(child.output_size))
    return model


def TileForward(segmentor, tile: int):
    """``torch.nn.Module``: RGB [0, 1] ``(N, 3, tile, tile)`` -> class probabilities ``(N, C, tile, tile)``.

    Built from a copy of the segmentor (adaptive pooling made exact for export, see
    :func:`exact_adaptive_pooling`): ``data_preprocessor`` (mean, std, ``bgr_to_rgb``) and
    ``encode_decode``. (A factory, so that this module imports without torch.)
    """
    import copy
    torch = _torch()

    class _TileForward(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.segmentor = exact_adaptive_pooling(copy.deepcopy(segmentor)).eval()
            pre = segmentor.data_preprocessor
            mean = pre.mean.detach().float().view(1, 3, 1, 1).cpu()
            std = pre.std.detach().float().view(1, 3, 1, 1).cpu()
            # mmseg loaders give BGR; with bgr_to_rgb the model sees RGB, else it sees BGR.
            self.to_bgr = not bool(getattr(pre, 'channel_conversion', False))
            self.register_buffer('scale', 255.0 / std)
            self.register_buffer('shift', mean / std)
            self.tile = int(tile)
            head = getattr(segmentor, 'decode_head', None)
            self.num_classes = int(getattr(segmentor, 'out_channels', 0) or head.num_classes)
            self.binary = self.num_classes == 1

        def forward(self, x):
            if self.to_bgr:
                x = x.flip(1)
            x = x * self.scale - self.shift
            metas = [dict(img_shape=(self.tile, self.tile), pad_shape=(self.tile, self.tile),
                          ori_shape=(self.tile, self.tile))]
            logits = self.segmentor.encode_decode(x, metas)
            if self.binary:
                return logits.sigmoid()
            if not torch.onnx.is_in_onnx_export():
                return logits.softmax(dim=1)
            # in the ONNX graph the softmax over classes is spelt out: ONNX Runtime's Softmax on axis 1 of
            # (N, C, H, W) is much slower than these element-wise ops, fp32 and int8 alike (docs/results.md,
            # "CPU speed"). PyTorch keeps its own softmax (whose backward a traced graph can train)
            e = (logits - logits.amax(dim=1, keepdim=True)).exp()
            return e / e.sum(dim=1, keepdim=True)

    return _TileForward().eval()


def export_onnx(segmentor, out_path, tile: int = 512, opset: int = 18) -> dict:
    """Write ``segmentor``'s tile forward to ``out_path`` (no metadata yet); returns export facts.

    Tries the TorchScript-based exporter (``dynamo=False``: offline, no extra packages) and falls back to
    the ``torch.export`` based one when a model's operator is not supported there.
    """
    torch = _torch()
    wrapper = TileForward(segmentor, tile).cpu()
    x = torch.rand(2, 3, tile, tile)
    out_path = Path(out_path)
    errors = []
    for dynamo in (False, True):
        kw = dict(input_names=['image'], output_names=['probabilities'], opset_version=opset, verbose=False)
        if dynamo:
            kw.update(dynamo=True, dynamic_shapes={'x': {0: torch.export.Dim('batch', min=1, max=1024)}},
                      external_data=False)
        else:
            kw.update(dynamo=False, dynamic_axes={'image': {0: 'batch'}, 'probabilities': {0: 'batch'}})
        try:
            with torch.no_grad():
                result = torch.onnx.export(wrapper, (x,), str(out_path), **kw)
            if dynamo and result is not None and not out_path.is_file():
                result.save(str(out_path))
            _set_io_shapes(out_path, wrapper.num_classes, tile)
            return dict(exporter='torch.export (dynamo)' if dynamo else 'TorchScript', opset=opset,
                        fill_rgb01=fill_rgb01(segmentor))
        except Exception as err:  # try the other exporter, report both if neither works
            errors.append(f"{'dynamo' if dynamo else 'torchscript'}: {type(err).__name__}: "
                          f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}")
            out_path.unlink(missing_ok=True)
    raise RuntimeError('ONNX export failed: ' + ' | '.join(errors))


def _set_io_shapes(onnx_path, num_classes: int, tile: int):
    """Declare the graph's input and output shapes ``(batch, 3 | C, tile, tile)``: exporters may leave
    the output's class and spatial sizes symbolic, and Deepness reads them (square output, C classes)."""
    import onnx
    model = onnx.load(str(onnx_path))
    for value, channels in ((model.graph.input[0], 3), (model.graph.output[0], num_classes)):
        dims = value.type.tensor_type.shape.dim
        for i, size in enumerate(('batch', channels, tile, tile)):
            if i >= len(dims):
                dims.add()
            if isinstance(size, str):
                dims[i].dim_param = size
            else:
                dims[i].dim_value = size
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def parity_tiles(images: Sequence, tile: int, max_tiles: int = 8) -> tuple:
    """Up to ``max_tiles`` real ``tile x tile`` windows from ``images`` (grid positions, in order).

    Returns ``(rgb uint8 (n, 3, tile, tile), valid bool (n, tile, tile))``; windows of images smaller
    than the tile are padded with invalid pixels.
    """
    from vnseg.geo.raster_io import SourceImage
    from vnseg.inference.sliding import StripGrid
    rgbs, valids = [], []
    for path in images:
        with SourceImage(path) as src:
            grid = StripGrid.of(src.height, src.width, tile, 0)
            for y in grid.ys:
                for x in grid.xs:
                    if len(rgbs) >= max_tiles:
                        break
                    rgb = np.zeros((3, tile, tile), np.uint8)
                    valid = np.zeros((tile, tile), bool)
                    rgb[:, :grid.th, :grid.tw] = src.read_rgb(y, x, grid.th, grid.tw)
                    valid[:grid.th, :grid.tw] = src.read_valid(y, x, grid.th, grid.tw)
                    rgbs.append(rgb)
                    valids.append(valid)
        if len(rgbs) >= max_tiles:
            break
    if not rgbs:
        raise ValueError('no tiles could be read for the parity check')
    return np.stack(rgbs), np.stack(valids)


def fill_rgb01(segmentor) -> list:
    """The [0, 1] RGB colour that the segmentor's normalisation maps to 0 (mmseg's mean colour / 255):
    what nodata pixels become, in PyTorch (normalised input x 0) and in the ONNX path alike."""
    pre = segmentor.data_preprocessor
    mean = [float(v) / 255.0 for v in pre.mean.detach().cpu().view(3)]
    return mean if bool(getattr(pre, 'channel_conversion', False)) else mean[::-1]


def check_parity(segmentor, onnx_path, rgb: np.ndarray, valid: np.ndarray, batch_size: int = 2) -> dict:
    """Compare the exported graph (ONNX Runtime, CPU) with the PyTorch segmentor on the same tiles.

    Returns ``agreement`` (share of valid pixels whose class agrees), ``max_abs_logprob_diff``
    (max |log p_torch - log p_onnx| over class scores with p_torch >= 1e-4, i.e. the difference of
    the softmax-normalised logits where they matter) and ``max_abs_prob_diff``, plus ``pixels``.
    """
    from vnseg.deploy.agreement import class_agreement
    from vnseg.inference.tile_models import OnnxTileModel, TorchTileModel
    torch_model = TorchTileModel(segmentor, fuse_head=False)  # the model as trained: the reference
    onnx_model = OnnxTileModel(onnx_path, providers=['CPUExecutionProvider'], fill_rgb01=fill_rgb01(segmentor))
    agree = total = 0
    max_lp = max_p = 0.0
    for b in range(0, len(rgb), batch_size):
        r, v = rgb[b:b + batch_size], valid[b:b + batch_size]
        lt = torch_model.predict(r, v)
        lo = onnx_model.predict(r, v)
        lt = lt - _logsumexp(lt)
        n_agree, n_valid = class_agreement(lt, lo, v)
        agree, total = agree + n_agree, total + n_valid
        pt = np.exp(lt)
        sel = pt >= 1e-4
        if sel.any():
            max_lp = max(max_lp, float(np.abs(lt - lo)[sel].max()))
        max_p = max(max_p, float(np.abs(pt - np.exp(lo)).max()))
    return dict(agreement=agree / max(total, 1), max_abs_logprob_diff=max_lp, max_abs_prob_diff=max_p,
                pixels=total, tiles=int(len(rgb)))


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def deepness_metadata(classes: Sequence[str], tile: int, overlap_pct: int = 25,
                      resolution_cm: Optional[float] = None, seg_thresh: Optional[float] = None,
                      binary: bool = False) -> dict:
    """Deepness' metadata keys (values not yet JSON-encoded).

    ``seg_thresh``: Deepness zeroes every class probability below it *before* its argmax, so with
    a softmax over 5 classes a threshold of 0.5 turns every pixel whose best class is under 50 %
    into background. None (default) writes ``0``: Deepness then unticks its "Apply class probability
    threshold" box (a missing key would leave the box ticked at Deepness' own default of 0.5) and
    takes the plain argmax, as vnseg does. A one-channel sigmoid model (``binary``) needs a
    threshold (Deepness marks every non-zero pixel as the class): default 0.5 there.

    ``resolution_cm``: ground resolution the model was trained at (cm/px); Deepness resamples the
    map to it. None leaves the key out (Deepness then keeps its own default, 3 cm/px).

    ``seg_small_segment`` is 0: Deepness then unticks "Remove small segment areas" (a missing key
    leaves it ticked at size 9: a 9 x 9 median filter of the class map, which vnseg's map does not
    apply, and Deepness' map would then differ from vnseg's; tests/clients compares the two).
    """
    if seg_thresh is None:
        seg_thresh = 0.5 if binary else 0.0
    if not 0.0 <= float(seg_thresh) < 1.0:
        raise ValueError(f'seg_thresh must be in [0, 1), got {seg_thresh}')
    meta = dict(model_type='Segmentor', class_names={str(i): n for i, n in enumerate(classes)},
                tiles_size=int(tile), tile_size=int(tile), tiles_overlap=int(overlap_pct),
                seg_thresh=float(seg_thresh), seg_small_segment=0, standardization_mean=[0.0, 0.0, 0.0],
                standardization_std=[1.0, 1.0, 1.0])
    if resolution_cm is not None:
        meta['resolution'] = float(resolution_cm)
    return meta


def embed_metadata(onnx_path, metadata: dict, doc_string: Optional[str] = None):
    """Store ``metadata`` (``{key: JSON-able value}``) in the file's ``metadata_props``, in place (atomically)."""
    import onnx

    from vnseg.core.atomic import atomic_output
    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    for k, v in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(k), json.dumps(v, ensure_ascii=False)
    if doc_string:
        model.doc_string = doc_string
    model.producer_name = 'vnseg'
    with atomic_output(onnx_path) as tmp:
        onnx.save(model, str(tmp))
