"""The standard tools end to end on CPU: train + val, SIGKILL + --resume, test.py, dist_train.sh."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from tiny_data import dataset_cfg_options, make_tiny_dataset

from conftest import REPO
CONFIG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _train_cmd(work_dir, data_root, max_iters, interval, *extra):
    opts = dataset_cfg_options(data_root) + [
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={interval}',
        f'default_hooks.checkpoint.interval={interval}', 'default_hooks.checkpoint.max_keep_ckpts=10',
        'default_hooks.logger.interval=5', f'param_scheduler.0.end={max_iters}',
        'randomness.seed=0']
    return [sys.executable, str(REPO / 'tools' / 'train.py'), CONFIG, '--work-dir', str(work_dir),
            *extra, '--cfg-options', *opts]


def _ckpt_iter(path):
    import vnseg.mmseg_ext  # noqa: F401  (vnseg's fixes and registrations)
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(str(path), map_location='cpu')['meta']['iter']


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp('tiny'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data_root):
    """A short real training run: 20 iterations, validation and a checkpoint every 10."""
    work_dir = tmp_path_factory.mktemp('train')
    out = subprocess.run(_train_cmd(work_dir, data_root, 20, 10), env=_env(), cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work_dir, out.stdout + out.stderr


@pytest.mark.slow
def test_train_writes_checkpoints_and_validates(trained):
    work_dir, log = trained
    assert (work_dir / 'iter_10.pth').is_file() and (work_dir / 'iter_20.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('iter_20.pth')
    assert _ckpt_iter(work_dir / 'iter_20.pth') == 20
    assert 'mIoU' in log
    scalars = list(work_dir.glob('*/vis_data/scalars.json'))
    assert scalars, 'no scalars.json written'
    records = [json.loads(line) for line in scalars[0].read_text().splitlines()]
    assert any('loss' in r for r in records) and any('mIoU' in r for r in records)


@pytest.mark.slow
def test_test_tool_reports_metrics_json(trained, data_root, tmp_path):
    work_dir, _ = trained
    pred_dir = tmp_path / 'preds'
    cmd = [sys.executable, str(REPO / 'tools' / 'test.py'), CONFIG, str(work_dir / 'iter_20.pth'),
           '--work-dir', str(tmp_path), '--out-dir', str(pred_dir),
           '--cfg-options', *dataset_cfg_options(data_root)]
    out = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    metrics = json.loads((tmp_path / 'metrics_test.json').read_text())
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert 0.0 <= metrics[key] <= 100.0
    assert metrics['checkpoint'].endswith('iter_20.pth')
    assert len(list(pred_dir.glob('*.png'))) == 2  # one prediction per test image
    # the model card beside the metrics: what the checkpoint is and what it scored
    card = json.loads((tmp_path / 'model_card.json').read_text())
    assert card['training']['iteration'] == 20 and card['test_metrics']['mIoU'] == metrics['mIoU']
    assert [c['name'] for c in card['classes']] == ['background', 'road', 'water', 'tree', 'building']
    assert card['model']['architecture']['segmentor'] == 'EncoderDecoder' and card['model']['parameters'] > 1000
    assert f"| mIoU | {metrics['mIoU']:.2f} |" in (tmp_path / 'model_card.md').read_text()


@pytest.mark.slow
def test_resume_after_sigkill_reaches_planned_iteration(tmp_path, data_root):
    work_dir = tmp_path / 'run'
    cmd = _train_cmd(work_dir, data_root, 60, 10)
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        last_file = work_dir / 'last_checkpoint'
        while not (last_file.exists() and 'iter_10' not in last_file.read_text()):
            assert proc.poll() is None, 'training ended before it could be killed'
            assert time.time() < deadline, 'no checkpoint within 300 s'
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (work_dir / 'iter_60.pth').exists()
    last = (work_dir / 'last_checkpoint').read_text().strip()
    killed_at = _ckpt_iter(last)
    assert 20 <= killed_at < 60

    out = subprocess.run(_train_cmd(work_dir, data_root, 60, 10, '--resume'), env=_env(),
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert f'resumed epoch: 0, iter: {killed_at}' in log
    assert _ckpt_iter(work_dir / 'iter_60.pth') == 60
    assert f'Iter(train) [{killed_at + 5:>2}/60]' in log or f'[{killed_at + 5}/60]' in log


def test_amp_on_cpu_is_a_clear_error(tmp_path, data_root):
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    out = subprocess.run(_train_cmd(tmp_path, data_root, 2, 1, '--amp'), env=_env(), cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert 'error: --amp: needs a CUDA GPU' in out.stderr
    assert 'Traceback' not in out.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tmp_path, data_root):
    work_dir = tmp_path / 'dist'
    opts = dataset_cfg_options(data_root) + [
        'train_cfg.max_iters=6', 'train_cfg.val_interval=6', 'default_hooks.checkpoint.interval=6',
        'default_hooks.logger.interval=2', 'param_scheduler.0.end=6']
    env = _env()
    env.update(PYTHON=sys.executable, PORT=str(_free_port()))
    cmd = ['bash', str(REPO / 'tools' / 'dist_train.sh'), CONFIG, '2', '--work-dir', str(work_dir),
           '--cfg-options', *opts]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert 'Distributed training: True' in log
    assert _ckpt_iter(work_dir / 'iter_6.pth') == 6
    assert 'mIoU' in log
