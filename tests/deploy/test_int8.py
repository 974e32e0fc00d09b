"""``vnseg export --int8``: ONNX Runtime's static int8 quantisation of the exported tile model, calibrated on
real tiles of the Kampala drone mosaic, metadata kept, checked against the fp32 graph (refused below the
agreement threshold, nothing written), and run by ``vnseg map``.

The model is the tiny demo SegFormer with seeded random weights (no training); tiles are 64 px. Its class
scores are close together (nothing learnt), so int8's small errors flip more pixels than in a trained model:
the agreement is checked against 95 % (the default threshold, 98 %, is for trained models).
"""
import json
import os

import numpy as np
import pytest

from conftest import REPO, require_shared_data
from vnseg.deploy.cpu import cpu_int8_features

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')
rasterio = pytest.importorskip('rasterio')

CFG = REPO / 'configs' / 'segformer_tiny_demo_vn.py'
TILE = 64


def _crop(path, col, row, width, height, value=None):
    """A ``width`` x ``height`` RGB GeoTIFF cut from the Kampala mosaic at (``col``, ``row``); every pixel
    ``value`` instead when given (a flat colour on the same grid)."""
    from rasterio.windows import Window
    src_path = require_shared_data('kampala_drone', 'kampala_oam_z21_mosaic.tif')
    with rasterio.open(src_path) as src:
        win = Window(col, row, width, height)
        data = src.read([1, 2, 3], window=win)
        prof = dict(driver='GTiff', width=width, height=height, count=3, dtype='uint8', crs=src.crs,
                    transform=src.window_transform(win))
    if value is not None:
        data[:] = np.asarray(value, np.uint8).reshape(3, 1, 1)
    with rasterio.open(path, 'w', **prof) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Checkpoint of the tiny demo SegFormer (seeded random weights) and two real crops: one to calibrate
    (256 x 256 at column 2000, row 1200), one to check and map (256 x 192 at column 1100, row 700)."""
    import torch

    from vnseg.apis.model_loading import inference_config, load_model
    tmp = tmp_path_factory.mktemp('int8')
    calib = _crop(tmp / 'calib.tif', 2000, 1200, 256, 256)
    check = _crop(tmp / 'check.tif', 1100, 700, 256, 192)
    torch.manual_seed(0)
    model = load_model(inference_config(str(CFG)), None, device='cpu', random_weights=True)
    ckpt = tmp / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return dict(ckpt=ckpt, calib=calib, check=check, tmp=tmp)


def check_tiles_of(check):
    """The 12 tiles of the check crop (4 x 3 cells of 64 px) that the portable fixture's classes are of."""
    from vnseg.deploy.quantize import calibration_tiles
    return calibration_tiles([check], TILE, 12)


def _export(tiny, out, *extra):
    from vnseg.commands.export import main
    return main([str(CFG), str(tiny['ckpt']), '--out', str(out), '--tile', str(TILE),
                 '--parity-image', str(tiny['check']), '--parity-tiles', '8', *extra])


@pytest.fixture(scope='module')
def exported(tiny, tmp_path_factory, one_torch_thread):
    out = tmp_path_factory.mktemp('export') / 'model.onnx'
    assert _export(tiny, out, '--int8', '--calib-images', str(tiny['calib']), '--calib-tiles', '8',
                   '--min-int8-agreement', '0.95') == 0
    return out, out.with_name('model.int8.onnx')


def _meta(path):
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return sess, {k: json.loads(v) for k, v in sess.get_modelmeta().custom_metadata_map.items()}


