#!/usr/bin/env python
"""Training recipes side by side: the same model, data, seed and budget; whole-scene test mIoU.

    python benchmarks/recipe_quality.py --train-src DIR --test-src DIR [--val-src DIR] [--color-table NAME|JSON]
        [--iters 750] [--batch-size 8] [--crop 256] [--seed 0] [--recipes stock vnseg ...]
        [--work-dir DIR] [--device cpu|cuda] [--no-test] [--final] [--teacher RUN_DIR [RUN_DIR ...]]
        [--unlabelled-src DIR]

1. Data: ``--train-src`` and ``--test-src`` are source folders of ``tools/prepare_dataset.py`` (JSON
   scenes or image + mask pairs), prepared by ``vnseg.data.prepare.prepare_dataset`` with
   ``--patch-size CROP``: the train scenes are split 80/20 into train/val BY SCENE (split seed 0,
   whatever ``--seed``, so seeds differ in training only) with one offline augmented copy per train
   patch; every test scene is kept whole. ``--val-src DIR`` validates on other scenes instead (e.g. a
   held-out tile; all ``--train-src`` scenes then train): a by-scene split of the same tiles only
   measures generalisation within those tiles, while the test scenes are other tiles.
2. Training: every recipe trains SegFormer-B0 from scratch (no download) through ``tools/train.py``
   (mmengine's Runner) with the same seed and budget: ``--iters`` x ``--batch-size`` crops of
   ``--crop``\\ :sup:`2`. A recipe's schedule (warm-up, decay steps, EMA window) is rescaled to the
   budget in proportion.
3. Scoring: each model segments every whole validation and test scene with vnseg's whole-scene
   inference (``vnseg.apis.infer_large_image``, tile 512, overlap 128, and the recipe's TTA); the
   confusion matrices of all scenes of a split are summed into per-class IoU and mIoU (%).
   Validation scenes are for choosing a recipe; ``--no-test`` never touches the test scenes.

Recipes (``--recipes``):

* ``stock`` -- mmseg's SegFormer recipe (``benchmarks/configs/segformer_b0_stock_mmseg.py``): its
  x10 decode-head learning rate and no decay on norms, as written for ImageNet fine-tuning;
* ``stock-plain`` -- the plain mmseg config a user writes in ten minutes (``..._stock_plain.py``: no
  per-parameter multipliers, a 100-iteration warm-up at 750 iterations), and its learning-rate sweep
  ``stock-plain-lr2e-4``, ``stock-plain-lr1e-3``; ``stock-all`` runs these four reference rows;
* ``vnseg`` -- vnseg's recipe (``configs/segformer_b0_recipe_vn.py``);
* ``study`` -- the study's recipe (``configs/segformer_b0_vn.py``: fixed patches, Adam 1e-3);
* ``vnseg-<change>[-<change>...]`` -- vnseg's recipe without/with one change, for ablations:
  ``ce_only`` (no Dice), ``lovasz`` (Lovasz-softmax instead of the class Dice), ``mmseg_dice``
  (mmseg's ``DiceLoss`` instead), ``no_head_lr`` (no x10 head learning rate), ``class_crop``
  (vnseg's ``ClassAwareRandomCrop``: half of the crops centred on water or trees), ``no_rescale``,
  ``photometric`` (adds mmseg's ``PhotoMetricDistortion``), ``no_ema``, ``tta`` / ``no_tta`` (flip TTA
  in whole-scene inference on / off),
  ``patches`` (offline patches instead of whole scenes), ``no_class_weights`` (CE without the
  prepared data's class weights), ``cpu_bf16`` (bf16 autocast with fp32 master weights on a CPU:
  ``cpu_speedups = dict(bf16=True)``), ``cpu_fused_head`` (the decode head trained as vnseg's
  ``FusedSegformerHead``, the same model computed in a cheaper order: ``cpu_speedups = dict(fused_head=True)``),
  ``no_cpu_speedups`` (none of the recipe's CPU speed-ups: what ``vnseg train --no-cpu-speedups`` trains),
  ``kd`` (distilled by vnseg's
  ``DistillSegmentor`` from the model of ``--teacher RUN_DIR``, a finished run of this benchmark,
  e.g. ``vnseg`` at a larger ``--iters``; prints ``KD ... delta=`` against ``vnseg``);
* ``kd_cached`` -- the student SegFormer-B0 from scratch at the same budget, distilled from the CACHED soft
  labels of a teacher (``configs/segformer_b0_kd_cached_recipe_vn.py``): the teacher's probabilities of
  the train scenes and of the images of ``--unlabelled-src DIR`` (unlabelled scenes: the distillation term
  only; the row is then ``kd_cached_unl``) are made once by ``vnseg teacher-labels``' code (flip TTA, tile
  512, overlap 128) into ``WORK/teacher_cache/<key>/`` and reused; no teacher runs while the student
  trains. The teacher: the finished runs of ``--teacher RUN_DIR [RUN_DIR ...]`` (several = an ensemble,
  the mean of their probabilities), or without ``--teacher`` the recommended one, trained here and reused:
  the ``vnseg`` recipe at the same budget for the seeds ``TEACHER_SEEDS`` (the ``vnseg`` rows of those
  seeds), as an ensemble. The teacher is scored like a row (``teacher [...]``: val with and without flip
  TTA, test) and its cost printed apart from the student's: ``TEACHER ... train_min=<m> cache_min=<c>``.
  The last line is ``RESULT_KD student_mIoU=<x> vnseg_mIoU=<y> delta=<x-y>`` (against ``vnseg``).
Every model is also scored on the validation scenes with the other flip-TTA setting (row ``[flip TTA]``
or ``[no TTA]``) and, when trained with an EMA, with its raw weights (``[raw weights]``; not with
``--skip-raw``): those ablations cost no extra training.

Outputs under ``--work-dir`` (default ``work_dirs/recipe_quality``): ``data/{train,test}`` (the
prepared datasets; ``data/{train_all,val}`` with ``--val-src``: use another ``--work-dir`` for it),
``<recipe>_s<seed>_i<iters>_b<batch>_c<crop>/`` (config, train log, checkpoint, predictions,
``result.json``; a finished run with the same config and data is reused,
a trained checkpoint is re-scored) and ``results.json`` (this invocation's rows). The last line is
``RESULT vnseg_mIoU=<x> stock_mIoU=<y> delta=<x-y> reference=<name>`` (test scenes) when ``vnseg`` and a
reference row ran: ``y`` is the test mIoU of the reference row that scored best on VALIDATION. ``--final``
also trains ``vnseg`` on the train and val scenes together (``vnseg train --all-scenes``), scored on the
test scenes only: ``FINAL vnseg_all_scenes_mIoU=<x> vnseg_mIoU=<y> delta=<x-y>``.

Cost: minutes per SegFormer-B0 run on a CPU (docs/results.md has the times), far less on a GPU
(``--device cuda``). On a CPU shared with other jobs, ``OMP_NUM_THREADS=1`` avoids the
thread oversubscription that slows torch's parallel kernels down many times.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RECIPES = {
    'stock': 'benchmarks/configs/segformer_b0_stock_mmseg.py',
    'stock-plain': 'benchmarks/configs/segformer_b0_stock_plain.py',
    'stock-plain-lr2e-4': 'benchmarks/configs/segformer_b0_stock_plain_lr2e-4.py',
    'stock-plain-lr1e-3': 'benchmarks/configs/segformer_b0_stock_plain_lr1e-3.py',
    'vnseg': 'configs/segformer_b0_recipe_vn.py',
    'study': 'configs/segformer_b0_vn.py',
    'kd_cached': 'configs/segformer_b0_kd_cached_recipe_vn.py',
}
#: plain mmseg rows that vnseg's recipe is compared with (``--recipes stock-all`` runs them all): the
#: RESULT line takes the one that scored best on VALIDATION
REFERENCES = ('stock', 'stock-plain', 'stock-plain-lr2e-4', 'stock-plain-lr1e-3')
TILE, OVERLAP = 512, 128  # whole-scene inference windows, pixels (the benchmark's protocol: docs/results.md)
SPLIT_SEED = 0
TRAIN_RATIOS = (0.8, 0.2, 0.0)
MIN_WARMUP_STEPS = 5  # a 1-step LinearLR warm-up would leave the lr at start_factor (1e-6) for good
#: the teacher ``kd_cached`` trains without ``--teacher``: the vnseg recipe at the benchmark's budget for these
#: seeds, an ensemble of two (measured on Dubai tile 4 against its members: docs/results.md, "Distillation from a
#: cached teacher")
TEACHER_SEEDS = (0, 1)


class BenchmarkError(RuntimeError):
    """A user mistake or a failed step; printed as one ``error:`` line."""


def write_result(path, obj):
    """``obj`` as JSON at ``path``, atomically: a killed run leaves no half-written result to be reused."""
    from vnseg.core.atomic import atomic_write_text
    atomic_write_text(path, json.dumps(obj, indent=1))


# -- recipe changes (ablations) ------------------------------------------------------------------
def _pipeline(cfg):
    return cfg.train_dataloader.dataset.pipeline


def _replace_transform(cfg, old_type, new):
    pipe = _pipeline(cfg)
    hits = [i for i, t in enumerate(pipe) if t['type'] == old_type]
    if not hits:
        raise BenchmarkError(f'the recipe has no {old_type} to change')
    for i in reversed(hits):
        if new is None:
            del pipe[i]
        else:
            pipe[i] = new(pipe[i])


def _decode_losses(cfg):
    losses = cfg.model.decode_head.loss_decode
    return list(losses) if isinstance(losses, (list, tuple)) else [losses]


def _ce_only(cfg, data):
    kept = [loss for loss in _decode_losses(cfg) if loss['type'] == 'CrossEntropyLoss']
    if len(kept) == len(_decode_losses(cfg)):
        raise BenchmarkError('the recipe has no loss besides cross-entropy to remove')
    cfg.model.decode_head.loss_decode = kept


def _replace_dice(cfg, make):
    losses = _decode_losses(cfg)
    if not any(loss['type'] == 'ClassDiceLoss' for loss in losses):
        raise BenchmarkError('the recipe has no ClassDiceLoss to replace')
    cfg.model.decode_head.loss_decode = [
        make(loss) if loss['type'] == 'ClassDiceLoss' else loss for loss in losses]


def _lovasz(cfg, data):
    _replace_dice(cfg, lambda loss: dict(type='LovaszLoss', loss_type='multi_class', classes='present',
                                         per_image=False, reduction='none', loss_weight=loss.get('loss_weight', 1.0)))


def _mmseg_dice(cfg, data):
    _replace_dice(cfg, lambda loss: dict(type='DiceLoss', use_sigmoid=False, activate=True,
                                         loss_weight=loss.get('loss_weight', 1.0)))


def _no_head_lr(cfg, data):
    keys = cfg.optim_wrapper.get('paramwise_cfg', {}).get('custom_keys', {})
    if 'head' not in keys:
        raise BenchmarkError('the recipe has no head learning-rate multiplier to remove')
    del keys['head']


def _class_crop(cfg, data):
    _replace_transform(cfg, 'RandomCrop', lambda t: dict(
        type='ClassAwareRandomCrop', crop_size=t['crop_size'], cat_max_ratio=t.get('cat_max_ratio', 1.0),
        rare_classes=(2, 3), prob=0.5))


def _no_rescale(cfg, data):
    _replace_transform(cfg, 'RandomRescale', None)


def _photometric(cfg, data):
    pipe = _pipeline(cfg)
    if any(t['type'] == 'PhotoMetricDistortion' for t in pipe):
        raise BenchmarkError('the recipe already has PhotoMetricDistortion')
    pack = [i for i, t in enumerate(pipe) if t['type'] == 'PackSegInputs']
    pipe.insert(pack[0] if pack else len(pipe), dict(type='PhotoMetricDistortion'))


def _remove_hook(cfg, hook_type, what):
    hooks = cfg.get('custom_hooks', [])
    cfg.custom_hooks = [h for h in hooks if h['type'] != hook_type]
    if len(cfg.custom_hooks) == len(hooks):
        raise BenchmarkError(f'the recipe has no {what} to remove')


def _no_ema(cfg, data):
    _remove_hook(cfg, 'EMAHook', 'EMAHook')


def _cpu_speedup_on(cfg, key, what):
    if (cfg.get('cpu_speedups') or {}).get(key):
        raise BenchmarkError(f'the recipe already trains {what} on a CPU')
    cfg.cpu_speedups = dict(cfg.get('cpu_speedups') or {}, **{key: True})  # CPU only: vnseg train applies it


def _cpu_bf16(cfg, data):
    _cpu_speedup_on(cfg, 'bf16', 'in bf16')


def _cpu_fused_head(cfg, data):
    _cpu_speedup_on(cfg, 'fused_head', 'with the fused SegFormer head')


def _no_cpu_speedups(cfg, data):
    if not any(v not in (None, False) for v in (cfg.get('cpu_speedups') or {}).values()):
        raise BenchmarkError('the recipe has no CPU speed-up to turn off')
    cfg.cpu_speedups = {}  # vnseg train's defaults: eager fp32, the recipe's data loader as it is


def _set_tta(cfg, on):
    inference = dict(cfg.get('whole_scene_inference') or {})
    if bool(inference.get('tta_flip', False)) == on:
        raise BenchmarkError(f"the recipe's whole-scene inference already has tta_flip={on}")
    cfg.whole_scene_inference = dict(inference, tta_flip=on)


def _tta(cfg, data):
    _set_tta(cfg, True)


def _no_tta(cfg, data):
    _set_tta(cfg, False)


def _patches(cfg, data):
    ds = cfg.train_dataloader.dataset
    ds.data_prefix = dict(img_path='img_dir/train', seg_map_path='ann_dir/train')
    ds.pop('ann_file', None)


def _no_class_weights(cfg, data):
    _remove_hook(cfg, 'ClassWeightsHook', 'ClassWeightsHook (class weights of the CE)')


def _kd(cfg, data):
    teacher = data.get('teacher')
    if teacher is None:
        raise BenchmarkError('recipe change "kd" needs --teacher RUN_DIR (a finished run of this benchmark)')
    if len(data.get('teachers') or [teacher]) > 1:
        raise BenchmarkError('recipe change "kd" (online DistillSegmentor) takes one --teacher RUN_DIR, got '
                             f"{len(data['teachers'])}; an ensemble is for kd_cached")
    cfg.model.type = 'DistillSegmentor'
    cfg.model.teacher_config = str(teacher / 'config.py')
    cfg.model.teacher_checkpoint = str(data['teacher_checkpoint'])
    cfg.model.distill_loss = dict(type='PixelKDLoss', temperature=1.0, loss_weight=1.0, align='student')


def _use_teacher_cache(cfg, data):
    """``kd_cached``: every reader of the teacher cache points at the one made for this run (``teacher_cache``)."""
    from vnseg.distill.teacher_cache import use_teacher_cache
    if data.get('teacher_cache') is None:
        raise BenchmarkError('recipe "kd_cached" needs --teacher RUN_DIR (a finished run of this benchmark)')
    use_teacher_cache(cfg, data['teacher_cache'])


#: what a base recipe always needs done to its config (its data, not an ablation)
SETUP = {'kd_cached': [_use_teacher_cache]}

CHANGES = {'ce_only': _ce_only, 'lovasz': _lovasz, 'mmseg_dice': _mmseg_dice, 'no_head_lr': _no_head_lr,
           'class_crop': _class_crop, 'no_rescale': _no_rescale,
           'photometric': _photometric, 'no_ema': _no_ema, 'tta': _tta, 'no_tta': _no_tta,
           'patches': _patches, 'no_class_weights': _no_class_weights, 'cpu_bf16': _cpu_bf16,
           'cpu_fused_head': _cpu_fused_head, 'no_cpu_speedups': _no_cpu_speedups, 'kd': _kd}


def expand_recipes(names):
    """``--recipes`` with ``stock-all`` replaced by every reference row (order kept, no repeats)."""
    out = []
    for name in names:
        out += list(REFERENCES) if name == 'stock-all' else [name]
    return list(dict.fromkeys(out))


def best_reference(results, split='val'):
    """The reference row (``REFERENCES``) with the highest ``split`` mIoU among ``results``, or None."""
    rows = [r for r in results if r['recipe'] in REFERENCES and split in r['scores']]
    return max(rows, key=lambda r: r['scores'][split]['mIoU'], default=None)


def parse_recipe(name):
    """``'vnseg-no_ema'`` -> (config path, [change functions]); raises BenchmarkError if unknown."""
    if name in RECIPES:
        return REPO / RECIPES[name], list(SETUP.get(name, []))
    base, *changes = name.split('-')
    if base not in RECIPES:
        raise BenchmarkError(f'unknown recipe {name!r}: choose from {sorted(RECIPES)} (+ "-<change>")')
    unknown = [c for c in changes if c not in CHANGES]
    if unknown:
        raise BenchmarkError(f'unknown change(s) {unknown} in recipe {name!r}: choose from {sorted(CHANGES)}')
    return REPO / RECIPES[base], list(SETUP.get(base, [])) + [CHANGES[c] for c in changes]


# -- budget --------------------------------------------------------------------------------------
def _train_datasets(cfg):
    """The train dataset configs that read files: the dataset, or each one of a ``ConcatDataset``."""
    dataset = cfg.train_dataloader.dataset
    return list(dataset.datasets) if 'datasets' in dataset else [dataset]


def fit_budget(cfg, *, iters, batch_size, crop, seed, data_root, work_dir):
    """Set a parsed recipe config to the benchmark's budget and data, in place.

    The schedule (scheduler begin/end/milestones, EMA momentum) is rescaled by
    ``iters / cfg.train_cfg.max_iters``; every ``crop_size`` of the train pipeline and the model's
    padding size become ``crop``; the runner validates and tests nothing (the benchmark scores the
    whole scenes itself) and keeps only the last checkpoint. The recipe's class weights
    (``ClassWeightsHook``: ``data_root``'s ``class_weights.json``, read when training starts) are
    checked now, as ``tools/train.py`` does.
    """
    from vnseg.core.errors import DataError
    from vnseg.data.class_weights import training_class_weights
    ratio = iters / cfg.train_cfg.max_iters
    scheds = cfg.get('param_scheduler') or []
    bounds = {}  # original boundary -> rescaled boundary
    for sched in scheds:
        for key in ('begin', 'end'):
            if key in sched:
                value = min(sched[key], cfg.train_cfg.max_iters)
                bounds[value] = max(bounds.get(value, 0), int(round(value * ratio)))
    for sched in scheds:  # mmengine's LinearLR stops one step short of end_factor: keep warm-ups >= 5 steps
        if sched['type'] == 'LinearLR' and 'end' in sched:
            end = min(sched['end'], cfg.train_cfg.max_iters)
            bounds[end] = min(iters, max(bounds[end], bounds[sched.get('begin', 0)] + MIN_WARMUP_STEPS))
    for sched in scheds:
        begin = bounds.get(min(sched.get('begin', 0), cfg.train_cfg.max_iters), 0)
        sched['begin'] = begin
        if 'end' in sched:
            sched['end'] = max(begin + 1, bounds[min(sched['end'], cfg.train_cfg.max_iters)])
        if 'milestones' in sched:
            sched['milestones'] = [max(1, int(round(m * ratio))) for m in sched['milestones']]
    for hook in cfg.get('custom_hooks') or []:
        if hook['type'] == 'EMAHook':
            hook['momentum'] = min(0.5, hook.get('momentum', 0.0002) / ratio)  # mmengine: < 1
            hook['begin_iter'] = int(round(hook.get('begin_iter', 0) * ratio))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters, max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=25, log_metric_by_epoch=False)
    datasets = _train_datasets(cfg)
    for dataset in datasets:
        for t in dataset.pipeline:
            if 'crop_size' in t:
                t['crop_size'] = (crop, crop)
        if 'cache_dir' not in dataset:  # (the teacher cache's unlabelled images live where they were found)
            dataset.data_root = str(data_root)
    cfg.model.data_preprocessor.size = (crop, crop)
    loader = cfg.train_dataloader
    loader.batch_size = batch_size
    loader.num_workers = 2
    loader.persistent_workers = True
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    cfg.load_from, cfg.resume = None, False
    try:
        training_class_weights(cfg)
    except DataError as e:
        raise BenchmarkError(str(e)) from e
    return cfg


# -- data ----------------------------------------------------------------------------------------
def prepare(src, out, *, crop, color_table, ratios, augment):
    """Prepare ``src`` into ``out`` with vnseg's tool unless ``out`` already holds that result."""
    from vnseg.core.errors import DataError
    from vnseg.data.class_weights import write_class_weights
    from vnseg.data.prepare import PatchOptions, PrepareError, SceneOptions, SplitOptions, prepare_dataset
    src, out = Path(src).resolve(), Path(out)
    summary_path = out / 'summary.json'
    wanted = dict(patch_size=crop, ratios=list(ratios), seed=SPLIT_SEED, num_augment=1 if augment else 0)
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        params = summary.get('params', {})
        if summary.get('src') == str(src) and all(params.get(k) == v for k, v in wanted.items()) \
                and (out / 'scenes' / 'train.txt').is_file():
            write_class_weights(out, summary)  # (data prepared before prepare_dataset wrote them)
            return summary
    t0 = time.perf_counter()
    try:
        summary = prepare_dataset(src, out, PatchOptions(patch_size=crop, num_augment=1 if augment else 0),
                                  SplitOptions(split_mode='scene', ratios=ratios, seed=SPLIT_SEED),
                                  SceneOptions(color_table=color_table), progress=False, chart=augment)
    except (PrepareError, DataError) as e:
        raise BenchmarkError(str(e)) from e
    if summary['failures']:
        raise BenchmarkError(f"{src}: {len(summary['failures'])} scene(s) failed to prepare, first: "
                             f"{summary['failures'][0]['error']}")
    print(f'prepared {src} -> {out} ({summary["num_scenes"]} scenes, {time.perf_counter() - t0:.0f} s)', flush=True)
    return summary


def scene_list(root, split):
    """[(image path, mask path)] of the whole scenes of ``split`` in a prepared dataset."""
    ids = [s for s in (Path(root) / 'scenes' / f'{split}.txt').read_text().split() if s]
    return [(Path(root) / 'scenes' / 'img' / f'{s}.png', Path(root) / 'scenes' / 'ann' / f'{s}.png') for s in ids]


def prepare_data(args, work):
    """Prepare the train/val (and test) scenes under ``work/data``; the benchmark's data dict.

    Without ``--val-src`` the ``--train-src`` scenes are split 80/20 by scene into train/val
    (``data/train``); with it, every ``--train-src`` scene trains (``data/train_all``) and the
    ``--val-src`` scenes, kept whole, validate (``data/val``) -- e.g. a held-out tile, so that
    choices made on validation face the same shift across tiles as the test scenes.
    Keys: ``summary`` (train summary.json), ``train_root``, ``val_scenes``, ``test_scenes``
    (unless ``--no-test``), ``train_fingerprint`` (train data only), ``fingerprint`` (all data),
    ``teachers`` (``[(run dir, checkpoint)]``) and ``teacher``/``teacher_checkpoint`` (the first one),
    with ``--teacher``.
    """
    split_ratios = (1.0, 0.0, 0.0) if args.val_src else TRAIN_RATIOS
    train_root = work / 'data' / ('train_all' if args.val_src else 'train')
    summary = prepare(args.train_src, train_root, crop=args.crop, color_table=args.color_table,
                      ratios=split_ratios, augment=True)
    val_root = train_root
    if args.val_src:
        val_root = work / 'data' / 'val'
        prepare(args.val_src, val_root, crop=args.crop, color_table=args.color_table,
                ratios=(0.0, 1.0, 0.0), augment=False)
    data = dict(summary=summary, train_root=train_root.resolve(), val_root=val_root.resolve(),
                val_scenes=scene_list(val_root, 'val'))
    fp = [(train_root / 'summary.json').read_text()]
    data['train_fingerprint'] = hashlib.sha1(fp[0].encode()).hexdigest()
    if args.val_src:
        fp.append((val_root / 'summary.json').read_text())
    if not args.no_test:
        test_root = work / 'data' / 'test'
        prepare(args.test_src, test_root, crop=args.crop, color_table=args.color_table,
                ratios=(0.0, 0.0, 1.0), augment=False)
        data['test_scenes'] = scene_list(test_root, 'test')
        fp.append((test_root / 'summary.json').read_text())
    if not data['val_scenes']:
        raise BenchmarkError(f'{args.val_src or args.train_src}: too few scenes for a validation split')
    if args.teacher:
        data['teachers'] = [finished_run(d) for d in args.teacher]
        data['teacher'], data['teacher_checkpoint'] = data['teachers'][0]
    data['fingerprint'] = hashlib.sha1(''.join(fp).encode()).hexdigest()
    return data


def finished_run(run_dir):
    """``(run dir, checkpoint)`` of a finished run folder (``config.py`` + a checkpoint), or BenchmarkError."""
    from vnseg.models.segmentors.distill_segmentor import resolve_teacher_checkpoint
    run = Path(run_dir).resolve()
    checkpoint = resolve_teacher_checkpoint(str(run)) if run.is_dir() else None
    if not (run / 'config.py').is_file() or checkpoint is None:
        raise BenchmarkError(f'{run_dir}: not a finished run folder (config.py + checkpoint)')
    return run, Path(checkpoint)


def train_recommended_teacher(args, data):
    """``kd_cached`` without ``--teacher``: the ``vnseg`` recipe at the benchmark's budget for each seed of
    ``TEACHER_SEEDS`` (trained, or reused when finished: they are the ``vnseg`` rows of those seeds);
    returns their result dicts and sets ``data['teachers']``."""
    members = [argparse.Namespace(**dict(vars(args), seed=seed)) for seed in TEACHER_SEEDS]
    rows = [run_recipe('vnseg', member, data) for member in members]
    data['teachers'] = [finished_run(run_dir_of('vnseg', member)) for member in members]
    data['teacher'], data['teacher_checkpoint'] = data['teachers'][0]
    return rows


def unlabelled_folders(args):
    """``--unlabelled-src`` as the list of absolute folders the teacher cache takes (empty without it)."""
    return [str(Path(args.unlabelled_src).resolve())] if args.unlabelled_src else []


def teacher_key(args, data):
    """The digest naming the teacher's cache: its checkpoints, the train data, the unlabelled folder."""
    unlabelled = unlabelled_folders(args)
    checkpoints = [str(c) for _, c in data['teachers']]
    return hashlib.sha1(json.dumps([checkpoints if len(checkpoints) > 1 else checkpoints[0],
                                    data['train_fingerprint'], unlabelled]).encode()).hexdigest()[:12]


def make_teacher_cache(args, data, work):
    """The teacher's soft labels (``data['teachers']``, an ensemble when several) of the train scenes and of
    ``--unlabelled-src`` (recipe ``kd_cached``): ``work/teacher_cache/<key>``, made by ``vnseg teacher-labels``'
    code, or continued / reused when it exists (``<key>``: :func:`teacher_key`). The minutes it took are
    kept beside it (``<key>.cost.json``) for the teacher's cost line."""
    from vnseg.apis.teacher_labels import cache_teacher_labels
    from vnseg.core.errors import DataError
    from vnseg.inference.sliding import WindowOptions
    unlabelled = unlabelled_folders(args)
    out = work / 'teacher_cache' / teacher_key(args, data)
    print(f'[kd_cached] teacher soft labels -> {out}', flush=True)
    failed = []
    t0 = time.perf_counter()
    try:
        report = cache_teacher_labels(
            [(run / 'config.py', checkpoint) for run, checkpoint in data['teachers']], data['train_root'],
            unlabelled, out, WindowOptions(tile=TILE, overlap=OVERLAP, batch_size=4, tta_flip=True),
            device='cpu' if args.device == 'cpu' else 'cuda',
            progress=False, on_error=lambda image, err: failed.append(f'{image}: {err}'))
    except DataError as e:
        raise BenchmarkError(str(e)) from e
    if failed:
        raise BenchmarkError(f'{len(failed)} image(s) could not be read for the teacher cache: {failed[0]}')
    cost = out.parent / f'{out.name}.cost.json'
    if report.written:  # seconds of the images made now, added to those of an interrupted run
        spent = json.loads(cost.read_text())['seconds'] if cost.is_file() else 0.0
        write_result(cost, dict(seconds=round(spent + time.perf_counter() - t0, 1)))
    print(f'[kd_cached] {len(report.written)} images written, {len(report.skipped)} reused', flush=True)
    return out


def score_teacher(args, data, work, member_rows=(), tile_models=None):
    """The teacher's own row: the (ensemble) teacher scored on whole scenes exactly as its cache is made
    (mean of the members' softmax probabilities, quantised to 8 bits, argmax; flip TTA), val with and
    without flip, test; reused from ``work/teacher_cache/score_<key>.json`` (the teachers and the data).
    ``train_seconds``: the members' training (``member_rows``, or their ``trained.json``). ``tile_models``:
    the members already built as tile models (tests)."""
    import numpy as np
    from vnseg.apis.scene_model import build_tile_model
    from vnseg.apis.teacher_labels import strip_probabilities
    from vnseg.core.classes import NUM_CLASSES
    from vnseg.geo.raster_io import SourceImage
    from vnseg.inference.sliding import TiledSegmenter, WindowOptions
    from vnseg.reports.confusion import confusion_from_arrays, read_mask
    # the score depends on the teachers and the val/test scenes, not on the unlabelled folder of the cache
    key = hashlib.sha1(json.dumps([[str(c) for _, c in data['teachers']], data['fingerprint']]).encode())
    path = work / 'teacher_cache' / f'score_{key.hexdigest()[:12]}.json'
    splits = ['val'] + ([] if args.no_test else ['test'])
    names = ' + '.join(f'{run.name}' for run, _ in data['teachers'])
    label = f"teacher [{'ensemble: ' if len(data['teachers']) > 1 else ''}{names}]"
    if path.is_file():
        old = json.loads(path.read_text())
        if all(s in old['scores'] for s in splits):
            return old
    device = 'cpu' if args.device == 'cpu' else 'cuda'
    models = tile_models or [build_tile_model(str(run / 'config.py'), str(ckpt), device=device, tile=TILE)
                             for run, ckpt in data['teachers']]

    def confusion(scenes, flip):
        windows = WindowOptions(tile=TILE, overlap=OVERLAP, batch_size=4, tta_flip=flip)
        segmenters = [TiledSegmenter.of(m, windows) for m in models]
        conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
        for image, mask in scenes:
            gt = read_mask(mask)
            with SourceImage(image) as source:
                for row0, q in strip_probabilities(segmenters, source):
                    conf += confusion_from_arrays(q.argmax(0), gt[row0:row0 + q.shape[1]])
        return conf

    scores = {}
    for split in splits:
        t0 = time.perf_counter()
        iou, miou = iou_table(confusion(data[f'{split}_scenes'], True))
        scores[split] = dict(mIoU=round(miou, 2), IoU=[round(float(v), 2) for v in iou],
                             seconds=round(time.perf_counter() - t0, 1))
        print(f'[{label}] {split}: mIoU {miou:.2f}', flush=True)
    members = [r['train_seconds'] for r in member_rows] or [
        json.loads((run / 'trained.json').read_text())['train_seconds'] if (run / 'trained.json').is_file()
        else float('nan') for run, _ in data['teachers']]
    result = dict(recipe=label, seed='-', iters=args.iters, train_seconds=round(float(sum(members)), 1),
                  tta_flip=True, scores=scores, extra={'no TTA': _val_entry(confusion(data['val_scenes'], False))})
    write_result(path, result)
    return result


def teacher_cost_line(teacher, cache):
    """``TEACHER <label> val_mIoU=.. test_mIoU=.. train_min=.. cache_min=..`` (the teacher's cost, apart from
    the student's)."""
    cost = cache.parent / f'{cache.name}.cost.json'
    cache_min = json.loads(cost.read_text())['seconds'] / 60 if cost.is_file() else float('nan')
    test = teacher['scores'].get('test', {}).get('mIoU', float('nan'))
    return (f"TEACHER {teacher['recipe']} val_mIoU={teacher['scores']['val']['mIoU']:.2f} test_mIoU={test:.2f} "
            f"train_min={teacher['train_seconds'] / 60:.1f} cache_min={cache_min:.1f}")


def kd_cached_line(by_name, split):
    """``RESULT_KD student_mIoU=.. vnseg_mIoU=.. delta=..`` of ``split`` (the student: ``kd_cached`` or
    ``kd_cached_unl``), or None without a student and the vnseg row."""
    student = by_name.get('kd_cached_unl') or by_name.get('kd_cached')
    if student is None or 'vnseg' not in by_name:
        return None
    x, y = student['scores'][split]['mIoU'], by_name['vnseg']['scores'][split]['mIoU']
    return f'RESULT_KD student_mIoU={x:.2f} vnseg_mIoU={y:.2f} delta={x - y:.2f}'


# -- scoring -------------------------------------------------------------------------------------
def iou_table(conf):
    """Per-class IoU (%) and mIoU (%) from a (C, C) confusion matrix (rows = ground truth).

    A class absent from both ground truth and prediction has IoU NaN and is left out of the mean.
    IoU as in mmseg's IoUMetric (:func:`vnseg.reports.confusion.metrics_from_confusion`).
    """
    import numpy as np

    from vnseg.reports.confusion import metrics_from_confusion
    iou = metrics_from_confusion(conf)['IoU'] * 100
    return iou, float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan')


def score_scenes(model, scenes, out_dir, tta_flip, device):
    """Segment each whole scene with ``infer_large_image``; summed (C, C) confusion matrix."""
    import numpy as np
    import rasterio
    from vnseg.apis import OutputOptions, WindowOptions, infer_large_image
    from vnseg.core.classes import NUM_CLASSES
    from vnseg.reports.confusion import confusion_from_arrays, read_mask
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    windows = WindowOptions(tile=TILE, overlap=OVERLAP, batch_size=4, tta_flip=tta_flip)
    for image, mask in scenes:
        res = infer_large_image(model, None, image, out_dir, windows,
                                outputs=OutputOptions(polygons=False, preview=False), device=device, progress=False)
        with rasterio.open(res.class_map) as ds:
            pred = ds.read(1)
        conf += confusion_from_arrays(pred, read_mask(mask))
    return conf


def load_raw_weights(model, checkpoint):
    """Replace the EMA weights of ``model`` with the raw (non-averaged) ones the checkpoint keeps."""
    import torch
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
    raw = {k[len('module.'):]: v for k, v in ckpt['ema_state_dict'].items() if k.startswith('module.')}
    model.load_state_dict(raw, strict=True)
    return model


# -- one recipe ----------------------------------------------------------------------------------
def train_on_val_scenes_too(cfg, data):
    """The final model's data: the benchmark's val scenes added to its train scenes (``--final``), with
    ``vnseg train --all-scenes``'s own function (the benchmark's configs validate nothing)."""
    from vnseg.commands.runner import train_on_all_scenes
    cfg.val_dataloader = dict(dataset=dict(data_root=str(data['val_root']), ann_file='scenes/val.txt'))
    train_on_all_scenes(cfg)
    cfg.val_dataloader = None


def row_name(name, args):
    """The row (and run folder) name of recipe ``name``: ``kd_cached_unl`` for ``kd_cached`` with
    ``--unlabelled-src``, else ``name``."""
    return name + ('_unl' if name == 'kd_cached' and getattr(args, 'unlabelled_src', None) else '')


def run_dir_of(name, args, final=False):
    """``WORK/<row name>[_final]_s<seed>_i<iters>_b<batch>_c<crop>`` (:func:`row_name`)."""
    return Path(args.work_dir) / (f"{row_name(name, args)}{'_final' if final else ''}"
                                  f'_s{args.seed}_i{args.iters}_b{args.batch_size}_c{args.crop}')


def run_recipe(name, args, data, final=False):
    """Train (or reuse) and score one recipe; returns its result dict.

    ``final``: trained on the train AND val scenes (``--final``), scored on the test scenes only.
    """
    import torch
    from mmengine.config import Config
    import vnseg.mmseg_ext  # noqa: F401  (registrations: the config's transforms and losses)
    from vnseg.apis import load_model

    config_path, changes = parse_recipe(name)
    run_dir = run_dir_of(name, args, final)
    label = f'{row_name(name, args)} [final]' if final else row_name(name, args)
    cfg = Config.fromfile(str(config_path))
    for change in changes:
        change(cfg, data)
    inference = dict(cfg.get('whole_scene_inference') or {})
    tta_flip = bool(inference.get('tta_flip', False))
    fit_budget(cfg, iters=args.iters, batch_size=args.batch_size, crop=args.crop, seed=args.seed,
               data_root=data['train_root'], work_dir=run_dir)
    if final:
        train_on_val_scenes_too(cfg, data)
    text = cfg.pretty_text
    def digest(data_key):
        return hashlib.sha1((text + data[data_key] + f'tta={tta_flip}').encode()).hexdigest()[:16]
    # the trained model depends on the config and the train data only; its scores also on the test data
    train_fingerprint, fingerprint = digest('train_fingerprint'), digest('fingerprint')
    result_path = run_dir / 'result.json'
    splits = ['test'] if final else ['val'] + ([] if args.no_test else ['test'])
    if result_path.is_file():
        old = json.loads(result_path.read_text())
        if old.get('fingerprint') == fingerprint and all(s in old['scores'] for s in splits):
            print(f'[{label}] reusing {result_path}', flush=True)
            return old
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / f'iter_{args.iters}.pth'
    stamp = run_dir / 'trained.json'
    trained = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if trained.get('fingerprint') != train_fingerprint or not checkpoint.is_file():
        cfg_file = run_dir / 'config.py'
        cfg.dump(str(cfg_file))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
        if args.device == 'cpu':
            env['CUDA_VISIBLE_DEVICES'] = ''
        log = run_dir / 'train.log'
        print(f'[{label}] training {args.iters} iterations x {args.batch_size} x {args.crop}^2, seed {args.seed} '
              f'(log: {log})', flush=True)
        t0 = time.perf_counter()
        with open(log, 'w') as f:
            proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), str(cfg_file),
                                   '--work-dir', str(run_dir), '--no-pretrained'],
                                  stdout=f, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        seconds = time.perf_counter() - t0
        if proc.returncode != 0 or not checkpoint.is_file():
            tail = log.read_text().strip().splitlines()[-5:]
            raise BenchmarkError(f'{log}: training of {name!r} failed (exit {proc.returncode}): ' + ' | '.join(tail))
        trained = dict(fingerprint=train_fingerprint, train_seconds=round(seconds, 1))
        write_result(stamp, trained)
    device = 'cpu' if args.device == 'cpu' else 'cuda'
    model = load_model(str(run_dir / 'config.py'), str(checkpoint), device=device)
    has_ema = any(h['type'] == 'EMAHook' for h in cfg.get('custom_hooks') or [])
    scores, extra = {}, {}
    for split in splits:
        scenes = data['val_scenes'] if split == 'val' else data['test_scenes']
        t0 = time.perf_counter()
        conf = score_scenes(model, scenes, run_dir / f'pred_{split}', tta_flip, device)
        iou, miou = iou_table(conf)
        scores[split] = dict(mIoU=round(miou, 2), IoU=[round(float(v), 2) for v in iou],
                             confusion=conf.tolist(), seconds=round(time.perf_counter() - t0, 1))
        print(f'[{label}] {split}: mIoU {miou:.2f}', flush=True)
    # free ablations on the validation scenes: the same run with the other TTA / without the EMA
    if not final:  # (the final model trained on the val scenes)
        conf = score_scenes(model, data['val_scenes'], run_dir / f'pred_val_tta{int(not tta_flip)}', not tta_flip,
                            device)
        extra['no TTA' if tta_flip else 'flip TTA'] = _val_entry(conf)
        if has_ema and not args.skip_raw:
            raw = load_raw_weights(model, checkpoint)
            conf = score_scenes(raw, data['val_scenes'], run_dir / 'pred_val_raw', tta_flip, device)
            extra['raw weights'] = _val_entry(conf)
    del model
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    result = dict(recipe=label, seed=args.seed, iters=args.iters, batch_size=args.batch_size, crop=args.crop,
                  config=str(config_path.relative_to(REPO)), fingerprint=fingerprint, tta_flip=tta_flip,
                  train_seconds=trained['train_seconds'], scores=scores, extra=extra)
    write_result(result_path, result)
    return result


