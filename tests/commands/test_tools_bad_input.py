"""A new user's mistakes with the inference, test and train tools (and the analysis tools and the
checkpoint converter that share their model loading).

Each case runs the tool's real command-line entry (``if __name__ == '__main__'``) and checks what
the user sees: ONE line ``error: <file>: <problem>``, a non-zero exit status, no traceback and
nothing written under a final output name -- or, where the input is legitimate, a right result.
Most run in this process (``runpy``); those that need a fresh process (a file-size limit, a whole
training or test run) run as subprocesses.
"""
import os
import resource
import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
from PIL import Image

from tiny_data import dataset_cfg_options, make_tiny_dataset

from conftest import REPO
CONFIG = str(REPO / 'configs' / 'segformer_tiny_demo_vn.py')
INFER = REPO / 'tools' / 'infer_large_image.py'
TEST = REPO / 'tools' / 'test.py'
TRAIN = REPO / 'tools' / 'train.py'
CONFUSION = REPO / 'tools' / 'analysis_tools' / 'confusion_matrix.py'
GRID = REPO / 'tools' / 'analysis_tools' / 'prediction_grid.py'
STRIP = REPO / 'tools' / 'model_converters' / 'strip_teacher.py'

pytestmark = pytest.mark.usefixtures('one_torch_thread')


# ----------------------------------------------------------------------------------------------
# running a tool as the user does
# ----------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    rc: Optional[int]          # exit status; None when an exception escaped (a traceback)
    escaped: Optional[BaseException]
    out: str
    err: str


def run_entry(script, *args, capfd) -> Outcome:
    """Run ``script``'s ``__main__`` block in this process with ``args`` as its command line."""
    saved = sys.argv
    sys.argv = [str(script), *map(str, args)]
    rc, escaped = None, None
    try:
        runpy.run_path(str(script), run_name='__main__')
        rc = 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except Exception as exc:  # (what would be a traceback for the user)
        escaped = exc
    finally:
        sys.argv = saved
    out, err = capfd.readouterr()
    return Outcome(rc, escaped, out, err)


def run_process(script, *args, limit_file_size=None, timeout=600) -> Outcome:
    """Run ``script`` in a fresh Python process (optionally with a file-size limit, in bytes)."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')

    def limit():
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    proc = subprocess.run([sys.executable, str(script), *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit)
    return Outcome(proc.returncode, None, proc.stdout, proc.stderr)


def assert_error_line(outcome: Outcome, subject, *fragments, rc=1):
    """One line ``error: <subject>: ...`` holding ``fragments``, exit status ``rc``, no traceback
    (``subject`` None: any subject)."""
    assert outcome.escaped is None, f'an exception escaped to the user: {outcome.escaped!r}'
    assert 'Traceback' not in outcome.err, outcome.err[-3000:]
    lines = [line for line in outcome.err.splitlines() if line.startswith('error:')]
    assert len(lines) == 1, outcome.err[-3000:]
    assert outcome.err.rstrip().endswith(lines[0]), outcome.err[-3000:]
    if subject is not None:
        assert lines[0].startswith(f'error: {subject}: '), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert outcome.rc == rc, (outcome.rc, outcome.err[-2000:])
    return lines[0]


def no_outputs(folder: Path):
    """Nothing under a final name in ``folder`` (hidden temporary files do not count either)."""
    return not folder.exists() or not any(folder.rglob('*'))


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------
def _state_dict(**cfg_options):
    import vnseg.mmseg_ext  # noqa: F401
    from mmseg.apis import init_model
    torch.manual_seed(0)
    model = init_model(CONFIG, None, device='cpu', cfg_options=cfg_options or None)
    return {k: v.clone() for k, v in model.state_dict().items()}


class _Payload:
    """Pickles as a call of ``os.system``: what a booby-trapped checkpoint carries."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Checkpoints (right, of other models, broken, booby-trapped), an image and a dataset."""
    d = tmp_path_factory.mktemp('inputs')
    right = _state_dict()
    f = dict(dir=d, right=d / 'tiny.pth', state=right)
    torch.save({'state_dict': right, 'meta': {}}, f['right'])
    # another model: 19 classes (Cityscapes), so the classifier is mis-shaped
    f['other'] = d / 'cityscapes_head.pth'
    torch.save({'state_dict': _state_dict(**{'model.decode_head.num_classes': 19})}, f['other'])
    # a checkpoint missing the classifier, and one carrying a teacher beside the student
    f['missing'] = d / 'no_classifier.pth'
    torch.save({'state_dict': {k: v for k, v in right.items() if 'conv_seg' not in k}}, f['missing'])
    f['extra'] = d / 'with_teacher.pth'
    torch.save({'state_dict': {**right, **{f'teacher.{k}': v for k, v in right.items()}}},
               f['extra'])
    f['text'] = d / 'notes.pth'
    f['text'].write_text('best model: see work_dirs/run3\n')
    f['empty'] = d / 'empty.pth'
    f['empty'].write_bytes(b'')
    f['truncated'] = d / 'truncated.pth'
    f['truncated'].write_bytes(f['right'].read_bytes()[:50_000])
    f['marker'] = d / 'payload_ran'
    f['unsafe'] = d / 'unsafe.pth'
    torch.save({'state_dict': right, 'meta': {'note': _Payload(f['marker'])}}, f['unsafe'])
    f['folder'] = d / 'a_folder.pth'
    f['folder'].mkdir()
    f['syntax'] = d / 'broken_config.py'
    f['syntax'].write_text("_base_ = ['x.py'\nmodel = dict(\n")
    f['no_tta'] = d / 'no_tta.py'
    f['no_tta'].write_text(f"_base_ = ['{CONFIG}']\ntta_pipeline = None\n")
    rng = np.random.default_rng(0)
    f['image'] = d / 'scene.png'
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(f['image'])
    f['big_image'] = d / 'big_scene.png'
    Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(f['big_image'])
    f['a_file'] = d / 'results.txt'
    f['a_file'].write_text('not a folder\n')
    f['data'] = make_tiny_dataset(d / 'data', splits=(('train', 2), ('val', 1), ('test', 2)))
    return f