def test_int8_model_is_quantised_and_keeps_the_metadata(exported):
    fp32, int8 = exported
    assert sorted(p.name for p in fp32.parent.iterdir()) == [
        'model.int8.onnx', 'model.model_card.json', 'model.model_card.md', 'model.onnx']
    s32, m32 = _meta(fp32)
    s8, m8 = _meta(int8)
    # same interface: float32 RGB in, float32 probabilities out, dynamic batch
    for a, b in ((s32.get_inputs()[0], s8.get_inputs()[0]), (s32.get_outputs()[0], s8.get_outputs()[0])):
        assert (a.name, a.type, a.shape) == (b.name, b.type, b.shape)
    assert s8.get_inputs()[0].type == 'tensor(float)' and s8.get_outputs()[0].shape[1:] == [5, TILE, TILE]
    # Deepness' keys are identical; vnseg's dict is the fp32 one plus the int8 facts
    vn8 = m8.pop('vnseg')
    vn32 = m32.pop('vnseg')
    assert m8 == m32 and m8['model_type'] == 'Segmentor' and m8['tiles_size'] == TILE
    q = vn8.pop('int8')
    assert vn8 == vn32
    assert q['format'] == 'QDQ' and q['op_types'] == ['Conv', 'MatMul', 'Relu', 'Resize', 'Concat']
    # portable by default: 7-bit weights, recorded, and this CPU's integer kernels checked against the file's
    # own float arithmetic at export
    assert q['weight_bits'] == 7 and q['portable'] is True and '7-bit range' in q['weights']
    from vnseg.deploy.quantize import weight_code_range
    assert 32 < weight_code_range(int8) <= 64
    k = q['kernel_agreement']
    assert k['tiles'] == 8 and k['pixels'] == 8 * TILE * TILE and k['agreement'] >= 0.99
    assert k['cpu']['summary'] and set(k['cpu']) >= {'avx2', 'vnni', 'model'}
    assert q['calibration_tiles'] == 8 and q['calibration_pixels'] == 8 * TILE * TILE
    assert q['calibration_images'] == ['calib.tif'] and q['min_agreement'] == 0.95
    assert q['agreement']['tiles'] == 8 and q['agreement']['pixels'] == 8 * TILE * TILE
    assert 0.95 <= q['agreement']['agreement'] < 1 and 0 < q['agreement']['mean_abs_prob_diff'] < 0.02
    # the graph really is quantised: int8 weights behind DequantizeLinear feed every Conv but the classifier
    # (the last, kept float32 with what follows it: the logits' Resize and the output softmax); the
    # attention's score / context MatMuls (no constant operand) stay float32
    graph = onnx.load(str(int8)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count('QuantizeLinear') >= 10 and ops.count('DequantizeLinear') >= 20
    assert q['quant_ops'] == {k: ops.count(k) for k in ('QuantizeLinear', 'DequantizeLinear')}
    int8_inits = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8}
    dq_of = {n.output[0]: n.input[0] for n in graph.node if n.op_type == 'DequantizeLinear'}
    convs = [n for n in graph.node if n.op_type == 'Conv']
    assert len(convs) == 25 and all(dq_of.get(n.input[1]) in int8_inits for n in convs[:-1])
    assert convs[-1].name == '/conv_seg/Conv' and convs[-1].input[1] not in dq_of
    tail = graph.node[list(graph.node).index(convs[-1]):]
    # (the softmax is spelt out in element-wise ops: exp(x - max) / sum)
    kinds = ('Conv', 'Resize', 'ReduceMax', 'Exp', 'ReduceSum', 'Div')
    assert [n.op_type for n in tail if n.op_type in kinds] == list(kinds)
    assert not any(i in dq_of for n in tail[1:] for i in n.input)   # float32 logits onwards
    assert {'/conv_seg/Conv', '/Resize_4', '/Exp', '/Div'} <= set(q['nodes_to_exclude'])
    # the attention's projections (weights sliced from in_proj_weight by shape arithmetic that the fixed
    # tile makes constant: folded) have int8 weights; its score and context products (plain MatMuls: no
    # FusedMatMul, which other runtimes misread) and the GELU (one fused op) stay float32
    assert q['folded_shape_values'] > 0 and q['ort_fusions'] and q['identity_resizes_dropped'] == 1
    matmuls = [n for n in graph.node if n.op_type == 'MatMul']
    projections = [n for n in matmuls if dq_of.get(n.input[1]) in int8_inits]
    scores = [n for n in matmuls if n not in projections]
    assert len(projections) == 8 and len(scores) == 8 and 'FusedMatMul' not in ops
    assert not any(i in dq_of for n in scores for i in n.input)
    gelu = [n for n in graph.node if n.op_type == 'Gelu']
    assert len(gelu) == 4 and all(n.input[0] in dq_of for n in gelu)
    # the decode head's upsampling (of levels 2-4; level 1's same-size Resize is dropped) and concatenation
    # take 8-bit input
    head = [n for n in graph.node if n.op_type in ('Resize', 'Concat') and n.input[0] in dq_of]
    assert sorted(n.name for n in head) == ['/Concat_8', '/Resize_1', '/Resize_2', '/Resize_3']
    from vnseg.deploy.quantize import quantized_op_counts
    assert quantized_op_counts(fp32) == {}
    # per-channel weights: one scale per output channel of the first convolution
    scale = {i.name: i for i in graph.initializer}
    dq = next(n for n in graph.node if n.op_type == 'DequantizeLinear' and n.output[0] == convs[0].input[1])
    assert onnx.numpy_helper.to_array(scale[dq.input[1]]).shape == (
        onnx.numpy_helper.to_array(scale[dq.input[0]]).shape[0],)
    card = json.loads(fp32.with_name('model.model_card.json').read_text())
    assert card['export']['int8'] == 'model.int8.onnx'


