"""vnseg's training recipe: its transforms, its configs (each trains through mmengine's Runner on
tiny prepared scenes) and the budget/scoring helpers of benchmarks/recipe_quality.py.

The recipe's quality is measured by ``benchmarks/recipe_quality.py`` (minutes to hours), never here.
"""
import copy
import functools
import importlib.util
import json

import numpy as np
import pytest
import torch

import vnseg.mmseg_ext  # noqa: F401  (registrations)
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import TRANSFORMS

from vnseg.data.class_weights import training_class_weights
from vnseg.data.prepare import PatchOptions, SplitOptions, prepare_dataset
from vnseg.openmmlab.pretrained import disable_pretrained
from vnseg.testing.synthetic_scenes import generate_scenes

from conftest import REPO

pytestmark = pytest.mark.usefixtures('one_torch_thread')

# every config that trains with a recipe the benchmark compares
RECIPE_CONFIGS = ['configs/segformer_b0_recipe_vn.py',
                  'configs/pspnet_r18_recipe_vn.py', 'configs/upernet_convnext_t_recipe_vn.py',
                  'benchmarks/configs/segformer_b0_stock_mmseg.py']


@functools.lru_cache(maxsize=None)
def benchmark():
    spec = importlib.util.spec_from_file_location('recipe_quality', REPO / 'benchmarks' / 'recipe_quality.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def _parse(path):
    return Config.fromfile(str(REPO / path))


def load(path):
    return copy.deepcopy(_parse(path))


# -- transforms --------------------------------------------------------------------------------
def _results(img, seg):
    return dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map'], img_shape=img.shape[:2])


def test_random_rescale_is_relative_to_the_image_and_keeps_labels_exact():
    init_default_scope('mmseg')
    t = TRANSFORMS.build(dict(type='RandomRescale', ratio_range=(1.5, 1.5)))
    img = np.zeros((40, 60, 3), np.uint8)
    seg = np.zeros((40, 60), np.uint8)
    seg[10:20, 10:30] = 2
    seg[30:, :] = 255
    out = t.transform(_results(img, seg))
    assert out['img'].shape == (60, 90, 3) and out['gt_seg_map'].shape == (60, 90)
    assert out['img_shape'] == (60, 90) and out['scale_factor'] == (1.5, 1.5)
    assert set(np.unique(out['gt_seg_map'])) == {0, 2, 255}  # nearest: no blended labels
    assert (out['gt_seg_map'] == 2).sum() == 15 * 30  # a 10x20 block scaled by 1.5 per side
    # a wide range draws different factors; sizes follow the factor of the image's own size
    t = TRANSFORMS.build(dict(type='RandomRescale', ratio_range=(0.5, 2.0)))
    np.random.seed(0)
    heights = {t.transform(_results(img, seg))['img'].shape[0] for _ in range(20)}
    assert len(heights) > 5 and min(heights) >= 20 and max(heights) <= 80


def test_random_rescale_rejects_bad_range():
    with pytest.raises(ValueError, match='ratio_range'):
        TRANSFORMS.build(dict(type='RandomRescale', ratio_range=(0.0, 2.0)))


def test_class_aware_crop_finds_a_single_rare_pixel():
    init_default_scope('mmseg')
    img = np.zeros((200, 300, 3), np.uint8)
    seg = np.zeros((200, 300), np.uint8)
    seg[150, 250] = 2  # one water pixel in 60,000
    np.random.seed(0)
    t = TRANSFORMS.build(dict(type='ClassAwareRandomCrop', crop_size=(32, 32), rare_classes=(2, 3), prob=1.0))
    for _ in range(30):
        out = t.transform(_results(img.copy(), seg.copy()))
        assert out['img'].shape == (32, 32, 3) and out['img_shape'][:2] == (32, 32)
        assert (out['gt_seg_map'] == 2).sum() == 1
    # prob 0 is mmseg's uniform RandomCrop: the pixel is in about 32*32/(169*269) of the crops
    t = TRANSFORMS.build(dict(type='ClassAwareRandomCrop', crop_size=(32, 32), prob=0.0))
    hits = sum((t.transform(_results(img.copy(), seg.copy()))['gt_seg_map'] == 2).any() for _ in range(200))
    assert hits <= 10


def test_class_aware_crop_without_rare_class_is_a_plain_crop():
    init_default_scope('mmseg')
    yy, xx = np.mgrid[:50, :40]
    img = np.stack([yy, xx, np.zeros_like(yy)], -1).astype(np.uint8)  # pixel = its (y, x)
    seg = np.ones((50, 40), np.uint8)
    t = TRANSFORMS.build(dict(type='ClassAwareRandomCrop', crop_size=(20, 30), prob=1.0))
    out = t.transform(_results(img.copy(), seg.copy()))
    y, x = out['img'][0, 0, :2]
    assert np.array_equal(out['img'], img[y:y + 20, x:x + 30]) and out['img'].shape == (20, 30, 3)


# -- benchmark helpers ---------------------------------------------------------------------------
def test_iou_table_against_hand_computed_values():
    conf = np.array([[8, 2, 0], [1, 4, 0], [0, 0, 0]])
    iou, miou = benchmark().iou_table(conf)
    # class 0: 8 / (10 + 9 - 8); class 1: 4 / (5 + 6 - 4); class 2 absent: NaN, not averaged
    assert iou[0] == pytest.approx(800 / 11) and iou[1] == pytest.approx(400 / 7)
    assert np.isnan(iou[2]) and miou == pytest.approx((800 / 11 + 400 / 7) / 2)


def test_fit_budget_rescales_the_schedule_and_ema(tmp_path):
    cfg = load('configs/segformer_b0_recipe_vn.py')
    assert cfg.train_cfg.max_iters == 20000
    with pytest.raises(benchmark().BenchmarkError, match='class weights file not found'):
        benchmark().fit_budget(cfg, iters=750, batch_size=8, crop=256, seed=3, data_root=tmp_path, work_dir='/w')
    (tmp_path / 'class_weights.json').write_text('[0.5, 1, 1, 1.5, 1]')
    cfg = load('configs/segformer_b0_recipe_vn.py')
    benchmark().fit_budget(cfg, iters=750, batch_size=8, crop=256, seed=3, data_root=tmp_path, work_dir='/w')
    # the data's weights, read by ClassWeightsHook when training starts: checked, the model config untouched
    assert training_class_weights(cfg) == [0.5, 1, 1, 1.5, 1]
    assert 'class_weight' not in cfg.model.decode_head.loss_decode[0]
    warm, poly = cfg.param_scheduler
    assert (warm.begin, warm.end, poly.begin, poly.end) == (0, 38, 38, 750)  # 1000/20000 of 750 = 37.5
    ema, = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert ema.momentum == pytest.approx(10 / 750)  # the same window: a tenth of training
    assert cfg.train_cfg.max_iters == 750 and cfg.val_dataloader is None and cfg.randomness.seed == 3
    crop, = [t for t in cfg.train_dataloader.dataset.pipeline if 'crop_size' in t]
    assert crop.crop_size == (256, 256) and cfg.model.data_preprocessor.size == (256, 256)
    stock = load('benchmarks/configs/segformer_b0_stock_mmseg.py')
    benchmark().fit_budget(stock, iters=750, batch_size=8, crop=256, seed=0, data_root='/d', work_dir='/w')
    assert 'class_weight' not in str(stock.model)  # stock mmseg: no weights, no file
    assert [(s.begin, s.end) for s in stock.param_scheduler] == [(0, 7), (7, 750)]  # 1500/160000
    # a warm-up scaled below 5 steps is kept at 5: mmengine's LinearLR never reaches its end factor
    # in its last step, so a 1-step warm-up would train the whole run at 1e-6 x lr
    stock = load('benchmarks/configs/segformer_b0_stock_mmseg.py')
    benchmark().fit_budget(stock, iters=120, batch_size=8, crop=256, seed=0, data_root='/d', work_dir='/w')
    assert [(s.begin, s.end) for s in stock.param_scheduler] == [(0, 5), (5, 120)]


def test_recipe_names():
    path, changes = benchmark().parse_recipe('vnseg-no_ema-tta')
    assert path.name == 'segformer_b0_recipe_vn.py' and len(changes) == 2
    with pytest.raises(benchmark().BenchmarkError, match='unknown change'):
        benchmark().parse_recipe('vnseg-no_such')
    with pytest.raises(benchmark().BenchmarkError, match='unknown recipe'):
        benchmark().parse_recipe('mine')


def test_reference_rows_are_plain_mmseg_configs():
    """stock-plain: stock mmseg without per-parameter multipliers, a 100-iteration warm-up at 750 iterations;
    its sweep changes the learning rate only; stock-all runs the four reference rows."""
    bench = benchmark()
    assert bench.expand_recipes(['stock-all', 'vnseg', 'stock']) == list(bench.REFERENCES) + ['vnseg']
    stock = load('benchmarks/configs/segformer_b0_stock_mmseg.py')
    plain = load('benchmarks/configs/segformer_b0_stock_plain.py')
    assert bench.parse_recipe('stock-plain-lr2e-4') == (REPO / bench.RECIPES['stock-plain-lr2e-4'], [])
    assert 'paramwise_cfg' in stock.optim_wrapper and 'paramwise_cfg' not in plain.optim_wrapper
    assert plain.optim_wrapper.optimizer == stock.optim_wrapper.optimizer  # AdamW 6e-4, decay 0.01
    assert plain.train_pipeline == stock.train_pipeline and plain.model == stock.model
    bench.fit_budget(plain, iters=750, batch_size=8, crop=256, seed=0, data_root='/d', work_dir='/w')
    assert [(s.type, s.begin, s.end) for s in plain.param_scheduler] == [('LinearLR', 0, 100), ('PolyLR', 100, 750)]
    for name, lr in (('stock-plain-lr2e-4', 2e-4), ('stock-plain-lr1e-3', 1e-3)):
        cfg = load(bench.RECIPES[name])
        assert cfg.optim_wrapper.optimizer.lr == lr and 'paramwise_cfg' not in cfg.optim_wrapper
        cfg.optim_wrapper.optimizer.lr = plain.optim_wrapper.optimizer.lr
        assert cfg.optim_wrapper == plain.optim_wrapper


def test_result_compares_with_the_reference_best_on_validation():
    def row(name, val, test):
        return dict(recipe=name, scores=dict(val=dict(mIoU=val), test=dict(mIoU=test)))
    results = [row('stock', 50.0, 41.0), row('stock-plain', 55.0, 44.0), row('stock-plain-lr1e-3', 54.0, 47.0),
               row('vnseg', 60.0, 50.0), row('vnseg-no_ema', 61.0, 49.0)]
    assert benchmark().best_reference(results)['recipe'] == 'stock-plain'  # best on val, not on test
    assert benchmark().best_reference(results[3:]) is None


def test_final_row_trains_on_the_val_scenes_too(tmp_path):
    cfg = load('configs/segformer_b0_recipe_vn.py')
    (tmp_path / 'class_weights.json').write_text('[1, 1, 1, 1, 1]')
    benchmark().fit_budget(cfg, iters=750, batch_size=8, crop=256, seed=0, data_root=tmp_path, work_dir='/w')
    benchmark().train_on_val_scenes_too(cfg, dict(val_root=tmp_path / 'val'))
    train, extra = cfg.train_dataloader.dataset.datasets
    assert (train.data_root, train.ann_file) == (str(tmp_path), 'scenes/train.txt')
    assert (extra.data_root, extra.ann_file) == (str(tmp_path / 'val'), 'scenes/val.txt')
    assert extra.pipeline == train.pipeline and cfg.val_dataloader is None


@pytest.mark.slow
def test_loss_lr_and_crop_ablations_change_one_thing():
    def apply(name):
        path, changes = benchmark().parse_recipe(name)
        cfg = Config.fromfile(str(path))
        for change in changes:
            change(cfg, {})
        return cfg
    losses = lambda cfg: [loss['type'] for loss in cfg.model.decode_head.loss_decode]  # noqa: E731
    assert losses(apply('vnseg')) == ['CrossEntropyLoss', 'ClassDiceLoss']
    assert losses(apply('vnseg-ce_only')) == ['CrossEntropyLoss']
    assert losses(apply('vnseg-mmseg_dice')) == ['CrossEntropyLoss', 'DiceLoss']
    assert losses(apply('vnseg-lovasz')) == ['CrossEntropyLoss', 'LovaszLoss']
    assert apply('vnseg').cpu_speedups == dict(fused_head=True, image_cache_mb=512)
    assert apply('vnseg-cpu_bf16').cpu_speedups == dict(fused_head=True, image_cache_mb=512, bf16=True)
    with pytest.raises(benchmark().BenchmarkError, match='fused'):
        apply('vnseg-cpu_fused_head')
    assert apply('vnseg-no_cpu_speedups').cpu_speedups == {}
    with pytest.raises(benchmark().BenchmarkError, match='no CPU speed-up'):
        apply('vnseg-no_cpu_speedups-no_cpu_speedups')
    keys = apply('vnseg-no_head_lr').optim_wrapper.paramwise_cfg.custom_keys
    assert 'head' not in keys and keys['norm'].decay_mult == 0.0
    with pytest.raises(benchmark().BenchmarkError, match='ClassDiceLoss'):
        apply('vnseg-ce_only-mmseg_dice')
    crops = lambda cfg: [t for t in cfg.train_dataloader.dataset.pipeline if 'Crop' in t['type']]  # noqa: E731
    assert crops(apply('vnseg')) == [dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75)]
    assert crops(apply('vnseg-class_crop')) == [dict(type='ClassAwareRandomCrop', crop_size=(512, 512),
                                                     cat_max_ratio=0.75, rare_classes=(2, 3), prob=0.5)]
    with pytest.raises(benchmark().BenchmarkError, match='no RandomCrop'):
        apply('vnseg-class_crop-class_crop')
    types = lambda cfg: [t['type'] for t in cfg.train_dataloader.dataset.pipeline]  # noqa: E731
    assert 'PhotoMetricDistortion' not in types(apply('vnseg'))  # dropped by the held-out tile
    assert types(apply('vnseg-photometric')) == types(apply('vnseg'))[:-1] + ['PhotoMetricDistortion', 'PackSegInputs']
    with pytest.raises(benchmark().BenchmarkError, match='already has PhotoMetricDistortion'):
        apply('vnseg-photometric-photometric')
    hooks = lambda cfg: [h['type'] for h in cfg.custom_hooks]  # noqa: E731
    assert hooks(apply('vnseg')) == ['EMAHook', 'ClassWeightsHook']
    assert hooks(apply('vnseg-no_class_weights')) == ['EMAHook']
    assert 'class_weight' not in apply('vnseg').model.decode_head.loss_decode[0]
    with pytest.raises(benchmark().BenchmarkError, match='no ClassWeightsHook'):
        apply('vnseg-no_class_weights-no_class_weights')
    assert apply('vnseg').whole_scene_inference.tta_flip is False
    assert apply('vnseg-tta').whole_scene_inference == dict(tile=512, overlap=128, tta_flip=True)
    with pytest.raises(benchmark().BenchmarkError, match='already has tta_flip=False'):
        apply('vnseg-no_tta')


