"""int8 ONNX for mapping: static quantisation of an exported tile model, calibrated on real tiles.

An fp32 graph written by :func:`vnseg.deploy.onnx_export.export_onnx` (input ``image`` float32
``(N, 3, T, T)`` RGB in [0, 1], output ``probabilities`` float32 ``(N, C, T, T)``) becomes an int8 graph
with the same input, output and metadata, by ONNX Runtime's own tools
(``onnxruntime.quantization.quant_pre_process`` then ``quantize_static``):

* calibration: activation ranges (MinMax) measured on real tiles, fed exactly as
  :class:`vnseg.inference.tile_models.OnnxTileModel` feeds the graph (RGB / 255, nodata = the fill colour,
  Deepness' standardisation) -- :class:`TileCalibrationReader`;
* format: QDQ (QuantizeLinear / DequantizeLinear pairs that ONNX Runtime's CPU provider fuses into
  integer kernels), activations uint8 (asymmetric), weights int8 per output channel (symmetric): the
  U8S8 combination that ONNX Runtime runs on every x86 CPU;
* weights in 7 bits by default (``weight_bits=7``, values in [-64, 64]): the file is *portable*. x86 CPUs
  without VNNI (AVX2, AVX-512 without VNNI) multiply uint8 by int8 with ``vpmaddubsw``, which adds two
  products into a signed 16-bit sum and saturates it; with 7-bit weights no pair can exceed
  2 x 255 x 64 = 32640 <= 32767, so the integer kernels compute exact sums on every CPU, VNNI or not,
  and give the same class maps everywhere. 8-bit weights (``weight_bits=8``) are a little more exact but
  right only on CPUs with VNNI; such a file records ``portable: false`` and is checked where it runs
  (:mod:`vnseg.deploy.int8_check`);
* what is int8 (:data:`DEFAULT_OP_TYPES`): every ``Conv`` (patch embeddings, the attention's spatial
  reduction, the MixFFN's 1x1 and depthwise 3x3 convolutions, the decode head's projections and fusion),
  the decode head's ``Resize`` and ``Concat`` (so that its 4 x 256-channel maps at 1/4 resolution move
  as bytes, not floats: the fusion's largest tensors), and ``MatMul`` with a constant operand;
* what stays float32: LayerNorm, GELU, the attention's score and context products and their softmax
  (:func:`activation_matmuls`; quantised, ONNX Runtime runs them as QLinearMatMul / QLinearSoftmax,
  slower than float32 and less exact), the elementwise ops, and the tail (:func:`tail_nodes`: the
  classifier conv, the logits' upsampling, the output softmax), so that logits are never rounded to
  8 bits and the graph's output is float32 probabilities with no 1/255 steps to create class ties.

:func:`int8_agreement` runs the fp32 and the int8 graph on the same real tiles and gives the share of
valid pixels whose predicted class agrees (:func:`vnseg.deploy.agreement.class_agreement`);
``vnseg export --int8`` refuses the int8 file below ``--min-int8-agreement`` (:data:`DEFAULT_MIN_AGREEMENT`).
It also records how the exporting CPU's integer kernels agree with the file's own float arithmetic
(:func:`kernel_agreement`).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from vnseg.core.errors import UserError
from vnseg.deploy.agreement import class_agreement

__all__ = ['DEFAULT_MIN_AGREEMENT', 'DEFAULT_OP_TYPES', 'PORTABLE_WEIGHT_BITS', 'weight_code_range',
           'QDQ_AS_FLOAT', 'float_reference', 'kernel_agreement', 'TileCalibrationReader', 'Int8AgreementError',
           'calibration_tiles', 'QuantizeOptions', 'quantize_tile_model', 'int8_agreement', 'quantize_checked',
           'int8_path_for', 'quantized_op_counts', 'tail_nodes', 'activation_matmuls']

#: Default minimum share of valid pixels whose class the int8 graph must give as the fp32 graph does.
DEFAULT_MIN_AGREEMENT = 0.98
#: Operator types quantised by default (the others keep float32; see the module's docstring).
DEFAULT_OP_TYPES = ('Conv', 'MatMul', 'Relu', 'Resize', 'Concat')
#: Weight bits that every x86 CPU runs exactly (see the module's docstring); the export's default.
PORTABLE_WEIGHT_BITS = 7
#: ONNX Runtime session setting that keeps QuantizeLinear / DequantizeLinear as float ops (no integer kernels).
QDQ_AS_FLOAT = {'session.disable_quant_qdq': '1'}
#: Operators that only exist in a quantised graph (QDQ pairs, or the integer kernels of QOperator format).
QUANT_OPS = ('QuantizeLinear', 'DequantizeLinear', 'QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger')


def int8_path_for(fp32_path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx`` (same folder)."""
    p = Path(fp32_path)
    return p.with_name(p.stem + '.int8' + p.suffix)