MAP_OPTIONS = ('--no-progress', '--no-polygons', '--no-report', '--no-preview')


def _class_map(folder, stem='check'):
    with rasterio.open(folder / f'{stem}_classes.tif') as ds:
        return ds.read(1)


def test_map_runs_the_int8_model_after_checking_it_on_this_cpu(exported, tiny, tmp_path, capsys):
    from vnseg.commands.map import main
    fp32, int8 = exported
    maps = {}
    for name, model in (('fp32', fp32), ('int8', int8)):
        assert main([str(model), str(tiny['check']), str(tmp_path / name), *MAP_OPTIONS]) == 0
        maps[name] = _class_map(tmp_path / name)
    valid = maps['fp32'] != 255
    assert valid.all() and maps['int8'].shape == (192, 256)
    assert 0.95 <= (maps['fp32'] == maps['int8']).mean() < 1
    # the int8 run checked the model first, against the fp32 model beside it, and said so in one line
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith('int8 check'))
    assert 'the fp32 model model.onnx' in line and 'check.tif' in line and '(>= 95.00 %' in line
    assert not any(x.startswith('int8 check') for x in out.split('int8 check')[0].splitlines())


def _spoilt(int8, folder):
    """``folder/model.int8.onnx`` (with the fp32 model beside it): ``int8`` whose first three convolutions' int8
    weight codes have their sign flipped -- a model that disagrees with its fp32 model, on every CPU."""
    import shutil
    folder.mkdir()
    shutil.copy(int8.with_name('model.onnx'), folder / 'model.onnx')
    model = onnx.load(str(int8))
    codes = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4][:3]
    for init in codes:
        init.CopyFrom(onnx.numpy_helper.from_array(-onnx.numpy_helper.to_array(init), init.name))
    onnx.save(model, str(folder / 'model.int8.onnx'))
    return folder / 'model.int8.onnx'


def test_map_stops_when_the_int8_model_fails_its_check_here(exported, tiny, tmp_path, capsys):
    """Below the file's threshold: one line naming the file, the CPU and the figures, exit status 3, no output;
    with ``--int8-fallback`` the fp32 model beside it maps the scene instead, and the run says so."""
    from vnseg.commands.map import main
    fp32, _ = exported
    bad = _spoilt(exported[1], tmp_path / 'spoilt')
    out = tmp_path / 'out'
    assert main([str(bad), str(tiny['check']), str(out), *MAP_OPTIONS]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'error: {bad}: on this CPU (') and 'the fp32 model model.onnx' in err[0]
    assert '(< 95.00 %' in err[0] and '--int8-fallback' in err[0]
    assert not out.exists() or list(out.iterdir()) == []
    assert main([str(bad), str(tiny['check']), str(out), '--int8-fallback', *MAP_OPTIONS]) == 0
    captured = capsys.readouterr()
    assert 'mapping with the fp32 model' in captured.err and str(bad.with_name('model.onnx')) in captured.err
    assert main([str(fp32), str(tiny['check']), str(tmp_path / 'fp32'), *MAP_OPTIONS]) == 0
    np.testing.assert_array_equal(_class_map(out), _class_map(tmp_path / 'fp32'))


