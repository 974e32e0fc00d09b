"""The study's distillation configs: the plain student config plus a teacher, and a real
PSPNet-R18 <- UperNet-ConvNeXt-T step at 64px (logits at 1/8 vs 1/4)."""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
from vnseg.models.losses import PixelKDLoss
from vnseg.models.segmentors.distill_segmentor import load_teacher_model_cfg
from vnseg.openmmlab.pretrained import disable_pretrained

from conftest import REPO
CONFIGS = REPO / 'configs'
KD_CONFIGS = {
    'segformer_b0_kd_upernet_convnext_t_vn.py': 'segformer_b0_vn.py',
    'pspnet_r18_kd_upernet_convnext_t_vn.py': 'pspnet_r18_vn.py',
    'segformer_b0_oem_kd_upernet_convnext_t_vn.py': 'segformer_b0_oem_ft_vn.py',
}
KD_KEYS = ('teacher_config', 'teacher_checkpoint', 'distill_loss')


@pytest.mark.parametrize('kd_name,student_name', sorted(KD_CONFIGS.items()))
def test_kd_config_is_the_student_config_plus_a_teacher(kd_name, student_name):
    kd = Config.fromfile(str(CONFIGS / kd_name))
    student = Config.fromfile(str(CONFIGS / student_name))
    kd_model, student_model = kd.model.to_dict(), student.model.to_dict()
    assert kd_model.pop('type') == 'DistillSegmentor'
    assert student_model.pop('type') == 'EncoderDecoder'
    extra = {k: kd_model.pop(k) for k in KD_KEYS}
    assert kd_model == student_model  # the student is built exactly as the plain config builds it
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg', 'default_hooks'):
        assert kd[key] == student[key], key
    assert kd.get('load_from') == student.get('load_from')
    if 'oem' in kd_name:
        assert 'segformer_b0_oem_pretrain' in kd.load_from
    # the teacher: the fine-tuned UperNet-ConvNeXt-T, from its training work dir (the OEM-pretrained
    # and fine-tuned one for the combined OEM + KD experiment)
    teacher = 'upernet_convnext_t_oem_ft_vn' if 'oem' in kd_name else 'upernet_convnext_t_vn'
    assert Path(extra['teacher_config']) == CONFIGS / f'{teacher}.py'
    assert extra['teacher_checkpoint'] == f'work_dirs/{teacher}'
    assert extra['distill_loss']['type'] == 'PixelKDLoss'
    assert extra['distill_loss']['align'] == 'student'


@pytest.fixture(scope='module')
def pspnet_kd(tmp_path_factory):
    init_default_scope('mmseg')
    tmp = tmp_path_factory.mktemp('real_teacher')
    cfg = Config.fromfile(str(CONFIGS / 'pspnet_r18_kd_upernet_convnext_t_vn.py'))
    teacher_cfg = load_teacher_model_cfg(cfg.model.teacher_config)
    disable_pretrained(teacher_cfg)
    torch.manual_seed(0)
    teacher = MODELS.build(teacher_cfg)
    torch.save({'state_dict': teacher.state_dict()}, tmp / 'teacher.pth')
    model_cfg = copy.deepcopy(cfg.model)
    disable_pretrained(model_cfg)
    model_cfg.teacher_checkpoint = str(tmp / 'teacher.pth')
    model_cfg.data_preprocessor.size = (64, 64)
    model = revert_sync_batchnorm(MODELS.build(model_cfg))  # single process, as the Runner does
    return model, cfg, tmp


def test_pspnet_kd_real_models_align_teacher_to_student_grid(pspnet_kd):
    model, _, _ = pspnet_kd
    assert sum(p.numel() for p in model.parameters()) == 2112949  # the study's PSPNet-R18 only
    assert sum(p.numel() for p in model.teacher.parameters()) == 37044901
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        ds = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        ds.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 64, 64), generator=g))
        samples.append(ds)
    batch = dict(inputs=[torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8)
                         for _ in range(2)], data_samples=samples)
    data = model.data_preprocessor(batch, True)
    model.eval()  # deterministic (no dropout) for the comparison below
    losses = model.loss(data['inputs'], data['data_samples'])
    s = model._forward(data['inputs'])
    t = model.teacher._forward(data['inputs'])
    assert s.shape[-2:] == (8, 8) and t.shape[-2:] == (16, 16)  # PSPNet 1/8, UperNet 1/4
    # the documented alignment: for the 2x ratio, bilinear resizing = 2x2 average of the teacher
    labels = torch.stack([d.gt_sem_seg.data for d in data['data_samples']])
    expected = PixelKDLoss()(s, F.avg_pool2d(t, 2), labels)
    assert losses['loss_kd'].item() == pytest.approx(expected.item(), rel=1e-4)
    assert losses['loss_kd'].item() > 0
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.decode_head.conv_seg.weight.grad.abs().sum() > 0


def test_pspnet_kd_checkpoint_loads_into_plain_student_config(pspnet_kd):
    model, _, tmp = pspnet_kd
    torch.save({'state_dict': model.state_dict()}, tmp / 'kd_student.pth')
    plain = Config.fromfile(str(CONFIGS / 'pspnet_r18_vn.py')).model
    disable_pretrained(plain)
    student = MODELS.build(plain)
    load_checkpoint(student, str(tmp / 'kd_student.pth'), map_location='cpu', strict=True)
    for k, v in student.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