# -- configs train -------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def scenes_root(tmp_path_factory):
    """6 synthetic 96x96 scenes prepared by vnseg's tool (whole scenes + split lists)."""
    src = tmp_path_factory.mktemp('src')
    generate_scenes(src, num_scenes=6, size=96, seed=2)
    out = tmp_path_factory.mktemp('prepared')
    summary = prepare_dataset(src, out, PatchOptions(patch_size=48), SplitOptions(ratios=(0.5, 0.5, 0.0)),
                              progress=False, chart=False)
    assert summary['failures'] == []
    return out


def test_prepare_lists_whole_scenes_per_split(scenes_root):
    summary = json.loads((scenes_root / 'summary.json').read_text())
    lists = {s: (scenes_root / 'scenes' / f'{s}.txt').read_text().split() for s in ('train', 'val', 'test')}
    assert sorted(lists['train'] + lists['val']) == sorted(s['id'] for s in summary['scenes'])
    assert len(lists['train']) == len(lists['val']) == 3 and lists['test'] == []
    assert all(s['split'] == split for split, ids in lists.items() for s in summary['scenes'] if s['id'] in ids)


def test_recipe_configs_are_the_recipe():
    cfg = load('configs/segformer_b0_recipe_vn.py')
    assert cfg.custom_imports.imports  # registrations load (the recipe's transforms are vnseg's)
    losses = [loss.type for loss in cfg.model.decode_head.loss_decode]
    assert losses == ['CrossEntropyLoss', 'ClassDiceLoss']
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['head'].lr_mult == 10.0
    assert cfg.train_dataloader.dataset.ann_file == 'scenes/train.txt'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    study = load('configs/segformer_b0_vn.py')  # the study's config keeps the study's recipe
    assert study.optim_wrapper.optimizer.type == 'Adam' and 'custom_hooks' not in study


