"""mmseg's inference entry points get vnseg's class names and palette from the config's dataset."""
import numpy as np
import pytest
import torch

from vnseg.core.classes import CLASSES, PALETTE

CFG = 'configs/segformer_tiny_demo_vn.py'


@pytest.fixture(scope='module')
def cfg_path(repo_root):
    return str(repo_root / CFG)


@pytest.fixture(scope='module')
def bare_checkpoint(tmp_path_factory, cfg_path):
    """A checkpoint without any meta (a plain state_dict), as converters and hand-made exports write."""
    import vnseg.apis  # noqa: F401
    from mmseg.apis import init_model
    torch.manual_seed(0)
    model = init_model(cfg_path, None, device='cpu')
    path = tmp_path_factory.mktemp('ckpt') / 'bare.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path, model


def test_dataset_meta_from_config(cfg_path):
    from mmengine import Config
    from vnseg.apis import dataset_meta_from_config
    meta = dataset_meta_from_config(Config.fromfile(cfg_path))
    assert meta['classes'] == CLASSES and meta['palette'] == PALETTE
    cfg = Config.fromfile(cfg_path)
    cfg.test_dataloader.dataset.metainfo = dict(classes=('a', 'b'), palette=[[1, 2, 3], [4, 5, 6]])
    assert dataset_meta_from_config(cfg) == {'classes': ('a', 'b'), 'palette': [[1, 2, 3], [4, 5, 6]]}


def test_init_model_without_checkpoint_and_with_bare_checkpoint(cfg_path, bare_checkpoint):
    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from mmseg.apis import init_model, inference_model
    model = init_model(cfg_path, None, device='cpu')
    assert model.dataset_meta['classes'] == CLASSES and model.dataset_meta['palette'] == PALETTE
    path, ref = bare_checkpoint
    loaded = init_model(cfg_path, str(path), device='cpu')  # stock mmseg: KeyError 'meta'
    assert loaded.dataset_meta['classes'] == CLASSES
    for k, v in ref.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    img = np.random.RandomState(0).randint(0, 255, (96, 128, 3), np.uint8)
    pred = inference_model(loaded, img).pred_sem_seg.data.numpy()
    assert pred.shape == (1, 96, 128) and pred.max() < len(CLASSES)


def test_checkpoint_meta_wins_and_palette_is_completed(cfg_path, tmp_path, bare_checkpoint):
    import vnseg.apis  # noqa: F401
    from mmseg.apis import init_model
    _, ref = bare_checkpoint
    p = tmp_path / 'meta.pth'
    torch.save({'state_dict': ref.state_dict(), 'meta': {'dataset_meta': {'classes': list(CLASSES)}}}, p)
    assert init_model(cfg_path, str(p), device='cpu').dataset_meta['palette'] == PALETTE
    other = ('bg', 'a', 'b', 'c', 'd')
    torch.save({'state_dict': ref.state_dict(),
                'meta': {'dataset_meta': {'classes': other, 'palette': [[9, 9, 9]] * 5}}}, p)
    m = init_model(cfg_path, str(p), device='cpu')
    assert m.dataset_meta['classes'] == other and m.dataset_meta['palette'] == [[9, 9, 9]] * 5


def test_mmseg_inferencer_uses_vnseg_classes_and_palette(cfg_path, bare_checkpoint):
    import vnseg.apis  # noqa: F401
    from mmseg.apis import MMSegInferencer
    path, _ = bare_checkpoint
    for weights in (None, str(path)):
        inferencer = MMSegInferencer(cfg_path, weights=weights, device='cpu')
        assert inferencer.model.dataset_meta['classes'] == CLASSES
    img = np.random.RandomState(1).randint(0, 255, (64, 80, 3), np.uint8)
    out = inferencer(img, return_vis=True, opacity=1.0, with_labels=False)
    pred, vis = out['predictions'], out['visualization']
    assert pred.shape == (64, 80) and pred.max() < len(CLASSES)
    # fully opaque overlay: every pixel shows exactly its class colour from vnseg's palette
    expected = np.asarray(PALETTE, np.uint8)[pred]
    assert (vis == expected).all(axis=-1).mean() > 0.99