def test_a_lone_int8_model_is_checked_for_this_cpus_kernels_only(exported, tiny, tmp_path, capsys):
    """Without the fp32 model beside it, the check compares this CPU's kernels with the file's own arithmetic:
    a file that is wrong everywhere (the spoilt one) is not caught there -- the export's check is for that."""
    import shutil

    from vnseg.commands.map import main
    bad = _spoilt(exported[1], tmp_path / 'spoilt')
    lone = tmp_path / 'lone' / 'model.int8.onnx'
    lone.parent.mkdir()
    shutil.copy(bad, lone)
    assert main([str(lone), str(tiny['check']), str(tmp_path / 'a'), *MAP_OPTIONS]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith('int8 check'))
    assert "the file's own float arithmetic" in line


@pytest.mark.skipif(cpu_int8_features()['vnni'] is not False,
                    reason='8-bit weights are right on a CPU with VNNI (or flags unknown): nothing to catch here')
def test_8_bit_weights_are_caught_on_this_cpu_without_vnni(exported, tiny, tmp_path):
    """On an x86 CPU without VNNI the full-range file's integer kernels saturate: the check where the model
    runs sees it against the file's own float arithmetic, with no fp32 model to compare with."""
    from vnseg.deploy.int8_check import Int8CheckError, check_int8_here
    from vnseg.deploy.quantize import QuantizeOptions, calibration_tiles, quantize_tile_model
    from vnseg.inference.tile_models import OnnxTileModel
    fp32, int8 = exported
    rgb, valid = calibration_tiles([tiny['calib']], TILE, 8)
    w8 = tmp_path / 'w8.onnx'
    quantize_tile_model(fp32, w8, rgb, valid, QuantizeOptions(weight_bits=8))
    from vnseg.deploy.onnx_export import embed_metadata
    meta = OnnxTileModel(int8).metadata
    embed_metadata(w8, dict(meta, vnseg=dict(meta['vnseg'], int8=dict(meta['vnseg']['int8'], weight_bits=8))))
    check_rgb, check_valid = calibration_tiles([tiny['check']], TILE, 8)
    with pytest.raises(Int8CheckError, match='no VNNI'):
        check_int8_here(OnnxTileModel(w8), check_rgb, check_valid)
    check_int8_here(OnnxTileModel(int8), check_rgb, check_valid)   # the portable file passes on the same CPU
    # vnseg map stops; the fallback needs the fp32 model beside the file, and there is none
    from vnseg.commands.map import main
    lone = tmp_path / 'lone' / 'model.int8.onnx'
    lone.parent.mkdir()
    w8.rename(lone)
    for extra in ((), ('--int8-fallback',)):
        assert main([str(lone), str(tiny['check']), str(tmp_path / 'out'), *extra, *MAP_OPTIONS]) == 3
    assert not (tmp_path / 'out').exists() or list((tmp_path / 'out').iterdir()) == []


def test_class_agreement_by_hand():
    from vnseg.deploy.agreement import class_agreement
    # 1 tile, 3 classes, 2 x 2 pixels
    a = np.zeros((1, 3, 2, 2), np.float32)
    a[0, 1, 0, 0] = 1    # pixel (0, 0): class 1
    a[0, 2, 1, 1] = 1    # pixel (1, 1): class 2; the others: a tie of all classes -> class 0
    b = a.copy()
    b[0, 2, 0, 0] = 2    # (0, 0) becomes class 2: disagrees
    b[0, 0, 0, 1] = -1   # (0, 1): classes 1 and 2 tie -> class 1: disagrees
    valid = np.ones((1, 2, 2), bool)
    assert class_agreement(a, b, valid) == (2, 4)
    valid[0, 0, 0] = False   # the disagreeing (0, 0) not counted
    assert class_agreement(a, b, valid) == (2, 3)
    assert class_agreement(a, a, valid) == (3, 3)
    assert class_agreement(a, b, np.zeros((1, 2, 2), bool)) == (0, 0)
    with pytest.raises(ValueError, match='shapes differ'):
        class_agreement(a, b[:, :2], valid)


