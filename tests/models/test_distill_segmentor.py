"""DistillSegmentor: frozen hidden teacher, student-only checkpoints, KD training end to end.

Tiny SegFormers (configs/segformer_tiny_demo_vn.py) serve as student and teacher, 64px inputs.
"""
import copy
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
from vnseg.models.losses import PixelKDLoss
from vnseg.models.segmentors.distill_segmentor import resolve_teacher_checkpoint
from vnseg.openmmlab.pretrained import disable_pretrained

from tiny_data import make_tiny_dataset

from conftest import REPO
TINY = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
SIZE = 64


@pytest.fixture(scope='module', autouse=True)
def _scope():
    init_default_scope('mmseg')


def tiny_model_cfg(**head):
    cfg = Config.fromfile(TINY)
    model = copy.deepcopy(cfg.model)
    disable_pretrained(model)
    model.data_preprocessor.size = (SIZE, SIZE)
    model.decode_head.update(head)
    return model


def save_teacher(path, model_cfg, seed):
    """Build a model from ``model_cfg`` with random weights and non-trivial BN statistics, save it
    like mmengine does, return its state_dict."""
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({'meta': {}, 'state_dict': state}, path)
    return state


def kd_model_cfg(teacher_cfg, teacher_ckpt, **loss):
    cfg = tiny_model_cfg()
    cfg.update(type='DistillSegmentor', teacher_config=teacher_cfg,
               teacher_checkpoint=str(teacher_ckpt),
               distill_loss=dict(type='PixelKDLoss', temperature=2.0, loss_weight=1.0, **loss))
    return cfg