class Int8AgreementError(UserError):
    """The int8 graph gives the fp32 graph's class on too few pixels; ``facts`` = :func:`int8_agreement`'s."""

    def __init__(self, path, facts: dict, min_agreement: float):
        self.facts, self.min_agreement = facts, float(min_agreement)
        super().__init__(path, f"the int8 model agrees with the fp32 model on only {100 * facts['agreement']:.2f} "
                               f"% of {facts['pixels']} pixels of {facts['tiles']} real tiles "
                               f'(< {100 * min_agreement:.2f} %, --min-int8-agreement); nothing written')


def weight_code_range(onnx_path) -> int:
    """The largest absolute value of the int8 weight codes (``INT8`` initializers) in a graph; 0 without any.

    At most 64 in a portable file (7-bit weights), up to 127 with 8-bit weights.
    """
    import onnx
    from onnx import numpy_helper
    return max((int(np.abs(numpy_helper.to_array(i).astype(np.int16)).max(initial=0))
                for i in onnx.load(str(onnx_path)).graph.initializer if i.data_type == onnx.TensorProto.INT8),
               default=0)


def calibration_tiles(images: Sequence, tile: int, max_tiles: int = 16, min_valid: float = 0.5) -> tuple:
    """Up to ``max_tiles`` real ``tile x tile`` windows spread over ``images`` for calibration.

    Each image gets an equal share of the tiles, taken at evenly spaced positions of its window grid
    (no overlap; cells counted row by row), so that one corner of a mosaic does not fill the sample;
    windows with less than ``min_valid`` valid pixels are replaced by others spread the same way.
    Returns ``(rgb uint8 (n, 3, tile, tile), valid bool (n, tile, tile))``, images smaller than the tile
    padded with invalid pixels.

    Raises ValueError when no window qualifies; unreadable images raise ``ImageReadError``.
    """
    from vnseg.geo.raster_io import SourceImage
    from vnseg.inference.sliding import StripGrid
    images = list(images)
    share = -(-max_tiles // max(len(images), 1))
    rgbs, valids = [], []
    for path in images:
        with SourceImage(path) as src:
            grid = StripGrid.of(src.height, src.width, tile, 0)
            cells = [(y, x) for y in grid.ys for x in grid.xs]
            order = {}   # ``share`` evenly spaced cells first, then finer spreads (replacing nodata windows)
            for k in (share, 2 * share, 4 * share, len(cells)):
                for i in np.linspace(0, len(cells) - 1, min(len(cells), k)).round().astype(int):
                    order.setdefault(int(i), None)
            taken = 0
            for i in order:
                if taken >= share or len(rgbs) >= max_tiles:
                    break
                y, x = cells[i]
                valid = np.zeros((tile, tile), bool)
                valid[:grid.th, :grid.tw] = src.read_valid(y, x, grid.th, grid.tw)
                if valid.mean() < min_valid:
                    continue
                rgb = np.zeros((3, tile, tile), np.uint8)
                rgb[:, :grid.th, :grid.tw] = src.read_rgb(y, x, grid.th, grid.tw)
                rgbs.append(rgb)
                valids.append(valid)
                taken += 1
    if not rgbs:
        raise ValueError(f'{images[0] if images else "--calib-images"}: no calibration tile with at least '
                         f'{100 * min_valid:.0f} % valid pixels')
    return np.stack(rgbs), np.stack(valids)


class TileCalibrationReader(CalibrationDataReader):
    """ONNX Runtime's calibration data reader over real tiles, ``batch_size`` tiles per feed.

    Args:
        tile_model: the fp32 :class:`~vnseg.inference.tile_models.OnnxTileModel` (its ``graph_input``
            preprocessing and input name are used, so calibration sees what mapping feeds).
        rgb: uint8 ``(n, 3, T, T)`` RGB tiles; ``valid``: bool ``(n, T, T)`` (False = nodata / padding).
        batch_size: tiles per calibration run (memory: every intermediate tensor of one batch).
    """

    def __init__(self, tile_model, rgb: np.ndarray, valid: np.ndarray, batch_size: int = 1):
        if len(rgb) == 0:
            raise ValueError('no calibration tiles')
        self._feeds = [{tile_model.input_name: tile_model.graph_input(rgb[b:b + batch_size],
                                                                        valid[b:b + batch_size])}
                       for b in range(0, len(rgb), batch_size)]
        self._it = iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)

    def get_next(self) -> Optional[dict]:
        """The next ``{input_name: float32 (b, 3, T, T)}`` feed, None when all were given."""
        return next(self._it, None)

    def rewind(self):
        self._it = iter(self._feeds)