def test_calibration_reader_feeds_what_mapping_feeds(exported):
    from vnseg.deploy.quantize import TileCalibrationReader
    from vnseg.inference.tile_models import OnnxTileModel
    fp32, _ = exported
    model = OnnxTileModel(fp32, providers=['CPUExecutionProvider'])
    rgb = np.zeros((3, 3, TILE, TILE), np.uint8)
    rgb[:, 0] = 255                # red
    valid = np.ones((3, TILE, TILE), bool)
    valid[2, :, :10] = False       # nodata columns of the third tile
    reader = TileCalibrationReader(model, rgb, valid, batch_size=2)
    feeds = [reader.get_next(), reader.get_next()]
    assert reader.get_next() is None and len(reader) == 2
    x = feeds[0][model.input_name]
    assert x.dtype == np.float32 and x.shape == (2, 3, TILE, TILE)
    assert x[:, 0].min() == 1.0 and x[:, 1:].max() == 0.0    # RGB / 255, Deepness' mean 0 / std 1
    last = feeds[1][model.input_name]
    np.testing.assert_allclose(last[0, :, 0, 0], [123.675 / 255, 116.28 / 255, 103.53 / 255], rtol=1e-6)  # fill
    assert last[0, 0, 0, 10] == 1.0
    reader.rewind()
    assert reader.get_next()[model.input_name] is not None


def test_calibration_tiles_spread_over_the_images(tiny):
    from vnseg.deploy.quantize import calibration_tiles
    rgb, valid = calibration_tiles([tiny['calib'], tiny['check']], TILE, max_tiles=6)
    assert rgb.shape == (6, 3, TILE, TILE) and rgb.dtype == np.uint8 and valid.all()
    with rasterio.open(tiny['calib']) as ds:
        full = ds.read()
    # 3 tiles per image, evenly spaced over the 16 cells (row by row) of its 4 x 4 grid: cells 0, 8 and 15
    np.testing.assert_array_equal(rgb[0], full[:, :TILE, :TILE])
    np.testing.assert_array_equal(rgb[1], full[:, 2 * TILE:3 * TILE, :TILE])
    np.testing.assert_array_equal(rgb[2], full[:, 3 * TILE:, 3 * TILE:])


def test_calibration_tiles_replace_nodata_windows(tiny, tmp_path):
    """A transparent first window (alpha 0) is replaced: the cells taken are 8 and 15 (the even spread of 3
    over 16), then 3 (the first of the finer spread 0, 3, 6, ... not yet taken)."""
    from vnseg.deploy.quantize import calibration_tiles
    with rasterio.open(tiny['calib']) as ds:
        rgb = ds.read()
        prof = dict(driver='GTiff', width=ds.width, height=ds.height, count=4, dtype='uint8', crs=ds.crs,
                    transform=ds.transform)
    alpha = np.full((1, 256, 256), 255, np.uint8)
    alpha[:, :TILE, :TILE] = 0
    path = tmp_path / 'alpha.tif'
    ci = rasterio.enums.ColorInterp
    with rasterio.open(path, 'w', **prof) as dst:
        dst.write(np.concatenate([rgb, alpha]))
        dst.colorinterp = [ci.red, ci.green, ci.blue, ci.alpha]
    got, valid = calibration_tiles([path], TILE, max_tiles=3)
    assert got.shape == (3, 3, TILE, TILE) and valid.all()
    np.testing.assert_array_equal(got[0], rgb[:, 2 * TILE:3 * TILE, :TILE])
    np.testing.assert_array_equal(got[1], rgb[:, 3 * TILE:, 3 * TILE:])
    np.testing.assert_array_equal(got[2], rgb[:, :TILE, 3 * TILE:])
    assert calibration_tiles([path], 256)[1].mean() == 15 / 16     # one window, 1/16 nodata: kept
    with pytest.raises(ValueError, match='alpha.tif: no calibration tile with at least 100 % valid pixels'):
        calibration_tiles([path], 256, min_valid=1.0)


