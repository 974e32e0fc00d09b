"""The recipe's configs work everywhere a config is accepted.

A SegFormer-B0 is trained with ``configs/segformer_b0_recipe_vn.py`` for 2 iterations on tiny prepared
scenes (48 px crops) by ``tools/train.py``; then each consumer of a config runs it in a fresh interpreter
(a subprocess, so nothing of vnseg is imported unless the entry point imports it): mmseg's
``MMSegInferencer`` and ``init_model`` with and without vnseg imported first, ``tools/test.py``, the
benchmarks (large_image, recipe_quality, onnx_runtime, distill_step) and the analysis tools. None of
them needs the training data's ``class_weights.json``: training alone reads it (``ClassWeightsHook``).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from vnseg.data.prepare import PatchOptions, SplitOptions, prepare_dataset
from vnseg.testing.synthetic_scenes import generate_scenes

pytestmark = pytest.mark.slow  # every test trains the recipe or runs its tools

RECIPE = 'configs/segformer_b0_recipe_vn.py'
CROP = 48


def _run(args, cwd=REPO, timeout=600):
    """``python ARGS`` in a fresh interpreter; its stdout (the test fails with its output otherwise)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''),
               CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


def _loader_options(root):
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={root}', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """The prepared data (``data``), the scene sources (``src``) and a recipe run (``work``, ``ckpt``)."""
    base = tmp_path_factory.mktemp('recipe_run')
    src = base / 'src'
    generate_scenes(src, num_scenes=6, size=96, seed=4)
    data = base / 'data'
    summary = prepare_dataset(src, data, PatchOptions(patch_size=CROP), SplitOptions(ratios=(0.5, 0.25, 0.25)),
                              progress=False, chart=False)
    assert summary['failures'] == [] and (data / 'scenes' / 'test.txt').read_text().split()
    work = base / 'work'
    _run(['tools/train.py', RECIPE, '--work-dir', work, '--no-pretrained', '--cfg-options',
          *_loader_options(data), 'train_dataloader.batch_size=2',
          f'train_dataloader.dataset.pipeline.3.crop_size=({CROP},{CROP})',
          f'model.data_preprocessor.size=({CROP},{CROP})', 'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
          'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1'])
    image = data / 'scenes' / 'img' / ((data / 'scenes' / 'test.txt').read_text().split()[0] + '.png')
    return dict(src=src, data=data, work=work, ckpt=work / 'iter_2.pth', image=image)


def test_the_run_trained_with_the_prepared_data_class_weights_and_says_so(run):
    weights = json.loads((run['data'] / 'class_weights.json').read_text())
    assert len(weights) == 5 and min(weights) < 1 < max(weights)
    ckpt = torch.load(run['ckpt'], map_location='cpu', weights_only=False)
    assert ckpt['meta']['class_weights'] == dict(file=str(run['data'] / 'class_weights.json'), head='decode_head',
                                                 weights=weights)
    log, = run['work'].glob('*/*.log')
    assert f'ClassWeightsHook: cross-entropy class weights of decode_head from {run["data"]}' in log.read_text()
    dumped = (run['work'] / 'segformer_b0_recipe_vn.py').read_text()
    assert 'ClassWeightsHook' in dumped and 'class_weights.json' in dumped


# The same image through mmseg's two inference APIs; prints the prediction as JSON.
_MMSEG_APIS = """
import json, sys
import numpy as np
config, ckpt, image, first, out = sys.argv[1:]
if first == 'vnseg':
    import vnseg.apis  # noqa: F401
from mmseg.apis import MMSegInferencer, inference_model, init_model
before = sorted(m for m in sys.modules if m.split('.')[0] == 'vnseg')
assert bool(before) == (first == 'vnseg'), before
model = init_model(config, ckpt, device='cpu')
a = inference_model(model, image).pred_sem_seg.data.numpy()
inferencer = MMSegInferencer(config, weights=ckpt, device='cpu')
b = inferencer(image, return_datasamples=True).pred_sem_seg.data.numpy()
assert (a == b).all(), 'the two APIs disagree'
np.save(out, a)
print('META', json.dumps([list(model.dataset_meta['classes']), list(inferencer.model.dataset_meta['classes'])]))
"""


@pytest.mark.parametrize('first', ['nothing', 'vnseg'])
def test_mmseg_inferencer_and_init_model_build_the_recipe_model(run, first, tmp_path):
    out = tmp_path / 'pred.npy'
    stdout = _run(['-c', _MMSEG_APIS, RECIPE, run['ckpt'], run['image'], first, out])
    from vnseg.core.classes import CLASSES
    meta = json.loads([ln for ln in stdout.splitlines() if ln.startswith('META ')][-1][5:])
    assert meta == [list(CLASSES)] * 2
    pred = np.load(out)
    assert pred.shape == (1, 96, 96) and set(np.unique(pred)) <= set(range(5))
    # the same prediction as vnseg's own loader in this process
    from mmseg.apis import inference_model
    from vnseg.apis import load_model
    model = load_model(RECIPE, run['ckpt'], device='cpu')
    assert (inference_model(model, str(run['image'])).pred_sem_seg.data.numpy() == pred).all()


def _test_mask_pixels(data):
    total = 0
    for stem in (data / 'scenes' / 'test.txt').read_text().split():
        mask = np.array(Image.open(data / 'scenes' / 'ann' / f'{stem}.png'))
        total += int((mask != 255).sum())
    return total


