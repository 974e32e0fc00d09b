"""`make demo` end to end, reduced: generated scenes -> patches -> train -> test -> infer -> figures.

Asserts that the tiny model really learns the generated scenes (test mIoU far above what
predicting background everywhere gives) and that every output the demo promises is there.
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_demo_learns_and_writes_every_output(tmp_path):
    work = tmp_path / 'demo'
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    cmd = [sys.executable, str(REPO / 'demo' / 'run_demo.py'), '--work-dir', str(work),
           '--scenes', '12', '--scene-size', '384', '--holdout-size', '384', '--iters', '300']
    # below pytest.ini's 900 s per test: a demo that hangs fails here, with its command, not in pytest-timeout's dump
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=840)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]

    metrics = json.loads((work / 'test' / 'metrics_test.json').read_text())
    background_only = json.loads((work / 'dataset' / 'summary.json').read_text())
    share = background_only['splits']['test']['class_shares']['background']
    # predicting background everywhere scores mIoU = 100 * share / 5 (about 16 here)
    assert metrics['mIoU'] > 100 * share / 5 + 20, metrics
    assert metrics['aAcc'] > 100 * share, metrics

    for name in ('confusion_matrix.png', 'per_class_iou.png', 'training_curves.png',
                 'prediction_grid.png'):
        assert (work / 'figures' / name).stat().st_size > 1000
    assert list((work / 'inference').glob('*_classes.tif'))
    assert list((work / 'inference').glob('*_areas.csv'))
    table = (work / 'comparison.md').read_text()
    assert f'{metrics["mIoU"]:.2f}' in table
    assert 'test mIoU' in out.stdout
    # only what a user needs: none of the libraries' notices (this test process would see them)
    for notice in ('pkg_resources', 'build_loss', 'NotGeoreferencedWarning', "'crs' was not provided"):
        assert notice not in out.stdout + out.stderr, notice
