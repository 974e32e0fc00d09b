"""Distillation from cached teacher soft labels: the soft labels go through the
recipe's augmentation aligned with image and mask, the segmentor's KD term against them, a few
iterations of training through mmengine's Runner, and the two configs.

The teacher is ``teacher_cache_data.ColourTeacher`` over scenes whose colours are their labels, so
its cached probabilities are one-hot of the mask: wherever the soft labels are aligned with the
mask, their argmax IS the mask.
"""
import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, MODELS, TRANSFORMS
from mmseg.structures import SegDataSample

import vnseg.mmseg_ext  # noqa: F401  (registrations)
from conftest import REPO
from teacher_cache_data import ColourTeacher, prepared_colour_dataset, unlabelled_folder
from vnseg.apis.teacher_labels import TEACHER_WINDOWS, cache_teacher_labels
from vnseg.distill.teacher_cache import CacheMismatch, use_teacher_cache
from vnseg.openmmlab.pretrained import disable_pretrained

WINDOWS = replace(TEACHER_WINDOWS, tile=48, overlap=16)

pytestmark = pytest.mark.usefixtures('one_torch_thread')

KD_CONFIGS = ['configs/segformer_b0_kd_cached_recipe_vn.py', 'configs/pspnet_r18_kd_cached_recipe_vn.py']
CROP = 40


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    """A prepared colour dataset, an unlabelled folder, and the colour teacher's cache of both."""
    tmp = tmp_path_factory.mktemp('kd_cached')
    data = prepared_colour_dataset(tmp, n=4)
    flights = unlabelled_folder(tmp / 'flights', n=2)
    (tmp / 'teacher.py').write_text('# the colour teacher\n')
    (tmp / 'teacher.pth').write_bytes(b'colour teacher weights')
    report = cache_teacher_labels([(tmp / 'teacher.py', tmp / 'teacher.pth')], data, [flights], tmp / 'cache',
                                  WINDOWS, tile_models=[ColourTeacher()], progress=False)
    assert len(report.written) == 4 and not report.failed  # 2 train scenes + 2 unlabelled images
    return dict(data=data, flights=flights, cache=tmp / 'cache')


def kd_config(cached, path=KD_CONFIGS[0], ratio_range=None, crop=CROP):
    cfg = Config.fromfile(str(REPO / path))
    # the loader in kd_pipeline and in both datasets' copies of it, and the unlabelled dataset
    assert use_teacher_cache(cfg, cached["cache"]) == 4
    labelled, unlabelled = cfg.train_dataloader.dataset.datasets
    labelled.data_root = str(cached['data'])
    for dataset in (labelled, unlabelled):
        for t in dataset.pipeline:
            if 'crop_size' in t:
                t['crop_size'] = (crop, crop)
            if ratio_range is not None and t['type'] == 'RandomRescale':
                t['ratio_range'] = ratio_range
    return cfg


def _samples(cfg, draws):
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    for _ in range(draws):
        for i in range(len(dataset)):
            yield dataset[i]['data_samples']


def _interior(gt):
    """Pixels whose 3 x 3 neighbourhood inside the crop holds one label (class edges, and the crop's
    border, where the edge may lie just outside, resample differently)."""
    g = np.pad(gt.astype(np.int16), 1, constant_values=-1)
    same = np.ones_like(gt, bool)
    for dy in range(3):
        for dx in range(3):
            same &= g[dy:dy + gt.shape[0], dx:dx + gt.shape[1]] == gt
    return same