@pytest.mark.parametrize('path', RECIPE_CONFIGS)
def test_recipe_config_trains_through_the_runner(path, scenes_root, tmp_path):
    """Two iterations of each recipe config on prepared scenes, budgeted by the benchmark."""
    from mmengine.runner import Runner
    torch.manual_seed(0)
    cfg = load(path)
    disable_pretrained(cfg.model)
    benchmark().fit_budget(cfg, iters=2, batch_size=2, crop=48, seed=0, data_root=scenes_root, work_dir=tmp_path)
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = torch.load(tmp_path / 'iter_2.pth', map_location='cpu', weights_only=False)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss) and loss > 0
    if any(h.type == 'ClassWeightsHook' for h in cfg.get('custom_hooks', [])):
        # trained with the prepared data's class weights (ClassWeightsHook), and the checkpoint says so
        weights = json.loads((scenes_root / 'class_weights.json').read_text())
        ce, = [m for m in runner.model.decode_head.loss_decode if type(m).__name__ == 'CrossEntropyLoss']
        assert ce.class_weight == weights and ckpt['meta']['class_weights']['weights'] == weights
    else:  # stock mmseg: an unweighted cross-entropy
        assert 'class_weights' not in ckpt['meta']
    if any(h.type == 'EMAHook' for h in cfg.get('custom_hooks', [])):
        assert 'ema_state_dict' in ckpt  # the checkpoint's weights are the EMA, the raw ones kept
        model = benchmark().load_raw_weights(runner.model, tmp_path / 'iter_2.pth')
        assert model is runner.model