def infer_args(files, checkpoint, out_dir, *extra):
    ckpt = [] if checkpoint is None else [checkpoint]
    return [CONFIG, *ckpt, files['image'], '--out-dir', out_dir, '--tile', '64', '--no-progress',
            '--device', 'cpu', *extra]


# ----------------------------------------------------------------------------------------------
# whole-scene inference
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('key, fragments', [
    ('other', ['does not fit the model of', CONFIG, 'mis-shaped', 'decode_head.conv_seg.weight',
               '[19, 64, 1, 1] here, [5, 64, 1, 1] in the model']),
    ('missing', ['does not fit the model of', CONFIG, '2 missing (decode_head.conv_seg.weight, '
                                                      'decode_head.conv_seg.bias)']),
    ('extra', ['does not fit the model of', CONFIG, 'unexpected (teacher.']),
    ('text', ['is a text file, not a PyTorch checkpoint']),
    ('empty', ['is empty (0 bytes)']),
    ('truncated', ['is truncated or corrupt']),
    ('folder', ['is a folder, expected a checkpoint file']),
])
def test_infer_refuses_checkpoints_that_cannot_give_the_model(files, tmp_path, capfd, key, fragments):
    out_dir = tmp_path / 'out'
    outcome = run_entry(INFER, *infer_args(files, files[key], out_dir), capfd=capfd)
    assert_error_line(outcome, files[key], *fragments)
    assert no_outputs(out_dir)


def test_infer_refuses_a_checkpoint_with_pickled_code_and_never_runs_it(files, tmp_path, capfd):
    out_dir = tmp_path / 'out'
    outcome = run_entry(INFER, *infer_args(files, files['unsafe'], out_dir), capfd=capfd)
    line = assert_error_line(outcome, files['unsafe'], 'holds Python objects that are not allowed',
                             'system', 'If you trust where this file comes from',
                             f'strip_teacher.py --trust-pickled {files["unsafe"]}')
    assert 'weights_only' not in line
    assert not files['marker'].exists()
    assert no_outputs(out_dir)


