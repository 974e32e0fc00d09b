"""Every experiment config of the study: parses, says what the study says, trains and validates.

Each config is built as ``tools/train.py`` would build it, but offline (``disable_pretrained``),
on CPU (SyncBN -> BN) and on tiny inputs: its own dataset base and pipelines over a 64x64 fixture,
its own optimizer (the study's Adam), one ``train_step`` and one ``val_step`` + IoUMetric. Two
configs also go through mmengine's Runner (the path of ``tools/train.py``), including the
OEM-pretraining -> fine-tuning hand-over by ``load_from``.
"""
import copy
import functools
import os.path as osp

import pytest
import torch

import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

from vnseg.core.classes import NUM_CLASSES
from vnseg.openmmlab.pretrained import disable_pretrained

from dataset_fixtures import write_oem_fixture, write_vn_fixture

from conftest import REPO
VN_CONFIGS = ['pspnet_r18_vn', 'segformer_b0_vn', 'segformer_b3_vn', 'segformer_b5_vn',
              'fpn_r50_vn', 'unet_r50_vn', 'upernet_convnext_t_vn', 'upernet_convnext_b_vn',
              'upernet_convnext_t_oem_ft_vn', 'segformer_b0_oem_ft_vn']
OEM_CONFIGS = ['upernet_convnext_t_oem_pretrain', 'segformer_b0_oem_pretrain']
FINETUNE = {'upernet_convnext_t_oem_ft_vn': 'upernet_convnext_t_oem_pretrain',
            'segformer_b0_oem_ft_vn': 'segformer_b0_oem_pretrain'}
SIZE = 64


pytestmark = pytest.mark.usefixtures('one_torch_thread')


@functools.lru_cache(maxsize=None)
def _parse(name):
    return Config.fromfile(osp.join(REPO, 'configs', name + '.py'))


def load(name):
    """A fresh copy of ``configs/<name>.py`` (parsed once: mmseg:: bases are slow to resolve)."""
    return copy.deepcopy(_parse(name))


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    return dict(VNDroneDataset=write_vn_fixture(tmp_path_factory.mktemp('vn'), size=SIZE),
                OpenEarthMapDataset=write_oem_fixture(tmp_path_factory.mktemp('oem'), SIZE, SIZE))


def point_at_fixture(cfg, data_roots):
    """Dataloaders on the fixture, single-process, batch 2; model inputs padded to 64x64 only."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.dataset.data_root = data_roots[loader.dataset.type]
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.model.data_preprocessor.size = (SIZE, SIZE)


def iter_decode_heads(model_cfg):
    heads = model_cfg.decode_head
    yield from heads if isinstance(heads, list) else [heads]
    if model_cfg.get('auxiliary_head'):
        aux = model_cfg.auxiliary_head
        yield from aux if isinstance(aux, list) else [aux]


@pytest.mark.parametrize('name', VN_CONFIGS + OEM_CONFIGS)
def test_config_states_the_study_setup(name):
    cfg = load(name)
    assert cfg.custom_imports.imports == ['vnseg.mmseg_ext']
    assert all(h.num_classes == NUM_CLASSES for h in iter_decode_heads(cfg.model))
    assert cfg.model.data_preprocessor.size == cfg.crop_size == (512, 512)
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # no AMP, runs anywhere
    assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.optim_wrapper.optimizer.lr == 1e-3
    sched, = cfg.param_scheduler
    assert sched.type == 'MultiStepLR' and sched.gamma == 0.1 and not sched.by_epoch
    milestone, = sched.milestones
    assert sched.end == cfg.train_cfg.max_iters > milestone
    train_set = cfg.train_dataloader.dataset
    if name in OEM_CONFIGS:
        assert train_set.type == 'OpenEarthMapDataset' and train_set.label_mode == 'merge'
        assert milestone == 200 * -(-3000 // 16)
    else:
        assert train_set.type == 'VNDroneDataset'
        assert milestone == 200 * -(-6228 // 16)  # 200 epochs of the study's 6228 patches
    if name in FINETUNE:
        # the pretraining run's last checkpoint, where tools/train.py writes it
        pre = load(FINETUNE[name])
        assert cfg.load_from == (f'work_dirs/{FINETUNE[name]}/'
                                 f'iter_{pre.train_cfg.max_iters}.pth')
        assert disable_pretrained(copy.deepcopy(cfg.model)) == 0  # no needless ImageNet download
    else:
        assert cfg.load_from is None
        # real users get official ImageNet weights; the one switch removes every reference
        model_cfg = copy.deepcopy(cfg.model)
        assert disable_pretrained(model_cfg) >= 1
        assert 'http' not in str(model_cfg) and 'open-mmlab://' not in str(model_cfg)


@pytest.mark.parametrize('name', VN_CONFIGS + OEM_CONFIGS)
def test_one_train_and_val_iteration(name, data_roots):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = load(name)
    point_at_fixture(cfg, data_roots)
    disable_pretrained(cfg.model)
    # Built as the Runner builds it, minus init_weights (the Runner test covers it; skipping it
    # keeps the big models cheap): parameters keep torch's default initialisation.
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([train_set[0], train_set[1]])
    model.train()
    probe = next(p for n, p in model.named_parameters() if n.startswith('decode_head.conv_seg'))
    before = probe.detach().clone()
    losses = model.train_step(batch, optim_wrapper)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['decode.loss_ce'] > 0
    assert not torch.equal(before, probe.detach())  # Adam stepped

    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    batch = pseudo_collate([val_set[0]])
    model.eval()
    outputs = model.val_step(batch)
    pred = outputs[0].pred_sem_seg.data
    gt = outputs[0].gt_sem_seg.data
    assert pred.shape == gt.shape and pred.min() >= 0 and pred.max() < NUM_CLASSES
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = val_set.metainfo
    evaluator.process(data_samples=outputs, data_batch=batch)
    metrics = evaluator.evaluate(1)
    assert 0.0 <= metrics['mIoU'] <= 100.0


def runner_cfg(name, data_roots, work_dir, **overrides):
    cfg = load(name)
    point_at_fixture(cfg, data_roots)
    disable_pretrained(cfg.model)
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.param_scheduler[0].update(end=1, milestones=[1])
    cfg.default_hooks.logger.interval = 1
    cfg.merge_from_dict(overrides)
    return cfg


def test_runner_trains_validates_and_hands_over_oem_pretraining(data_roots, tmp_path):
    """OEM pretraining -> checkpoint -> fine-tuning on VN via load_from, all through the Runner."""
    from mmengine.runner import Runner
    from mmengine.runner.checkpoint import _load_checkpoint

    pre = Runner.from_cfg(runner_cfg('segformer_b0_oem_pretrain', data_roots, tmp_path / 'pre'))
    pre.train()
    ckpt = tmp_path / 'pre' / 'iter_1.pth'
    assert ckpt.is_file()
    assert 0.0 <= pre.message_hub.get_scalar('val/mIoU').current() <= 100.0  # validation ran

    ft = Runner.from_cfg(runner_cfg('segformer_b0_oem_ft_vn', data_roots, tmp_path / 'ft',
                                    load_from=str(ckpt)))
    ft.load_or_resume()
    state = _load_checkpoint(str(ckpt), map_location='cpu')['state_dict']
    loaded = ft.model.state_dict()
    assert set(state) == set(loaded)  # same architecture: every weight handed over
    for key in ('backbone.layers.0.0.projection.weight', 'decode_head.conv_seg.weight'):
        assert torch.equal(loaded[key], state[key])
    ft.train()
    assert (tmp_path / 'ft' / 'iter_1.pth').is_file()
