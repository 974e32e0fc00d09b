"""Tile models: the framework-specific part of whole-scene inference, behind one small interface.

A tile model maps a batch of square RGB windows to per-class scores::

    scores = tile_model.predict(rgb, valid)
    # rgb   uint8  (n, 3, tile, tile), RGB order, 0..255
    # valid bool   (n, tile, tile), False = nodata / padding (the model sees its mean colour there)
    # scores float32 (n, C, tile, tile) whose softmax over C is the class probability

Attributes every tile model has: ``num_classes`` (C), ``tile`` (fixed window side, or None when any
size works), ``classes`` / ``palette`` (may be None), ``threshold`` (binary models), ``name``.

* :class:`TorchTileModel` -- an mmseg segmentor (``data_preprocessor`` + ``encode_decode``); scores
  are logits. Needs torch/mmseg.
* :class:`OnnxTileModel` -- an ONNX file exported by ``tools/deployment/export_onnx.py`` (input
  float32 RGB in [0, 1] as the QGIS Deepness plugin feeds it, normalisation inside the graph, output
  softmax probabilities); scores are log-probabilities, whose softmax is the same probability and
  whose argmax and blended softmax equal those of the logits. Needs only numpy + onnxruntime.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ['TorchTileModel', 'OnnxTileModel', 'read_onnx_metadata', 'default_batch_size']

#: Probabilities are clipped to this before the log (float32 softmax underflows to 0 far from the
#: winning class; such classes never win, and their share of the confidence is below 1e-30).
_MIN_PROB = 1e-30


def default_batch_size(tile_model) -> int:
    """Windows per forward pass when the caller gives none: 1 for PyTorch on a CPU, else 4.

    On a CPU, PyTorch runs a window in about the same time alone or in a batch, and a batch raises the peak
    memory of a whole scene (docs/results.md, "CPU speed"); a GPU (and ONNX Runtime's batched kernels) use
    batches.
    """
    device = getattr(tile_model, 'device', None)
    return 1 if isinstance(tile_model, TorchTileModel) and getattr(device, 'type', None) == 'cpu' else 4


class TorchTileModel:
    """An mmseg segmentor as a tile model (scores = logits, computed on the model's device).

    Args:
        model: mmseg ``EncoderDecoder``-like segmentor in eval mode.
        tile: window side the engine will feed (used for padding metadata only).
        fuse_head: switch a ``SegformerHead`` to :class:`~vnseg.models.FusedSegformerHead` in place
            (the same weights and logits up to float rounding, faster windows on a CPU: docs/results.md,
            "CPU speed"); other heads are left as they are.
    """

    def __init__(self, model, tile: Optional[int] = None, fuse_head: bool = True):
        self.model = model
        if fuse_head:
            from vnseg.models.fused_segformer_head import fuse_segformer_head
            fuse_segformer_head(model)
        self.tile = tile
        head = getattr(model, 'decode_head', None)
        self.num_classes = int(getattr(model, 'out_channels', None) or head.num_classes)
        self.threshold = getattr(head, 'threshold', None)
        meta = getattr(model, 'dataset_meta', None) or {}
        self.classes = list(meta['classes']) if meta.get('classes') else None
        self.palette = [list(map(int, c)) for c in meta['palette']] if meta.get('palette') else None
        self.name = type(model).__name__

    @property
    def device(self):
        return next(self.model.parameters()).device

    def predict(self, rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
        import torch
        from mmseg.structures import SegDataSample
        n, _, h, w = rgb.shape
        with torch.no_grad():
            # mmseg's loaders deliver BGR; the data preprocessor converts (bgr_to_rgb) and normalises.
            inputs = [torch.from_numpy(np.ascontiguousarray(t[::-1])) for t in rgb]
            data = self.model.data_preprocessor(
                dict(inputs=inputs, data_samples=[SegDataSample() for _ in range(n)]), False)
            x = data['inputs']
            if not valid.all():   # invalid pixels -> 0 after normalisation = the mean colour
                x[:, :, :h, :w] *= torch.from_numpy(valid).to(x.device)[:, None]
            ph, pw = x.shape[2:]
            metas = [dict(img_shape=(ph, pw), pad_shape=(ph, pw), ori_shape=(h, w))] * n
            logits = self.model.encode_decode(x, metas)
            return logits[:, :, :h, :w].float().cpu().numpy()


def read_onnx_metadata(path) -> dict:
    """The ``metadata_props`` of an ONNX file as a dict of decoded JSON values (raw strings when a
    value is not JSON), read through onnxruntime (no ``onnx`` package needed)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return _decode_metadata(sess.get_modelmeta().custom_metadata_map)


def _decode_metadata(raw: dict) -> dict:
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except (TypeError, ValueError):
            out[k] = v
    return out


#: Runtimes an exported ONNX model can run on (``vnseg map --backend``); OpenVINO is an optional extra.
BACKENDS = ('onnxruntime', 'openvino')


class OnnxTileModel:
    """An exported ONNX segmentation model run by ONNX Runtime (or OpenVINO).

    Args:
        path: ``.onnx`` file with one input ``(N, 3, T, T)`` float32 RGB in [0, 1] and one output
            ``(N, C, T, T)`` class probabilities (the Deepness segmentation contract).
        providers: ONNX Runtime execution providers (default: CUDA when available, else CPU).
        threads: intra-op threads (default: ONNX Runtime's choice).
        fill_rgb01: the colour nodata pixels get (default: the ``vnseg`` metadata's ``fill_rgb01``, the
            colour the graph normalises to 0; black for other models).
        session_config: ONNX Runtime session configuration entries (``{key: value}``), e.g.
            ``{'session.disable_quant_qdq': '1'}`` to run an int8 graph's quantise / dequantise pairs as
            written, in float32, instead of fusing them into integer kernels
            (:func:`vnseg.deploy.quantize.float_reference`).
        backend: ``'onnxruntime'`` (default) or ``'openvino'`` (OpenVINO's CPU plugin, ``pip install
            'vnseg[openvino]'``; float32 inference precision, so that a CPU with bf16 units computes what the
            other backend does; ONNX Runtime then only reads the metadata).

    Raises:
        FileNotFoundError / ValueError with the file name when the file is missing or not such a model
        (or the backend is unknown or not installed).
    """

    def __init__(self, path, providers=None, threads: Optional[int] = None, fill_rgb01=None,
                 session_config: Optional[dict] = None, backend: str = 'onnxruntime'):
        import onnxruntime as ort
        self.path = Path(path)
        if backend not in BACKENDS:
            raise ValueError(f"{backend}: not a backend for ONNX models (choose from {', '.join(BACKENDS)})")
        if not self.path.is_file():
            raise FileNotFoundError(f'{self.path}: ONNX model not found')
        self.backend = backend
        opts = ort.SessionOptions()
        opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if backend == 'onnxruntime'
                                         else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        if threads:
            opts.intra_op_num_threads = int(threads)
        for key, value in (session_config or {}).items():
            opts.add_session_config_entry(str(key), str(value))
        if providers is None:
            available = ort.get_available_providers()
            providers = [p for p in ('CUDAExecutionProvider', 'CPUExecutionProvider') if p in available]
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            raise ValueError(f'{self.path}: not a loadable ONNX model ({str(err).splitlines()[0]})') from err
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4 or len(outputs[0].shape) != 4:
            raise ValueError(f'{self.path}: expected one (N, 3, H, W) input and one (N, C, H, W) output')
        self.input_name = inputs[0].name
        self.metadata = _decode_metadata(self.session.get_modelmeta().custom_metadata_map)
        vn = self.metadata.get('vnseg') if isinstance(self.metadata.get('vnseg'), dict) else {}
        h, w = inputs[0].shape[2:]
        self.tile = int(h) if isinstance(h, int) and h == w else None
        c = outputs[0].shape[1]
        names = self.metadata.get('class_names')
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names, key=int)]
        self.num_classes = int(c) if isinstance(c, int) else len(names or [])
        if not self.num_classes:
            raise ValueError(f'{self.path}: the number of classes is neither in the output shape nor '
                             'in the class_names metadata')
        self.classes = list(names) if names else None
        self.palette = vn.get('palette')
        #: the export's int8 facts (settings, agreement, gate) when this is a vnseg int8 file, else None
        self.int8 = vn.get('int8') if isinstance(vn.get('int8'), dict) else None
        self.threshold = self.metadata.get('seg_thresh') if self.num_classes == 1 else None
        # Deepness feeds (x / 255 - standardization_mean) / standardization_std; so do we.
        self._mean = np.asarray(self.metadata.get('standardization_mean', [0.0] * 3), np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(self.metadata.get('standardization_std', [1.0] * 3), np.float32).reshape(1, 3, 1, 1)
        # colour (in [0, 1]) that the graph normalises to 0: what invalid pixels become
        fill = fill_rgb01 if fill_rgb01 is not None else vn.get('fill_rgb01', [0.0] * 3)
        self._fill = np.asarray(fill, np.float32).reshape(1, 3, 1, 1)
        self.name = self.path.name
        self._openvino = None
        if backend == 'openvino':
            self._openvino = _openvino_model(self.path, threads)
            self.session = None   # (it only read the metadata)

    def graph_input(self, rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``float32 (n, 3, tile, tile)``: what the graph is fed for ``rgb`` uint8 ``(n, 3, tile, tile)``
        and ``valid`` bool ``(n, tile, tile)`` -- RGB / 255, nodata pixels set to the fill colour, then
        ``(x - standardization_mean) / standardization_std`` as Deepness does (int8 calibration uses it)."""
        x = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        if not valid.all():
            x = np.where(valid[:, None], x, self._fill)
        return ((x - self._mean) / self._std).astype(np.float32)

    def predict(self, rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
        x = self.graph_input(rgb, valid)
        prob = self.session.run(None, {self.input_name: x})[0] if self._openvino is None else self._openvino(x)
        if prob.shape[1] == 1:   # binary model: probability of the positive class -> logit
            p = np.clip(prob, _MIN_PROB, 1 - 1e-7)
            return np.log(p / (1 - p)).astype(np.float32)
        return np.log(np.maximum(prob, _MIN_PROB)).astype(np.float32)


def _openvino_model(path: Path, threads: Optional[int] = None):
    """``x -> probabilities``: the ONNX file compiled by OpenVINO for the CPU, in float32 precision."""
    try:
        import openvino as ov
    except ImportError:
        raise ValueError(f"{path}: --backend openvino needs OpenVINO (pip install 'vnseg[openvino]')") from None
    config = {'INFERENCE_PRECISION_HINT': 'f32'}
    if threads:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    core = ov.Core()
    try:
        compiled = core.compile_model(core.read_model(str(path)), 'CPU', config)
    except Exception as err:  # OpenVINO raises RuntimeError subclasses of its own
        raise ValueError(f'{path}: OpenVINO cannot compile this model ({str(err).strip().splitlines()[-1]})') from err
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(request.infer([x])[0]).copy()
    return run