def test_soft_labels_follow_crop_and_every_flip_exactly(cached):
    """At the scenes' own scale, the argmax of the soft labels equals the mask at EVERY pixel after
    RandomCrop and each flip (horizontal, vertical, diagonal)."""
    directions, labelled_samples = set(), 0
    for sample in _samples(kd_config(cached, ratio_range=(1.0, 1.0)), draws=12):
        soft, gt = sample.gt_soft_seg.data, sample.gt_sem_seg.data[0]
        assert soft.dtype == torch.uint8 and soft.shape == (5, CROP, CROP) == (5,) + tuple(gt.shape)
        directions.add(sample.flip_direction)
        if (gt != 255).any():
            labelled_samples += 1
            assert torch.equal(soft.argmax(0), gt.long())   # one-hot teacher: argmax = mask, everywhere
            assert set(soft.unique().tolist()) <= {0, 255}
        else:  # an unlabelled flight: all-ignore mask, the teacher everywhere
            assert (soft.sum(0) >= 254).all()
    assert directions == {None, 'horizontal', 'vertical', 'diagonal'}
    assert labelled_samples == 24


def test_soft_labels_follow_the_recipes_rescale_bilinearly(cached):
    """With the recipe's RandomRescale (0.5-2x) the soft labels are resized bilinearly (blended values at
    class edges, still summing to ~255) and stay aligned: argmax = mask on every interior pixel."""
    blended = 0
    for sample in _samples(kd_config(cached), draws=6):
        soft, gt = sample.gt_soft_seg.data, sample.gt_sem_seg.data[0].numpy()
        labelled = gt != 255
        if not labelled.any():
            continue
        inner = _interior(gt) & labelled
        assert inner.sum() > 0.5 * labelled.sum()
        assert np.array_equal(soft.argmax(0).numpy()[inner], gt[inner])
        assert (soft.int().sum(0) - 255).abs().max() <= 3      # rounding of 5 bilinear bands
        blended += int(((soft > 0) & (soft < 255)).any(0).sum())
    assert blended > 0  # nearest-neighbour resizing would leave only 0 and 255


def test_an_image_the_cache_does_not_hold_is_refused(cached, tmp_path):
    from PIL import Image
    image = np.asarray(Image.open(cached['flights'] / 'flight_0.png')).copy()
    image[0, 0] = 0  # one pixel edited: other data
    Image.fromarray(image).save(tmp_path / 'flight_0.png')
    init_default_scope('mmseg')
    load = TRANSFORMS.build(dict(type='LoadTeacherProbs', cache_dir=str(cached['cache'])))
    ok = load(dict(img_path=str(cached['flights'] / 'flight_0.png'), img=image))
    assert ok['gt_soft_seg'].shape == image.shape[:2] + (5,)
    with pytest.raises(CacheMismatch, match='flight_0.png: the teacher-label cache .* holds no soft labels'):
        load(dict(img_path=str(tmp_path / 'flight_0.png'), img=image))



def test_a_cache_without_unlabelled_images_trains_the_labelled_scenes_only(cached, tmp_path):
    """A cache made without ``--unlabelled``: the config's unlabelled dataset is empty (not an error), and the
    concatenated train set is the labelled scenes, each with its soft labels."""
    (tmp_path / 't.py').write_text('# the colour teacher\n')
    (tmp_path / 't.pth').write_bytes(b'colour teacher weights')
    report = cache_teacher_labels([(tmp_path / 't.py', tmp_path / 't.pth')], cached['data'], [], tmp_path / 'cache',
                                  WINDOWS, tile_models=[ColourTeacher()], progress=False)
    assert len(report.written) == 2
    cfg = kd_config(dict(cached, cache=tmp_path / 'cache'))
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    labelled, unlabelled = dataset.datasets
    assert len(unlabelled) == 0 and len(dataset) == len(labelled) == 2
    assert dataset[1]['data_samples'].gt_soft_seg.data.shape[0] == 5

# -- the KD term -----------------------------------------------------------------------------------
def _segmentor(**kwargs):
    cfg = Config.fromfile(str(REPO / 'configs/segformer_tiny_demo_vn.py')).model
    cfg.update(type='CachedDistillSegmentor', **kwargs)
    init_default_scope('mmseg')
    return MODELS.build(cfg)