def test_infer_missing_checkpoint_and_config_are_named(files, tmp_path, capfd):
    out_dir = tmp_path / 'out'
    missing = files['dir'] / 'iter_80000.pth'
    assert_error_line(run_entry(INFER, *infer_args(files, missing, out_dir), capfd=capfd),
                      missing, 'checkpoint file not found')
    args = infer_args(files, files['right'], out_dir)
    args[0] = files['dir'] / 'segformer_b9.py'
    assert_error_line(run_entry(INFER, *args, capfd=capfd), args[0], 'config file not found')
    args[0] = files['syntax']
    assert_error_line(run_entry(INFER, *args, capfd=capfd), files['syntax'],
                      'is not a valid config')
    assert no_outputs(out_dir)


def test_infer_random_weights_only_when_asked_by_name(files, tmp_path, capfd):
    out_dir = tmp_path / 'out'
    # 'none' used to mean random weights
    assert_error_line(run_entry(INFER, *infer_args(files, 'none', out_dir), capfd=capfd),
                      'none', 'is not a checkpoint file', '--random-weights')
    # no checkpoint at all
    assert_error_line(run_entry(INFER, *infer_args(files, None, out_dir), capfd=capfd),
                      CONFIG, 'no CHECKPOINT given', '--random-weights', rc=2)
    # both
    assert_error_line(run_entry(INFER, *infer_args(files, files['right'], out_dir, '--random-weights'),
                                capfd=capfd), '--random-weights', 'give one or the other', rc=2)
    assert no_outputs(out_dir)
    # the explicit flag: a full result, and the class map says where its weights came from
    import rasterio
    outcome = run_entry(INFER, *infer_args(files, None, out_dir, '--random-weights'), capfd=capfd)
    assert outcome.escaped is None and outcome.rc == 0, outcome.err[-2000:]
    with rasterio.open(out_dir / 'scene_classes.tif') as ds:
        assert ds.tags()['CHECKPOINT'] == 'random weights'
        assert (ds.width, ds.height) == (128, 96) and ds.read(1).max() < 5


def test_infer_with_the_right_checkpoint_predicts_like_the_model(files, tmp_path, capfd):
    """The legitimate input: the class map equals the loaded model's own sliding-window output."""
    import rasterio
    out_dir = tmp_path / 'out'
    outcome = run_entry(INFER, *infer_args(files, files['right'], out_dir, '--overlap', '0',
                                           '--blend', 'mean'), capfd=capfd)
    assert outcome.escaped is None and outcome.rc == 0, outcome.err[-2000:]
    from vnseg.apis import load_model
    model = load_model(CONFIG, files['right'], device='cpu')
    for k, v in model.state_dict().items():
        assert torch.equal(v, files['state'][k]), k
    with rasterio.open(out_dir / 'scene_classes.tif') as ds:
        pred = ds.read(1)
    image = np.array(Image.open(files['image']))
    # the first 64x64 window, predicted directly by mmseg, equals the map where no other window
    # reaches (rows 0-31: the next row of windows starts at 96 - 64 = 32)
    from mmseg.apis import inference_model
    crop = np.ascontiguousarray(image[:64, :64, ::-1])  # mmseg's inference takes BGR arrays
    direct = inference_model(model, crop).pred_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(pred[:32, :64], direct[:32])
    assert len(np.unique(direct)) > 1  # not a constant map that any weights would give


@pytest.mark.parametrize('extra, subject, fragment', [
    (['--tile', '0'], '--tile', 'must be at least 1, got 0'),
    (['--batch-size', '-2'], '--batch-size', 'must be at least 1, got -2'),
    (['--overlap', '64'], '--overlap', 'must be smaller than the tile'),
    (['--min-area', 'nan'], '--min-area', 'must be a finite number >= 0'),
])
def test_infer_bad_option_values(files, tmp_path, capfd, extra, subject, fragment):
    out_dir = tmp_path / 'out'
    outcome = run_entry(INFER, *infer_args(files, files['right'], out_dir, *extra), capfd=capfd)
    assert_error_line(outcome, subject, fragment, rc=1 if subject == '--overlap' else 2)
    assert no_outputs(out_dir)


def test_infer_unwritable_output_folder(files, tmp_path, capfd):
    for out_dir in (files['a_file'], files['a_file'] / 'sub'):
        outcome = run_entry(INFER, *infer_args(files, files['right'], out_dir), capfd=capfd)
        assert_error_line(outcome, '--out-dir', f'{files["a_file"]} is a file')
    assert files['a_file'].read_text() == 'not a folder\n'


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA GPU is present')
def test_infer_cuda_device_without_a_gpu(files, tmp_path, capfd):
    outcome = run_entry(INFER, *infer_args(files, files['right'], tmp_path / 'out', '--device',
                                           'cuda:0'), capfd=capfd)
    assert_error_line(outcome, '--device', 'no usable CUDA GPU', '--device cpu')
    assert no_outputs(tmp_path / 'out')