def make_batch(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        ds = SegDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE)))
        label = torch.randint(0, 5, (1, SIZE, SIZE), generator=g)
        label[:, :8] = 255
        ds.gt_sem_seg = PixelData(data=label)
        samples.append(ds)
    inputs = [torch.randint(0, 256, (3, SIZE, SIZE), generator=g, dtype=torch.uint8)
              for _ in range(n)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(scope='module')
def teacher_setup(tmp_path_factory):
    """A teacher with a narrower head than the student (32 channels), saved to a checkpoint."""
    tmp = tmp_path_factory.mktemp('teacher')
    teacher_cfg = tiny_model_cfg(channels=32)
    state = save_teacher(tmp / 'teacher.pth', teacher_cfg, seed=1)
    return teacher_cfg, tmp / 'teacher.pth', state


@pytest.fixture()
def kd(teacher_setup):
    teacher_cfg, ckpt, _ = teacher_setup
    torch.manual_seed(0)
    model = MODELS.build(kd_model_cfg(teacher_cfg, ckpt))
    model.init_weights()
    return model


def test_teacher_loaded_frozen_and_hidden(kd, teacher_setup):
    _, _, state = teacher_setup
    teacher = kd.teacher
    assert teacher.decode_head.channels == 32 and kd.decode_head.channels == 64
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(not p.requires_grad for p in teacher.parameters())
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert teacher_ids and not teacher_ids & {id(p) for p in kd.parameters()}
    assert not any(m is teacher for m in kd.modules())
    # state_dict = the plain student's keys, nothing else
    student = MODELS.build(tiny_model_cfg())
    assert list(kd.state_dict()) == list(student.state_dict())
    assert kd.student is kd
    kd.train()
    assert kd.training and kd.decode_head.training
    assert not teacher.training and not any(m.training for m in teacher.modules())


def test_loss_adds_kd_and_no_gradient_reaches_teacher(kd):
    data = kd.data_preprocessor(make_batch(), True)
    kd.train()
    seen = []  # (grad mode, training flag) inside the teacher's forward
    kd.teacher.backbone.register_forward_pre_hook(
        lambda m, args: seen.append((torch.is_grad_enabled(), m.training)))
    losses = kd(**data, mode='loss')
    assert seen == [(False, False)]
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg', 'loss_kd'}
    assert losses['loss_kd'].item() > 1e-4
    total, _ = kd.parse_losses(losses)
    total.backward()
    assert all(p.grad is None for p in kd.teacher.parameters())
    assert all(p.grad is not None for p in kd.decode_head.parameters())
    # the KD term is computed from the student's and the teacher's raw logits and the labels
    kd.eval()
    losses = kd.loss(data['inputs'], data['data_samples'])
    labels = torch.stack([ds.gt_sem_seg.data for ds in data['data_samples']])
    with torch.no_grad():
        expected = PixelKDLoss(temperature=2.0)(
            kd._forward(data['inputs']), kd.teacher._forward(data['inputs']), labels)
    assert losses['loss_kd'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert kd._forward(data['inputs']).shape == (2, 5, SIZE // 4, SIZE // 4)


def test_self_distillation_is_zero(tmp_path):
    """Teacher = the student's own weights: the KD loss vanishes (in eval mode, no dropout)."""
    with pytest.warns(UserWarning, match='teacher checkpoint not found'):
        model = MODELS.build(kd_model_cfg(tiny_model_cfg(), tmp_path / 'missing.pth'))
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'self.pth')
    model.load_teacher(str(tmp_path / 'self.pth'))
    model.eval()
    data = model.data_preprocessor(make_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_kd'].item() == pytest.approx(0.0, abs=1e-6)
    assert losses['decode.loss_ce'].item() > 0.1


def test_missing_teacher_predicts_but_cannot_train(tmp_path):
    with pytest.warns(UserWarning, match='teacher checkpoint not found'):
        model = MODELS.build(kd_model_cfg(tiny_model_cfg(), tmp_path / 'nowhere'))
    assert model.teacher is None
    model.eval()
    data = model.data_preprocessor(make_batch(1), False)
    pred = model(**data, mode='predict')
    assert pred[0].pred_sem_seg.data.shape == (1, SIZE, SIZE)
    with pytest.raises(RuntimeError, match='no teacher'):
        model.loss(data['inputs'], data['data_samples'])


def test_teacher_must_match_classes_and_normalisation(tmp_path):
    bad_classes = tiny_model_cfg(num_classes=4)
    save_teacher(tmp_path / 'a.pth', bad_classes, seed=0)
    with pytest.raises(ValueError, match='classes'):
        MODELS.build(kd_model_cfg(bad_classes, tmp_path / 'a.pth'))
    bad_norm = tiny_model_cfg()
    bad_norm.data_preprocessor.mean = [0.0, 0.0, 0.0]
    save_teacher(tmp_path / 'b.pth', bad_norm, seed=0)
    with pytest.raises(ValueError, match='normalise'):
        MODELS.build(kd_model_cfg(bad_norm, tmp_path / 'b.pth'))
    # a checkpoint of another architecture is refused (strict loading), naming both files
    from vnseg.apis.model_loading import WeightsMismatchError
    narrow = tiny_model_cfg(channels=16)
    with pytest.raises(WeightsMismatchError, match=r'a\.pth: does not fit the model of .*mis-shaped'):
        MODELS.build(kd_model_cfg(narrow, tmp_path / 'a.pth'))


def test_teacher_must_convert_channels_like_the_student(tmp_path):
    """A teacher trained on RGB (bgr_to_rgb=True) and a student fed BGR see different images: the
    check reads mmseg's real attribute (``channel_conversion``), not a name both sides lack."""
    student_cfg = tiny_model_cfg()
    assert student_cfg.data_preprocessor.bgr_to_rgb is True
    bgr_teacher = tiny_model_cfg()
    bgr_teacher.data_preprocessor.bgr_to_rgb = False
    save_teacher(tmp_path / 'bgr.pth', bgr_teacher, seed=0)
    with pytest.raises(ValueError, match='differ in bgr_to_rgb'):
        MODELS.build(kd_model_cfg(bgr_teacher, tmp_path / 'bgr.pth'))
    # the comparison itself, both ways, and a match
    from vnseg.models.segmentors.distill_segmentor import preprocessing_differences
    rgb = MODELS.build(tiny_model_cfg()).data_preprocessor
    bgr = MODELS.build(bgr_teacher).data_preprocessor
    assert preprocessing_differences(rgb, bgr) == ['bgr_to_rgb']
    assert preprocessing_differences(bgr, rgb) == ['bgr_to_rgb']
    assert preprocessing_differences(rgb, MODELS.build(tiny_model_cfg()).data_preprocessor) == []


def test_teacher_follows_dtype_moves_and_autocast(kd):
    data = kd.data_preprocessor(make_batch(1), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        t_logits = kd.teacher_forward(data['inputs'])
        losses = kd(**data, mode='loss')
    assert t_logits.dtype == torch.bfloat16 and not t_logits.requires_grad
    assert losses['loss_kd'].dtype == torch.float32
    kd.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in kd.teacher.parameters())
    assert kd.teacher_forward(data['inputs'].double()).dtype == torch.float64


def test_teacher_checkpoint_from_work_dir(tmp_path):
    assert resolve_teacher_checkpoint(tmp_path) is None
    for name in ('iter_10.pth', 'iter_20.pth'):
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/run/iter_20.pth')  # moved work dir
    assert resolve_teacher_checkpoint(tmp_path) == str(tmp_path / 'iter_20.pth')
    (tmp_path / 'best_mIoU_iter_5.pth').write_bytes(b'x')
    (tmp_path / 'best_mIoU_iter_10.pth').write_bytes(b'x')
    assert resolve_teacher_checkpoint(tmp_path) == str(tmp_path / 'best_mIoU_iter_10.pth')
    assert resolve_teacher_checkpoint(tmp_path / 'iter_10.pth') == str(tmp_path / 'iter_10.pth')
    assert resolve_teacher_checkpoint(tmp_path / 'nope.pth') is None


# ---------------------------------------------------------------------------------------------
# a real mmengine Runner: train, validate in between, checkpoint, then test.py / inferencer
# ---------------------------------------------------------------------------------------------
class TeacherWatch(Hook):
    """Records, around every training iteration, the student's and the teacher's modes."""

    def __init__(self):
        self.seen = []
        self.val_done_before = []
        self.vals = 0
        self.student_start = None

    def before_train(self, runner):
        self.student_start = {k: v.clone() for k, v in runner.model.state_dict().items()}

    def _check(self, runner, where):
        model, teacher = runner.model, runner.model.teacher
        self.seen.append((where, runner.iter, model.training,
                          teacher.training or any(m.training for m in teacher.modules()),
                          any(p.requires_grad for p in teacher.parameters())))
        self.val_done_before.append(self.vals)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._check(runner, 'before')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        assert 'loss_kd' in outputs
        self._check(runner, 'after')

    def after_val_epoch(self, runner, metrics=None):
        self.vals += 1


@pytest.fixture(scope='module')
def kd_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('kd_run')
    data_root = make_tiny_dataset(tmp / 'data')
    teacher_state = save_teacher(tmp / 'teacher.pth', tiny_model_cfg(), seed=3)

    cfg = Config.fromfile(TINY)
    disable_pretrained(cfg.model)
    cfg.model.data_preprocessor.size = (SIZE, SIZE)
    cfg.model.update(type='DistillSegmentor', teacher_config=TINY,
                     teacher_checkpoint=str(tmp / 'teacher.pth'),
                     distill_loss=dict(type='PixelKDLoss', temperature=2.0, loss_weight=1.0))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(data_root)
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.update(max_iters=4, val_interval=2)
    cfg.param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=4,
                                by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = 4
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(tmp / 'work')
    cfg.launcher = 'none'
    cfg.dump(str(tmp / 'kd_tiny.py'))

    runner = Runner.from_cfg(cfg)
    watch = TeacherWatch()
    runner.register_hook(watch, priority='LOWEST')
    runner.train()
    return dict(tmp=tmp, data_root=data_root, runner=runner, watch=watch,
                teacher_state=teacher_state, config=tmp / 'kd_tiny.py',
                ckpt=Path(cfg.work_dir) / 'iter_4.pth')


def test_runner_keeps_teacher_frozen_in_eval_mode(kd_run):
    watch, model = kd_run['watch'], kd_run['runner'].model
    assert len(watch.seen) == 8  # 4 iterations, before and after each
    for where, it, student_training, teacher_training, teacher_grad in watch.seen:
        assert student_training, (where, it)
        assert not teacher_training, (where, it)
        assert not teacher_grad, (where, it)
    # iterations 3 and 4 ran after the validation at iteration 2 (model.eval() then .train())
    assert watch.vals == 2 and watch.val_done_before[-1] == 1
    # teacher weights and BN running statistics untouched, student trained
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, kd_run['teacher_state'][k]), k
    changed = [k for k, v in model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, watch.student_start[k])]
    assert any(k.startswith('backbone.') for k in changed)
    assert any(k.startswith('decode_head.') and 'running_mean' in k for k in changed)
    # the optimizer holds exactly the student's parameters
    opt_params = [p for g in kd_run['runner'].optim_wrapper.optimizer.param_groups
                  for p in g['params']]
    assert {id(p) for p in opt_params} == {id(p) for p in model.parameters()}


def test_checkpoint_is_the_plain_student(kd_run):
    ckpt = _load_checkpoint(str(kd_run['ckpt']), map_location='cpu')
    assert ckpt['meta']['iter'] == 4
    student = MODELS.build(tiny_model_cfg())
    assert list(ckpt['state_dict']) == list(student.state_dict())
    load_checkpoint(student, str(kd_run['ckpt']), map_location='cpu', strict=True)
    student.eval()
    model = kd_run['runner'].model.eval()
    data = model.data_preprocessor(make_batch(2, seed=5), False)
    with torch.no_grad():
        a = student(data['inputs'], mode='tensor')
        b = model(data['inputs'], mode='tensor')
    assert torch.equal(a, b)


@pytest.mark.slow
def test_test_tool_on_kd_config_and_checkpoint(kd_run, tmp_path):
    from tiny_data import dataset_cfg_options
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    cmd = [sys.executable, str(REPO / 'tools' / 'test.py'), str(kd_run['config']),
           str(kd_run['ckpt']), '--work-dir', str(tmp_path),
           '--cfg-options', *dataset_cfg_options(kd_run['data_root'])]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    metrics = json.loads((tmp_path / 'metrics_test.json').read_text())
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert 'DistillSegmentor: teacher EncoderDecoder loaded' in out.stdout + out.stderr


def test_inferencer_on_kd_checkpoint(kd_run):
    from mmseg.apis import MMSegInferencer
    image = str(sorted((kd_run['data_root'] / 'img_dir' / 'test').glob('*.png'))[0])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        kd_inf = MMSegInferencer(model=str(kd_run['config']), weights=str(kd_run['ckpt']),
                                 device='cpu')
        student_inf = MMSegInferencer(model=TINY, weights=str(kd_run['ckpt']), device='cpu')
    assert kd_inf.model.teacher is not None and not kd_inf.model.teacher.training
    a = kd_inf(image, return_datasamples=True).pred_sem_seg.data
    b = student_inf(image, return_datasamples=True).pred_sem_seg.data
    assert a.shape == (1, SIZE, SIZE) and int(a.max()) <= 4
    assert torch.equal(a, b)


def test_strip_teacher_tool(kd_run, tmp_path):
    from vnseg.commands import strip_teacher  # (tools/model_converters/strip_teacher.py calls its main)
    out = strip_teacher.main([str(kd_run['ckpt']), str(tmp_path / 'student.pth')])
    saved = torch.load(tmp_path / 'student.pth', map_location='cpu', weights_only=True)
    assert set(saved) == {'meta', 'state_dict'} and saved['meta']['student_only']
    assert saved['meta']['dataset_meta']['classes'][1] == 'road'
    assert out['meta']['teacher_keys_dropped'] == 0
    student = MODELS.build(tiny_model_cfg())
    load_checkpoint(student, str(tmp_path / 'student.pth'), map_location='cpu', strict=True)
    # a checkpoint of a design that saves `student.` / `teacher.` sub-modules converts too
    sd = student.state_dict()
    wrapped = {'state_dict': {**{'student.' + k: v for k, v in sd.items()},
                              'teacher.backbone.w': torch.zeros(2)}, 'optimizer': {}}
    stripped = strip_teacher.strip_checkpoint(wrapped)
    assert list(stripped['state_dict']) == list(sd)
    assert stripped['meta']['teacher_keys_dropped'] == 1
    assert stripped['meta']['student_prefix_removed'] == 'student.'
