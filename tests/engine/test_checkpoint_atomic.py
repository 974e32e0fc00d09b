"""Checkpoints survive a kill at any moment: the run is SIGKILLed in the middle of a save (at the
first write into the checkpoint file, or into ``last_checkpoint``), then ``--resume`` continues.

With mmengine's own CheckpointHook the first kill leaves a truncated ``iter_20.pth`` under its
final name and, with ``max_keep_ckpts=1``, ``last_checkpoint`` naming ``iter_10.pth`` that was
deleted before the save; the second leaves an empty ``last_checkpoint``. Both break ``--resume``.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_data import dataset_cfg_options, make_tiny_dataset

from conftest import REPO, TESTS
CONFIG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
KILLER = str(TESTS / 'kill_on_write.py')


def _env():
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _train_args(work_dir, data_root, *extra):
    opts = dataset_cfg_options(data_root) + [
        'train_cfg.max_iters=20', 'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=10',
        'default_hooks.checkpoint.max_keep_ckpts=1', 'default_hooks.logger.interval=5',
        'param_scheduler.0.end=20', 'randomness.seed=0']
    return [str(REPO / 'tools' / 'train.py'), CONFIG, '--work-dir', str(work_dir), *extra,
            '--cfg-options', *opts]


def _load(path):
    import vnseg.mmseg_ext  # noqa: F401  (weights_only allow-list)
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(str(path), map_location='cpu')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp('tiny'), splits=(('train', 4), ('val', 1),
                                                                       ('test', 1)))


@pytest.mark.parametrize('pattern,nth', [
    (r'iter_20', 1),           # the second checkpoint's bytes
    (r'last_checkpoint', 2),   # the marker, rewritten after the second checkpoint
], ids=['checkpoint-file', 'last_checkpoint'])
@pytest.mark.slow
def test_kill_during_save_then_resume(tmp_path, data_root, pattern, nth):
    work_dir = tmp_path / 'run'
    killed = subprocess.run([sys.executable, KILLER, pattern, str(nth),
                             *_train_args(work_dir, data_root)],
                            env=_env(), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    # every checkpoint under a final name loads, and last_checkpoint names one of them
    finals = sorted(work_dir.glob('iter_*.pth'))
    assert finals, 'no checkpoint survived the kill'
    iters = {p.name: _load(p)['meta']['iter'] for p in finals}
    assert iters.get('iter_10.pth') == 10, iters
    last = (work_dir / 'last_checkpoint').read_text().strip()
    assert last and Path(last).name in iters, f'last_checkpoint = {last!r}, files = {iters}'
    resumed_at = iters[Path(last).name]

    out = subprocess.run([sys.executable, *_train_args(work_dir, data_root, '--resume')],
                         env=_env(), cwd=REPO, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert f'resumed epoch: 0, iter: {resumed_at}' in log
    assert _load(work_dir / 'iter_20.pth')['meta']['iter'] == 20
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('iter_20.pth')
    # max_keep_ckpts=1 holds after the resume, and the killed run's temporary file is gone
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == ['iter_20.pth']
    assert not [p for p in work_dir.iterdir() if '.partial-' in p.name]


def test_atomic_put_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    """mmengine's LocalBackend.put (every checkpoint save) writes a temporary file and renames it:
    a failing write (full disk) leaves the previous file intact and no partial file."""
    import errno

    import vnseg.mmseg_ext  # noqa: F401  (applies vnseg.openmmlab.compat)
    from mmengine.fileio.backends import LocalBackend

    target = tmp_path / 'iter_10.pth'
    LocalBackend().put(b'old checkpoint', target)
    assert target.read_bytes() == b'old checkpoint'

    real_fsync = os.fsync

    def full_disk(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full_disk)
    with pytest.raises(OSError) as info:
        LocalBackend().put(b'new checkpoint', target)
    monkeypatch.setattr(os, 'fsync', real_fsync)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_bytes() == b'old checkpoint'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_10.pth']