@pytest.mark.slow
def test_infer_full_disk_leaves_no_output(files, tmp_path):
    """A file-size limit (as a full disk: every write past it fails) stops the first output."""
    out_dir = tmp_path / 'out'
    args = [CONFIG, files['right'], files['big_image'], '--out-dir', out_dir, '--tile', '128',
            '--no-progress', '--device', 'cpu', '--no-polygons']
    outcome = run_process(INFER, *args, limit_file_size=6_000)
    assert_error_line(outcome, out_dir / 'big_scene_classes.tif', 'could not be written')
    # nothing under a final name; only the hidden strips that --resume continues from
    assert [p.name for p in out_dir.iterdir() if not p.name.startswith('.')] == []


# ----------------------------------------------------------------------------------------------
# the analysis tools and the checkpoint converter
# ----------------------------------------------------------------------------------------------
def test_analysis_tools_need_a_checkpoint_or_random_weights(files, tmp_path, capfd):
    data = files['data']
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={data}']
    outcome = run_entry(CONFUSION, CONFIG, '--out-dir', tmp_path / 'cm', *opts, capfd=capfd)
    assert_error_line(outcome, CONFIG, 'no CHECKPOINT given', '--random-weights', rc=2)
    outcome = run_entry(GRID, '--model', 'B0', CONFIG, '--out', tmp_path / 'grid.png', *opts,
                        capfd=capfd)
    assert_error_line(outcome, f'--model B0 {CONFIG}', '--random-weights', rc=2)
    outcome = run_entry(CONFUSION, CONFIG, files['other'], '--out-dir', tmp_path / 'cm', *opts,
                        capfd=capfd)
    assert_error_line(outcome, files['other'], 'does not fit the model of', 'mis-shaped')
    assert not (tmp_path / 'cm').exists() and not (tmp_path / 'grid.png').exists()


def test_strip_teacher_refuses_unsafe_then_converts_when_trusted(files, tmp_path, capfd):
    from vnseg.apis.model_loading import read_checkpoint
    out = tmp_path / 'clean.pth'
    assert_error_line(run_entry(STRIP, files['text'], out, capfd=capfd), files['text'],
                      'is a text file')
    assert_error_line(run_entry(STRIP, files['unsafe'], out, capfd=capfd), files['unsafe'],
                      'holds Python objects that are not allowed')
    assert not out.exists() and not files['marker'].exists()
    # the user trusts the file: it is unpickled once (the payload runs: a harmless `touch`)
    outcome = run_entry(STRIP, '--trust-pickled', files['unsafe'], out, capfd=capfd)
    assert outcome.escaped is None and outcome.rc == 0, outcome.err[-2000:]
    clean = read_checkpoint(out)  # weights-only from now on
    assert set(clean['state_dict']) == set(files['state'])
    assert all(torch.equal(clean['state_dict'][k], v) for k, v in files['state'].items())
    assert clean['meta']['student_only'] is True
    assert files['marker'].exists()  # trusting a file means running what it holds: said in --help
    files['marker'].unlink()


# ----------------------------------------------------------------------------------------------
# tools/test.py
# ----------------------------------------------------------------------------------------------
def test_args(files, checkpoint, work_dir, *extra, config=CONFIG):
    return [config, checkpoint, '--work-dir', work_dir, *extra, '--cfg-options',
            *dataset_cfg_options(files['data'])]


test_args.__test__ = False  # a helper, not a test


@pytest.mark.parametrize('key, fragments', [
    ('other', ['does not fit the model of', CONFIG, 'mis-shaped']),
    ('unsafe', ['holds Python objects that are not allowed', '--trust-pickled']),
    ('text', ['is a text file']),
])
def test_test_tool_refuses_wrong_and_unusable_checkpoints(files, tmp_path, capfd, key, fragments):
    work_dir = tmp_path / 'work'
    outcome = run_entry(TEST, *test_args(files, files[key], work_dir), capfd=capfd)
    assert_error_line(outcome, files[key], *fragments)
    assert not list(work_dir.glob('metrics_test*.json'))
    assert not files['marker'].exists()