def test_low_agreement_is_refused_and_nothing_is_written(tiny, tmp_path, capsys, one_torch_thread):
    """Calibrated on a flat grey image (not the scene), the int8 graph clips real tiles' values (an agreement far
    below any threshold); the default threshold (98 %) refuses it: exit status 3, one error line, neither file
    written."""
    flat = _crop(tmp_path / 'flat.tif', 2000, 1200, 128, 128, value=(128, 128, 128))
    out = tmp_path / 'out' / 'model.onnx'
    with pytest.raises(SystemExit) as exc:
        _export(tiny, out, '--int8', '--calib-images', str(flat), '--calib-tiles', '4')
    assert exc.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'error: {out.with_name("model.int8.onnx")}: the int8 model agrees')
    assert '(< 98.00 %, --min-int8-agreement); nothing written' in err[0]
    agreement = float(err[0].split('on only ')[1].split(' %')[0])
    assert 40 < agreement < 90
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize('extra, message', [
    (['--int8'], '--int8: give real images for the calibration with --calib-images'),
    (['--int8', '--calib-images', 'CALIB', '--min-int8-agreement', '1.5'], '--min-int8-agreement 1.5: use a share'),
    (['--int8', '--calib-images', 'missing.tif'], 'missing.tif: calibration image not found'),
])
def test_int8_option_errors(tiny, tmp_path, capsys, extra, message):
    extra = [str(tiny['calib']) if e == 'CALIB' else e for e in extra]
    assert _export(tiny, tmp_path / 'model.onnx', *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ') and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def _run_before_and_after(before: bytes, model, x):
    """The outputs of the graph before (serialised) and after a rewrite (``model``) on the input ``x``."""
    return tuple(ort.InferenceSession(graph, providers=['CPUExecutionProvider']).run(None, {'x': x})[0]
                 for graph in (before, model.SerializeToString()))


def test_static_dims_are_folded_and_the_batch_stays_dynamic():
    """x (N, 3, 4, 5): Shape(x)[3] (= 5) and Shape(x)[1:3] (= [3, 4]) become constants, Shape(x)[0] (the
    batch) does not; the graph gives the same result for batch 1 and 3."""
    from onnx import TensorProto, helper, numpy_helper

    from vnseg.deploy.static_dims import fold_static_dims
    c = {k: numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         dict(i3=3, i0=0, s1=[1], e3=[3], ax=[0], a1=[1], w_end=[2]).items()}
    w = numpy_helper.from_array(np.arange(50, dtype=np.float32).reshape(5, 10), 'w')
    nodes = [helper.make_node('Shape', ['x'], ['s']),
             helper.make_node('Gather', ['s', 'i3'], ['d']),         # 5: static
             helper.make_node('Gather', ['s', 'i0'], ['b']),         # N: dynamic
             helper.make_node('Slice', ['s', 's1', 'e3'], ['hw']),   # [3, 4]: static
             helper.make_node('Unsqueeze', ['d', 'ax'], ['d1']),
             helper.make_node('Unsqueeze', ['b', 'ax'], ['b1']),
             helper.make_node('Concat', ['b1', 'hw', 'd1'], ['shape'], axis=0),
             helper.make_node('Reshape', ['x', 'shape'], ['r']),
             helper.make_node('Slice', ['w', 'w_end', 'd1', 'a1'], ['wd']),  # columns 2..4 of w: a weight slice
             helper.make_node('MatMul', ['r', 'wd'], ['y'])]
    graph = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 3, 4, 5])],
                              [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['N', 3, 4, 3])], [w, *c.values()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    before = model.SerializeToString()
    assert fold_static_dims(model) == 2
    names = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert names['d'].tolist() == 5 and names['hw'].tolist() == [3, 4] and 'b' not in names
    assert [n.op_type for n in model.graph.node] == ['Shape', 'Gather', 'Unsqueeze', 'Unsqueeze', 'Concat',
                                                     'Reshape', 'Slice', 'MatMul']
    onnx.checker.check_model(model)
    for n in (1, 3):
        x = np.random.RandomState(n).rand(n, 3, 4, 5).astype(np.float32)
        ref, got = _run_before_and_after(before, model, x)
        assert ref.shape == (n, 3, 4, 3)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_allclose(ref, x @ np.arange(50, dtype=np.float32).reshape(5, 10)[:, 2:5], rtol=1e-6)


def test_weight_bits_set_the_range_of_the_weight_codes(exported, tiny, tmp_path):
    """7-bit weights (the default) keep every int8 weight code within [-64, 64], whatever the CPU, so that no
    sum of two uint8 x int8 products exceeds 2 x 255 x 64 = 32640 < 2^15; 8-bit weights use the full range."""
    from vnseg.deploy.quantize import QuantizeOptions, calibration_tiles, quantize_tile_model, weight_code_range
    fp32, int8 = exported
    rgb, valid = calibration_tiles([tiny['calib']], TILE, 2)
    facts = quantize_tile_model(fp32, tmp_path / 'w8.onnx', rgb, valid, QuantizeOptions(weight_bits=8))
    assert facts['weight_bits'] == 8 and facts['portable'] is False and '8-bit range' in facts['weights']
    assert weight_code_range(tmp_path / 'w8.onnx') == 127
    assert weight_code_range(int8) <= 64 and 2 * 255 * weight_code_range(int8) < 2 ** 15
    assert weight_code_range(fp32) == 0
    with pytest.raises(ValueError, match='weight_bits must be 7 or 8'):
        quantize_tile_model(fp32, tmp_path / 'w6.onnx', rgb, valid, QuantizeOptions(weight_bits=6))


def test_integer_kernels_of_this_cpu_compute_the_files_arithmetic(exported, tiny):
    """ONNX Runtime picks the integer kernels by the CPU (VNNI, AVX-512, AVX2): on whichever this is, the portable
    file's kernels give the classes of its own arithmetic run in float (quantise / dequantise as float ops)."""
    from vnseg.deploy.quantize import float_reference, kernel_agreement
    from vnseg.deploy.quantize import calibration_tiles, quantized_op_counts
    from vnseg.inference.tile_models import OnnxTileModel
    _, int8 = exported
    model = OnnxTileModel(int8, providers=['CPUExecutionProvider'])
    rgb, valid = calibration_tiles([tiny['check']], TILE, 12)
    facts = kernel_agreement(model, rgb, valid)
    assert facts['tiles'] == 12 and facts['agreement'] >= 0.99, facts
    # the reference runs the quantise / dequantise pairs as float ops (the same rounding of every tensor, so
    # most of its values are those of the integer kernels, bit for bit)
    ref = float_reference(model)
    assert ref.session.get_session_options().get_session_config_entry('session.disable_quant_qdq') == '1'
    a, b = ref.predict(rgb[:2], valid[:2]), model.predict(rgb[:2], valid[:2])
    assert np.abs(np.exp(a) - np.exp(b)).max() < 0.05 and quantized_op_counts(int8)['DequantizeLinear'] > 20


def test_same_size_resize_is_dropped():
    """x (N, 2, 4, 4) resized to its own size (sizes from Shape(x)[0:2] and [4, 4]: the batch stays dynamic)
    is dropped; the resize to 8 x 8 is kept; same result for batch 1 and 2."""
    from onnx import TensorProto, helper, numpy_helper

    from vnseg.deploy.static_dims import drop_identity_resizes
    c = [numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
         dict(s0=[0], s2=[2], hw=[4, 4], hw2=[8, 8]).items()]
    nodes = [helper.make_node('Shape', ['x'], ['s']),
             helper.make_node('Slice', ['s', 's0', 's2'], ['nc']),
             helper.make_node('Concat', ['nc', 'hw'], ['same'], axis=0),
             helper.make_node('Concat', ['nc', 'hw2'], ['double'], axis=0),
             helper.make_node('Resize', ['x', '', '', 'same'], ['r'], mode='linear'),
             helper.make_node('Relu', ['r'], ['y']),
             helper.make_node('Resize', ['y', '', '', 'double'], ['z'], mode='linear')]
    graph = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 2, 4, 4])],
                              [helper.make_tensor_value_info('z', TensorProto.FLOAT, ['N', 2, 8, 8])], c)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    before = model.SerializeToString()
    assert drop_identity_resizes(model) == 1
    assert [n.op_type for n in model.graph.node] == ['Shape', 'Slice', 'Concat', 'Relu', 'Resize']
    assert model.graph.node[3].input[0] == 'x'
    for n in (1, 2):
        x = np.random.RandomState(n).randn(n, 2, 4, 4).astype(np.float32)
        ref, got = _run_before_and_after(before, model, x)
        assert got.shape == (n, 2, 8, 8)
        np.testing.assert_array_equal(got, ref)
    assert drop_identity_resizes(model) == 0


