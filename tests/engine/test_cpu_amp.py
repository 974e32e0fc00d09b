"""bf16 autocast on CPU (vnseg's CpuAmpOptimWrapper), channels_last (ChannelsLastHook) and the CPU
speed-ups mechanism of ``vnseg train`` (vnseg.engine.cpu_speedups, ``--no-cpu-speedups``).

Behaviour only: whether any of them is faster is measured by ``benchmarks/train_step.py``, never here.
"""
import math

import pytest
import torch
from torch import nn

import vnseg.mmseg_ext  # noqa: F401  (registrations)
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import OPTIM_WRAPPERS, init_default_scope

from vnseg.core.errors import UserError
from vnseg.engine.cpu_speedups import DEFAULT_CPU_SPEEDUPS, apply_cpu_speedups, cpu_speedups_of
from vnseg.engine.hooks import ChannelsLastHook, CompileModelHook
from vnseg.engine.optim import CpuAmpOptimWrapper

from conftest import REPO

pytestmark = pytest.mark.usefixtures('one_torch_thread')


class Recorder(nn.Module):
    """Records the dtype of what it is given, and whether CPU autocast is on at that moment."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((x.dtype, torch.is_autocast_enabled('cpu')))
        return x


class TinySegModel(BaseModel):
    """conv -> recorder -> conv, a pixel-wise cross-entropy: the shape of a segmentor's train_step."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.recorder = Recorder()
        self.conv2 = nn.Conv2d(8, 5, 1)
        self.input_formats = []

    def forward(self, inputs, labels=None, mode='loss'):
        self.input_formats.append(inputs.is_contiguous(memory_format=torch.channels_last))
        logits = self.conv2(self.recorder(self.conv1(inputs)))
        return dict(loss=nn.functional.cross_entropy(logits.float(), labels))


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(inputs=torch.randn(2, 3, 16, 16, generator=g), labels=torch.randint(0, 5, (2, 16, 16), generator=g))


def optimizer_cfg():
    return dict(type='AdamW', lr=1e-2)


def test_registered_in_mmengine_and_buildable_from_a_config_dict():
    assert OPTIM_WRAPPERS.get('CpuAmpOptimWrapper') is CpuAmpOptimWrapper
    init_default_scope('mmseg')  # as in training: mmseg's registry finds it through its parent
    wrapper = build_optim_wrapper(TinySegModel(), dict(type='CpuAmpOptimWrapper', optimizer=optimizer_cfg()))
    assert isinstance(wrapper, CpuAmpOptimWrapper) and isinstance(wrapper, OptimWrapper)
    assert wrapper.cast_dtype is torch.bfloat16
    assert build_optim_wrapper(TinySegModel(), dict(
        type='CpuAmpOptimWrapper', dtype=torch.float16, optimizer=optimizer_cfg())).cast_dtype is torch.float16
    with pytest.raises(ValueError, match='dtype must be one of'):
        build_optim_wrapper(TinySegModel(), dict(type='CpuAmpOptimWrapper', dtype='float64', optimizer=optimizer_cfg()))


def test_train_step_runs_autocast_and_keeps_fp32_master_weights():
    torch.manual_seed(0)
    model = TinySegModel()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    wrapper = build_optim_wrapper(model, dict(type='CpuAmpOptimWrapper', optimizer=optimizer_cfg()))
    grads = []
    model.conv1.weight.register_hook(lambda g: grads.append(g))
    for step in range(3):
        losses = model.train_step(batch(step), wrapper)
        assert math.isfinite(losses['loss'].item())
    # the forward ran under CPU autocast: the first convolution's output is bfloat16
    assert model.recorder.seen == [(torch.bfloat16, True)] * 3
    assert not torch.is_autocast_enabled('cpu')  # and only inside train_step
    for name, param in model.named_parameters():
        assert param.dtype == torch.float32, name  # master weights
        assert not torch.equal(param.detach(), before[name]), f'{name} did not update'
    for state in wrapper.optimizer.state.values():
        assert all(v.dtype == torch.float32 for v in state.values() if torch.is_tensor(v) and v.dim())
    assert len(grads) == 3 and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_plain_wrapper_and_disabled_autocast_stay_fp32():
    for cfg in (dict(type='OptimWrapper'), dict(type='CpuAmpOptimWrapper', enabled=False)):
        model = TinySegModel()
        model.train_step(batch(), build_optim_wrapper(model, dict(cfg, optimizer=optimizer_cfg())))
        assert model.recorder.seen == [(torch.float32, False)], cfg