@pytest.mark.slow
def test_kd_recipe_distils_from_a_finished_benchmark_run(scenes_root, tmp_path):
    """`vnseg-kd --teacher RUN_DIR`: the student trains against the teacher run's model and checkpoint."""
    from mmengine.runner import Runner
    bench = benchmark()
    teacher_dir = tmp_path / 'teacher'
    cfg = load('configs/segformer_b0_recipe_vn.py')
    disable_pretrained(cfg.model)
    bench.fit_budget(cfg, iters=1, batch_size=2, crop=48, seed=0, data_root=scenes_root, work_dir=teacher_dir)
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    Runner.from_cfg(copy.deepcopy(cfg)).train()
    cfg.dump(str(teacher_dir / 'config.py'))
    path, changes = bench.parse_recipe('vnseg-kd')
    student = Config.fromfile(str(path))
    disable_pretrained(student.model)
    data = dict(teacher=teacher_dir, teacher_checkpoint=teacher_dir / 'iter_1.pth')
    for change in changes:
        change(student, data)
    bench.fit_budget(student, iters=1, batch_size=2, crop=48, seed=0, data_root=scenes_root,
                     work_dir=tmp_path / 'student')
    student.train_dataloader.update(num_workers=0, persistent_workers=False)
    student.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(student)
    assert runner.model.teacher is not None
    runner.train()
    assert runner.message_hub.get_scalar('train/loss_kd').current() > 0
    with pytest.raises(bench.BenchmarkError, match='--teacher'):
        changes[0](Config.fromfile(str(path)), {})