def int8_agreement(fp32_model, int8_model, rgb: np.ndarray, valid: np.ndarray, batch_size: int = 2) -> dict:
    """Run two tile models (fp32 and int8 :class:`~vnseg.inference.tile_models.OnnxTileModel`) on the same tiles.

    Returns ``agreement`` (share of valid pixels with the same class, 0..1), ``pixels`` (valid pixels
    counted), ``tiles``, ``max_abs_prob_diff`` and ``mean_abs_prob_diff`` (class probabilities, 0..1).
    """
    agree = total = 0
    max_p, sum_p, n_p = 0.0, 0.0, 0
    for b in range(0, len(rgb), batch_size):
        r, v = rgb[b:b + batch_size], valid[b:b + batch_size]
        la, lb = fp32_model.predict(r, v), int8_model.predict(r, v)
        a, t = class_agreement(la, lb, v)
        agree, total = agree + a, total + t
        dp = np.abs(np.exp(la) - np.exp(lb))[np.broadcast_to(v[:, None], la.shape)]
        if dp.size:
            max_p, sum_p, n_p = max(max_p, float(dp.max())), sum_p + float(dp.sum(dtype=np.float64)), n_p + dp.size
    return dict(agreement=agree / max(total, 1), pixels=total, tiles=int(len(rgb)), max_abs_prob_diff=max_p,
                mean_abs_prob_diff=sum_p / max(n_p, 1))


def float_reference(int8_model, threads: Optional[int] = None):
    """The int8 file run with its quantise / dequantise pairs as float32 ops (:data:`QDQ_AS_FLOAT`): the same
    rounding of weights and activations, no integer kernel, the same result on every CPU.

    ``int8_model``: a path or an :class:`~vnseg.inference.tile_models.OnnxTileModel`.
    """
    from vnseg.inference.tile_models import OnnxTileModel
    path = getattr(int8_model, 'path', int8_model)
    return OnnxTileModel(path, providers=['CPUExecutionProvider'], threads=threads, session_config=QDQ_AS_FLOAT)


def kernel_agreement(int8_model, rgb: np.ndarray, valid: np.ndarray) -> dict:
    """:func:`int8_agreement` of the file's float arithmetic (:func:`float_reference`) and
    this CPU's integer kernels (``int8_model``, an :class:`~vnseg.inference.tile_models.OnnxTileModel`) on the same
    tiles: ``agreement`` (0..1), ``pixels``, ``tiles``, ``max_abs_prob_diff``, ``mean_abs_prob_diff``."""
    return int8_agreement(float_reference(int8_model), int8_model, rgb, valid)


def quantized_op_counts(onnx_path) -> dict:
    """``{op_type: count}`` of the quantisation operators (:data:`QUANT_OPS`) in a graph."""
    import onnx
    counts = {}
    for node in onnx.load(str(onnx_path)).graph.node:
        if node.op_type in QUANT_OPS:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def tail_nodes(onnx_path) -> list:
    """Names of the graph's last ``Conv`` (the classifier producing the logits) and of every node after it in
    the (topologically sorted) graph: the logits' upsampling and the softmax. Kept float32, so that the
    logits are never rounded to 8 bits (a step of 1/255 of their range creates ties between classes)."""
    import onnx
    nodes = list(onnx.load(str(onnx_path)).graph.node)
    last = max((i for i, n in enumerate(nodes) if n.op_type == 'Conv'), default=len(nodes))
    return [n.name for n in nodes[last:] if n.name]


def activation_matmuls(onnx_path) -> list:
    """Names of the ``MatMul`` nodes neither of whose operands is a constant (an initializer or a
    ``Constant`` node): in a transformer, attention's scores ``Q K^T`` and context ``softmax(.) V``."""
    import onnx
    graph = onnx.load(str(onnx_path)).graph
    constants = {i.name for i in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == 'Constant' for o in n.output}
    return [n.name for n in graph.node if n.op_type == 'MatMul' and not any(i in constants for i in n.input)]


#: ONNX Runtime fusions left out before quantisation: Conv + activation would hide the convolutions from the
#: quantiser; the MatMul + scale / transpose fusions write ``FusedMatMul`` with batch-transpose attributes that
#: other runtimes read wrongly (OpenVINO fails its shape check on the attention's products), and ONNX Runtime
#: applies them itself when it loads the file (those products stay float32).
UNFUSED_BEFORE_QUANTISATION = ('ConvActivationFusion', 'MatMulScaleFusion', 'MatmulTransposeFusion')


