"""Each compatibility fix in vnseg.openmmlab.compat, in its order, checked against the failure it prevents."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
from vnseg.openmmlab.compat import AmpNeedsCudaError, adapt_cfg_to_device

from conftest import REPO


# -- 1. allow_mmengine_checkpoint_globals ----------------------------------------------------------
def test_mmengine_checkpoint_loads_with_weights_only(tmp_path, monkeypatch):
    """Fix 1: what mmengine's message_hub puts in a checkpoint loads under weights_only=True."""
    from mmengine.logging import HistoryBuffer, MessageHub
    from mmengine.runner.checkpoint import _load_checkpoint

    hub = MessageHub.get_instance('compat_test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', 7)
    ckpt = {
        'meta': {'iter': 7, 'seed': np.int64(3), 'hist': HistoryBuffer([1.0, 2.0], [1, 1])},
        'state_dict': {'w': torch.arange(3.0)},
        'message_hub': hub.state_dict(),
        'array': np.arange(4, dtype=np.float32),
    }
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)

    # as in a fresh process, where no HistoryBuffer has registered its statistics yet
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods', {})
    loaded = torch.load(path, weights_only=True)  # the torch >= 2.6 default
    assert loaded['meta']['iter'] == 7
    assert np.array_equal(loaded['array'], np.arange(4, dtype=np.float32))
    assert loaded['meta']['hist'].mean() == pytest.approx(1.5)
    restored = loaded['message_hub']['log_scalars']['train/loss']
    assert restored.current() == pytest.approx(0.25)
    # mmengine's own loader (used by load_from, resume, init_model, tools/test.py)
    assert torch.equal(_load_checkpoint(str(path), map_location='cpu')['state_dict']['w'],
                       torch.arange(3.0))


class _NotAllowed:
    pass


def test_weights_only_still_refuses_other_objects(tmp_path):
    """The allow-list is narrow: arbitrary classes are still rejected."""
    path = tmp_path / 'evil.pth'
    torch.save({'x': _NotAllowed()}, path)
    with pytest.raises(Exception, match='weights_only|Unsupported global'):
        torch.load(path, weights_only=True)


class _GetattrPayload:
    """Pickles as getattr(HistoryBuffer, '__subclasses__'): the pickle's getattr must refuse it."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__subclasses__'))


def test_pickled_getattr_is_restricted_to_history_buffer(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _GetattrPayload()}, path)
    with pytest.raises(Exception, match='weights_only|Unsupported global|refusing'):
        torch.load(path, weights_only=True)


# -- 2. patch_init_dist_for_cpu --------------------------------------------------------------------
def test_init_dist_pytorch_launcher_on_cpu(tmp_path):
    """Fix 2: mmengine's init_dist('pytorch') works without CUDA (gloo, no set_device)."""
    code = (
        'import vnseg.mmseg_ext, torch.distributed as d\n'
        'from mmengine.dist import init_dist, get_dist_info\n'
        "init_dist('pytorch', backend='nccl')\n"
        "print('BACKEND', d.get_backend(), get_dist_info())\n"
        'd.destroy_process_group()\n')
    env = dict(os.environ, RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
               MASTER_PORT=str(29000 + os.getpid() % 1000), CUDA_VISIBLE_DEVICES='')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'BACKEND gloo (0, 1)' in out.stdout


# -- 3. patch_inference_dataset_meta ---------------------------------------------------------------
def test_inference_apis_take_class_names_from_the_config(tmp_path):
    """Fix 3: a model built by mmseg.apis.init_model without a checkpoint gets vnseg's classes
    (stock mmseg leaves dataset_meta unset); tests/apis/test_meta.py covers the inferencer."""
    from mmseg.apis import init_model

    from vnseg.core.classes import CLASSES, PALETTE
    model = init_model(os.path.join(REPO, 'configs', 'segformer_tiny_demo_vn.py'), None, device='cpu')
    assert model.dataset_meta == {'classes': CLASSES, 'palette': PALETTE}


# -- 4. adapt_cfg_to_device ------------------------------------------------------------------------
def _cfg(launcher='none'):
    return Config(dict(
        model=dict(type='EncoderDecoder',
                   backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
                   decode_head=dict(norm_cfg=dict(type='SyncBN', requires_grad=True))),
        optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic',
                           optimizer=dict(type='AdamW', lr=1e-4)),
        launcher=launcher))


