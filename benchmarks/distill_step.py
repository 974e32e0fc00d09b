"""Time one distillation training step against the plain student's step and the teacher's forward.

    python benchmarks/distill_step.py [--kd-config CFG] [--student-config CFG] [--batch 2]
                                      [--size 256] [--warmup 2] [--repeats 5] [--device auto]

Builds, from the real study configs with pretrained weights disabled (random init, no download):

- the plain student (``configs/segformer_b0_vn.py``: SegFormer-B0),
- the KD model (``configs/segformer_b0_kd_upernet_convnext_t_vn.py``: the same student plus the
  frozen UperNet-ConvNeXt-T teacher, loaded from a checkpoint this script writes to a temp dir),

then times, on one fixed random batch, interleaved so that all three see the same machine state:

- ``student``: ``student.train_step`` (preprocess, forward, loss, backward, Adam step),
- ``kd``: ``kd_model.train_step`` (the same plus the teacher forward and the KD loss),
- ``teacher``: the teacher's inference forward alone (``no_grad``, eval, preprocessed batch).

It prints the best (minimum) and median wall seconds per step, the median process CPU seconds,
and the ratios of each. On a busy shared CPU, wall times carry the other processes' load; with
one thread (the CPU default; ``--threads N`` to change) the process CPU time is the figure least
affected by it, and oversubscribed OpenMP threads do not distort the wall times. The target is
``kd <= 1.10 * (student + teacher)``: the distillation costs no more than the teacher's inference
forward on top of the student's step. CPU by default on a CPU-only machine, CUDA when available
(``--device``); ``--amp`` (CUDA) uses AmpOptimWrapper for both trainings, so the teacher runs
under the same autocast as the student.
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--kd-config', default=osp.join(REPO, 'configs',
                                                  'segformer_b0_kd_upernet_convnext_t_vn.py'))
    p.add_argument('--student-config', default=osp.join(REPO, 'configs', 'segformer_b0_vn.py'))
    p.add_argument('--batch', type=int, default=2, help='images per step (study: 16)')
    p.add_argument('--size', type=int, default=256, help='square crop size in pixels (study: 512)')
    p.add_argument('--warmup', type=int, default=2, help='untimed rounds first')
    p.add_argument('--repeats', type=int, default=5, help='timed rounds (best and median reported)')
    p.add_argument('--device', default='auto', help="'auto' (CUDA if available), 'cpu', 'cuda'")
    p.add_argument('--amp', action='store_true', help='mixed precision (CUDA only)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default on CPU: 1, steady on a shared machine; 0: '
                        "torch's default)")
    return p.parse_args(argv)


def build_model(model_cfg, device, size):
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS

    from vnseg.openmmlab.pretrained import disable_pretrained

    disable_pretrained(model_cfg)
    model_cfg.data_preprocessor['size'] = (size, size)
    model = MODELS.build(model_cfg)  # constructors' random init: speed does not depend on it
    # single process, as mmengine's Runner does without a launcher
    return revert_sync_batchnorm(model).to(device).train()


def make_batch(batch, size, num_classes, seed=0):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))
        ds = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        ds.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, size, size), generator=g, dtype=torch.int64))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def main(argv=None):
    args = parse_args(argv)
    import torch

    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from vnseg.models.segmentors.distill_segmentor import load_teacher_model_cfg
    from vnseg.openmmlab.pretrained import disable_pretrained

    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    threads = args.threads if args.threads is not None else (1 if device == 'cpu' else 0)
    if threads:
        torch.set_num_threads(threads)
    if args.amp and device != 'cuda':
        sys.exit('--amp needs CUDA')
    init_default_scope('mmseg')
    torch.manual_seed(0)

    kd_cfg = Config.fromfile(args.kd_config)
    student_cfg = Config.fromfile(args.student_config)
    optim_cfg = student_cfg.optim_wrapper.to_dict()
    if args.amp:
        optim_cfg['type'] = 'AmpOptimWrapper'

    with tempfile.TemporaryDirectory() as tmp:
        # a teacher checkpoint (random weights: speed does not depend on their values)
        teacher_cfg = load_teacher_model_cfg(kd_cfg.model.teacher_config)
        disable_pretrained(teacher_cfg)
        teacher_ckpt = osp.join(tmp, 'teacher.pth')
        torch.save({'state_dict': MODELS.build(teacher_cfg).state_dict()}, teacher_ckpt)
        kd_cfg.model.teacher_checkpoint = teacher_ckpt

        student = build_model(student_cfg.model, device, args.size)
        kd = build_model(kd_cfg.model, device, args.size)
    teacher = kd.teacher
    kd.load_state_dict(student.state_dict())  # same start, for good measure
    opt_student = build_optim_wrapper(student, dict(optim_cfg))
    opt_kd = build_optim_wrapper(kd, dict(optim_cfg))
    n_teacher = sum(p.numel() for p in teacher.parameters())
    n_opt = sum(p.numel() for g in opt_kd.optimizer.param_groups for p in g['params'])
    assert n_opt == sum(p.numel() for p in student.parameters()), 'teacher in the optimizer?'

    batch = make_batch(args.batch, args.size, kd.num_classes)

    def sync():
        if device == 'cuda':
            torch.cuda.synchronize()

    def student_step():
        student.train_step(batch, opt_student)

    def kd_step():
        kd.train_step(batch, opt_kd)

    teacher_inputs = kd.data_preprocessor(batch, True)['inputs']  # preprocessed once, untimed

    def teacher_forward():
        with torch.no_grad(), opt_kd.optim_context(kd):
            teacher._forward(teacher_inputs)

    runs = {'student': student_step, 'kd': kd_step, 'teacher': teacher_forward}
    times = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    for i in range(args.warmup + args.repeats):
        for name, fn in runs.items():
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            sync()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)

    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    print(f'device={device} amp={args.amp} batch={args.batch} size={args.size} '
          f'threads={torch.get_num_threads()} rounds={args.repeats} (warm-up {args.warmup})')
    print(f'student params {sum(p.numel() for p in student.parameters()) / 1e6:.2f}M, '
          f'teacher params {n_teacher / 1e6:.2f}M (not in the optimizer)')
    print(f'  {"":8s} {"best":>8s} {"median":>8s} {"cpu":>8s}  s/step (wall best, wall median, '
          'process CPU median)')
    for k in ('student', 'teacher', 'kd'):
        print(f'  {k:8s} {best[k]:8.3f} {med[k]:8.3f} {cpu_med[k]:8.3f}')
    for label, t in (('best', best), ('median', med), ('cpu', cpu_med)):
        budget = t['student'] + t['teacher']
        verdict = 'met' if t['kd'] <= 1.10 * budget else 'NOT met'
        print(f'{label:6s}: kd/student = {t["kd"] / t["student"]:.2f}, '
              f'teacher/student = {t["teacher"] / t["student"]:.2f}, '
              f'kd/(student+teacher) = {t["kd"] / budget:.2f} (target <= 1.10: {verdict})')
    print('(on a shared CPU, wall times carry other processes\' load; with one thread the process '
          'CPU time is the figure least affected by it)')
    return dict(best=best, median=med, cpu=cpu_med)


if __name__ == '__main__':
    main()