def test_a_segformer_train_step_in_bf16():
    """The recipe's loss (CE + ClassDice) through a real (tiny) SegFormer under the wrapper."""
    from mmseg.registry import MODELS
    from tiny_data import tiny_sample

    import numpy as np
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from vnseg.openmmlab.pretrained import disable_pretrained

    init_default_scope('mmseg')
    cfg = Config.fromfile(str(REPO / 'configs' / 'segformer_tiny_demo_vn.py'))
    recipe = Config.fromfile(str(REPO / 'configs' / 'segformer_b0_recipe_vn.py'))
    cfg.model.decode_head.loss_decode = recipe.decode_loss
    disable_pretrained(cfg.model)
    cfg.model.data_preprocessor.size = (64, 64)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    rng = np.random.default_rng(0)
    inputs, samples = [], []
    for _ in range(2):
        image, mask = tiny_sample(rng, 64)
        inputs.append(torch.from_numpy(image).permute(2, 0, 1).contiguous())
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(mask[None].astype(np.int64)))
        samples.append(sample)
    seen = []
    model.backbone.layers[0][0].projection.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    wrapper = build_optim_wrapper(model, dict(recipe.optim_wrapper, type='CpuAmpOptimWrapper'))
    before = model.decode_head.conv_seg.weight.detach().clone()
    log = model.train_step(dict(inputs=inputs, data_samples=samples), wrapper)
    assert seen == [torch.bfloat16]
    assert all(math.isfinite(v.item()) for v in log.values())
    assert model.decode_head.conv_seg.weight.dtype == torch.float32
    assert not torch.equal(model.decode_head.conv_seg.weight.detach(), before)


class _Runner:
    def __init__(self, model):
        self.model = model


def test_channels_last_hook_keeps_the_parameters_and_converts_the_batch():
    from mmseg.models import SegDataPreProcessor

    model = TinySegModel()
    model.data_preprocessor = SegDataPreProcessor(mean=[0, 0, 0], std=[1, 1, 1], size=(16, 16))
    params = list(model.parameters())
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=optimizer_cfg()))
    ChannelsLastHook().before_train(_Runner(model))
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]  # the optimizer's parameters
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    out = model.data_preprocessor(dict(inputs=[torch.zeros(3, 16, 16, dtype=torch.uint8)] * 2), False)
    assert out['inputs'].is_contiguous(memory_format=torch.channels_last)
    before = model.conv1.weight.detach().clone()
    data = batch()
    loss = model(model.data_preprocessor(dict(inputs=list(data['inputs'])), False)['inputs'], data['labels'])
    wrapper.update_params(loss['loss'])
    assert model.input_formats == [True]
    assert not torch.equal(model.conv1.weight.detach(), before)  # the optimizer updates them


def test_compile_model_hook_compiles_the_forward_only():
    """backend='eager': TorchDynamo traces the forward (no inductor build in a test); keys unchanged."""
    model = TinySegModel()
    keys = list(model.state_dict())
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=optimizer_cfg()))
    CompileModelHook(backend='eager').before_train(_Runner(model))
    assert model._compiled_call_impl is not None and list(model.state_dict()) == keys
    before = model.conv1.weight.detach().clone()
    log = model.train_step(batch(), wrapper)
    assert math.isfinite(log['loss'].item()) and not torch.equal(model.conv1.weight.detach(), before)


def recipe_cfg():
    return Config.fromfile(str(REPO / 'configs' / 'segformer_b0_recipe_vn.py'))


def test_the_recipe_adopts_the_fused_head_and_the_image_cache():
    """Nothing is on in the mechanism itself; the recipe adopts the two measured speed-ups that keep the
    loss curve (bf16 not: its test mIoU)."""
    assert not any(DEFAULT_CPU_SPEEDUPS.values())
    cfg = recipe_cfg()
    assert cfg.cpu_speedups == dict(fused_head=True, image_cache_mb=512)
    before = cfg.to_dict()
    threads = torch.get_num_threads()
    assert apply_cpu_speedups(cfg.copy(), cuda_available=True) == []  # GPU training unchanged
    assert apply_cpu_speedups(cfg, cuda_available=False) == [
        'SegformerHead computed as FusedSegformerHead (the same weights and outputs)',
        'train images decoded once per data-loader process (CachedLoadImageFromFile, at most 512 MiB each)']
    before['model']['decode_head']['type'] = 'FusedSegformerHead'
    before['train_dataloader']['dataset']['pipeline'][0] = dict(type='CachedLoadImageFromFile', cache_mb=512)
    assert cfg.to_dict() == before and torch.get_num_threads() == threads


def test_speedups_change_the_config_on_cpu_only():
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(channels_last=True, bf16=True, compile=True, num_workers=0)
    gpu = cfg.copy()
    assert apply_cpu_speedups(gpu, cuda_available=True) == []  # GPU training unchanged
    assert apply_cpu_speedups(cfg.copy(), enabled=False, cuda_available=False) == []  # --no-cpu-speedups
    changes = apply_cpu_speedups(cfg, cuda_available=False)
    assert len(changes) == 4, changes
    assert cfg.optim_wrapper.type == 'CpuAmpOptimWrapper' and cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'  # the recipe's optimizer and multipliers kept
    assert [h.type for h in cfg.custom_hooks][-1] == 'ChannelsLastHook'
    assert cfg.compile is True
    assert cfg.train_dataloader.num_workers == 0 and cfg.train_dataloader.persistent_workers is False
    apply_cpu_speedups(cfg, cuda_available=False)  # again: still one hook
    assert [h.type for h in cfg.custom_hooks].count('ChannelsLastHook') == 1
    # built as the runner builds it
    init_default_scope('mmseg')
    assert isinstance(build_optim_wrapper(TinySegModel(), cfg.optim_wrapper), CpuAmpOptimWrapper)


