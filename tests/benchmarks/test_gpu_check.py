"""benchmarks/gpu_check.sh: its dry run on CPU (every step, a tiny prepared model), the torch-only steps on a
Python without numpy/mmcv/mmengine/mmseg (as on the lent GPU machine), the budget and the carried wheels."""
import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

SCRIPT = REPO / 'benchmarks' / 'gpu_check.sh'
STEPS_SCRIPT = REPO / 'benchmarks' / 'gpu_check.py'


def _env(**extra):
    return dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='', PYTHON=sys.executable, **extra)


def run(*args, timeout=600):
    return subprocess.run(['bash', str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env=_env(), timeout=timeout)


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check') / 'out'
    proc = run('--dry-run', '--out', out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_dry_run_runs_every_step_and_sums_them_up(dry_run):
    out, proc = dry_run
    result = json.loads((out / 'gpu_check.json').read_text())
    assert result['dry_run'] is True and result['passed'] is True
    spec = importlib.util.spec_from_file_location('gpu_check', STEPS_SCRIPT)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    STEPS = gpu_check.STEPS
    assert list(result['steps']) == list(STEPS)
    assert {name: s['status'] for name, s in result['steps'].items()} == dict.fromkeys(STEPS, 'ok'), result['steps']
    steps = result['steps']
    assert steps['traced_model']['cpu_vs_reference']['agreement_decided'] >= 0.999  # the carried reference
    assert steps['train_step']['bf16_autocast']['master_weights_fp32'] is True
    assert steps['onnx']['fp32']['gpu_vs_cpu']['agreement'] == 1.0
    md = (out / 'gpu_check.md').read_text()
    assert '(dry run on CPU)' in md and 'Overall: PASSED' in md and '| traced_model | ok |' in md
    manifest = result['manifest']
    assert manifest['tiny'] is True and manifest['onnx'] == {'fp32': 'model.onnx'}
    assert {'tile_model.pt', 'tiles.pt', 'scene.pt', 'model.onnx'} <= set(manifest['files'])


BLOCKED = ('numpy', 'mmcv', 'mmengine', 'mmseg', 'onnxruntime', 'PIL', 'cv2')


@pytest.mark.parametrize('step, status', [('traced_model', 'ok'), ('train_step', 'ok'), ('torch_ops', 'ok'),
                                          ('sliding', 'skipped'), ('onnx', 'skipped')])
@pytest.mark.slow
def test_steps_need_torch_only(dry_run, tmp_path, step, status):
    """As on the lent machine: the torch-only steps run with numpy, OpenMMLab, onnxruntime unimportable;
    the others say why they skip."""
    out, _ = dry_run
    code = (f'import runpy, sys\nfor m in {BLOCKED!r}: sys.modules[m] = None\n'
            f"sys.argv = ['gpu_check', {step!r}, '--dir', {str(out / 'prepared')!r}, '--out', {str(tmp_path)!r}, "
            f"'--dry-run']\nrunpy.run_path({str(STEPS_SCRIPT)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO,
                          env=_env(PYTHONPATH=str(REPO)), timeout=300)
    result = json.loads((tmp_path / 'steps' / f'{step}.json').read_text())
    assert result['status'] == status, result
    assert proc.returncode == 0
    if status == 'skipped':
        assert 'is not installed here' in result['reason']


def test_budget_and_missing_folder(tmp_path):
    proc = run('--dry-run', '--dir', tmp_path / 'nothing', '--out', tmp_path / 'out', '--steps', 'traced_model',
               '--budget', '200')
    result = json.loads((tmp_path / 'out' / 'gpu_check.json').read_text())
    assert proc.returncode == 1 and result['passed'] is False
    assert result['steps']['traced_model']['status'] == 'fail'
    assert 'manifest.json: missing' in result['steps']['traced_model']['error']
    assert result['steps']['env']['status'] == 'not run'  # (--steps: only the step named)
    proc = run('--dry-run', '--dir', tmp_path / 'nothing', '--out', tmp_path / 'spent', '--budget', '0')
    result = json.loads((tmp_path / 'spent' / 'gpu_check.json').read_text())
    assert proc.returncode == 1 and {s['status'] for s in result['steps'].values()} == {'not run'}
    assert 'budget of 0 s spent' in result['steps']['env']['reason']


def test_carried_wheels_are_unpacked_without_pip(tmp_path):
    prepared = tmp_path / 'prepared'
    (prepared / 'wheels').mkdir(parents=True)
    with zipfile.ZipFile(prepared / 'wheels' / 'vnseg_dummy-0.1-py3-none-any.whl', 'w') as whl:
        whl.writestr('vnseg_dummy/__init__.py', "__version__ = '0.1'\n")
    proc = run('--dry-run', '--dir', prepared, '--out', tmp_path / 'out', '--steps', 'env')
    env = json.loads((tmp_path / 'out' / 'steps' / 'env.json').read_text())
    assert env['status'] == 'ok' and env['carried_wheels_unpacked'] == ['vnseg_dummy'], proc.stdout + proc.stderr
    assert (prepared / 'site' / 'vnseg_dummy' / '__init__.py').is_file()


def test_help_and_bad_option():
    assert 'carry' in run('--help').stdout
    proc = run('--frobnicate')
    assert proc.returncode == 2 and 'unknown option --frobnicate' in proc.stderr