def _sample(gt, soft):
    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt, dtype=torch.int64)[None])
    s.set_data(dict(gt_soft_seg=PixelData(data=torch.as_tensor(soft, dtype=torch.uint8))))
    return s


def test_teacher_targets_by_hand():
    """4 x 4 input -> 2 x 2 logits. Soft labels 4 x 2 (zero-padded on the right to the batch's 4 x 4):
    block (0, 0) = 2 x 2 pixels of p = (0.5, 0.3, 0.2, 0, 0) x 255 unlabelled; block (1, 0) labelled,
    p = (0, 0.8, 0.2, 0, 0); blocks (., 1) are padding: no teacher."""
    model = _segmentor(min_confidence=0.6)
    soft = np.zeros((5, 4, 2), np.uint8)
    soft[:, :2] = np.array([128, 76, 51, 0, 0])[:, None, None]   # sums to 255
    soft[:, 2:] = np.array([0, 204, 51, 0, 0])[:, None, None]
    gt = np.full((4, 4), 255)
    gt[2:, :2] = 1
    log_p, label = model.teacher_targets([_sample(gt, soft)], (4, 4), (2, 2))
    assert log_p.shape == (1, 5, 2, 2) and label.shape == (1, 1, 2, 2)
    # unlabelled and max p = 128/255 < 0.6: out; labelled: in, whatever its confidence; padding: out
    assert label[0, 0].tolist() == [[255, 255], [0, 255]]
    assert torch.allclose(log_p[0, :, 1, 0].exp(), torch.tensor([0.5 / 255, 204 / 255, 51 / 255, 0.5 / 255, 0.5 / 255]))
    _, label = _segmentor(min_confidence=0.0).teacher_targets([_sample(gt, soft)], (4, 4), (2, 2))
    assert label[0, 0].tolist() == [[0, 255], [0, 255]]


def test_an_all_ignored_crop_gives_finite_losses_and_a_kd_gradient():
    """An unlabelled crop (mask all 255): cross-entropy and ClassDiceLoss are 0 (no NaN), the KD term
    alone drives the gradient."""
    torch.manual_seed(0)
    cfg = Config.fromfile(str(REPO / 'configs/segformer_b0_kd_cached_recipe_vn.py'))
    model = _segmentor(decode_head=dict(cfg.model.decode_head, in_channels=[16, 32, 80, 128], channels=64,
                                        norm_cfg=dict(type='BN', requires_grad=True)))
    soft = np.zeros((5, 32, 32), np.uint8)
    soft[3] = 255  # the teacher says: tree
    inputs = torch.randn(2, 3, 32, 32)
    losses = model.loss(inputs, [_sample(np.full((32, 32), 255), soft) for _ in range(2)])
    assert losses['decode.loss_ce'].item() == 0 and losses['decode.loss_class_dice'].item() == 0
    assert losses['loss_kd'].item() > 0
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


# -- training --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_training_from_the_cache_lowers_the_loss(cached, tmp_path):
    """30 iterations of the SegFormer KD config (a tiny MiT) through mmengine's Runner on the cache's
    2 labelled scenes and 2 unlabelled images: no teacher is built, and the KD loss falls."""
    from mmengine.runner import Runner
    torch.manual_seed(0)
    cfg = kd_config(cached, crop=48)
    disable_pretrained(cfg.model)
    cfg.model.backbone.update(embed_dims=16, num_layers=[1, 1, 1, 1], drop_path_rate=0.0)
    cfg.model.decode_head.update(in_channels=[16, 32, 80, 128], channels=64)
    cfg.model.data_preprocessor.size = (48, 48)
    iters = 30
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = 3e-3
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h.type != 'EMAHook']
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1, log_metric_by_epoch=False)
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    assert type(runner.model).__name__ == 'CachedDistillSegmentor' and not hasattr(runner.model, 'teacher')
    kd = []
    runner.register_hook(_recorder(kd), priority='LOWEST')
    runner.train()
    assert len(kd) == iters and all(np.isfinite(kd))
    assert np.mean(kd[-5:]) < 0.7 * np.mean(kd[:5]), kd
    # the student's checkpoint loads strictly into the plain recipe config's model
    from vnseg.openmmlab.checkpoints import load_weights, read_checkpoint
    plain = Config.fromfile(str(REPO / 'configs/segformer_b0_recipe_vn.py')).model
    disable_pretrained(plain)
    plain.backbone.update(cfg.model.backbone)
    plain.decode_head.update(in_channels=[16, 32, 80, 128], channels=64)
    load_weights(MODELS.build(plain), read_checkpoint(tmp_path / f'iter_{iters}.pth'))