def test_val_src_validates_on_other_scenes(tmp_path):
    """`--val-src`: every train scene trains, the val scenes (e.g. a held-out tile) validate whole."""
    bench = benchmark()
    generate_scenes(tmp_path / 'tiles_a', num_scenes=3, size=96, seed=3)
    generate_scenes(tmp_path / 'tile_b', num_scenes=2, size=96, seed=4)
    common = ['--train-src', str(tmp_path / 'tiles_a'), '--crop', '48', '--no-test']
    by_tile = bench.prepare_data(bench.build_parser().parse_args(common + ['--val-src', str(tmp_path / 'tile_b')]),
                                 tmp_path / 'work')
    train_root = tmp_path / 'work' / 'data' / 'train_all'
    assert by_tile['train_root'] == train_root.resolve()
    assert len((train_root / 'scenes' / 'train.txt').read_text().split()) == 3
    assert (train_root / 'scenes' / 'val.txt').read_text().split() == []
    assert [img.parents[2] for img, _ in by_tile['val_scenes']] == [tmp_path / 'work' / 'data' / 'val'] * 2
    assert all(img.is_file() and ann.is_file() for img, ann in by_tile['val_scenes'])
    by_scene = bench.prepare_data(bench.build_parser().parse_args(common), tmp_path / 'work')
    assert len(by_scene['val_scenes']) == 1  # 20 % of the 3 train scenes
    assert by_scene['train_fingerprint'] != by_tile['train_fingerprint']
    (tmp_path / 'empty').mkdir()
    with pytest.raises(bench.BenchmarkError, match='too few scenes'):
        bench.prepare_data(bench.build_parser().parse_args(common + ['--val-src', str(tmp_path / 'empty')]),
                           tmp_path / 'work2')