def test_both_files_run_on_openvino_with_the_classes_of_onnx_runtime(exported, tiny):
    """The exported graphs hold only operators OpenVINO reads (no ONNX Runtime ``FusedMatMul``): both compile for
    its CPU plugin and give ONNX Runtime's classes (int8: each runtime's own integer kernels)."""
    pytest.importorskip('openvino')
    from vnseg.deploy.agreement import class_agreement
    from vnseg.deploy.quantize import calibration_tiles
    from vnseg.inference.tile_models import OnnxTileModel
    rgb, valid = calibration_tiles([tiny['check']], TILE, 12)
    for path, least in zip(exported, (0.999, 0.98)):
        ours = OnnxTileModel(path, providers=['CPUExecutionProvider'])
        ov = OnnxTileModel(path, backend='openvino', threads=1)
        assert ov.session is None and (ov.tile, ov.num_classes, ov.classes, ov.int8) == (
            ours.tile, ours.num_classes, ours.classes, ours.int8)
        agree, total = class_agreement(ours.predict(rgb, valid), ov.predict(rgb, valid), valid)
        assert total == 12 * TILE * TILE and agree / total >= least, (path.name, agree / total)


def test_unknown_backend_is_refused(exported):
    from vnseg.inference.tile_models import OnnxTileModel
    with pytest.raises(ValueError, match='tensorrt: not a backend for ONNX models'):
        OnnxTileModel(exported[0], backend='tensorrt')


