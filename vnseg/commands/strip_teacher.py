"""Write a deployable, student-only checkpoint from a distillation run's checkpoint.

    python tools/model_converters/strip_teacher.py \\
        work_dirs/segformer_b0_kd_upernet_convnext_t_vn/best_mIoU_iter_78000.pth segformer_b0_kd.pth

vnseg's ``DistillSegmentor`` already saves the student's weights only, under the plain student's
keys, so its checkpoints load into the student config as they are; this tool makes the file small
and unambiguous for deployment: it

- keeps ``state_dict`` only (drops ``optimizer``, ``param_schedulers``, ``message_hub``: about
  2/3 of an Adam run's file),
- drops any teacher weights (keys under ``teacher.``) and removes a student prefix (``student.``
  or ``architecture.``, as other distillation frameworks save them) when *every* remaining key
  has it, so checkpoints of such designs convert too,
- keeps ``meta`` (``dataset_meta``: class names and palette for the inferencer) without the
  training config, and records ``meta['student_only'] = True``.

The result loads with the plain student config: ``tools/test.py configs/segformer_b0_vn.py OUT``.

``--trust-pickled`` converts a checkpoint that vnseg refuses because it holds pickled Python
objects other than weights (possibly code): it is unpickled in full -- only do this for a file
whose origin you trust -- and only its tensors and plain meta values (text, numbers, lists) are
written out, so the result loads safely everywhere. The output is written atomically.
"""
import io
import os.path as osp
from collections import OrderedDict

TEACHER_PREFIXES = ('teacher.', 'distiller.teacher.')
STUDENT_PREFIXES = ('student.', 'architecture.')
TRAINING_STATE = ('optimizer', 'param_schedulers', 'message_hub', 'ema_state_dict')


def strip_state_dict(state_dict):
    """Return ``(student_state_dict, n_teacher_keys_dropped, prefix_removed_or_None)``."""
    kept = OrderedDict((k, v) for k, v in state_dict.items() if not k.startswith(TEACHER_PREFIXES))
    dropped = len(state_dict) - len(kept)
    for prefix in STUDENT_PREFIXES:
        if kept and all(k.startswith(prefix) for k in kept):
            kept = OrderedDict((k[len(prefix):], v) for k, v in kept.items())
            return kept, dropped, prefix
    return kept, dropped, None


def strip_checkpoint(checkpoint):
    """Student-only checkpoint dict (``state_dict`` + ``meta``) from a loaded checkpoint dict."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    student, dropped, prefix = strip_state_dict(state_dict)
    meta = dict(checkpoint.get('meta') or {})
    meta.pop('cfg', None)  # the distillation config, not the deployable model's
    meta.update(student_only=True, teacher_keys_dropped=dropped, student_prefix_removed=prefix)
    return {'meta': meta, 'state_dict': student}


def plain_values(obj):
    """``obj`` with only text, numbers, booleans, None, lists/tuples and dicts of them kept (other
    values dropped): what a weights-only load accepts without an allow-list."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, dict):
        kept = {}
        for key, value in obj.items():
            value = plain_values(value)
            if isinstance(key, (str, int)) and value is not _DROPPED:
                kept[key] = value
        return kept
    if isinstance(obj, (list, tuple)):
        items = [plain_values(v) for v in obj]
        return type(obj)(v for v in items if v is not _DROPPED)
    return _DROPPED


_DROPPED = object()


def trusted_weights(checkpoint):
    """Tensors-and-plain-values copy of a fully unpickled (trusted) checkpoint dict."""
    import torch
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    tensors = OrderedDict((k, v) for k, v in state.items()
                          if isinstance(k, str) and isinstance(v, torch.Tensor))
    meta = plain_values(checkpoint.get('meta') or {}) if isinstance(checkpoint, dict) else {}
    return {'meta': meta if isinstance(meta, dict) else {}, 'state_dict': tensors}


def main(argv=None):
    from vnseg.commands.cli import ArgumentParser
    parser = ArgumentParser(description='Strip a distillation checkpoint to the student')
    parser.add_argument('src', help='checkpoint of a distillation run')
    parser.add_argument('dst', help='output checkpoint (student weights + meta)')
    parser.add_argument('--trust-pickled', action='store_true',
                        help='SRC holds pickled objects vnseg refuses; you trust its origin: unpickle '
                             'it in full and keep only its tensors and plain meta values')
    args = parser.parse_args(argv)

    import torch

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from vnseg.apis.model_loading import CheckpointError, check_checkpoint_file, read_checkpoint
    from vnseg.core.atomic import atomic_write_bytes

    if args.trust_pickled:
        check_checkpoint_file(args.src)  # exists, not empty, not text: before unpickling
        try:
            checkpoint = trusted_weights(torch.load(args.src, map_location='cpu', weights_only=False))
        except Exception as exc:  # (anything the pickle does is the file's fault)
            raise CheckpointError(args.src, f'cannot be unpickled: {exc}') from None
    else:
        checkpoint = read_checkpoint(args.src)
    out = strip_checkpoint(checkpoint)
    buffer = io.BytesIO()
    torch.save(out, buffer)
    atomic_write_bytes(osp.abspath(args.dst), buffer.getvalue(), fsync=True)
    state = checkpoint.get('state_dict', checkpoint)
    print(f'{args.src}: {len(state)} keys -> {args.dst}: {len(out["state_dict"])} keys '
          f'(teacher keys dropped: {out["meta"]["teacher_keys_dropped"]}, prefix removed: '
          f'{out["meta"]["student_prefix_removed"]}, training state dropped: '
          f'{[k for k in TRAINING_STATE if k in checkpoint]})')
    return out