def _ort_fusions(src: Path, dst: Path) -> Path:
    """``src`` with ONNX Runtime's extended graph optimisations (CPU provider) but
    :data:`UNFUSED_BEFORE_QUANTISATION`, saved to ``dst``."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), opts, providers=['CPUExecutionProvider'],
                         disabled_optimizers=list(UNFUSED_BEFORE_QUANTISATION))
    return dst


@dataclass(frozen=True)
class QuantizeOptions:
    """How :func:`quantize_tile_model` quantises (``weight_bits`` is ``vnseg export --int8-weight-bits``).

    Args:
        batch_size: calibration tiles per forward pass.
        op_types: operator types to quantise (``op_types_to_quantize``; None: all that ONNX Runtime can);
            others keep float32.
        nodes_to_exclude: node names kept float32 (``nodes_to_exclude``).
        per_channel: one weight scale per output channel (else one per tensor).
        weight_bits: 7 (default: portable, exact on every x86 CPU) or 8 (right only on CPUs with VNNI;
            see the module's docstring).
        quant_format: ``'QDQ'`` or ``'QOperator'``.
        preprocess: first fold the shape values the fixed tile size makes static
            (:func:`vnseg.deploy.static_dims.fold_static_dims`: the attention's projection weights become
            constants, hence int8 weights), drop the same-size Resize of the decode head
            (:func:`~vnseg.deploy.static_dims.drop_identity_resizes`), and run ``quant_pre_process`` (ONNX
            shape inference, ONNX Runtime's basic graph optimisations: constant folding, fusions).
        ort_fusions: then apply ONNX Runtime's extended CPU fusions (GELU into one ``Gelu``; not those of
            :data:`UNFUSED_BEFORE_QUANTISATION`), as a session would at load time: in a QDQ graph ONNX Runtime
            gives each consumer its own DequantizeLinear first, which breaks the GELU pattern and leaves five
            float32 elementwise ops per MixFFN. The int8 file then holds the ``com.microsoft`` ``Gelu``, which
            ONNX Runtime and OpenVINO read.
        matmul_const_b_only: quantise only the MatMuls with a constant (weight) operand: the attention's
            projections, not its score and context products (:func:`activation_matmuls` are excluded by
            name: ``quantize_static``'s ``MatMulConstBOnly`` option does not apply to the QDQ format).
        tail_fp32: keep the classifier (the graph's last Conv) and everything after it in float32
            (:func:`tail_nodes`: the logits' upsampling and the softmax).
        extra_options: more of ``quantize_static``'s ``extra_options``.

    Raises:
        ValueError: ``weight_bits`` other than 7 or 8.
    """

    batch_size: int = 1
    op_types: Optional[Sequence[str]] = DEFAULT_OP_TYPES
    nodes_to_exclude: Tuple[str, ...] = ()
    per_channel: bool = True
    weight_bits: int = PORTABLE_WEIGHT_BITS
    quant_format: str = 'QDQ'
    preprocess: bool = True
    ort_fusions: bool = True
    matmul_const_b_only: bool = True
    tail_fp32: bool = True
    extra_options: Optional[dict] = None

    def __post_init__(self):
        if self.weight_bits not in (7, 8):
            raise ValueError(f'weight_bits must be 7 or 8, got {self.weight_bits}')


def quantize_tile_model(fp32_path, out_path, rgb: np.ndarray, valid: np.ndarray,
                        options: QuantizeOptions = QuantizeOptions()) -> dict:
    """Write the int8 version of the fp32 tile model ``fp32_path`` to ``out_path`` (not atomic: give a
    temporary name, see :func:`vnseg.core.atomic.atomic_output`), calibrated on the real tiles ``rgb`` uint8
    ``(n, 3, T, T)`` / ``valid`` bool ``(n, T, T)``, with the fp32 file's metadata (``metadata_props``,
    doc string) copied unchanged; ``options``: how (:class:`QuantizeOptions`).

    Returns the settings used (JSON-able): format, types, per_channel, op_types, nodes_to_exclude,
    calibration tiles/pixels, and the quantisation operators of the result (:func:`quantized_op_counts`).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vnseg.deploy.static_dims import drop_identity_resizes, fold_static_dims
    from vnseg.inference.tile_models import OnnxTileModel
    o = options
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    fmt = {'QDQ': QuantFormat.QDQ, 'QOperator': QuantFormat.QOperator}[o.quant_format]
    reader = TileCalibrationReader(OnnxTileModel(fp32_path, providers=['CPUExecutionProvider']), rgb, valid,
                                   batch_size=o.batch_size)
    with tempfile.TemporaryDirectory(prefix='vnseg_int8_') as work:
        source = fp32_path
        folded = dropped = 0
        if o.preprocess:
            model = onnx.load(str(fp32_path))
            folded = fold_static_dims(model)
            dropped = drop_identity_resizes(model)
            onnx.save(model, str(Path(work) / 'folded.onnx'))
            source = Path(work) / 'prepared.onnx'
            quant_pre_process(str(Path(work) / 'folded.onnx'), str(source), skip_symbolic_shape=True)
            if o.ort_fusions:
                source = _ort_fusions(source, Path(work) / 'fused.onnx')
        excluded = set(o.nodes_to_exclude) | (set(tail_nodes(source)) if o.tail_fp32 else set())
        excluded = sorted(excluded | (set(activation_matmuls(source)) if o.matmul_const_b_only else set()))
        extra = dict(ActivationSymmetric=False, WeightSymmetric=True, MatMulConstBOnly=bool(o.matmul_const_b_only),
                     **(o.extra_options or {}))
        quantize_static(str(source), str(out_path), reader, quant_format=fmt,
                        op_types_to_quantize=list(o.op_types) if o.op_types else None, nodes_to_exclude=excluded,
                        per_channel=o.per_channel, reduce_range=o.weight_bits == 7,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options=extra)
    src, model = onnx.load(str(fp32_path)), onnx.load(str(out_path))
    del model.metadata_props[:]
    for entry in src.metadata_props:
        model.metadata_props.add().CopyFrom(entry)
    model.doc_string, model.producer_name = src.doc_string, src.producer_name
    onnx.save(model, str(out_path))
    scales = 'per channel' if o.per_channel else 'per tensor'
    return dict(format=o.quant_format, activations='uint8 (asymmetric, per tensor)',
                weights=f'int8 (symmetric, {scales}, {o.weight_bits}-bit range)',
                weight_bits=int(o.weight_bits), portable=o.weight_bits == PORTABLE_WEIGHT_BITS,
                calibration='MinMax', op_types=list(o.op_types) if o.op_types else ['(all)'],
                nodes_to_exclude=excluded,
                matmul_const_b_only=bool(o.matmul_const_b_only),
                preprocess=bool(o.preprocess), ort_fusions=bool(o.preprocess and o.ort_fusions),
                folded_shape_values=folded, identity_resizes_dropped=dropped, calibration_tiles=int(len(rgb)),
                calibration_pixels=int(valid.sum()), quant_ops=quantized_op_counts(out_path))


def quantize_checked(fp32_path, out_path, calib_rgb: np.ndarray, calib_valid: np.ndarray, check_rgb: np.ndarray,
                     check_valid: np.ndarray, min_agreement: float = DEFAULT_MIN_AGREEMENT, name=None,
                     options: QuantizeOptions = QuantizeOptions()) -> dict:
    """:func:`quantize_tile_model` with ``options`` to ``out_path`` (a temporary name) calibrated on the ``calib_*``
    tiles, then
    :func:`int8_agreement` of fp32 and int8 on the ``check_*`` tiles (uint8 ``(n, 3, T, T)``, bool ``(n, T, T)``).

    Returns the settings, ``agreement`` facts and ``kernel_agreement`` (this CPU's integer kernels against
    the file's own float arithmetic, :func:`kernel_agreement`, with the CPU's
    int8 features), all JSON-able. Raises :class:`Int8AgreementError` (naming ``name``, default
    ``out_path``) when the agreement is below ``min_agreement`` (0..1): the caller's atomic output then
    leaves nothing behind.
    """
    from vnseg.deploy.cpu import cpu_int8_features
    from vnseg.inference.tile_models import OnnxTileModel
    facts = quantize_tile_model(fp32_path, out_path, calib_rgb, calib_valid, options)
    fp32 = OnnxTileModel(fp32_path, providers=['CPUExecutionProvider'])
    int8 = OnnxTileModel(out_path, providers=['CPUExecutionProvider'])
    agreement = int8_agreement(fp32, int8, check_rgb, check_valid)
    facts.update(agreement=agreement, min_agreement=float(min_agreement),
                 kernel_agreement=dict(kernel_agreement(int8, check_rgb, check_valid), cpu=cpu_int8_features()))
    if agreement['agreement'] < min_agreement:
        raise Int8AgreementError(name or out_path, agreement, min_agreement)
    return facts
