"""Import weight and import order.

The annotation side of vnseg (``import vnseg``, ``vnseg.data``, the data tools) loads neither torch nor
the OpenMMLab stack; vnseg's fixes to mmseg (``vnseg.mmseg_ext``) hold whatever the import order.
Each check runs in a fresh interpreter, where ``sys.modules`` shows what an import really loaded.
"""
import json
import os
import subprocess
import sys

from conftest import REPO
HEAVY = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmseg', 'mmpretrain')

# Runs a tool as ``python TOOL ARGS`` would, then prints which heavy top-level packages it loaded.
_RUN_TOOL = f"""
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as e:
    assert not e.code, f'tool exited with {{e.code!r}}'
print('HEAVY', sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r})))
"""


def _python(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''),
               CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def _heavy_loaded(stdout):
    line = [ln for ln in stdout.splitlines() if ln.startswith('HEAVY ')][-1]
    return json.loads(line[len('HEAVY '):].replace("'", '"'))


def test_vnseg_and_every_data_module_import_without_torch_or_mmengine():
    code = ("import importlib, pkgutil, sys\n"
            "import vnseg, vnseg.data, vnseg.core.classes\n"
            "names = [m.name for m in pkgutil.iter_modules(vnseg.data.__path__)]\n"
            "assert len(names) >= 8, names\n"
            "for name in names:\n"
            "    importlib.import_module('vnseg.data.' + name)\n"
            f"print('HEAVY', sorted({{n.split('.')[0] for n in sys.modules}} & set({HEAVY!r})))\n")
    assert _heavy_loaded(_python('-c', code)) == []


def test_data_tools_run_without_torch_or_mmengine(tmp_path):
    scenes, masks, dataset = tmp_path / 'scenes', tmp_path / 'masks', tmp_path / 'dataset'
    _python('demo/generate_scenes.py', '--out-dir', str(scenes), '--num-scenes', '3', '--size', '128', '--no-progress')
    assert len(list(scenes.glob('*.json'))) == 3

    stdout = _python('-c', _RUN_TOOL, 'tools/json_to_mask.py', str(scenes), '--out-dir', str(masks),
                     '--no-progress')
    assert _heavy_loaded(stdout) == []
    assert len(list(masks.glob('*.png'))) == 3

    stdout = _python('-c', _RUN_TOOL, 'tools/prepare_dataset.py', str(scenes), '--out-dir', str(dataset),
                     '--patch-size', '64', '--no-progress', '--no-chart')
    assert _heavy_loaded(stdout) == []
    assert list((dataset / 'img_dir' / 'train').glob('*.png'))


def test_fixes_hold_when_mmseg_apis_is_imported_first(repo_root):
    """``from mmseg.apis import init_model`` BEFORE vnseg's fixes: the name bound then is fixed too."""
    code = ("from mmseg.apis import MMSegInferencer, init_model\n"
            "import mmseg.apis\n"
            "stock = init_model\n"
            "import vnseg.mmseg_ext\n"
            "from vnseg.core.classes import CLASSES\n"
            "assert init_model is stock is mmseg.apis.init_model\n"
            "model = init_model('configs/segformer_tiny_demo_vn.py', None, device='cpu')\n"
            "assert tuple(model.dataset_meta['classes']) == CLASSES, model.dataset_meta\n"
            "inferencer = MMSegInferencer('configs/segformer_tiny_demo_vn.py', weights=None, device='cpu')\n"
            "assert tuple(inferencer.model.dataset_meta['classes']) == CLASSES\n"
            "import vnseg.mmseg_ext, vnseg.openmmlab.compat\n"
            "vnseg.openmmlab.compat.apply()\n"
            "vnseg.openmmlab.compat.patch_inference_dataset_meta()  # idempotent: still one level of patching\n"
            "assert vnseg.openmmlab.compat.STOCK_INIT_MODEL.__code__ is not init_model.__code__\n"
            "assert vnseg.openmmlab.compat.STOCK_INIT_MODEL.__code__.co_name == 'init_model'\n"
            "print('ok')\n")
    assert _python('-c', code).strip().endswith('ok')
