"""tools/deployment/export_onnx.py exports every model of the zoo, checks it against PyTorch on real tiles,
embeds Deepness' and vnseg's metadata, and writes a model card; onnxruntime loads each file.

Weights are a freshly initialised model saved as a checkpoint (no download); tiles are 64 px so that
the five architectures export and run in seconds on CPU.
"""
import importlib.util
import json

import numpy as np
import pytest

from conftest import require_shared_data

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')
rasterio = pytest.importorskip('rasterio')

ZOO = ['segformer_b0_vn.py', 'pspnet_r18_vn.py', 'fpn_r50_vn.py', 'unet_r50_vn.py', 'upernet_convnext_t_vn.py']
TILE = 64


def _load_tool(repo_root):
    mod = importlib.import_module('vnseg.commands.export')
    return mod


@pytest.fixture(scope='module')
def real_crop(tmp_path_factory):
    """A 150 x 130 crop of the real Kampala drone mosaic (GeoTIFF)."""
    from rasterio.windows import Window
    src_path = require_shared_data('kampala_drone', 'kampala_oam_z21_mosaic.tif')
    out = tmp_path_factory.mktemp('crop') / 'kampala_crop.tif'
    with rasterio.open(src_path) as src:
        win = Window(1200, 800, 150, 130)
        prof = dict(src.profile, width=150, height=130, transform=src.window_transform(win))
        prof.pop('blockxsize', None), prof.pop('blockysize', None), prof.pop('tiled', None)
        with rasterio.open(out, 'w', **prof) as dst:
            dst.write(src.read(window=win))
    return out


def _fresh_checkpoint(repo_root, config, path, iteration=7):
    import torch

    from vnseg.apis.model_loading import inference_config, load_model
    torch.manual_seed(0)
    model = load_model(inference_config(str(repo_root / 'configs' / config)), None, device='cpu',
                       random_weights=True)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'iter': iteration, 'epoch': 1, 'dataset_meta': dict(model.dataset_meta)}}, path)
    return model


@pytest.mark.parametrize('config', ZOO)
@pytest.mark.slow
def test_every_zoo_model_exports_with_deepness_metadata(config, repo_root, real_crop, tmp_path, capsys,
                                                         one_torch_thread):
    model = _fresh_checkpoint(repo_root, config, tmp_path / 'w.pth')
    out = tmp_path / 'model.onnx'
    rc = _load_tool(repo_root).main([str(repo_root / 'configs' / config), str(tmp_path / 'w.pth'), '--out', str(out),
                                     '--tile', str(TILE), '--resolution-cm', '7.5', '--parity-image', str(real_crop),
                                     '--parity-tiles', '4'])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert 'class agreement' in printed and 'max |d log p|' in printed
    sess = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    (inp,), (outp,) = sess.get_inputs(), sess.get_outputs()
    assert inp.type == 'tensor(float)' and inp.shape[1:] == [3, TILE, TILE] and not isinstance(inp.shape[0], int)
    assert outp.shape[1:] == [5, TILE, TILE]
    x = np.random.RandomState(0).rand(3, 3, TILE, TILE).astype(np.float32)   # batch 3 (dynamic)
    prob = sess.run(None, {inp.name: x})[0]
    assert prob.shape == (3, 5, TILE, TILE)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-4)
    meta = {k: json.loads(v) for k, v in sess.get_modelmeta().custom_metadata_map.items()}
    assert meta['model_type'] == 'Segmentor'
    assert meta['class_names'] == {'0': 'background', '1': 'road', '2': 'water', '3': 'tree', '4': 'building'}
    assert meta['resolution'] == 7.5 and meta['tiles_size'] == TILE and meta['tiles_overlap'] == 25
    assert meta['standardization_mean'] == [0.0, 0.0, 0.0] and meta['standardization_std'] == [1.0, 1.0, 1.0]
    assert meta['seg_thresh'] == 0.0   # softmax over 5 classes: no threshold in Deepness (plain argmax)
    vn = meta['vnseg']
    assert vn['classes_vi'][4] == 'công trình' and vn['palette'][4] == [220, 40, 40]
    # mmseg's mean colour (123.675, 116.28, 103.53) / 255 normalises to 0 inside the graph
    np.testing.assert_allclose(vn['fill_rgb01'], [123.675 / 255, 116.28 / 255, 103.53 / 255], atol=1e-6)
    assert vn['parity']['tiles'] == 4 and vn['parity']['pixels'] == 4 * TILE * TILE
    assert vn['parity']['agreement'] >= 0.995 and vn['parity']['max_abs_prob_diff'] < 1e-3
    card = json.loads((tmp_path / 'model.model_card.json').read_text())
    assert card['training']['iteration'] == 7 and card['ground_resolution_cm'] == 7.5
    assert card['model']['parameters'] == sum(p.numel() for p in model.parameters())
    assert [c['name'] for c in card['classes']] == ['background', 'road', 'water', 'tree', 'building']
    assert card['export']['parity']['agreement'] == vn['parity']['agreement']
    assert '| 4 | building | công trình | `#DC2828` |' in (tmp_path / 'model.model_card.md').read_text()