def test_test_tool_output_folders_and_tta_without_pipeline(files, tmp_path, capfd):
    outcome = run_entry(TEST, *test_args(files, files['right'], files['a_file'] / 'work'), capfd=capfd)
    assert_error_line(outcome, '--work-dir', 'is a file')
    outcome = run_entry(TEST, *test_args(files, files['right'], tmp_path / 'w', '--tta',
                                         config=files['no_tta']), capfd=capfd)
    assert_error_line(outcome, '--tta', 'defines no tta_pipeline')
    assert not (tmp_path / 'w').exists()


@pytest.mark.slow
def test_test_tool_tta_runs_flip_and_scales(files, tmp_path):
    """``--tta`` on the shipped tiny config: six views per image, metrics written."""
    import json
    work_dir = tmp_path / 'work'
    outcome = run_process(TEST, *test_args(files, files['right'], work_dir, '--tta'))
    assert outcome.rc == 0, outcome.err[-3000:]
    metrics = json.loads((work_dir / 'metrics_test.json').read_text())
    assert metrics['tta'] is True and 0.0 <= metrics['mIoU'] <= 100.0


# ----------------------------------------------------------------------------------------------
# tools/train.py
# ----------------------------------------------------------------------------------------------
def train_args(files, work_dir, *extra, iters=2):
    opts = dataset_cfg_options(files['data']) + [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
        f'param_scheduler.0.end={iters}']
    return [CONFIG, '--work-dir', work_dir, *extra, '--cfg-options', *opts]


def test_train_tool_resume_from_unusable_or_foreign_checkpoint(files, tmp_path, capfd):
    for key, fragment in (('text', 'is a text file'), ('other', 'does not fit the model of')):
        work_dir = tmp_path / key
        outcome = run_entry(TRAIN, *train_args(files, work_dir, '--resume', files[key]), capfd=capfd)
        assert_error_line(outcome, files[key], fragment)
        assert not list(work_dir.glob('*.pth'))


def test_train_tool_missing_config_and_unwritable_work_dir(files, tmp_path, capfd):
    missing = tmp_path / 'configs' / 'segformer_b0_vn.py'
    outcome = run_entry(TRAIN, missing, '--work-dir', tmp_path / 'w', capfd=capfd)
    assert_error_line(outcome, missing, 'config file not found')
    outcome = run_entry(TRAIN, *train_args(files, files['a_file'] / 'run'), capfd=capfd)
    assert_error_line(outcome, '--work-dir', 'is a file')


def test_train_tool_names_missing_class_weights_of_the_recipe(files, tmp_path, capfd):
    """vnseg's recipe weights its CE by the prepared data's class_weights.json: data prepared
    without it (or by hand) is one error naming the file, before anything is written."""
    work_dir = tmp_path / 'work'
    recipe = REPO / 'configs' / 'segformer_b0_recipe_vn.py'
    outcome = run_entry(TRAIN, recipe, '--work-dir', work_dir, '--no-pretrained', '--cfg-options',
                        f'train_dataloader.dataset.data_root={tmp_path}', capfd=capfd)
    assert_error_line(outcome, tmp_path / 'class_weights.json', 'class weights file not found',
                      'tools/prepare_dataset.py')
    assert no_outputs(work_dir)


@pytest.mark.slow
def test_train_tool_full_disk_at_checkpoint_leaves_no_partial_checkpoint(files, tmp_path):
    """The tiny model's checkpoint (weights + Adam state, ~6 MB) does not fit under a 1 MB file
    limit: the save fails, the error names the checkpoint, and no file is left under its name."""
    work_dir = tmp_path / 'work'
    outcome = run_process(TRAIN, *train_args(files, work_dir), limit_file_size=1_000_000)
    line = assert_error_line(outcome, work_dir / 'iter_2.pth', 'file too large')
    assert 'nothing was written under this name' in line
    assert not (work_dir / 'iter_2.pth').exists()
    assert not [p for p in work_dir.rglob('*') if '.partial-' in p.name]
    assert not (work_dir / 'last_checkpoint').exists()