def test_test_tool_and_analysis_tools_on_the_recipe(run, tmp_path):
    test_dir = tmp_path / 'test'
    _run(['tools/test.py', RECIPE, run['ckpt'], '--work-dir', test_dir, '--cfg-options', *_loader_options(run['data'])])
    metrics = json.loads((test_dir / 'metrics_test.json').read_text())
    assert 0 <= metrics['mIoU'] <= 100

    # the analysis tools, one after the other in one fresh interpreter
    opts = [f'test_dataloader.dataset.data_root={run["data"]}']
    tools = [
        ['tools/analysis_tools/param_table.py', RECIPE, '--no-flops', '--out', tmp_path / 'params.md'],
        ['tools/analysis_tools/confusion_matrix.py', RECIPE, run['ckpt'], '--out-dir', tmp_path / 'conf',
         '--cfg-options', *opts],
        ['tools/analysis_tools/prediction_grid.py', '--model', 'B0', RECIPE, run['ckpt'], '--num', '1',
         '--out', tmp_path / 'grid.png', '--cfg-options', *opts],
        ['tools/analysis_tools/compare_runs.py', test_dir, '--names', 'B0-recipe', '--out', tmp_path / 'runs.md'],
    ]
    code = ('import runpy, sys\n'
            f'for argv in {[[str(a) for a in t] for t in tools]!r}:\n'
            '    sys.argv = argv\n'
            '    try:\n'
            "        runpy.run_path(argv[0], run_name='__main__')\n"
            '    except SystemExit as e:\n'
            "        assert not e.code, f'{argv[0]} exited with {e.code!r}'\n")
    _run(['-c', code])
    from vnseg.apis import load_model
    n_params = sum(p.numel() for p in load_model(RECIPE, random_weights=True, device='cpu').parameters())
    assert f'{n_params / 1e6:.2f}' in (tmp_path / 'params.md').read_text()
    counts = np.loadtxt(tmp_path / 'conf' / 'confusion_matrix.csv', delimiter=',', skiprows=1, usecols=range(1, 6))
    assert counts.sum() == _test_mask_pixels(run['data'])  # every labelled test pixel, once
    assert (tmp_path / 'grid.png').stat().st_size > 0
    assert 'B0-recipe' in (tmp_path / 'runs.md').read_text()


def test_large_image_benchmark_on_the_recipe(run, tmp_path):
    stdout = _run(['benchmarks/large_image.py', '--config', RECIPE, '--checkpoint', run['ckpt'], '--sizes', '96',
                   '--tile', '64', '--stride', '32', '--threads', '1', '--work-dir', tmp_path])
    rows = {ln.split()[1]: ln.split('|') for ln in stdout.splitlines() if ln.strip().startswith('96x96')}
    assert set(rows) == {'stock', 'vnseg'}
    assert rows['vnseg'][2].split()[2] == '100.000'  # stock slide and vnseg's tiles agree on every pixel (mean blend)


def test_distill_step_benchmark_on_the_recipe(tmp_path):
    kd = tmp_path / 'kd_recipe.py'
    kd.write_text(f"_base_ = ['{REPO / RECIPE}']\n"
                  f"model = dict(type='DistillSegmentor', teacher_config='{REPO / RECIPE}',\n"
                  "             distill_loss=dict(type='PixelKDLoss', temperature=1.0, loss_weight=1.0))\n")
    stdout = _run(['benchmarks/distill_step.py', '--kd-config', kd, '--student-config', RECIPE, '--size', '64',
                   '--batch', '1', '--warmup', '0', '--repeats', '1', '--device', 'cpu'])
    assert 'kd/student = ' in stdout  # both models built and stepped


def test_recipe_quality_benchmark_trains_and_scores_the_recipe(run, tmp_path):
    stdout = _run(['benchmarks/recipe_quality.py', '--train-src', run['src'], '--no-test', '--recipes', 'vnseg',
                   '--iters', '2', '--batch-size', '2', '--crop', str(CROP), '--skip-raw', '--work-dir', tmp_path])
    run_dir, = tmp_path.glob('vnseg_s0_i2_b2_c48')
    result = json.loads((run_dir / 'result.json').read_text())
    assert 0 <= result['scores']['val']['mIoU'] <= 100, stdout[-2000:]
    ckpt = torch.load(run_dir / 'iter_2.pth', map_location='cpu', weights_only=False)
    weights = json.loads((tmp_path / 'data' / 'train' / 'class_weights.json').read_text())
    assert ckpt['meta']['class_weights']['weights'] == weights  # trained with its data's weights


def test_onnx_runtime_benchmark_on_the_recipe(run):
    pytest.importorskip('onnxruntime')
    stdout = _run(['benchmarks/onnx_runtime.py', '--config', RECIPE, '--checkpoint', run['ckpt'], '--tile', '64',
                   '--tiles', '1', '--batch-size', '1', '--threads', '1', '--rounds', '1', '--scene', '0',
                   '--no-int8', '--image', run['image']])
    assert 'throughput ratio ORT/PyTorch' in stdout and 'tile pixel agreement' in stdout


def test_a_trained_recipe_model_needs_no_class_weights_file(run, tmp_path):
    """The prepared data gone (a deployed model): predicting still works, the file is a training input."""
    moved = Path(str(run['data']) + '.gone')
    (run['data'] / 'class_weights.json').rename(moved)
    try:
        from mmseg.apis import inference_model
        from vnseg.apis import load_model
        model = load_model(RECIPE, run['ckpt'], device='cpu')
        assert inference_model(model, str(run['image'])).pred_sem_seg.data.shape == (1, 96, 96)
    finally:
        moved.rename(run['data'] / 'class_weights.json')