def _recorder(out):
    """An mmengine hook appending ``loss_kd`` of every training iteration to ``out``."""
    from mmengine.hooks import Hook

    class Record(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            out.append(float(outputs['loss_kd']))
    return Record()


# -- configs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('path', KD_CONFIGS)
def test_kd_cached_configs_are_the_recipe_plus_the_cache(path):
    text = (REPO / path).read_text()
    assert len(text.splitlines()) < 30 and 'vnseg teacher-labels' in text
    cfg = Config.fromfile(str(REPO / path))
    recipe = Config.fromfile(str(REPO / path.replace('_kd_cached_recipe_vn', '_recipe_vn')))
    assert cfg.model.type == 'CachedDistillSegmentor' and cfg.model.distill_loss.type == 'PixelKDLoss'
    assert cfg.model.decode_head == recipe.model.decode_head and cfg.model.backbone == recipe.model.backbone
    assert cfg.optim_wrapper == recipe.optim_wrapper and cfg.custom_hooks == recipe.custom_hooks
    types = [t.type for t in cfg.train_dataloader.dataset.datasets[0].pipeline]
    assert types == ['LoadImageFromFile', 'LoadAnnotationsOrIgnore', 'LoadTeacherProbs', 'RandomRescale',
                     'RandomCrop', 'RandomFlipSegFields', 'PackSegInputsWithSoftLabels']
    model_cfg = copy.deepcopy(cfg.model)
    disable_pretrained(model_cfg)
    init_default_scope('mmseg')
    model = MODELS.build(model_cfg)  # builds without any cache or teacher
    plain = copy.deepcopy(recipe.model)
    disable_pretrained(plain)
    assert set(model.state_dict()) == set(MODELS.build(plain).state_dict())
    # one loss of the full model (PSPNet's logits at 1/8, SegFormer's at 1/4 of the input): all finite
    torch.manual_seed(0)
    gt = np.full((64, 64), 255)
    gt[:32] = 2
    soft = np.zeros((5, 64, 64), np.uint8)
    soft[2] = 255
    losses = model.loss(torch.randn(2, 3, 64, 64), [_sample(gt, soft), _sample(np.full((64, 64), 255), soft)])
    assert all(torch.isfinite(v) for v in losses.values()) and losses['loss_kd'] > 0


# -- benchmarks/recipe_quality.py: the kd_cached recipe ----------------------------------------------
def _benchmark():
    import importlib.util
    spec = importlib.util.spec_from_file_location('recipe_quality', REPO / 'benchmarks' / 'recipe_quality.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_benchmark_kd_cached_makes_the_teachers_cache_and_trains_the_student(cached, tmp_path):
    """``--recipes vnseg kd_cached --teacher RUN_DIR --unlabelled-src DIR``: the teacher run's soft labels of
    the train scenes and the unlabelled images are cached (and reused), the recipe's config reads them at
    the vnseg row's budget, 2 iterations train, and RESULT_KD compares with the vnseg row."""
    import argparse
    from mmengine.runner import Runner
    bench = _benchmark()
    path, setup = bench.parse_recipe('kd_cached')
    assert path == REPO / 'configs/segformer_b0_kd_cached_recipe_vn.py' and len(setup) == 1
    with pytest.raises(bench.BenchmarkError, match='--teacher'):
        setup[0](Config.fromfile(str(path)), {})
    # a finished teacher run: config.py + checkpoint (the tiny SegFormer, random weights)
    run = tmp_path / 'teacher_run'
    run.mkdir()
    teacher_cfg = Config.fromfile(str(REPO / 'configs/segformer_tiny_demo_vn.py'))
    disable_pretrained(teacher_cfg.model)
    teacher_cfg.dump(str(run / 'config.py'))
    init_default_scope('mmseg')
    torch.manual_seed(0)
    torch.save(dict(state_dict=MODELS.build(teacher_cfg.model).state_dict(), meta={}), run / 'iter_1.pth')
    (run / 'last_checkpoint').write_text(str(run / 'iter_1.pth'))  # as mmengine leaves it
    data = dict(teachers=[bench.finished_run(run)], train_root=cached['data'], train_fingerprint='fp')
    assert data['teachers'] == [(run, run / 'iter_1.pth')]
    args = argparse.Namespace(unlabelled_src=str(cached['flights']), device='cpu')
    cache = bench.make_teacher_cache(args, data, tmp_path / 'work')
    from vnseg.distill.teacher_cache import TeacherCache
    manifest = TeacherCache.read(cache).manifest
    assert len(manifest['done']) == 4 and manifest['inference']['tta_flip'] is True
    assert manifest['teachers'][0]['checkpoint'] == str(run / 'iter_1.pth')
    assert bench.make_teacher_cache(args, data, tmp_path / 'work') == cache  # reused
    cfg = Config.fromfile(str(path))
    setup[0](cfg, dict(data, teacher_cache=cache))
    disable_pretrained(cfg.model)
    cfg.model.backbone.update(embed_dims=16, num_layers=[1, 1, 1, 1])
    cfg.model.decode_head.update(in_channels=[16, 32, 80, 128], channels=64)
    bench.fit_budget(cfg, iters=2, batch_size=2, crop=48, seed=0, data_root=cached['data'], work_dir=tmp_path / 'kd')
    labelled, unlabelled = cfg.train_dataloader.dataset.datasets
    assert labelled.data_root == str(cached['data']) and 'data_root' not in unlabelled
    for dataset in (labelled, unlabelled):
        assert [t.crop_size for t in dataset.pipeline if 'crop_size' in t] == [(48, 48)]
        assert [t.cache_dir for t in dataset.pipeline if t.type == 'LoadTeacherProbs'] == [str(cache)]
    assert unlabelled.cache_dir == str(cache)
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.message_hub.get_scalar('train/loss_kd').current() > 0
    rows = {'kd_cached': dict(scores=dict(test=dict(mIoU=61.25))), 'vnseg': dict(scores=dict(test=dict(mIoU=60.5)))}
    assert bench.kd_cached_line(rows, 'test') == 'RESULT_KD student_mIoU=61.25 vnseg_mIoU=60.50 delta=0.75'
    assert bench.kd_cached_line({'vnseg': rows['vnseg']}, 'test') is None
    with pytest.raises(SystemExit):  # --unlabelled-src is an option of the benchmark
        bench.build_parser().parse_args(['--train-src', 'x', '--unlabelled-src'])


def test_benchmark_teacher_ensemble_is_scored_as_its_cache_is_made(cached, tmp_path):
    """The teacher's own row: the mean of the members' probabilities, argmax (first class on ties). The colour
    teacher alone reads every mask exactly (100 mIoU); averaged with a teacher sure of background everywhere,
    background holds at least half of every pixel's probability, so the ensemble predicts background
    everywhere: IoU(background) = its share of the pixels, 0 for every other class."""
    import argparse
    from vnseg.reports.confusion import read_mask
    bench = _benchmark()

    class Background(ColourTeacher):
        def predict(self, rgb, valid):
            logits = np.zeros((rgb.shape[0], 5, *rgb.shape[2:]), np.float32)
            logits[:, 0] = 50.0
            return logits

    scenes = bench.scene_list(cached['data'], 'val')
    args = argparse.Namespace(no_test=True, device='cpu', unlabelled_src=None, iters=2)
    one = dict(teachers=[(tmp_path / 'a', tmp_path / 'a.pth')], train_fingerprint='fp', fingerprint='all',
               val_scenes=scenes)
    row = bench.score_teacher(args, one, tmp_path / 'w1', tile_models=[ColourTeacher()])
    assert row['scores']['val']['mIoU'] == 100.0 and row['extra']['no TTA']['val']['mIoU'] == 100.0
    assert row['recipe'] == 'teacher [a]' and set(row['scores']) == {'val'}
    two = dict(one, teachers=[(tmp_path / 'a', tmp_path / 'a.pth'), (tmp_path / 'b', tmp_path / 'b.pth')])
    row = bench.score_teacher(args, two, tmp_path / 'w2', tile_models=[ColourTeacher(), Background()])
    masks = np.concatenate([read_mask(m).ravel() for _, m in scenes])
    # a class in no mask is never predicted either: IoU NaN (left out of the mean)
    expected = [100.0 * np.mean(masks == 0)] + [0.0 if (masks == c).any() else np.nan for c in range(1, 5)]
    assert row['recipe'] == 'teacher [ensemble: a + b]'
    assert np.allclose(row['scores']['val']['IoU'], expected, atol=0.01, equal_nan=True)
    assert row['scores']['val']['mIoU'] == pytest.approx(np.nanmean(expected), abs=0.01)
    # reused from its score file; another teacher set or unlabelled folder is another key
    import json
    assert json.dumps(bench.score_teacher(args, two, tmp_path / 'w2', tile_models=[])) == json.dumps(row)
    keys = {bench.teacher_key(args, one), bench.teacher_key(args, two),
            bench.teacher_key(argparse.Namespace(unlabelled_src=str(cached['flights'])), two)}
    assert len(keys) == 3


def test_benchmark_run_folders_and_teacher_refusals(tmp_path):
    """kd_cached with --unlabelled-src trains into its own folder (row ``kd_cached_unl``); RESULT_KD takes that
    student; a folder without a checkpoint is refused by name; the online ``kd`` change takes one teacher."""
    import argparse
    bench = _benchmark()
    args = argparse.Namespace(work_dir=str(tmp_path), seed=1, iters=750, batch_size=8, crop=256, unlabelled_src=None)
    assert bench.run_dir_of('kd_cached', args).name == 'kd_cached_s1_i750_b8_c256'
    assert bench.run_dir_of('vnseg', args, final=True).name == 'vnseg_final_s1_i750_b8_c256'
    args.unlabelled_src = 'flights'
    assert bench.run_dir_of('kd_cached', args).name == 'kd_cached_unl_s1_i750_b8_c256'
    assert bench.run_dir_of('vnseg', args).name == 'vnseg_s1_i750_b8_c256'
    rows = {'kd_cached_unl': dict(scores=dict(test=dict(mIoU=52.0))), 'vnseg': dict(scores=dict(test=dict(mIoU=50.5)))}
    assert bench.kd_cached_line(rows, 'test') == 'RESULT_KD student_mIoU=52.00 vnseg_mIoU=50.50 delta=1.50'
    (tmp_path / 'run').mkdir()
    (tmp_path / 'run' / 'config.py').write_text('')
    with pytest.raises(bench.BenchmarkError, match='run: not a finished run folder'):
        bench.finished_run(tmp_path / 'run')
    two = dict(teacher=tmp_path / 'a', teachers=[(tmp_path / 'a', None), (tmp_path / 'b', None)])
    with pytest.raises(bench.BenchmarkError, match='takes one --teacher'):
        bench.CHANGES['kd'](Config(dict(model=dict())), two)
    assert bench.build_parser().parse_args(['--train-src', 'x', '--teacher', 'a', 'b']).teacher == ['a', 'b']
