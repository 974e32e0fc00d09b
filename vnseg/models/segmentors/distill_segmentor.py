"""Offline knowledge distillation: a student EncoderDecoder trained against a frozen teacher."""
import copy
import glob
import os
import os.path as osp
import re
import warnings

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import add_prefix

from vnseg.openmmlab.pretrained import disable_pretrained

_REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def resolve_teacher_checkpoint(path):
    """Return the checkpoint file that ``path`` names, or None when there is none.

    ``path`` is a checkpoint file, or a training work_dir. In a work_dir the best checkpoint that
    mmengine's CheckpointHook kept (``best_*.pth``, the highest iteration if several) is used, else
    the file named in ``last_checkpoint``.
    """
    if path is None:
        return None
    path = os.fspath(path)
    if not osp.isdir(path):
        return path if osp.isfile(path) else None
    best = glob.glob(osp.join(path, 'best_*.pth'))
    if best:
        def iteration(name):
            numbers = re.findall(r'\d+', osp.basename(name))
            return (int(numbers[-1]) if numbers else -1, osp.getmtime(name))
        return max(best, key=iteration)
    marker = osp.join(path, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            name = f.read().strip()
        # the marker holds an absolute path, or one relative to where training ran
        for candidate in (name, osp.join(path, osp.basename(name))):
            if name and osp.isfile(candidate):
                return candidate
    return None


def load_teacher_model_cfg(teacher_config):
    """The teacher's ``model`` dict from a config file path, a Config, or a model dict.

    A relative path that does not exist from the current directory is looked up from the vnseg
    repository root, so ``configs/upernet_convnext_t_vn.py`` works from anywhere.
    """
    if isinstance(teacher_config, (str, os.PathLike)):
        path = os.fspath(teacher_config)
        if not osp.isfile(path) and not osp.isabs(path) and osp.isfile(osp.join(_REPO_ROOT, path)):
            path = osp.join(_REPO_ROOT, path)
        teacher_config = Config.fromfile(path)
    if 'model' in teacher_config:
        teacher_config = teacher_config['model']
    return ConfigDict(copy.deepcopy(dict(teacher_config)))


def preprocessing_differences(student_pre, teacher_pre):
    """What two mmseg ``SegDataPreProcessor`` s do differently to an image batch: a list of
    ``'bgr_to_rgb'``, ``'normalisation on/off'``, ``'mean'``, ``'std'`` (empty: the same).

    Reads the attributes the preprocessor really has (mmseg 1.x: ``channel_conversion``,
    ``_enable_normalize``, the ``mean``/``std`` buffers); a missing attribute is an error rather
    than a silent match.
    """
    differences = []
    for attr, name in (('channel_conversion', 'bgr_to_rgb'),
                       ('_enable_normalize', 'normalisation on/off')):
        for pre in (student_pre, teacher_pre):
            if not hasattr(pre, attr):
                raise TypeError(f'{type(pre).__name__} has no {attr!r}: cannot compare the '
                                "teacher's and the student's preprocessing")
        if bool(getattr(student_pre, attr)) != bool(getattr(teacher_pre, attr)):
            differences.append(name)
    if student_pre._enable_normalize and teacher_pre._enable_normalize:
        for buffer in ('mean', 'std'):
            ours, theirs = getattr(student_pre, buffer).cpu(), getattr(teacher_pre, buffer).cpu()
            if ours.shape != theirs.shape or not torch.allclose(ours, theirs):
                differences.append(buffer)
    return differences


@MODELS.register_module()
class DistillSegmentor(EncoderDecoder):
    """An :class:`EncoderDecoder` student distilled from a frozen, hidden teacher segmentor.

    The segmentor *is* the student: every keyword argument of :class:`EncoderDecoder`
    (backbone, decode_head, auxiliary_head, data_preprocessor, init_cfg, ...) builds the student
    exactly as the plain student config would. A distillation config therefore inherits the
    student config and only changes ``model.type`` and adds the teacher::

        _base_ = ['./segformer_b0_vn.py']
        model = dict(type='DistillSegmentor',
                     teacher_config='{{fileDirname}}/upernet_convnext_t_vn.py',
                     teacher_checkpoint='work_dirs/upernet_convnext_t_vn',
                     distill_loss=dict(type='PixelKDLoss', temperature=1.0, loss_weight=1.0))

    The teacher is built from ``teacher_config`` (its pretrained-weight references removed) and
    loaded strictly from ``teacher_checkpoint`` by vnseg's one loader
    (:func:`vnseg.openmmlab.checkpoints.load_weights`: weights-only, and a missing, unexpected or
    mis-shaped key is an error naming the teacher's config and checkpoint). It is **not
    registered as a submodule** — it is held in a tuple — so it is absent from ``parameters()``,
    ``named_modules()``, ``state_dict()`` and from what
    mmengine's Runner saves, optimises, initialises, wraps in DDP or converts to SyncBN. Hence:

    - checkpoints hold the student's keys only (``backbone.*``, ``decode_head.*``, ...) and load
      unchanged into the plain student config (``tools/test.py``, ``MMSegInferencer``);
      ``load_from`` / ``--resume`` / ``init_cfg`` of the student behave as in the plain config;
    - the teacher is frozen (``requires_grad=False``), always in eval mode (:meth:`train` keeps
      it there) and run under ``torch.no_grad()``; device/dtype moves (``to``, ``cuda``, ...)
      are forwarded to it by :meth:`_apply`.

    Under AMP, mmengine's ``AmpOptimWrapper`` opens ``torch.autocast`` around the whole
    ``loss`` call, so the teacher forward runs in the student's AMP dtype without anything
    done here; the KD loss itself is computed in float32.

    Training loss: the student's own losses (``decode.loss_ce``, ``aux.loss_ce``, ...) plus
    ``distill_loss(student_logits, teacher_logits, gt)`` under its ``loss_name`` (``loss_kd``),
    where the logits are the raw decode-head outputs (feature resolution, ``(N, C, h, w)``).
    ``predict`` and ``tensor`` modes are the student's (inherited).

    When ``teacher_checkpoint`` is missing, a warning is given and no teacher is built: the
    model still predicts (testing/inference need no teacher) but :meth:`loss` raises.

    Args:
        teacher_config (str | dict | Config): the teacher's config file (a full config with
            ``model``), or its ``model`` dict. It must be an mmseg segmentor with the student's
            number of classes and input normalisation.
        teacher_checkpoint (str): the teacher's checkpoint file, or its training work_dir: there
            the best checkpoint (``best_*.pth``) is used, else the one ``last_checkpoint`` names
            (:func:`resolve_teacher_checkpoint`). Relative paths are from the current directory.
        distill_loss (dict): config of the KD loss; default ``PixelKDLoss`` with T=1, weight 1.
        **kwargs: the student's :class:`EncoderDecoder` arguments.
    """

    def __init__(self, teacher_config, teacher_checkpoint=None,
                 distill_loss=dict(type='PixelKDLoss'), **kwargs):
        super().__init__(**kwargs)
        if type(self.decode_head).loss is not BaseDecodeHead.loss:
            raise TypeError(f'{type(self.decode_head).__name__} overrides loss(); DistillSegmentor '
                            'needs a decode head whose loss is forward() + loss_by_feat()')
        self.distill_loss = MODELS.build(distill_loss)
        self.teacher_config = teacher_config
        self.teacher_checkpoint = teacher_checkpoint
        self._teacher = (None,)
        ckpt = resolve_teacher_checkpoint(teacher_checkpoint)
        if ckpt is None:
            msg = (f'DistillSegmentor: teacher checkpoint not found ({teacher_checkpoint!r}); '
                   'no teacher is built. The student can predict, but training raises until '
                   'model.teacher_checkpoint points at the trained teacher.')
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)
        else:
            self.load_teacher(ckpt)

    # ------------------------------------------------------------------ teacher handling
    @property
    def teacher(self):
        """The frozen teacher segmentor (None when no checkpoint was found)."""
        return getattr(self, '_teacher', (None,))[0]

    @property
    def student(self):
        """The deployable student: this segmentor itself (its parameters and state_dict are the
        student's only)."""
        return self

    def load_teacher(self, checkpoint):
        """Build the teacher from ``self.teacher_config`` and load ``checkpoint`` strictly."""
        from vnseg.openmmlab.checkpoints import load_weights, read_checkpoint
        ckpt = read_checkpoint(checkpoint)  # an unusable file fails before the teacher is built
        cfg = load_teacher_model_cfg(self.teacher_config)
        disable_pretrained(cfg)  # its weights come from the checkpoint: no downloads
        teacher = MODELS.build(cfg)
        config_name = (self.teacher_config if isinstance(self.teacher_config, (str, os.PathLike))
                       else getattr(self.teacher_config, 'filename', None) or 'teacher_config')
        load_weights(teacher, ckpt, config=config_name, checkpoint_name=str(checkpoint))
        teacher = revert_sync_batchnorm(teacher)  # eval-only: plain BN needs no process group
        teacher.requires_grad_(False)
        teacher.eval()
        self._check_teacher(teacher)
        device = next(self.parameters()).device
        teacher.to(device)
        self._teacher = (teacher,)
        print_log(f'DistillSegmentor: teacher {type(teacher).__name__} loaded from {checkpoint}',
                  logger='current')
        return teacher

    def _check_teacher(self, teacher):
        t_classes = getattr(teacher, 'num_classes', None)
        if t_classes != self.num_classes:
            raise ValueError(f'teacher predicts {t_classes} classes, student {self.num_classes}')
        differences = preprocessing_differences(self.data_preprocessor, teacher.data_preprocessor)
        if differences:
            raise ValueError('the teacher sees the student\'s preprocessed batch, so its '
                             'data_preprocessor must normalise the same way; they differ in '
                             + ', '.join(differences))

    def train(self, mode=True):
        """Set the student's mode; the teacher always stays in eval mode."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def _apply(self, fn, *args, **kwargs):
        # .to()/.cuda()/.cpu()/.half() end here: move the hidden teacher along
        super()._apply(fn, *args, **kwargs)
        if self.teacher is not None:
            self.teacher._apply(fn, *args, **kwargs)
        return self

    def _set_device(self, device):
        super()._set_device(device)
        if self.teacher is not None:
            self.teacher._set_device(device)

    @torch.no_grad()
    def teacher_forward(self, inputs):
        """Teacher logits ``(N, C, h_t, w_t)`` at its head's resolution for preprocessed
        ``inputs`` ``(N, 3, H, W)``; no autograd, eval mode, the caller's autocast dtype."""
        if self.teacher is None:
            raise RuntimeError(
                f'DistillSegmentor has no teacher: checkpoint {self.teacher_checkpoint!r} was '
                'not found when the model was built (set model.teacher_checkpoint)')
        return self.teacher._forward(inputs)

    # ------------------------------------------------------------------ training
    def loss(self, inputs, data_samples):
        """Student losses plus the KD loss for preprocessed ``inputs`` ``(N, 3, H, W)``.

        Returns a dict of scalar tensors: ``decode.*`` (and ``aux.*``) as in the student's
        :class:`EncoderDecoder`, plus ``distill_loss.loss_name`` (``loss_kd``).
        """
        teacher_logits = self.teacher_forward(inputs)  # first: its activations are freed early
        x = self.extract_feat(inputs)
        # one head forward serves both the student's own loss and the KD loss
        student_logits = self.decode_head.forward(x)
        losses = add_prefix(self.decode_head.loss_by_feat(student_logits, data_samples), 'decode')
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        seg_label = torch.stack([ds.gt_sem_seg.data for ds in data_samples])
        losses[self.distill_loss.loss_name] = self.distill_loss(
            student_logits, teacher_logits, seg_label)
        return losses