def test_cpu_falls_back_from_config_amp():
    """Fix 4 (config level): AmpOptimWrapper becomes OptimWrapper without CUDA."""
    cfg = _cfg()
    with pytest.warns(UserWarning, match='AmpOptimWrapper'):
        changes = adapt_cfg_to_device(cfg, cuda_available=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    assert len(changes) == 1
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'  # not distributed: the Runner reverts it


def test_explicit_amp_on_cpu_is_a_clear_error():
    with pytest.raises(AmpNeedsCudaError, match='--amp needs a CUDA GPU'):
        adapt_cfg_to_device(_cfg(), amp_requested=True, cuda_available=False)


def test_cpu_distributed_uses_cpu_ddp_and_bn():
    cfg = _cfg(launcher='pytorch')
    with pytest.warns(UserWarning):
        adapt_cfg_to_device(cfg, cuda_available=False)
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.decode_head.norm_cfg.type == 'BN'


def test_cuda_configs_untouched():
    cfg = _cfg(launcher='pytorch')
    assert adapt_cfg_to_device(cfg, amp_requested=True, cuda_available=True) == []
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert 'model_wrapper_cfg' not in cfg


# -- 5. route_checkpoint_loading -------------------------------------------------------------------
def test_mmengine_loader_names_unusable_checkpoint_files(tmp_path):
    """Fix 5: mmengine's local loader (load_from, resume, the inferencer) explains what is wrong with
    a file instead of a torch traceback, and refuses pickled objects in a sentence."""
    from mmengine.runner.checkpoint import _load_checkpoint

    from vnseg.apis.model_loading import CheckpointError, UnsafeCheckpointError
    from vnseg.openmmlab.checkpoints import weights_only_refusal

    text = tmp_path / 'readme.pth'
    text.write_text('see the wiki\n')
    with pytest.raises(CheckpointError, match=r'readme\.pth: is a text file'):
        _load_checkpoint(str(text), map_location='cpu')
    with pytest.raises(CheckpointError, match='checkpoint file not found'):
        _load_checkpoint(str(tmp_path / 'gone.pth'), map_location='cpu')
    evil = tmp_path / 'evil.pth'
    torch.save({'x': _NotAllowed()}, evil)
    with pytest.raises(UnsafeCheckpointError, match='_NotAllowed.*If you trust where this file comes'):
        _load_checkpoint(str(evil), map_location='cpu')
    try:
        torch.load(evil, weights_only=True)
    except Exception as exc:
        assert weights_only_refusal(exc).endswith('_NotAllowed')
    assert weights_only_refusal(RuntimeError('PytorchStreamReader failed reading zip archive')) is None


# -- 6. patch_atomic_local_writes ------------------------------------------------------------------
def test_local_backend_writes_atomically(tmp_path):
    """Fix 6: mmengine's LocalBackend.put / put_text (every checkpoint save) write a temporary file and
    rename it: a write that fails keeps the old file whole and leaves no temporary file, where stock
    mmengine has already truncated it (a kill mid-save: tests/engine/test_checkpoint_atomic.py)."""
    from mmengine.fileio.backends import LocalBackend

    backend = LocalBackend()
    target = tmp_path / 'iter_10.pth'
    backend.put(b'old checkpoint', target)
    with pytest.raises(TypeError):
        backend.put('not bytes', target)  # fails once the file is open
    assert target.read_bytes() == b'old checkpoint'
    assert os.listdir(tmp_path) == ['iter_10.pth']
    backend.put_text('iter_10.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_10.pth'
    with pytest.raises(TypeError):
        LocalBackend.put.__wrapped__(backend, 'not bytes', target)  # mmengine's own put
    assert target.read_bytes() == b''


# -- 7. patch_class_weighted_cross_entropy ---------------------------------------------------------
def test_class_weighted_cross_entropy_skips_ignored_pixels():
    """Fix 7: mmseg's CrossEntropyLoss with class weights on a batch with ignored (255) pixels: the
    weighted mean over the valid pixels (stock mmseg raises IndexError)."""
    from mmseg.registry import MODELS

    from vnseg.openmmlab import compat
    pred = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 1.0, 1.0]], [[0.5, 0.5, 3.0]]]])  # (N=1, C=3, H=1, W=3)
    label = torch.tensor([[[0, 1, 255]]])
    logp = torch.log_softmax(pred, dim=1)[0, :, 0]  # (C, W)
    nll0, nll1 = -logp[0, 0].item(), -logp[1, 1].item()  # the two valid pixels, classes 0 and 1
    w = [1.0, 2.0, 3.0]
    loss = MODELS.build(dict(type='CrossEntropyLoss', class_weight=w, avg_non_ignore=True))
    assert loss(pred, label, ignore_index=255).item() == pytest.approx((1 * nll0 + 2 * nll1) / 3, rel=1e-6)
    loss = MODELS.build(dict(type='CrossEntropyLoss', class_weight=w))  # ignored pixels count 1 each
    assert loss(pred, label, ignore_index=255).item() == pytest.approx((1 * nll0 + 2 * nll1) / 4, rel=1e-6)
    with pytest.raises(IndexError, match='255'):
        compat.STOCK_CROSS_ENTROPY(pred, label, class_weight=torch.tensor(w), ignore_index=255)