def _val_entry(conf):
    iou, miou = iou_table(conf)
    return dict(val=dict(mIoU=round(miou, 2), IoU=[round(float(v), 2) for v in iou]))


# -- report --------------------------------------------------------------------------------------
def _fmt(v):
    return '   n/a' if v is None or v != v else f'{v:6.2f}'


def print_table(results, splits, classes):
    width = max([34] + [len(r['recipe']) + 12 for r in results])  # (+ ' [no TTA]' etc.)
    head = (f"{'recipe':<{width}} {'seed':>4} {'mIoU':>6} " + ' '.join(f'{c[:8]:>8}' for c in classes)
            + f" {'train min':>9}")
    for split in splits:
        print(f'\n{split} scenes (whole-scene inference, tile {TILE}, overlap {OVERLAP}):')
        print(head)
        for r in results:
            rows = [(r['recipe'], r['scores'].get(split), r['train_seconds'])]
            if split == 'val':
                rows += [(f"{r['recipe']} [{k}]", v['val'], None) for k, v in r['extra'].items()]
            for label, score, secs in rows:
                if score is None:
                    continue
                mins = f'{secs / 60:9.1f}' if secs is not None else f"{'(same)':>9}"
                print(f"{label:<{width}} {r['seed']:>4} {_fmt(score['mIoU'])} "
                      + ' '.join(f'{_fmt(v):>8}' for v in score['IoU']) + f' {mins}')


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--train-src', required=True, help='source folder of the training scenes (split train/val by scene)')
    p.add_argument('--val-src', default=None,
                   help='source folder of validation scenes (e.g. a held-out tile); default: 20%% of --train-src')
    p.add_argument('--test-src', help='source folder of the test scenes (each used whole)')
    p.add_argument('--color-table', default=None, help="colour masks: preset ('vnseg', 'dubai') or JSON")
    p.add_argument('--iters', type=int, default=750, help='training iterations (default 750)')
    p.add_argument('--batch-size', type=int, default=8, help='crops per iteration (default 8)')
    p.add_argument('--crop', type=int, default=256, help='crop side, pixels (default 256)')
    p.add_argument('--seed', type=int, default=0, help='training seed (the data split is fixed)')
    p.add_argument('--recipes', nargs='+', default=['stock', 'vnseg'], metavar='RECIPE',
                   help='stock, stock-plain, stock-plain-lr2e-4, stock-plain-lr1e-3, stock-all (every reference '
                        'row), vnseg, study, or vnseg-<change>... (default: stock vnseg)')
    p.add_argument('--final', action='store_true',
                   help='also train vnseg on the train AND val scenes (as `vnseg train --all-scenes`) and report '
                        'its test mIoU beside the one trained on the train scenes')
    p.add_argument('--work-dir', default='work_dirs/recipe_quality')
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--no-test', action='store_true',
                   help='screening: score the validation scenes only (choose recipes without the test scenes)')
    p.add_argument('--teacher', nargs='+', default=None, metavar='RUN_DIR',
                   help='for the "kd" change (one) and the "kd_cached" recipe (one or several = an ensemble): '
                        'finished run folders of this benchmark (config.py + checkpoint); kd_cached without it '
                        'trains the recommended teacher (vnseg at seeds %s, an ensemble)' % (TEACHER_SEEDS,))
    p.add_argument('--unlabelled-src', default=None, metavar='DIR',
                   help='for "kd_cached": a folder of unlabelled images the student also learns from (the '
                        "teacher's soft labels only)")
    p.add_argument('--skip-raw', action='store_true', help='do not score EMA runs without their EMA')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.recipes = expand_recipes(args.recipes)
    try:
        if not args.no_test and not args.test_src:
            raise BenchmarkError('--test-src is required (or --no-test to score the validation scenes only)')
        if min(args.iters, args.batch_size, args.crop) <= 0:
            raise BenchmarkError('--iters, --batch-size and --crop must be positive')
        for name in args.recipes:
            parse_recipe(name)
        if args.final and (args.no_test or 'vnseg' not in args.recipes):
            raise BenchmarkError('--final reports a test score beside the vnseg row: needs --recipes vnseg and '
                                 'the test scenes')
        if args.device == 'cuda':
            import torch
            if not torch.cuda.is_available():
                raise BenchmarkError('--device cuda: no CUDA device is available')
        if args.unlabelled_src and 'kd_cached' not in args.recipes:
            raise BenchmarkError('--unlabelled-src is for the kd_cached recipe (--recipes ... kd_cached)')
        work = Path(args.work_dir)
        data = prepare_data(args, work)
        teacher = None
        if 'kd_cached' in args.recipes:
            members = train_recommended_teacher(args, data) if not args.teacher else []
            data['teacher_cache'] = make_teacher_cache(args, data, work)
            teacher = score_teacher(args, data, work, members)
        results = [teacher] if teacher is not None else []
        for name in args.recipes:
            results.append(run_recipe(name, args, data))
        if args.final:
            results.append(run_recipe('vnseg', args, data, final=True))
    except BenchmarkError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    from vnseg.core.classes import CLASSES
    splits = ['val'] + ([] if args.no_test else ['test'])
    write_result(work / 'results.json', results)
    counts = f"{len(data['val_scenes'])} val scenes" + ('' if args.no_test else f", {len(data['test_scenes'])} test")
    print(f'\nSegFormer-B0 from scratch, {args.iters} iterations x {args.batch_size} x {args.crop}^2, '
          f'seed {args.seed}; {counts}')
    print_table(results, splits, CLASSES)
    by_name = {r['recipe']: r for r in results}
    split = 'val' if args.no_test else 'test'
    if 'vnseg-kd' in by_name and 'vnseg' in by_name:
        x, y = by_name['vnseg-kd']['scores'][split]['mIoU'], by_name['vnseg']['scores'][split]['mIoU']
        print(f'KD ({split}) student_kd_mIoU={x:.2f} student_mIoU={y:.2f} delta={x - y:.2f}')
    if 'vnseg [final]' in by_name:
        x, y = by_name['vnseg [final]']['scores']['test']['mIoU'], by_name['vnseg']['scores']['test']['mIoU']
        print(f'FINAL vnseg_all_scenes_mIoU={x:.2f} vnseg_mIoU={y:.2f} delta={x - y:.2f}')
    reference = best_reference(results)  # chosen on validation, never on the test scenes
    if reference is not None and 'vnseg' in by_name:
        x, y = by_name['vnseg']['scores'][split]['mIoU'], reference['scores'][split]['mIoU']
        tag = 'VAL' if args.no_test else 'RESULT'
        print(f"{tag} vnseg_mIoU={x:.2f} stock_mIoU={y:.2f} delta={x - y:.2f} reference={reference['recipe']}")
    if teacher is not None:
        print(teacher_cost_line(teacher, data['teacher_cache']))
    line = kd_cached_line(by_name, split)
    if line is not None:  # the last line
        print(line if split == 'test' else line.replace('RESULT_KD', 'VAL_KD'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