def test_adaptive_pooling_is_exported_exactly():
    """PSPNet/UperNet pool to 3 and 6 bins, which do not divide the feature size: the matrices reproduce
    PyTorch's overlapping bins."""
    import torch

    from vnseg.deploy.onnx_export import exact_adaptive_pooling, pool_matrix
    assert pool_matrix(8, 3).tolist()[1] == [0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0]   # bin 1 = rows 2..5
    x = torch.randn(2, 4, 64, 40)
    for m in (1, 2, 3, 6):
        exact = exact_adaptive_pooling(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(m)))
        assert not isinstance(exact[0], torch.nn.AdaptiveAvgPool2d)
        torch.testing.assert_close(exact(x), torch.nn.AdaptiveAvgPool2d(m)(x), atol=1e-6, rtol=0)


def test_failed_parity_writes_nothing(repo_root, real_crop, tmp_path, capsys, one_torch_thread):
    _fresh_checkpoint(repo_root, 'segformer_tiny_demo_vn.py', tmp_path / 'w.pth')
    out = tmp_path / 'model.onnx'
    with pytest.raises(SystemExit) as exc:
        _load_tool(repo_root).main([str(repo_root / 'configs' / 'segformer_tiny_demo_vn.py'),
                                    str(tmp_path / 'w.pth'), '--out', str(out), '--tile', str(TILE),
                                    '--parity-image', str(real_crop),
                                    '--parity-tiles', '1', '--min-agreement', '1.01'])
    assert exc.value.code == 3
    assert 'agrees with PyTorch on only' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['w.pth']


def test_model_card_reads_the_data_summary(tmp_path):
    from mmengine import Config

    from vnseg.deploy.model_card import build_model_card, render_markdown, write_model_card
    root = tmp_path / 'data'
    root.mkdir()
    (root / 'summary.json').write_text(json.dumps({
        'src': '/labels', 'num_scenes': 9, 'params': {'patch_size': 512, 'split_mode': 'scene'},
        'splits': {'train': {'scenes': 7, 'patches': 140, 'augmented': 280, 'class_shares': {'road': 12.5}},
                   'val': {'scenes': 1, 'patches': 20, 'augmented': 0},
                   'test': {'scenes': 1, 'patches': 18, 'augmented': 0}}}))
    cfg = Config(dict(model=dict(type='EncoderDecoder', backbone=dict(type='MixVisionTransformer'),
                                 decode_head=dict(type='SegformerHead')),
                      train_dataloader=dict(dataset=dict(type='VNDroneDataset', data_root=str(root))),
                      train_cfg=dict(type='IterBasedTrainLoop', max_iters=1000)))
    card = build_model_card(cfg, metrics={'mIoU': 81.25, 'aAcc': 95.0, 'IoU.road': 70.0, 'data_time': 1.0},
                            resolution_cm=5.0, config_path='configs/x_vn.py')
    d = card['training']['data']
    assert d['scenes'] == 9 and d['splits']['train'] == {'scenes': 7, 'patches': 140, 'augmented': 280}
    assert d['train_class_shares'] == {'road': 12.5}
    assert card['test_metrics'] == {'mIoU': 81.25, 'aAcc': 95.0, 'IoU.road': 70.0}
    assert card['model']['architecture']['backbone'] == 'MixVisionTransformer'
    md = render_markdown(card)
    assert '| mIoU | 81.25 |' in md and '9 scenes' in md and 'train: 7 scenes, 140 patches, 280 augmented' in md
    paths = write_model_card(card, tmp_path / 'model_card')
    assert [p.name for p in paths] == ['model_card.md', 'model_card.json']