def test_fused_head_switches_a_segformer_head_only():
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(fused_head=True)
    assert cfg.model.decode_head.type == 'SegformerHead'
    assert apply_cpu_speedups(cfg.copy(), cuda_available=True) == []
    changes = apply_cpu_speedups(cfg, cuda_available=False)
    assert len(changes) == 1 and cfg.model.decode_head.type == 'FusedSegformerHead'
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    from vnseg.models.fused_segformer_head import FusedSegformerHead
    assert type(MODELS.build(cfg.model.decode_head)) is FusedSegformerHead
    other = Config(dict(cpu_speedups=dict(fused_head=True), model=dict(decode_head=dict(type='PSPHead'))))
    assert apply_cpu_speedups(other, cuda_available=False) == [] and other.model.decode_head.type == 'PSPHead'


def test_image_cache_replaces_the_train_image_loader_only():
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(image_cache_mb=256)
    val_before = cfg.val_dataloader.to_dict()
    assert apply_cpu_speedups(cfg.copy(), cuda_available=True) == []
    changes = apply_cpu_speedups(cfg, cuda_available=False)
    assert len(changes) == 1 and 'CachedLoadImageFromFile' in changes[0]
    steps = cfg.train_dataloader.dataset.pipeline
    assert steps[0] == dict(type='CachedLoadImageFromFile', cache_mb=256)
    assert [s['type'] for s in steps[1:]] == [s['type'] for s in recipe_cfg().train_dataloader.dataset.pipeline[1:]]
    assert cfg.val_dataloader.to_dict() == val_before  # one pass over the val scenes: nothing to gain
    wrapped = Config(dict(cpu_speedups=dict(image_cache_mb=8), train_dataloader=dict(dataset=dict(
        type='ConcatDataset', datasets=[dict(pipeline=[dict(type='LoadImageFromFile')]),
                                        dict(type='RepeatDataset', dataset=dict(
                                            pipeline=[dict(type='mmseg.LoadImageFromFile', to_float32=True)]))]))))
    apply_cpu_speedups(wrapped, cuda_available=False)
    inner = wrapped.train_dataloader.dataset.datasets
    assert inner[0].pipeline[0] == dict(type='CachedLoadImageFromFile', cache_mb=8)
    assert inner[1].dataset.pipeline[0] == dict(type='CachedLoadImageFromFile', cache_mb=8, to_float32=True)


def test_compile_is_mmengines_option_or_vnsegs_hook():
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(compile=True)
    apply_cpu_speedups(cfg, cuda_available=False)
    assert cfg.compile is True  # mmengine's: torch.compile of the whole train_step
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(compile='model')
    apply_cpu_speedups(cfg, cuda_available=False)
    assert 'compile' not in cfg and cfg.custom_hooks[-1] == dict(type='CompileModelHook')
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(compile=dict(target='model', mode='max-autotune'))
    apply_cpu_speedups(cfg, cuda_available=False)
    assert cfg.custom_hooks[-1] == dict(type='CompileModelHook', mode='max-autotune')
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(compile=dict(target='train_step', backend='eager'))
    apply_cpu_speedups(cfg, cuda_available=False)
    assert cfg.compile == dict(backend='eager')


def test_thread_settings_apply_to_this_process():
    cfg = recipe_cfg()
    cfg.cpu_speedups = dict(threads=1)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert apply_cpu_speedups(cfg, cuda_available=False) == ['torch threads: 1']
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize('bad, match', [
    (dict(channel_last=True), 'unknown key'), (dict(threads=0), 'whole number >= 1'),
    (dict(num_workers=-1), 'whole number >= 0'), (dict(interop_threads='2'), 'whole number'),
    (dict(compile='fast'), "False, True, 'model'"), (dict(compile=dict(target='loss')), "target='model'"),
    (dict(image_cache_mb=0), 'MiB > 0'), (dict(image_cache_mb='1G'), 'MiB > 0')])
def test_bad_speedups_are_a_users_mistake_on_every_machine(bad, match):
    cfg = recipe_cfg()
    cfg.cpu_speedups = bad
    with pytest.raises(UserError, match=match):
        apply_cpu_speedups(cfg, cuda_available=True)
    with pytest.raises(UserError):
        cpu_speedups_of(cfg)


def test_train_command_has_the_switch():
    from vnseg.commands.train import parse_args
    assert parse_args(['c.py', '--no-cpu-speedups']).no_cpu_speedups is True
    assert parse_args(['c.py']).no_cpu_speedups is False