FIXTURE = REPO / 'tests' / 'fixtures' / 'int8_portable'


@pytest.mark.skipif(not os.environ.get('VNSEG_MAKE_INT8_FIXTURE'),
                    reason='makes the committed fixture: VNSEG_MAKE_INT8_FIXTURE=1 pytest -k make_the_portable')
def test_make_the_portable_int8_fixture(exported, tiny):
    """Writes tests/fixtures/int8_portable: the exported portable int8 file (its metadata names the CPU it was
    made on) and the classes its own float arithmetic gives on the 12 check tiles."""
    import shutil

    from vnseg.deploy.quantize import float_reference
    from vnseg.inference.sliding import classify
    from vnseg.inference.tile_models import OnnxTileModel
    rgb, valid = check_tiles_of(tiny['check'])
    scores = float_reference(OnnxTileModel(exported[1])).predict(rgb, valid)
    FIXTURE.mkdir(parents=True, exist_ok=True)
    np.save(FIXTURE / 'classes.npy', np.stack([classify(s) for s in scores]).astype(np.uint8))
    shutil.copy(exported[1], FIXTURE / 'model.int8.onnx')


def test_an_int8_file_made_on_another_cpu_gives_its_classes_here(tiny):
    """The committed portable int8 file (tests/fixtures/int8_portable, made by the test above on the CPU its
    metadata names) maps the check crop's tiles here, on this CPU's integer kernels, to the classes its own float
    arithmetic gave where it was made; and passes the check vnseg map runs before a scene."""
    from vnseg.deploy.int8_check import check_int8_here
    from vnseg.inference.sliding import classify
    from vnseg.inference.tile_models import OnnxTileModel
    model = OnnxTileModel(FIXTURE / 'model.int8.onnx', providers=['CPUExecutionProvider'])
    made_on = model.int8['kernel_agreement']['cpu']['summary']
    assert model.int8['weight_bits'] == 7 and model.int8['portable'] and made_on
    rgb, valid = check_tiles_of(tiny['check'])
    expected = np.load(FIXTURE / 'classes.npy')
    got = np.stack([classify(s) for s in model.predict(rgb, valid)])
    assert got.shape == expected.shape == (12, TILE, TILE)
    agreement = float((got == expected).mean())
    assert agreement >= 0.99, f'{100 * agreement:.2f} % of the classes of the file made on {made_on}'
    assert check_int8_here(model, rgb, valid)['agreement'] >= 0.99


def test_map_checks_an_int8_model_on_the_backend_it_runs_on(exported, tiny, tmp_path, capsys):
    """``--backend openvino``: the check before the scene runs the int8 model on OpenVINO's own integer kernels
    (which may differ from ONNX Runtime's) and says so."""
    pytest.importorskip('openvino')
    from vnseg.commands.map import main
    status = main([str(exported[1]), str(tiny['check']), str(tmp_path / 'ov'), '--backend', 'openvino', *MAP_OPTIONS])
    captured = capsys.readouterr()
    line = next(x for x in (captured.out + captured.err).splitlines() if 'int8' in x and 'openvino' in x)
    assert (status, line.startswith('int8 check on this CPU')) in ((0, True), (3, False)), (status, line)
